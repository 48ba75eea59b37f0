//===- Engine.cpp - The compiler and eager kernel cache of a process ------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Engine.h"

#include "kiln/Compiler/Aot.h"
#include "kiln/Compiler/FunctionBuilder.h"
#include "kiln/Dialect/Kiln/Dtypes.h"
#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>

using namespace mlir;
using namespace mlir::kiln;

namespace {
kiln_status_t error(kiln_status_code_t code, const std::string &message) {
  return kiln_status_create(code, "%s", message.c_str());
}

bool sameDevice(kiln_device_t a, kiln_device_t b) {
  return a.type == b.type && a.ordinal == b.ordinal;
}

/// Appends the type a kernel for `buffer` takes: its exact type, or with
/// the leading extent open (unless it is 1) for a shape-generic kernel.
void appendBufferKey(std::string &key, kiln_buffer_t *buffer, bool generic) {
  int32_t rank = kiln_buffer_rank(buffer);
  const int64_t *dims = kiln_buffer_shape(buffer);
  key += static_cast<char>(kiln_buffer_dtype(buffer));
  key += static_cast<char>(rank);
  for (int32_t i = 0; i < rank; ++i) {
    int64_t d = (generic && i == 0 && dims[0] != 1) ? -1 : dims[i];
    char bytes[sizeof d];
    std::memcpy(bytes, &d, sizeof d);
    key.append(bytes, sizeof d);
  }
}

RankedTensorType bufferType(MLIRContext &context, kiln_buffer_t *buffer,
                            bool generic) {
  int32_t rank = kiln_buffer_rank(buffer);
  const int64_t *dims = kiln_buffer_shape(buffer);
  SmallVector<int64_t> shape(dims, dims + rank);
  if (generic && rank > 0 && shape[0] != 1)
    shape[0] = ShapedType::kDynamic;
  return RankedTensorType::get(
      shape, getElementType(&context, kiln_buffer_dtype(buffer)));
}

/// Inputs on `device` (copies of those elsewhere, released by the caller).
kiln_status_t buffersOn(kiln_device_t device,
                        llvm::ArrayRef<kiln_buffer_t *> inputs,
                        llvm::SmallVectorImpl<kiln_buffer_t *> &on,
                        llvm::SmallVectorImpl<kiln_buffer_t *> &copies) {
  for (kiln_buffer_t *b : inputs) {
    if (sameDevice(kiln_buffer_device(b), device)) {
      on.push_back(b);
      continue;
    }
    kiln_buffer_t *copy = nullptr;
    if (kiln_status_t s = kiln_buffer_copy_to(b, device, &copy))
      return s;
    copies.push_back(copy);
    on.push_back(copy);
  }
  return nullptr;
}

struct Released {
  llvm::SmallVectorImpl<kiln_buffer_t *> &buffers;
  ~Released() {
    for (kiln_buffer_t *b : buffers)
      kiln_buffer_release(b);
  }
};
} // namespace

Engine::Engine() {
  static std::atomic<uint64_t> engines{0};
  serial = ++engines;
}

Engine::~Engine() {
  for (auto &entry : kernels)
    kiln_executable_release(entry.second);
}

CompileOptions Engine::compileOptions(kiln_device_t device) const {
  CompileOptions options;
  if (device.type == KILN_DEVICE_CUDA) {
    options.target = Target::CUDA;
    const char *chip = std::getenv("KILN_GPU_CHIP");
    options.gpuChip = chip && *chip ? chip : "sm_80";
    options.gpuFormat = "isa";
    options.allowTf32 = tf32.load();
  }
  return options;
}

std::string Engine::cacheDir() {
  if (const char *dir = std::getenv("KILN_CACHE_DIR")) {
    std::string d = dir;
    return d == "off" ? std::string() : d;
  }
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/kiln/kernels";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/kiln/kernels";
  return std::string();
}

/// Whether `op` reduces along a long leading dimension of its input:
/// `axes` holding it, or `axis` naming it (argmax, argmin), and at
/// least kLongLeadingExtent elements there. Its generic kernel would loop
/// over that open extent one element at a time (reductions are split into
/// vector accumulators along static extents only): a sum over 10^7 values
/// took 6 ms instead of 0.7, and drifted by 4.7e-6 instead of 1.1e-7.
/// Shorter ones (a mean over a batch) keep one kernel for every batch size.
static constexpr int64_t kLongLeadingExtent = 16384;
static bool actsAlongLongLeadingAxis(llvm::StringRef op,
                                     const OpAttributes &attributes,
                                     llvm::ArrayRef<kiln_buffer_t *> inputs) {
  if (inputs.empty() || kiln_buffer_rank(inputs.front()) == 0 ||
      kiln_buffer_shape(inputs.front())[0] < kLongLeadingExtent ||
      !(op.starts_with("reduce_") || op == "argmax" || op == "argmin"))
    return false;
  int64_t rank = kiln_buffer_rank(inputs.front());
  auto leading = [&](int64_t axis) { return axis == 0 || axis == -rank; };
  for (const auto &[name, value] : attributes.list()) {
    if (name == "axes" && llvm::any_of(value.integers, leading))
      return true;
    if (name == "axis" && leading(value.integer))
      return true;
  }
  return false;
}

