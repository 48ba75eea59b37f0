//===- KilnPython.cpp - The kiln._kiln extension module -------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The one native module behind `import kiln`. It holds
//
//  - Tensor: an immutable runtime buffer, shown to NumPy without a copy
//    (read-only view) and made from NumPy arrays by one copy;
//  - run_op: eager execution of one Kiln op. The op is built with
//    FunctionBuilder (result types inferred by the op itself, so shape
//    errors are the verifier's), compiled by the JIT and cached in memory
//    for the life of the process (and on disk). Kernels are shape-generic
//    where the lowering allows: the leading extent of every input is left
//    open (`?`, unless it is 1, which broadcasts), so a new batch size
//    reuses the kernel; otherwise one kernel per (op, attributes, input
//    types);
//  - the compiler and the runtime behind both.
//
// Python code above it only chooses ops and attributes.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Aot.h"
#include "kiln/Compiler/Compiler.h"
#include "kiln/Compiler/FunctionBuilder.h"
#include "kiln/Conversion/KilnToLinalg/KilnToLinalg.h"
#include "kiln/Runtime/Manifest.h"
#include "kiln/Runtime/Runtime.h"

#include "kiln/Dialect/Kiln/KilnOps.h"
#include "mlir/IR/SymbolTable.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/raw_ostream.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace mlir;

namespace {

/// A Kiln error as a Python exception: kiln/errors.py maps the code to the
/// exception class.
struct KilnError : std::exception {
  KilnError(kiln_status_code_t code, std::string message)
      : code(code), message(std::move(message)) {}
  const char *what() const noexcept override { return message.c_str(); }
  kiln_status_code_t code;
  std::string message;
};

/// Throws the status (and frees it) if it is an error.
void check(kiln_status_t status) {
  if (!status)
    return;
  KilnError error(kiln_status_code(status), kiln_status_message(status));
  kiln_status_free(status);
  throw error;
}

/// NumPy dtype <-> Kiln dtype.
kiln_dtype_t dtypeOf(const py::dtype &d) {
  char kind = d.kind();
  size_t size = d.itemsize();
  if (kind == 'f' && size == 4)
    return KILN_F32;
  if (kind == 'f' && size == 8)
    return KILN_F64;
  if (kind == 'f' && size == 2)
    return KILN_F16;
  if (kind == 'b' && size == 1)
    return KILN_I1;
  if (kind == 'i' && size == 4)
    return KILN_I32;
  if (kind == 'i' && size == 8)
    return KILN_I64;
  throw KilnError(KILN_INVALID_ARGUMENT,
                  "NumPy dtype " + std::string(py::str(d)) +
                      " has no Kiln equivalent (float16/32/64, bool, int32, "
                      "int64)");
}

py::dtype numpyDtype(kiln_dtype_t t) {
  switch (t) {
  case KILN_F32:
    return py::dtype("float32");
  case KILN_F64:
    return py::dtype("float64");
  case KILN_F16:
    return py::dtype("float16");
  case KILN_I1:
    return py::dtype("bool");
  case KILN_I32:
    return py::dtype("int32");
  case KILN_I64:
    return py::dtype("int64");
  case KILN_BF16:
    break;
  }
  throw KilnError(KILN_UNIMPLEMENTED, "bfloat16 has no NumPy dtype");
}

/// Parses MLIR types written by the Python layer; a bad one is an error
/// naming `what` (never a null type handed to the builder).
std::vector<Type> parseTypes(MLIRContext &context,
                             const std::vector<std::string> &texts,
                             const std::string &what) {
  std::vector<Type> types;
  for (const std::string &text : texts) {
    Type type = parseType(text, &context);
    if (!type)
      throw KilnError(KILN_INVALID_ARGUMENT,
                      what + ": cannot parse the type " + text);
    types.push_back(type);
  }
  return types;
}

/// Parses an attribute dictionary ("" is none).
DictionaryAttr parseAttributes(MLIRContext &context, const std::string &text,
                               const std::string &what) {
  if (text.empty())
    return DictionaryAttr();
  auto attrs = dyn_cast_if_present<DictionaryAttr>(parseAttribute(text, &context));
  if (!attrs)
    throw KilnError(KILN_INVALID_ARGUMENT,
                    what + ": cannot parse the attributes " + text);
  return attrs;
}

/// The location of a traced op: the caller's file:line, if known.
Location locationOf(MLIRContext &context, const std::string &file,
                    unsigned line) {
  if (file.empty())
    return UnknownLoc::get(&context);
  return FileLineColLoc::get(&context, file, line, 0);
}

/// An immutable tensor: one reference to a runtime buffer.
class Tensor {
public:
  explicit Tensor(kiln_buffer_t *buffer) : buffer(buffer) {}
  ~Tensor() {
    kiln_buffer_release(hostCopy);
    kiln_buffer_release(buffer);
  }
  Tensor(const Tensor &) = delete;
  Tensor &operator=(const Tensor &) = delete;

  static std::shared_ptr<Tensor> fromNumpy(const py::array &input) {
    py::array array = py::array::ensure(
        input, py::array::c_style | py::array::forcecast);
    if (!array)
      throw KilnError(KILN_INVALID_ARGUMENT, "cannot read the value as an "
                                             "array");
    kiln_dtype_t dtype = dtypeOf(array.dtype());
    std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
    kiln_buffer_t *b = nullptr;
    check(kiln_buffer_create({KILN_DEVICE_CPU, 0}, dtype,
                             static_cast<int32_t>(shape.size()), shape.data(),
                             &b));
    if (size_t bytes = kiln_buffer_byte_size(b))
      std::memcpy(kiln_buffer_host_data(b), array.data(), bytes);
    return std::make_shared<Tensor>(b);
  }