size_t Engine::kernelsCompiled() const {
  std::lock_guard<std::mutex> lock(mutex);
  return static_cast<size_t>(llvm::count_if(
      kernels, [](const auto &entry) { return entry.second != nullptr; }));
}

kiln_status_t Engine::run(llvm::StringRef op,
                          llvm::ArrayRef<kiln_buffer_t *> inputs,
                          const OpAttributes &attributes,
                          llvm::ArrayRef<TensorTypeSpec> results,
                          kiln_device_t device,
                          std::vector<kiln_buffer_t *> &outputs) {
  llvm::SmallVector<kiln_buffer_t *, 8> in, copies;
  Released releaseCopies{copies};
  if (kiln_status_t s = buffersOn(device, inputs, in, copies))
    return s;
  auto invoke = [&](kiln_executable_t *exe) -> kiln_status_t {
    int32_t count = kiln_entry_output_count(exe, 0);
    outputs.assign(static_cast<size_t>(count), nullptr);
    kiln_status_t s = kiln_executable_invoke(
        exe, "kernel", static_cast<int32_t>(in.size()), in.data(), count,
        outputs.data());
    if (s)
      outputs.clear();
    return s;
  };
  // Ops with given result types keep them exact; so do inputs whose leading
  // extents are all 1 (the exact kernel is the generic one).
  // So do ops along a long leading dimension (a sum over a large tensor).
  bool open = results.empty() &&
              llvm::any_of(in,
                           [](kiln_buffer_t *b) {
                             return kiln_buffer_rank(b) > 0 &&
                                    kiln_buffer_shape(b)[0] != 1;
                           }) &&
              !actsAlongLongLeadingAxis(op, attributes, in);
  if (open) {
    kiln_executable_t *exe = nullptr;
    if (kiln_status_t s = kernel(op, in, attributes, results, device,
                                 /*generic=*/true, &exe))
      return s;
    if (exe) {
      kiln_status_t s = invoke(exe);
      // Inputs that do not fit together fail the kernel's shape check; the
      // exact kernel then reports why (the verifier's message).
      if (!s || kiln_status_code(s) != KILN_INVALID_ARGUMENT)
        return s;
      kiln_status_free(s);
    }
  }
  kiln_executable_t *exe = nullptr;
  if (kiln_status_t s = kernel(op, in, attributes, results, device,
                               /*generic=*/false, &exe))
    return s;
  return invoke(exe);
}

namespace {
/// The last kernels this thread looked up, by key, checked before the
/// shared map (and its mutex): eager loops run a handful of ops again and
/// again. Entries point into Engine::kernels, whose executables live as
/// long as the engine; `owner` (the engine's serial number, never reused)
/// tells entries of other engines (tests create several) apart.
struct RecentKernels {
  static constexpr size_t kSize = 8;
  struct Slot {
    std::string key;
    kiln_executable_t *exe = nullptr;
  };
  uint64_t owner = 0;
  Slot slots[kSize];
  size_t next = 0;

  kiln_executable_t **find(uint64_t engine, const std::string &key) {
    if (owner != engine)
      return nullptr;
    for (Slot &slot : slots)
      if (slot.exe && slot.key == key)
        return &slot.exe;
    return nullptr;
  }
  void add(uint64_t engine, const std::string &key,
           kiln_executable_t *exe) {
    if (owner != engine) {
      for (Slot &slot : slots)
        slot = Slot();
      owner = engine;
    }
    slots[next].key = key;
    slots[next].exe = exe;
    next = (next + 1) % kSize;
  }
};
thread_local RecentKernels recent;
thread_local std::string keyBuffer; // reused: no allocation per lookup
} // namespace