  /// A read-only NumPy view of the buffer, keeping it alive. A buffer in
  /// a GPU's memory is copied to the host once (the tensor is immutable, so
  /// the copy stays valid) and the view shows the copy.
  py::array numpy() const {
    kiln_buffer_t *host = buffer;
    if (kiln_buffer_device(buffer).type != KILN_DEVICE_CPU) {
      if (!hostCopy) {
        // The copy runs without the GIL: another thread may finish one
        // first, and then this one is dropped.
        kiln_buffer_t *copy = nullptr;
        kiln_status_t status;
        {
          py::gil_scoped_release release;
          status = kiln_buffer_copy_to(buffer, {KILN_DEVICE_CPU, 0}, &copy);
        }
        check(status);
        if (hostCopy)
          kiln_buffer_release(copy);
        else
          hostCopy = copy;
      }
      host = hostCopy;
    }
    kiln_buffer_retain(host);
    py::capsule owner(host, [](void *p) {
      kiln_buffer_release(static_cast<kiln_buffer_t *>(p));
    });
    std::vector<py::ssize_t> shape = this->shape();
    py::array view(numpyDtype(kiln_buffer_dtype(host)), shape,
                   kiln_buffer_host_data(host), owner);
    py::detail::array_proxy(view.ptr())->flags &=
        ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return view;
  }

  std::vector<py::ssize_t> shape() const {
    const int64_t *dims = kiln_buffer_shape(buffer);
    return std::vector<py::ssize_t>(dims, dims + kiln_buffer_rank(buffer));
  }

  std::string dtype() const { return kiln_dtype_name(kiln_buffer_dtype(buffer)); }

  /// The MLIR type, e.g. tensor<2x3xf32> (computed once: it is part of
  /// every eager kernel's cache key).
  const std::string &mlirType() const {
    if (type.empty()) {
      type = "tensor<";
      const int64_t *dims = kiln_buffer_shape(buffer);
      for (int32_t i = 0; i < kiln_buffer_rank(buffer); ++i)
        type += std::to_string(dims[i]) + "x";
      // The runtime's dtype names are MLIR's spelling of the element types.
      type += kiln_dtype_name(kiln_buffer_dtype(buffer));
      type += ">";
    }
    return type;
  }

  /// The type a shape-generic kernel takes: mlirType() with the leading
  /// extent open unless it is 1, e.g. tensor<?x3xf32>.
  const std::string &genericType() const {
    if (generic.empty()) {
      const std::string &exact = mlirType();
      int32_t rank = kiln_buffer_rank(buffer);
      int64_t lead = rank > 0 ? kiln_buffer_shape(buffer)[0] : 1;
      if (lead == 1)
        generic = exact;
      else
        generic = "tensor<?" + exact.substr(exact.find('x'));
    }
    return generic;
  }

  kiln_buffer_t *get() const { return buffer; }

  /// "cpu" or "cuda:N".
  std::string device() const { return deviceName(kiln_buffer_device(buffer)); }

  static std::string deviceName(kiln_device_t device) {
    if (device.type == KILN_DEVICE_CPU)
      return "cpu";
    return std::string(kiln_device_type_name(device.type)) + ":" +
           std::to_string(device.ordinal);
  }

  /// This tensor on `device` ("cpu", "cuda:N"): itself if it is there,
  /// else a copy.
  static std::shared_ptr<Tensor> to(const std::shared_ptr<Tensor> &t,
                                    const std::string &device) {
    kiln_device_t target = parseDevice(device);
    if (sameDevice(kiln_buffer_device(t->buffer), target))
      return t;
    kiln_buffer_t *copy = nullptr;
    {
      py::gil_scoped_release release;
      check(kiln_buffer_copy_to(t->buffer, target, &copy));
    }
    return std::make_shared<Tensor>(copy);
  }

  /// "cpu", "cuda" (cuda:0) or "cuda:N" as the runtime's device.
  static kiln_device_t parseDevice(const std::string &name) {
    size_t colon = name.find(':');
    std::string type = name.substr(0, colon);
    kiln_device_type_t parsed;
    check(kiln_device_type_parse(type.c_str(), &parsed));
    int32_t ordinal = 0;
    if (colon != std::string::npos) {
      std::string digits = name.substr(colon + 1);
      if (digits.empty() || digits.size() > 6 ||
          digits.find_first_not_of("0123456789") != std::string::npos)
        throw KilnError(KILN_INVALID_ARGUMENT,
                        "malformed device '" + name + "'");
      ordinal = std::stoi(digits);
    }
    return {parsed, ordinal};
  }

  static bool sameDevice(kiln_device_t a, kiln_device_t b) {
    return a.type == b.type && a.ordinal == b.ordinal;
  }

private:
  kiln_buffer_t *buffer;
  mutable kiln_buffer_t *hostCopy = nullptr; // numpy() of a device buffer
  mutable std::string type, generic;
};

/// The buffers of `tensors` on `device`, copying those elsewhere (as
/// TensorFlow copies an op's inputs to the op's device); `keep` holds the
/// copies for the call.
std::vector<kiln_buffer_t *>
buffersOn(kiln_device_t device,
          const std::vector<std::shared_ptr<Tensor>> &tensors,
          std::vector<std::shared_ptr<Tensor>> &keep) {
  std::vector<kiln_buffer_t *> buffers;
  for (const auto &t : tensors) {
    if (Tensor::sameDevice(kiln_buffer_device(t->get()), device)) {
      buffers.push_back(t->get());
      continue;
    }
    kiln_buffer_t *copy = nullptr;
    check(kiln_buffer_copy_to(t->get(), device, &copy));
    keep.push_back(std::make_shared<Tensor>(copy));
    buffers.push_back(copy);
  }
  return buffers;
}

/// kiln.config.experimental.enable_tensor_float_32_execution: f32 products
/// compiled for the GPU from now on run on the tensor cores with TF32
/// operands (off by default).
std::atomic<bool> allowTf32{false};

/// How Python code is compiled for `device` ("cpu" or "cuda:N"). GPU code is
/// PTX for KILN_GPU_CHIP (default sm_80), which the driver compiles for the
/// GPU it finds: any chip of that generation or newer.
mlir::kiln::CompileOptions compileOptions(const std::string &device) {
  mlir::kiln::CompileOptions options;
  if (Tensor::parseDevice(device).type == KILN_DEVICE_CUDA) {
    options.target = mlir::kiln::Target::CUDA;
    const char *chip = std::getenv("KILN_GPU_CHIP");
    options.gpuChip = chip && *chip ? chip : "sm_80";
    options.gpuFormat = "isa";
    options.allowTf32 = allowTf32.load();
  }
  return options;
}

/// The compiler and the eager kernel cache, for the life of the process.
class Engine {
public:
  static Engine &get() {
    static Engine *engine = new Engine(); // never destroyed: see kernels
    return *engine;
  }

  /// Runs `op` on `inputs` on `device` ("cpu" or "cuda:N"; inputs elsewhere
  /// are copied there): through its shape-generic kernel if the op has
  /// one, else through the kernel for exactly these input types.
  std::vector<std::shared_ptr<Tensor>>
  run(const std::string &op, const std::vector<std::shared_ptr<Tensor>> &inputs,
      const std::string &attributes, const std::vector<std::string> &results,
      const std::string &device) {
    std::vector<std::shared_ptr<Tensor>> copies;
    std::vector<kiln_buffer_t *> in =
        buffersOn(Tensor::parseDevice(device), inputs, copies);
    // Ops with given result types keep them exact.
    bool open = results.empty() &&
                llvm::any_of(inputs, [](const std::shared_ptr<Tensor> &t) {
                  return kiln_buffer_rank(t->get()) > 0 &&
                         kiln_buffer_shape(t->get())[0] != 1;
                });
    std::vector<std::shared_ptr<Tensor>> outputs;
    if (open) {
      // Inputs that do not fit together fail the kernel's shape check; the
      // exact kernel then reports why (the verifier's message).
      kiln_executable_t *exe =
          kernel(op, inputs, attributes, results, device, true);
      if (exe && invoke(exe, in, outputs))
        return outputs;
    }
    kiln_executable_t *exe =
        kernel(op, inputs, attributes, results, device, false);
    invoke(exe, in, outputs, /*shapeErrorsThrow=*/true);
    return outputs;
  }

  MLIRContext &context() { return compiler.getContext(); }

  /// Merges traced modules into one: module i's public function becomes
  /// entry `names[i]`, its private functions get a suffix (so traces never
  /// clash), and variables are renamed by `renames` and shared by name.
  std::string mergeModules(const std::vector<std::string> &texts,
                           const std::vector<std::string> &names,
                           const std::map<std::string, std::string> &renames) {
    std::lock_guard<std::mutex> lock(mutex);
    MLIRContext &context = compiler.getContext();
    OwningOpRef<ModuleOp> merged = ModuleOp::create(UnknownLoc::get(&context));
    std::map<std::string, Type> declared;
    for (size_t i = 0; i < texts.size(); ++i) {
      kiln_status_t status = nullptr;
      OwningOpRef<ModuleOp> module =
          compiler.parse(texts[i], names[i] + ".mlir", &status);
      check(status);
      SymbolTable symbols(*module);
      int publics = 0;
      for (Operation &op : llvm::make_early_inc_range(*module->getBody())) {
        auto symbol = dyn_cast<SymbolOpInterface>(op);
        if (!symbol)
          continue;
        std::string name = symbol.getName().str();
        std::string renamed;
        if (isa<mlir::kiln::VariableOp>(op)) {
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
          throw KilnError(KILN_INTERNAL, "cannot rename @" + name);
      }
      if (publics != 1)
        throw KilnError(KILN_INVALID_ARGUMENT,
                        "the trace of '" + names[i] + "' has " +
                            std::to_string(publics) + " public functions");
      for (Operation &op : llvm::make_early_inc_range(*module->getBody())) {
        if (auto var = dyn_cast<mlir::kiln::VariableOp>(op)) {
          std::string name = var.getSymName().str();
          Type type = var.getType();
          auto [it, fresh] = declared.emplace(name, type);
          if (!fresh) {
            if (it->second != type)
              throw KilnError(KILN_INVALID_ARGUMENT,
                              "variable '" + name +
                                  "' has different types in two entries");
            continue;
          }
        }
        op.moveBefore(merged->getBody(), merged->getBody()->end());
      }
    }
    std::string out;
    llvm::raw_string_ostream os(out);
    merged->print(os);
    return out;
  }

  /// tensor-compile: the module `text` into `outDir`/lib`name`.so and
  /// `name`.h (with the runtime).
  void compileLibrary(const std::string &text, const std::string &outDir,
                      const std::string &name, const std::string &targetCpu) {
    std::lock_guard<std::mutex> lock(mutex);
    kiln_status_t status = nullptr;
    OwningOpRef<ModuleOp> module = compiler.parse(text, name + ".mlir", &status);
    check(status);
    mlir::kiln::AotOptions options;
    options.name = name;
    options.targetCpu = targetCpu;
    options.sourceName = name + ".mlir (kiln.aot.export)";
    py::gil_scoped_release release;
    check(mlir::kiln::compileLibrary(compiler, *module, options, outDir));
  }

  /// Parses `text` and runs the pass pipeline on it; returns the result.
  std::string runPasses(const std::string &text, const std::string &pipeline) {
    std::lock_guard<std::mutex> lock(mutex);
    kiln_status_t status = nullptr;
    OwningOpRef<ModuleOp> module = compiler.parse(text, "module", &status);
    check(status);
    check(compiler.runPasses(*module, pipeline));
    std::string out;
    llvm::raw_string_ostream os(out);
    module->print(os);
    return out;
  }

  /// Compiles a whole module (a trace or a gradient), through the disk
  /// cache keyed by the module's text (with its source locations, which
  /// error messages quote). Variables are named after Python objects, so
  /// the module is compiled with names every process gives it and the
  /// executable binds the variables under this process's names: a second
  /// run of a script loads its compiled steps from disk.
  kiln_status_t jit(ModuleOp module, const std::string &device,
                    kiln_executable_t **out) {
    llvm::StringMap<std::string> names =
        mlir::kiln::Compiler::canonicalizeVariableNames(module);
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os, OpPrintingFlags().enableDebugInfo());
    std::lock_guard<std::mutex> lock(mutex);
    bool fromDisk = false;
    kiln_status_t s = compiler.jitCached(module, compileOptions(device),
                                         "module|" + text, cacheDir(), out,
                                         &fromDisk, &names);
    if (fromDisk)
      ++loaded;
    else if (!s)
      ++modulesCompiled;
    if (kiln_device_t d = Tensor::parseDevice(device); !s && d.ordinal != 0)
      if ((s = kiln_executable_set_device(*out, d))) {
        kiln_executable_release(*out);
        *out = nullptr;
      }
    return s;
  }