kiln_status_t Engine::kernel(llvm::StringRef op,
                             llvm::ArrayRef<kiln_buffer_t *> inputs,
                             const OpAttributes &attributes,
                             llvm::ArrayRef<TensorTypeSpec> results,
                             kiln_device_t device, bool generic,
                             kiln_executable_t **out) {
  std::string &key = keyBuffer;
  key.clear();
  key += static_cast<char>(device.type);
  key.append(reinterpret_cast<const char *>(&device.ordinal),
             sizeof device.ordinal);
  key += device.type == KILN_DEVICE_CPU || !tf32.load() ? '\0' : '\1';
  key += generic ? 'g' : 'x';
  key.append(op.data(), op.size());
  key += '\0';
  key += attributes.key();
  for (kiln_buffer_t *b : inputs)
    appendBufferKey(key, b, generic);
  key += '|';
  for (const TensorTypeSpec &r : results)
    appendTypeKey(key, r);
  if (kiln_executable_t **hit = recent.find(serial, key)) {
    ++hits;
    *out = *hit;
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex);
  auto it = kernels.find(key);
  if (it != kernels.end()) {
    ++hits;
    *out = it->second;
    if (*out)
      recent.add(serial, key, *out);
    return nullptr;
  }
  std::string stored = key; // (compiling may run kernels on this thread)
  kiln_status_t s =
      compileKernel(op, inputs, attributes, results, device, generic, out);
  if (s)
    return s;
  kernels.emplace(stored, *out);
  if (*out)
    recent.add(serial, stored, *out);
  return nullptr;
}

kiln_status_t Engine::compileKernel(llvm::StringRef op,
                                    llvm::ArrayRef<kiln_buffer_t *> inputs,
                                    const OpAttributes &attributes,
                                    llvm::ArrayRef<TensorTypeSpec> results,
                                    kiln_device_t device, bool generic,
                                    kiln_executable_t **out) {
  *out = nullptr;
  MLIRContext &context = compiler.getContext();
  std::string what = "'" + op.str() + "'";
  std::string message;
  FailureOr<DictionaryAttr> attrs =
      buildAttributes(context, attributes.list(), message);
  if (failed(attrs))
    return error(KILN_INVALID_ARGUMENT, what + ": " + message);
  SmallVector<Type> resultTypes;
  for (const TensorTypeSpec &r : results) {
    FailureOr<RankedTensorType> type = buildTensorType(context, r, message);
    if (failed(type))
      return error(KILN_INVALID_ARGUMENT, what + ": " + message);
    resultTypes.push_back(*type);
  }
  SmallVector<Type> argTypes;
  for (kiln_buffer_t *b : inputs)
    argTypes.push_back(bufferType(context, b, generic));
  FunctionBuilder builder(context, "kernel", argTypes);
  SmallVector<Value> operands;
  for (unsigned i = 0; i < inputs.size(); ++i)
    operands.push_back(builder.argument(i));
  FailureOr<SmallVector<Value>> values = builder.addOp(
      op, operands, *attrs, resultTypes, UnknownLoc::get(&context), message);
  // Only ops whose kernels take open extents have generic kernels; moves
  // of data (transposes, slices, padding) keep exact ones, whose static
  // shapes vectorize, and batched products, whose static batch the tiler
  // splits among threads.
  if (generic && (failed(values) || values->empty() ||
                  !values->front().getDefiningOp()->hasTrait<
                      OpTrait::OpenExtents>() ||
                  isa<TransposeOp, SliceOp, PadOp, ConcatOp, SplitOp,
                      BatchMatmulOp>(
                      values->front().getDefiningOp())))
    return nullptr;
  if (failed(values))
    return error(KILN_INVALID_ARGUMENT, message);
  OwningOpRef<ModuleOp> module = builder.finish(*values, message);
  if (!module)
    return generic ? nullptr : error(KILN_INVALID_ARGUMENT, message);
  CompileOptions options = compileOptions(device);
  // The disk cache's key: the kernel's module (op, attributes, types) and
  // how it is compiled (part of the cache path).
  std::string diskKey = "kernel|";
  {
    llvm::raw_string_ostream os(diskKey);
    module->print(os);
  }
  bool fromDisk = false;
  kiln_executable_t *exe = nullptr;
  kiln_status_t s = compiler.jitCached(*module, options, diskKey, cacheDir(),
                                       &exe, &fromDisk);
  if (s && generic) {
    kiln_status_free(s);
    return nullptr;
  }
  if (s)
    return s;
  if (fromDisk)
    ++loaded;
  if (device.ordinal != 0)
    if (kiln_status_t s = kiln_executable_set_device(exe, device)) {
      kiln_executable_release(exe);
      return s;
    }
  *out = exe;
  return nullptr;
}