  /// The number of kernels compiled (or loaded from disk) so far.
  size_t compiled() const {
    return static_cast<size_t>(llvm::count_if(
        kernels, [](const auto &entry) { return entry.second != nullptr; }));
  }
  size_t cacheHits() const { return hits; }

private:
  static std::string kernelKey(const std::string &op,
                               const std::vector<std::shared_ptr<Tensor>> &inputs,
                               const std::string &attributes,
                               const std::vector<std::string> &results,
                               const std::string &device, bool generic) {
    std::string key;
    key.reserve(op.size() + attributes.size() + 32 * inputs.size() + 16);
    if (device != "cpu")
      key += device + (allowTf32.load() ? "+tf32:" : ":");
    key += op;
    key += '|';
    key += attributes;
    key += '|';
    for (const auto &t : inputs) {
      key += generic ? t->genericType() : t->mlirType();
      key += ',';
    }
    key += "|";
    for (const std::string &r : results)
      key += r + ",";
    return key;
  }

  /// The cached kernel for these inputs (shape-generic or exact), compiled
  /// on first use; NULL if the op has no shape-generic kernel.
  kiln_executable_t *kernel(const std::string &op,
                            const std::vector<std::shared_ptr<Tensor>> &inputs,
                            const std::string &attributes,
                            const std::vector<std::string> &results,
                            const std::string &device, bool generic) {
    std::string key =
        kernelKey(op, inputs, attributes, results, device, generic);
    std::lock_guard<std::mutex> lock(mutex);
    auto it = kernels.find(key);
    if (it != kernels.end()) {
      ++hits;
      return it->second;
    }
    kiln_executable_t *exe =
        compile(op, inputs, attributes, results, key, device, generic);
    kernels[key] = exe;
    return exe;
  }

  /// Calls `exe` on `in`, storing its outputs. A failed shape check is an
  /// error only if `shapeErrorsThrow`; otherwise it returns false.
  static bool invoke(kiln_executable_t *exe,
                     const std::vector<kiln_buffer_t *> &in,
                     std::vector<std::shared_ptr<Tensor>> &outputs,
                     bool shapeErrorsThrow = false) {
    int32_t numOutputs = kiln_entry_output_count(exe, 0);
    std::vector<kiln_buffer_t *> out(static_cast<size_t>(numOutputs), nullptr);
    kiln_status_t status;
    {
      py::gil_scoped_release release;
      status = kiln_executable_invoke(exe, "kernel",
                                      static_cast<int32_t>(in.size()),
                                      in.data(), numOutputs, out.data());
    }
    if (status && !shapeErrorsThrow &&
        kiln_status_code(status) == KILN_INVALID_ARGUMENT) {
      kiln_status_free(status);
      return false;
    }
    check(status);
    for (kiln_buffer_t *b : out)
      outputs.push_back(std::make_shared<Tensor>(b));
    return true;
  }

  /// Compiles the kernel of `op` for the inputs' exact types, or with their
  /// leading extents open if `generic` (NULL if the op cannot be compiled
  /// that way: it then runs on exact kernels).
  kiln_executable_t *compile(const std::string &op,
                             const std::vector<std::shared_ptr<Tensor>> &inputs,
                             const std::string &attributes,
                             const std::vector<std::string> &results,
                             const std::string &key, const std::string &device,
                             bool generic) {
    MLIRContext &context = compiler.getContext();
    std::vector<std::string> argTexts;
    for (const auto &t : inputs)
      argTexts.push_back(generic ? t->genericType() : t->mlirType());
    std::string what = "'" + op + "'";
    std::vector<Type> argTypes = parseTypes(context, argTexts, what);
    DictionaryAttr attrs = parseAttributes(context, attributes, what);
    std::vector<Type> resultTypes = parseTypes(context, results, what);
    mlir::kiln::FunctionBuilder builder(context, "kernel", argTypes);
    std::vector<Value> operands;
    for (unsigned i = 0; i < inputs.size(); ++i)
      operands.push_back(builder.argument(i));
    std::string error;
    FailureOr<SmallVector<Value>> values =
        builder.addOp(op, operands, attrs, resultTypes,
                      UnknownLoc::get(&context), error);
    if (generic && (failed(values) || values->empty() ||
                    !values->front().getDefiningOp()->hasTrait<
                        mlir::kiln::OpTrait::OpenExtents>()))
      return nullptr;
    if (failed(values))
      throw KilnError(KILN_INVALID_ARGUMENT, error);
    OwningOpRef<ModuleOp> module = builder.finish(*values, error);
    if (!module) {
      if (generic)
        return nullptr;
      throw KilnError(KILN_INVALID_ARGUMENT, error);
    }
    kiln_executable_t *exe = nullptr;
    mlir::kiln::CompileOptions options = compileOptions(device);
    bool fromDisk = false;
    kiln_status_t status = compiler.jitCached(*module, options, key,
                                              cacheDir(), &exe, &fromDisk);
    if (status && generic) {
      kiln_status_free(status);
      return nullptr;
    }
    check(status);
    if (fromDisk)
      ++loaded;
    if (kiln_device_t d = Tensor::parseDevice(device); d.ordinal != 0)
      if (kiln_status_t s = kiln_executable_set_device(exe, d)) {
        kiln_executable_release(exe);
        check(s);
      }
    return exe;
  }

  /// Where compiled kernels are kept between processes: $KILN_CACHE_DIR,
  /// else $XDG_CACHE_HOME/kiln/kernels or ~/.cache/kiln/kernels; an empty
  /// KILN_CACHE_DIR, or "off", disables the disk cache.
  static std::string cacheDir() {
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

public:
  size_t loadedFromDisk() const { return loaded; }
  size_t compiledModules() const { return modulesCompiled; }

private:
  size_t loaded = 0;
  size_t modulesCompiled = 0; // traces and gradients compiled, not loaded

  // Kernels live as long as the process: their code may be running on
  // another thread at exit, so they are never released.
  mlir::kiln::Compiler compiler;
  std::map<std::string, kiln_executable_t *> kernels;
  std::mutex mutex;
  size_t hits = 0;
};

/// The process's variable store (kiln.Variable values live here).
class VariableStore {
public:
  VariableStore() { check(kiln_variables_create(&store)); }
  ~VariableStore() { kiln_variables_destroy(store); }
  VariableStore(const VariableStore &) = delete;
  VariableStore &operator=(const VariableStore &) = delete;

  /// Gives variable `name` a copy of `value` (a new buffer: tensors read
  /// before keep the old value).
  void set(const std::string &name, const std::shared_ptr<Tensor> &value) {
    check(kiln_variables_set(store, name.c_str(), value->get()));
  }

  /// The current value, sharing the store's buffer.
  std::shared_ptr<Tensor> get(const std::string &name) {
    kiln_buffer_t *b = kiln_variables_find(store, name.c_str());
    if (!b)
      throw KilnError(KILN_NOT_FOUND, "no variable '" + name + "'");
    kiln_buffer_retain(b);
    return std::make_shared<Tensor>(b);
  }

  /// Before a call writes variable `name` in place: if the store's buffer
  /// is `value`'s and nothing but the store and `value` (a Tensor that the
  /// caller knows no one else holds) references it, returns true and copies
  /// nothing; otherwise sets the variable to a copy of `value` (tensors
  /// read before the call keep their values) and returns false.
  bool prepareUpdate(const std::string &name,
                     const std::shared_ptr<Tensor> &value) {
    kiln_buffer_t *current = kiln_variables_find(store, name.c_str());
    // Holders of the C++ Tensor: the Python object's holder and the
    // argument passed here.
    if (current && current == value->get() &&
        kiln_buffer_refcount(current) == 2 && value.use_count() <= 2)
      return true;
    set(name, value);
    return false;
  }

  bool contains(const std::string &name) {
    return kiln_variables_find(store, name.c_str()) != nullptr;
  }

  /// Moves variable `name` to `device` ("cpu" or "cuda:N"), where it stays;
  /// returns its value there.
  std::shared_ptr<Tensor> place(const std::string &name,
                                const std::string &device) {
    {
      py::gil_scoped_release release;
      check(kiln_variables_place(store, name.c_str(),
                                 Tensor::parseDevice(device)));
    }
    return get(name);
  }

  void save(const std::string &path, const std::vector<std::string> &names) {
    std::vector<const char *> raw;
    for (const std::string &n : names)
      raw.push_back(n.c_str());
    check(kiln_variables_save(store, path.c_str(),
                              static_cast<int32_t>(raw.size()), raw.data()));
  }

  void load(const std::string &path) {
    check(kiln_variables_load(store, path.c_str(), nullptr));
  }

  std::vector<std::string> names() {
    std::vector<std::string> out;
    for (int32_t i = 0; i < kiln_variables_count(store); ++i)
      out.push_back(kiln_variables_name(store, i));
    return out;
  }