kiln_status_t Engine::jit(ModuleOp module, kiln_device_t device,
                          kiln_executable_t **out) {
  llvm::StringMap<std::string> names =
      Compiler::canonicalizeVariableNames(module);
  std::string text = "module|";
  {
    llvm::raw_string_ostream os(text);
    module->print(os, OpPrintingFlags().enableDebugInfo());
  }
  bool fromDisk = false;
  kiln_status_t s;
  {
    std::lock_guard<std::mutex> lock(mutex);
    s = compiler.jitCached(module, compileOptions(device), text, cacheDir(),
                           out, &fromDisk, &names);
  }
  if (s)
    return s;
  if (fromDisk)
    ++loaded;
  else
    ++compiledModules;
  if (device.ordinal != 0)
    if ((s = kiln_executable_set_device(*out, device))) {
      kiln_executable_release(*out);
      *out = nullptr;
    }
  return s;
}

kiln_status_t
Engine::mergeModules(llvm::ArrayRef<std::string> texts,
                     llvm::ArrayRef<std::string> names,
                     const std::map<std::string, std::string> &renames,
                     std::string &out) {
  if (texts.size() != names.size())
    return error(KILN_INVALID_ARGUMENT, "merging " +
                                            std::to_string(texts.size()) +
                                            " modules under " +
                                            std::to_string(names.size()) +
                                            " names");
  std::lock_guard<std::mutex> lock(mutex);
  MLIRContext &context = compiler.getContext();
  OwningOpRef<ModuleOp> merged = ModuleOp::create(UnknownLoc::get(&context));
  std::map<std::string, Type> declared;
  for (size_t i = 0; i < texts.size(); ++i) {
    kiln_status_t status = nullptr;
    OwningOpRef<ModuleOp> module =
        compiler.parse(texts[i], names[i] + ".mlir", &status);
    if (status)
      return status;
    SymbolTable symbols(*module);
    int publics = 0;
    for (Operation &op : llvm::make_early_inc_range(*module->getBody())) {
      auto symbol = dyn_cast<SymbolOpInterface>(op);
      if (!symbol)
        continue;
      std::string name = symbol.getName().str();
      std::string renamed;
      if (isa<VariableOp>(op)) {
        auto it = renames.find(name);
        renamed = it != renames.end() ? it->second : name;
      } else if (symbol.isPublic()) {
        renamed = names[i];
        ++publics;
      } else {
        renamed = name + "_" + names[i];
      }
      if (renamed != name &&
          failed(symbols.rename(&op, StringAttr::get(&context, renamed))))
        return error(KILN_INTERNAL, "cannot rename @" + name);
    }
    if (publics != 1)
      return error(KILN_INVALID_ARGUMENT,
                   "the trace of '" + names[i] + "' has " +
                       std::to_string(publics) + " public functions");
    for (Operation &op : llvm::make_early_inc_range(*module->getBody())) {
      if (auto var = dyn_cast<VariableOp>(op)) {
        auto [it, fresh] = declared.emplace(var.getSymName().str(),
                                            var.getType());
        if (!fresh) {
          if (it->second != var.getType())
            return error(KILN_INVALID_ARGUMENT,
                         "variable '" + it->first +
                             "' has different types in two entries");
          continue;
        }
      }
      op.moveBefore(merged->getBody(), merged->getBody()->end());
    }
  }
  out.clear();
  llvm::raw_string_ostream os(out);
  merged->print(os);
  return nullptr;
}

kiln_status_t Engine::compileLibrary(const std::string &text,
                                     const std::string &outDir,
                                     const std::string &name,
                                     const std::string &targetCpu) {
  std::lock_guard<std::mutex> lock(mutex);
  kiln_status_t status = nullptr;
  OwningOpRef<ModuleOp> module = compiler.parse(text, name + ".mlir", &status);
  if (status)
    return status;
  AotOptions options;
  options.name = name;
  options.targetCpu = targetCpu;
  options.sourceName = name + ".mlir (kiln.aot.export)";
  return mlir::kiln::compileLibrary(compiler, *module, options, outDir);
}

kiln_status_t Engine::runPasses(const std::string &text,
                                const std::string &pipeline, std::string &out) {
  std::lock_guard<std::mutex> lock(mutex);
  kiln_status_t status = nullptr;
  OwningOpRef<ModuleOp> module = compiler.parse(text, "module", &status);
  if (status)
    return status;
  if ((status = compiler.runPasses(*module, pipeline)))
    return status;
  out.clear();
  llvm::raw_string_ostream os(out);
  module->print(os);
  return nullptr;
}