  kiln_variables_t *raw() { return store; }

private:
  kiln_variables_t *store = nullptr;
};

/// A compiled module called from Python (traced functions, gradients).
class Executable {
public:
  explicit Executable(kiln_executable_t *exe) : exe(exe) {}
  ~Executable() { kiln_executable_release(exe); }
  Executable(const Executable &) = delete;
  Executable &operator=(const Executable &) = delete;

  std::vector<std::shared_ptr<Tensor>>
  invoke(const std::string &name,
         const std::vector<std::shared_ptr<Tensor>> &inputs,
         VariableStore *variables = nullptr) {
    int32_t index = kiln_executable_find_entry(exe, name.c_str());
    int32_t numOutputs = index >= 0 ? kiln_entry_output_count(exe, index) : 0;
    std::vector<std::shared_ptr<Tensor>> copies;
    std::vector<kiln_buffer_t *> in;
    if (index >= 0) {
      in = buffersOn(kiln_entry_device(exe, index), inputs, copies);
    } else {
      for (const auto &t : inputs)
        in.push_back(t->get());
    }
    std::vector<kiln_buffer_t *> out(static_cast<size_t>(numOutputs), nullptr);
    {
      py::gil_scoped_release release;
      check(kiln_executable_invoke_with_variables(
          exe, name.c_str(), static_cast<int32_t>(in.size()), in.data(),
          numOutputs, out.data(), variables ? variables->raw() : nullptr));
    }
    std::vector<std::shared_ptr<Tensor>> tensors;
    for (kiln_buffer_t *b : out)
      tensors.push_back(std::make_shared<Tensor>(b));
    return tensors;
  }

  /// The variables entry `name` assigns (store keys).
  std::vector<std::string> assigned(const std::string &name) {
    std::vector<std::string> out;
    int32_t index = kiln_executable_find_entry(exe, name.c_str());
    for (int32_t k = 0; index >= 0 && k < kiln_entry_variable_count(exe, index);
         ++k) {
      const char *var = nullptr;
      int writes = 0;
      kiln_entry_variable(exe, index, k, &var, &writes);
      if (writes)
        out.push_back(var);
    }
    return out;
  }

private:
  kiln_executable_t *exe;
};

/// A module built function by function from Python: values are integer ids.
class ModuleBuilder {
public:
  /// Starts function `name`; returns its index.
  size_t function(const std::string &name,
                  const std::vector<std::string> &argTypes, bool isPrivate) {
    MLIRContext &context = Engine::get().context();
    std::vector<Type> types =
        parseTypes(context, argTypes, "function @" + name);
    if (functions.empty())
      functions.push_back(
          std::make_unique<mlir::kiln::FunctionBuilder>(context, name, types));
    else
      functions.push_back(std::make_unique<mlir::kiln::FunctionBuilder>(
          *functions.front(), name, types));
    if (isPrivate && functions.size() > 1)
      functions.back()->setPrivate(); // (never the module's first function)
    return functions.size() - 1;
  }

  size_t argument(size_t function, unsigned i) {
    return add(at(function).argument(i));
  }

  std::vector<size_t> op(size_t function, const std::string &name,
                         const std::vector<size_t> &operands,
                         const std::string &attributes,
                         const std::vector<std::string> &resultTypes,
                         const std::string &file, unsigned line,
                         bool outermost) {
    struct Outermost {
      mlir::kiln::FunctionBuilder &b;
      bool on;
      Outermost(mlir::kiln::FunctionBuilder &b, bool on) : b(b), on(on) {
        if (on)
          b.setOutermost(true);
      }
      ~Outermost() {
        if (on)
          b.setOutermost(false);
      }
    } scope(at(function), outermost);
    MLIRContext &context = Engine::get().context();
    std::string what = "'" + name + "'";
    DictionaryAttr attrs = parseAttributes(context, attributes, what);
    std::vector<Type> types = parseTypes(context, resultTypes, what);
    std::vector<Value> args;
    for (size_t id : operands)
      args.push_back(value(id));
    std::string error;
    FailureOr<SmallVector<Value>> results = at(function).addOp(
        name, args, attrs, types, locationOf(context, file, line), error);
    if (failed(results))
      throw KilnError(KILN_INVALID_ARGUMENT, error);
    std::vector<size_t> ids;
    for (Value v : *results)
      ids.push_back(add(v));
    return ids;
  }

  /// Declares `kiln.variable @name : type` (once) at the module's start.
  void declareVariable(const std::string &name, const std::string &typeText) {
    if (functions.empty())
      throw KilnError(KILN_INVALID_ARGUMENT,
                      "declare a variable after the first function");
    MLIRContext &context = Engine::get().context();
    ModuleOp module = functions.front()->getModule();
    if (SymbolTable::lookupSymbolIn(module, name))
      return;
    Type type = parseTypes(context, {typeText}, "variable @" + name).front();
    OpBuilder b(&context);
    b.setInsertionPointToStart(module.getBody());
    mlir::kiln::VariableOp::create(b, UnknownLoc::get(&context),
                             b.getStringAttr(name), TypeAttr::get(type),
                             ElementsAttr());
  }

  /// Starts a block (see FunctionBuilder::pushBlock); returns its handle
  /// and the ids of its arguments.
  std::pair<size_t, std::vector<size_t>>
  pushBlock(size_t function, const std::vector<std::string> &argTypes) {
    std::vector<Type> types =
        parseTypes(Engine::get().context(), argTypes, "a region block");
    Block *block = at(function).pushBlock(types);
    blocks.push_back(block);
    std::vector<size_t> args;
    for (Value v : block->getArguments())
      args.push_back(add(v));
    return {blocks.size() - 1, args};
  }

  void popBlock(size_t function, const std::vector<size_t> &values,
                const std::string &terminator) {
    if (terminator != "yield" && terminator != "condition")
      throw KilnError(KILN_INVALID_ARGUMENT,
                      "a region ends in kiln.yield or kiln.condition, not "
                      "kiln." + terminator);
    std::vector<Value> yields;
    for (size_t id : values)
      yields.push_back(value(id));
    at(function).popBlock(yields, terminator);
  }

  void discardBlock(size_t function, size_t handle) {
    at(function).discardBlock(blocks.at(handle));
  }

  std::vector<size_t> regionOp(size_t function, const std::string &name,
                               const std::vector<size_t> &operands,
                               const std::vector<size_t> &blockHandles,
                               const std::vector<std::string> &resultTypes,
                               const std::string &file, unsigned line) {
    MLIRContext &context = Engine::get().context();
    std::vector<Value> args;
    for (size_t id : operands)
      args.push_back(value(id));
    std::vector<Block *> regionBlocks;
    for (size_t h : blockHandles)
      regionBlocks.push_back(blocks.at(h));
    std::vector<Type> types =
        parseTypes(context, resultTypes, "'" + name + "'");
    std::string error;
    FailureOr<SmallVector<Value>> results = at(function).addRegionOp(
        name, args, DictionaryAttr(), regionBlocks, types,
        locationOf(context, file, line), error);
    if (failed(results))
      throw KilnError(KILN_INVALID_ARGUMENT, error);
    std::vector<size_t> ids;
    for (Value v : *results)
      ids.push_back(add(v));
    return ids;
  }

  /// See FunctionBuilder::outline: returns (capture ids, reached flags).
  std::pair<std::vector<size_t>, std::vector<bool>>
  outline(size_t function, size_t target, const std::vector<size_t> &sources,
          const std::string &name) {
    std::vector<Value> srcs;
    for (size_t id : sources)
      srcs.push_back(value(id));
    SmallVector<Value> captures;
    SmallVector<bool> reached;
    std::string error;
    if (failed(at(function).outline(value(target), srcs, name, captures,
                                    reached, error)))
      throw KilnError(KILN_INVALID_ARGUMENT, error);
    std::vector<size_t> ids;
    for (Value v : captures)
      ids.push_back(add(v));
    return {ids, std::vector<bool>(reached.begin(), reached.end())};
  }

  std::string type(size_t id) {
    std::string text;
    llvm::raw_string_ostream os(text);
    value(id).getType().print(os);
    return text;
  }

  void finishFunction(size_t function, const std::vector<size_t> &results) {
    std::vector<Value> values;
    for (size_t id : results)
      values.push_back(value(id));
    at(function).finishFunction(values);
  }

  /// The module's text (before compilation).
  std::string text() {
    if (functions.empty())
      return "";
    std::string out;
    llvm::raw_string_ostream os(out);
    functions.front()->getModule()->print(os);
    return out;
  }

  std::shared_ptr<Executable> compile(const std::string &device) {
    if (functions.empty())
      throw KilnError(KILN_INVALID_ARGUMENT, "the module has no function");
    std::string error;
    OwningOpRef<ModuleOp> module = functions.front()->takeModule(error);
    if (!module)
      throw KilnError(KILN_INVALID_ARGUMENT, error);
    kiln_executable_t *exe = nullptr;
    check(Engine::get().jit(*module, device, &exe));
    return std::make_shared<Executable>(exe);
  }

private:
  mlir::kiln::FunctionBuilder &at(size_t function) {
    if (function >= functions.size())
      throw KilnError(KILN_INVALID_ARGUMENT, "no such function");
    return *functions[function];
  }
  size_t add(Value v) {
    values.push_back(v);
    return values.size() - 1;
  }
  Value value(size_t id) {
    if (id >= values.size())
      throw KilnError(KILN_INVALID_ARGUMENT, "no such value");
    return values[id];
  }
  std::vector<std::unique_ptr<mlir::kiln::FunctionBuilder>> functions;
  std::vector<Value> values;
  std::vector<Block *> blocks;
};

} // namespace

PYBIND11_MODULE(_kiln, m) {
  m.doc() = "Kiln's native module: tensors, eager kernels, the compiler";

  static py::exception<KilnError> error(m, "NativeError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const KilnError &e) {
      py::object code = py::int_(static_cast<int>(e.code));
      PyErr_SetObject(error.ptr(),
                      py::make_tuple(code, py::str(e.message)).ptr());
    }
  });

  py::class_<Tensor, std::shared_ptr<Tensor>>(m, "Tensor")
      .def_static("from_numpy", &Tensor::fromNumpy)
      .def("numpy", &Tensor::numpy)
      .def_property_readonly("shape",
                             [](const Tensor &t) {
                               py::tuple shape(t.shape().size());
                               for (size_t i = 0; i < t.shape().size(); ++i)
                                 shape[i] = t.shape()[i];
                               return shape;
                             })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", &Tensor::device)
      .def_static("to", &Tensor::to, py::arg("tensor"), py::arg("device"))
      .def_property_readonly("mlir_type", &Tensor::mlirType);

  m.def("run_op", [](const std::string &op,
                     const std::vector<std::shared_ptr<Tensor>> &inputs,
                     const std::string &attributes,
                     const std::vector<std::string> &results,
                     const std::string &device) {
          return Engine::get().run(op, inputs, attributes, results, device);
        },
        py::arg("op"), py::arg("inputs"), py::arg("attributes") = "",
        py::arg("results") = std::vector<std::string>{},
        py::arg("device") = "cpu");
  m.def("read_idx",
        [](const std::string &path, const std::string &dtype) {
          kiln_dtype_t type;
          check(kiln_dtype_parse(dtype.c_str(), &type));
          kiln_buffer_t *buffer = nullptr;
          {
            py::gil_scoped_release release;
            check(kiln_idx_read(path.c_str(), type, -1, &buffer));
          }
          return std::make_shared<Tensor>(buffer);
        },
        py::arg("path"), py::arg("dtype"),
        "Reads an idx (.gz) file with the runtime's reader.");
  m.def("merge_modules",
        [](const std::vector<std::string> &texts,
           const std::vector<std::string> &names,
           const std::map<std::string, std::string> &renames) {
          return Engine::get().mergeModules(texts, names, renames);
        },
        py::arg("texts"), py::arg("names"), py::arg("renames"));
  m.def("compile_library",
        [](const std::string &text, const std::string &outDir,
           const std::string &name, const std::string &targetCpu) {
          Engine::get().compileLibrary(text, outDir, name, targetCpu);
        },
        py::arg("text"), py::arg("out_dir"), py::arg("name"),
        py::arg("target_cpu") = "native");
  m.def("run_passes", [](const std::string &text, const std::string &pipeline) {
          return Engine::get().runPasses(text, pipeline);
        },
        py::arg("text"), py::arg("pipeline"));
  py::class_<Executable, std::shared_ptr<Executable>>(m, "Executable")
      .def("invoke", &Executable::invoke, py::arg("name"), py::arg("inputs"),
           py::arg("variables") = nullptr)
      .def("assigned", &Executable::assigned);

  py::class_<ModuleBuilder>(m, "ModuleBuilder")
      .def(py::init<>())
      .def("function", &ModuleBuilder::function, py::arg("name"),
           py::arg("argument_types"), py::arg("private") = false)
      .def("argument", &ModuleBuilder::argument)
      .def("op", &ModuleBuilder::op, py::arg("function"), py::arg("name"),
           py::arg("operands"), py::arg("attributes") = "",
           py::arg("result_types") = std::vector<std::string>{},
           py::arg("file") = "", py::arg("line") = 0,
           py::arg("outermost") = false)
      .def("declare_variable", &ModuleBuilder::declareVariable)
      .def("push_block", &ModuleBuilder::pushBlock)
      .def("discard_block", &ModuleBuilder::discardBlock)
      .def("outline", &ModuleBuilder::outline)
      .def("pop_block", &ModuleBuilder::popBlock, py::arg("function"),
           py::arg("values"), py::arg("terminator") = "yield")
      .def("region_op", &ModuleBuilder::regionOp, py::arg("function"),
           py::arg("name"), py::arg("operands"), py::arg("blocks"),
           py::arg("result_types") = std::vector<std::string>{},
           py::arg("file") = "", py::arg("line") = 0)
      .def("type", &ModuleBuilder::type)
      .def("finish_function", &ModuleBuilder::finishFunction)
      .def("text", &ModuleBuilder::text)
      .def("compile", &ModuleBuilder::compile, py::arg("device") = "cpu");

  py::class_<VariableStore>(m, "VariableStore")
      .def(py::init<>())
      .def("set", &VariableStore::set)
      .def("prepare_update", &VariableStore::prepareUpdate)
      .def("get", &VariableStore::get)
      .def("__contains__", &VariableStore::contains)
      .def("place", &VariableStore::place)
      .def("save", &VariableStore::save)
      .def("load", &VariableStore::load)
      .def("names", &VariableStore::names);

  // The runtime's rule for entry, variable and library names.
  m.def("is_identifier", [](const std::string &name) {
    return ::kiln::runtime::isIdentifier(name);
  });
  // The runtime's thread pool (kiln_num_threads, kiln_set_num_threads).
  m.def(
      "gpu_status",
      [](int ordinal) -> py::object {
        // None if cuda:ORDINAL can be used, else why not.
        kiln_status_t status =
            kiln_device_check(kiln_device_t{KILN_DEVICE_CUDA, ordinal});
        if (!status)
          return py::none();
        std::string message = kiln_status_message(status);
        kiln_status_free(status);
        return py::str(message);
      },
      py::arg("ordinal"));
  m.def("gpu_count", [] { return kiln_device_count(KILN_DEVICE_CUDA); });
  m.def("set_allow_tf32", [](bool enabled) { allowTf32.store(enabled); });
  m.def("allow_tf32", [] { return allowTf32.load(); });
  m.def("num_threads", [] { return kiln_num_threads(); });
  m.def("set_num_threads", [](int count) {
    if (kiln_status_t status = kiln_set_num_threads(count)) {
      std::string message = kiln_status_message(status);
      kiln_status_free(status);
      throw py::value_error(message);
    }
  });
  // The counters of a device's buffer pool (kiln_device_memory_stats).
  m.def("pool_stats", [](const std::string &device) {
    kiln_pool_stats_t stats;
    check(kiln_device_memory_stats(Tensor::parseDevice(device), &stats));
    py::dict out;
    out["allocations"] = stats.allocations;
    out["reuses"] = stats.reuses;
    out["bytes_cached"] = stats.bytes_cached;
    out["bytes_in_use"] = stats.bytes_in_use;
    return out;
  }, py::arg("device") = "cpu");
  m.def("kernels_compiled", [] { return Engine::get().compiled(); });
  m.def("kernel_cache_hits", [] { return Engine::get().cacheHits(); });
  m.def("modules_compiled", [] { return Engine::get().compiledModules(); });
  m.def("kernels_loaded_from_disk",
        [] { return Engine::get().loadedFromDisk(); });
}
