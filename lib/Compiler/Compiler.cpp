//===- Compiler.cpp - Compile Kiln modules to runnable code
//----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Compiler.h"
#include "kiln/Pipelines/Pipelines.h"

#include "Diagnostics.h"
#include "ObjectCode.h"

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"
#include "kiln/Dialect/Kiln/SourceCheck.h"

#include "mlir/Transforms/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ExecutionEngine/Orc/AbsoluteSymbols.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/JITEventListener.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Support/Format.h"
#include "mlir/Support/Timing.h"

#include <chrono>
#include "llvm/ADT/StringExtras.h"

#include <array>
#include <mutex>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace mlir;
using namespace mlir::kiln;


static void initializeLLVMOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

Compiler::Compiler() {
  initializeLLVMOnce();
  DialectRegistry registry;
  registry.insert<KilnDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  context = std::make_unique<MLIRContext>(registry);
  context->loadAllAvailableDialects();
}

Compiler::~Compiler() = default;

OwningOpRef<ModuleOp> Compiler::parse(llvm::StringRef source,
                                      llvm::StringRef filename,
                                      kiln_status_t *status) {
  if (auto bad = findUnparsableText(source)) {
    auto [line, column] = lineAndColumn(source, bad->offset);
    *status = kiln_status_create(
        KILN_INVALID_ARGUMENT, "%s",
        (filename + ":" + llvm::Twine(line) + ":" + llvm::Twine(column) +
         ": " + bad->message)
            .str()
            .c_str());
    return nullptr;
  }
  DiagnosticCollector diagnostics(*context);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(source, filename), llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(context.get()));
  *status = module ? nullptr
                   : diagnostics.status(KILN_INVALID_ARGUMENT,
                                        ("cannot parse " + filename).str());
  return module;
}

/// KILN_COMPILE_TIMING=1: each compilation prints the time of its MLIR
/// passes (MLIR's timing report) and of LLVM's optimization and code
/// generation to stderr.
static bool compileTiming() {
  const char *value = std::getenv("KILN_COMPILE_TIMING");
  return value && std::string(value) == "1";
}

namespace {
/// Seconds since construction, for KILN_COMPILE_TIMING.
struct Stopwatch {
  std::chrono::steady_clock::time_point start =
      std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  }
};
} // namespace

kiln_status_t Compiler::lower(ModuleOp module, const CompileOptions &options) {
  DiagnosticCollector diagnostics(*context);
  PassManager pm(context.get());
  if (compileTiming()) {
    // MLIR's report (to stderr) prints when the pass manager is destroyed.
    auto timing = std::make_unique<DefaultTimingManager>();
    timing->setEnabled(true);
    pm.enableTiming(std::move(timing));
  }
  if (options.printIRAfterAll) {
    context->disableMultithreading();
    pm.enableIRPrinting();
  }
  switch (options.target) {
  case Target::CPU: {
    CpuPipelineOptions pipeline;
    pipeline.tensor.fuseElementwise = options.fuseElementwise;
    pipeline.codegen.targetCpu = options.targetCpu;
    pipeline.codegen.tileContractions = options.tileContractions;
    pipeline.codegen.threads = options.threads;
    pipeline.codegen.emulateGpuKernels = options.emulateGpuKernels;
    pipeline.codegen.allowTf32 = options.allowTf32;
    pipeline.codegen.tensorCores = options.tensorCores;
    buildCpuPipeline(pm, pipeline);
    break;
  }
  case Target::CUDA: {
    llvm::StringRef chip = options.gpuChip;
    if (!chip.consume_front("sm_") || chip.empty() ||
        !llvm::all_of(chip.drop_back(chip.ends_with("a") ? 1 : 0),
                      llvm::isDigit) ||
        chip == "a")
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "'%s' is not an NVIDIA GPU architecture (write "
                                "sm_80, sm_90, sm_90a, ...)",
                                options.gpuChip.c_str());
    if (options.gpuFormat != "isa" && options.gpuFormat != "bin" &&
        options.gpuFormat != "fatbin")
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "unknown GPU code format '%s' (isa, bin or "
                                "fatbin)",
                                options.gpuFormat.c_str());
    GpuPipelineOptions pipeline;
    pipeline.tensor.fuseElementwise = options.fuseElementwise;
    pipeline.codegen.chip = options.gpuChip;
    pipeline.codegen.format = options.gpuFormat;
    pipeline.codegen.tileContractions = options.tileContractions;
    pipeline.codegen.allowTf32 = options.allowTf32;
    pipeline.codegen.tensorCores = options.tensorCores;
    pipeline.codegen.mergeLaunches = options.mergeLaunches;
    buildGpuPipeline(pm, pipeline);
    break;
  }
  }
  if (failed(pm.run(module)))
    return diagnostics.status(KILN_INVALID_ARGUMENT, "compilation failed");
  return nullptr;
}

kiln_status_t Compiler::runPasses(ModuleOp module, llvm::StringRef pipeline) {
  // Textual pipelines name passes: register those this library may run.
  static std::once_flag once;
  std::call_once(once, [] {
    registerAllKilnPasses();
    registerTransformsPasses();
  });
  DiagnosticCollector diagnostics(*context);
  PassManager pm(context.get());
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (failed(parsePassPipeline(pipeline, pm, os)))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "cannot parse the pass pipeline '%s': %s",
                              pipeline.str().c_str(), errors.c_str());
  if (failed(pm.run(module)))
    return diagnostics.status(KILN_INVALID_ARGUMENT, "the passes failed");
  return nullptr;
}

// The runtime's allocation functions for compiled code's temporaries (see
// Buffer.cpp); the runtime exports them, but the JIT only searches the
// process's global scope, where a runtime loaded by Python is not.
extern "C" void *_mlir_memref_to_llvm_alloc(size_t);
extern "C" void *_mlir_memref_to_llvm_aligned_alloc(size_t, size_t);
extern "C" void _mlir_memref_to_llvm_free(void *);
// The host calls of compiled GPU code (Cuda.cpp).
extern "C" void *mgpuModuleLoad(void *, size_t);
extern "C" void *mgpuModuleLoadJIT(void *, int);
extern "C" void mgpuModuleUnload(void *);
extern "C" void *mgpuModuleGetFunction(void *, const char *);
extern "C" void *mgpuStreamCreate();
extern "C" void mgpuStreamDestroy(void *);
extern "C" void mgpuStreamSynchronize(void *);
extern "C" void *mgpuMemAlloc(uint64_t, void *, bool);
extern "C" void mgpuMemFree(void *, void *);
extern "C" void mgpuMemcpy(void *, void *, size_t, void *);
extern "C" void *mgpuTensorMapEncodeTiledMemref(int64_t, void *, int64_t,
                                                int64_t, int64_t, int64_t,
                                                int64_t, int64_t *);
extern "C" void mgpuLaunchKernel(void *, intptr_t, intptr_t, intptr_t,
                                 intptr_t, intptr_t, intptr_t, int32_t, void *,
                                 void **, void **, size_t);

/// The runtime's symbols that compiled code calls, for a JIT.
static llvm::orc::SymbolMap runtimeSymbols(llvm::orc::MangleAndInterner mangle) {
  auto symbol = [](auto *function) {
    return llvm::orc::ExecutorSymbolDef(
        llvm::orc::ExecutorAddr::fromPtr(reinterpret_cast<void *>(function)),
        llvm::JITSymbolFlags::Exported);
  };
  llvm::orc::SymbolMap symbols;
  symbols[mangle("_mlir_memref_to_llvm_alloc")] =
      symbol(&_mlir_memref_to_llvm_alloc);
  symbols[mangle("_mlir_memref_to_llvm_aligned_alloc")] =
      symbol(&_mlir_memref_to_llvm_aligned_alloc);
  symbols[mangle("_mlir_memref_to_llvm_free")] =
      symbol(&_mlir_memref_to_llvm_free);
  symbols[mangle("kiln_parallel_for")] = symbol(&kiln_parallel_for);
  symbols[mangle("kiln_check_failed")] = symbol(&kiln_check_failed);
  symbols[mangle("kiln_summary_scalar")] = symbol(&kiln_summary_scalar);
  symbols[mangle("kiln_print_text")] = symbol(&kiln_print_text);
  symbols[mangle("kiln_print_tensor_f32")] = symbol(&kiln_print_tensor_f32);
  symbols[mangle("kiln_print_tensor_f64")] = symbol(&kiln_print_tensor_f64);
  symbols[mangle("kiln_print_tensor_f16")] = symbol(&kiln_print_tensor_f16);
  symbols[mangle("kiln_print_tensor_bf16")] = symbol(&kiln_print_tensor_bf16);
  symbols[mangle("kiln_print_tensor_i1")] = symbol(&kiln_print_tensor_i1);
  symbols[mangle("kiln_print_tensor_i32")] = symbol(&kiln_print_tensor_i32);
  symbols[mangle("kiln_print_tensor_i64")] = symbol(&kiln_print_tensor_i64);
  symbols[mangle("kiln_sort_f32")] = symbol(&kiln_sort_f32);
  symbols[mangle("kiln_sort_f64")] = symbol(&kiln_sort_f64);
  symbols[mangle("kiln_sort_i32")] = symbol(&kiln_sort_i32);
  symbols[mangle("kiln_sort_i64")] = symbol(&kiln_sort_i64);
#define KILN_COLLECTIVE_SYMBOLS(suffix)                                        \
  symbols[mangle("kiln_all_reduce_" #suffix)] =                                \
      symbol(&kiln_all_reduce_##suffix);                                       \
  symbols[mangle("kiln_all_reduce_start_" #suffix)] =                          \
      symbol(&kiln_all_reduce_start_##suffix);                                 \
  symbols[mangle("kiln_all_reduce_done_" #suffix)] =                           \
      symbol(&kiln_all_reduce_done_##suffix);                                  \
  symbols[mangle("kiln_broadcast_from_" #suffix)] =                            \
      symbol(&kiln_broadcast_from_##suffix);                                   \
  symbols[mangle("kiln_all_gather_" #suffix)] =                                \
      symbol(&kiln_all_gather_##suffix);                                       \
  symbols[mangle("kiln_reduce_scatter_" #suffix)] =                            \
      symbol(&kiln_reduce_scatter_##suffix);
  KILN_COLLECTIVE_SYMBOLS(f32)
  KILN_COLLECTIVE_SYMBOLS(f64)
  KILN_COLLECTIVE_SYMBOLS(i32)
  KILN_COLLECTIVE_SYMBOLS(i64)
#undef KILN_COLLECTIVE_SYMBOLS
  symbols[mangle("kiln_group_rank")] = symbol(&kiln_group_rank);
  symbols[mangle("kiln_group_size")] = symbol(&kiln_group_size);
  symbols[mangle("mgpuModuleLoad")] = symbol(&mgpuModuleLoad);
  symbols[mangle("mgpuModuleLoadJIT")] = symbol(&mgpuModuleLoadJIT);
  symbols[mangle("mgpuModuleUnload")] = symbol(&mgpuModuleUnload);
  symbols[mangle("mgpuModuleGetFunction")] = symbol(&mgpuModuleGetFunction);
  symbols[mangle("mgpuStreamCreate")] = symbol(&mgpuStreamCreate);
  symbols[mangle("mgpuStreamDestroy")] = symbol(&mgpuStreamDestroy);
  symbols[mangle("mgpuStreamSynchronize")] = symbol(&mgpuStreamSynchronize);
  symbols[mangle("mgpuLaunchKernel")] = symbol(&mgpuLaunchKernel);
  symbols[mangle("mgpuMemAlloc")] = symbol(&mgpuMemAlloc);
  symbols[mangle("mgpuMemFree")] = symbol(&mgpuMemFree);
  symbols[mangle("mgpuMemcpy")] = symbol(&mgpuMemcpy);
  symbols[mangle("mgpuTensorMapEncodeTiledMemref")] =
      symbol(&mgpuTensorMapEncodeTiledMemref);
  return symbols;
}

static void *lookupSymbol(void *ctx, const char *name) {
  auto *engine = static_cast<ExecutionEngine *>(ctx);
  llvm::Expected<void *> address = engine->lookup(name);
  if (!address) {
    llvm::consumeError(address.takeError());
    return nullptr;
  }
  return *address;
}

static void releaseEngine(void *ctx) {
  delete static_cast<ExecutionEngine *>(ctx);
}

kiln_status_t Compiler::jit(ModuleOp module, const CompileOptions &options,
                            kiln_executable_t **out) {
  return jitCached(module, options, /*cacheKey=*/"", /*cacheDir=*/"", out,
                   /*fromCache=*/nullptr);
}

/// The cache file of `key`: a hash of the key, the options and this build
/// of Kiln (a rebuilt compiler never reads objects of an older one).
static std::string cachePath(llvm::StringRef dir, llvm::StringRef key,
                             const CompileOptions &options) {
  std::string material = key.str();
  material += "|O" + std::to_string(options.optLevel);
  material += options.fuseElementwise ? "|fuse" : "|nofuse";
  material += options.tileContractions ? "|tile" : "|notile";
  material += options.threads ? "|threads" : "|nothreads";
  if (options.emulateGpuKernels)
    material += "|emulate-gpu-kernels";
  if (options.allowTf32)
    material += "|tf32";
  if (!options.tensorCores)
    material += "|no-tensor-cores";
  material += "|" + stringifyTarget(options.target).str() + "|" +
              options.targetCpu;
  if (options.target == Target::CUDA)
    material += "|" + options.gpuChip + "|" + options.gpuFormat +
                (options.mergeLaunches ? "" : "|nomerge");
  // This build of the compiler: the file holding this code (a tool or the
  // Python module), identified by its path, size and modification time.
  Dl_info info;
  struct stat st;
  if (dladdr(reinterpret_cast<void *>(&cachePath), &info) && info.dli_fname &&
      ::stat(info.dli_fname, &st) == 0)
    material += std::string("|") + info.dli_fname + "|" +
                std::to_string(st.st_size) + "|" +
                std::to_string(st.st_mtim.tv_sec) + "." +
                std::to_string(st.st_mtim.tv_nsec);
  std::array<uint8_t, 32> hash = llvm::SHA256::hash(
      llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(material.data()),
                              material.size()));
  std::string name = llvm::toHex(hash, /*LowerCase=*/true);
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, name + ".o");
  return path.str().str();
}

static void *lookupOrc(void *ctx, const char *name) {
  auto *jit = static_cast<llvm::orc::LLJIT *>(ctx);
  auto address = jit->lookup(name);
  if (!address) {
    llvm::consumeError(address.takeError());
    return nullptr;
  }
  return address->toPtr<void *>();
}

static void releaseOrc(void *ctx) { delete static_cast<llvm::orc::LLJIT *>(ctx); }

/// The prefix of the names canonicalizeVariableNames gives.
static constexpr llvm::StringLiteral kCanonicalVariablePrefix = "kiln_var_";

llvm::StringMap<std::string>
Compiler::canonicalizeVariableNames(ModuleOp module) {
  SmallVector<kiln::VariableOp> variables =
      llvm::to_vector(module.getOps<kiln::VariableOp>());
  // A variable named after another plus a suffix (an optimizer's slot,
  // `W_adam_m`, which the pipeline finds by that name) keeps the relation:
  // it becomes the other's new name plus the suffix. Its base is the
  // longest such other name.
  auto baseOf = [&](llvm::StringRef name) {
    llvm::StringRef base;
    for (kiln::VariableOp other : variables) {
      llvm::StringRef candidate = other.getSymName();
      if (candidate.size() > base.size() && candidate.size() < name.size() &&
          name.starts_with(candidate) && name[candidate.size()] == '_')
        base = candidate;
    }
    return base;
  };
  // Ordinals follow the order of declaration; derived names are made after
  // their (shorter) bases.
  llvm::StringMap<std::string> renamed; // old name -> new name
  unsigned next = 0;
  for (kiln::VariableOp variable : variables)
    if (baseOf(variable.getSymName()).empty())
      renamed[variable.getSymName()] =
          (kCanonicalVariablePrefix + llvm::Twine(next++)).str();
  SmallVector<kiln::VariableOp> derived = llvm::to_vector(
      llvm::make_filter_range(variables, [&](kiln::VariableOp v) {
        return !renamed.count(v.getSymName());
      }));
  llvm::stable_sort(derived, [](kiln::VariableOp a, kiln::VariableOp b) {
    return a.getSymName().size() < b.getSymName().size();
  });
  for (kiln::VariableOp variable : derived) {
    llvm::StringRef name = variable.getSymName(), base = baseOf(name);
    renamed[name] = renamed[base] + name.drop_front(base.size()).str();
  }
  // All or nothing: a name already in use would leave a slot apart from
  // its variable. (Then the module keeps its names and the cache misses.)
  SymbolTable symbols(module);
  for (const auto &entry : renamed)
    if (symbols.lookup(entry.second))
      return {};
  llvm::StringMap<std::string> original; // new name -> old name
  for (kiln::VariableOp variable : variables) {
    std::string old = variable.getSymName().str();
    if (succeeded(symbols.rename(variable, renamed[old])))
      original[renamed[old]] = old; // what the executable maps back

  }
  return original;
}

/// `manifest` with each variable in `names` (its `variable` and `var`
/// lines) under its mapped name, and each variable named after one of them
/// plus a suffix under the mapped name plus that suffix.
static std::string
renameManifestVariables(llvm::StringRef manifest,
                        const llvm::StringMap<std::string> &names) {
  std::string out;
  out.reserve(manifest.size());
  while (!manifest.empty()) {
    auto [line, rest] = manifest.split('\n');
    bool newline = manifest.size() > line.size();
    manifest = rest;
    llvm::SmallVector<llvm::StringRef> words;
    line.split(words, ' ');
    if (words.size() >= 2 && (words[0] == "variable" || words[0] == "var")) {
      // A variable the pipeline adds for one of them (an optimizer's slot,
      // `NAME_adam_m`) is renamed with it.
      llvm::StringRef name = words[1], suffix;
      auto found = names.find(name);
      for (size_t cut = name.find('_', kCanonicalVariablePrefix.size());
           found == names.end() && cut != llvm::StringRef::npos;
           cut = name.find('_', cut + 1)) {
        found = names.find(name.take_front(cut));
        suffix = name.drop_front(cut);
      }
      if (found != names.end()) {
        out += words[0];
        out += ' ';
        out += found->second;
        out += suffix;
        out += line.drop_front(words[0].size() + 1 + words[1].size());
        if (newline)
          out += '\n';
        continue;
      }
    }
    out += line;
    if (newline)
      out += '\n';
  }
  return out;
}

/// kiln_executable_create, with the manifest's variables renamed.
static kiln_status_t
createExecutable(const char *manifest, kiln_symbol_lookup_fn lookup, void *ctx,
                 void (*release)(void *),
                 const llvm::StringMap<std::string> *variableNames,
                 kiln_executable_t **out) {
  if (!variableNames || variableNames->empty())
    return kiln_executable_create(manifest, lookup, ctx, release, out);
  std::string renamed = renameManifestVariables(manifest, *variableNames);
  return kiln_executable_create(renamed.c_str(), lookup, ctx, release, out);
}

/// A cache entry: "KILNOBJS", the number of object files and each one's
/// size (little-endian 64-bit), then the objects' bytes.
static constexpr llvm::StringLiteral kCacheMagic = "KILNOBJS";

static std::string packObjects(llvm::ArrayRef<ObjectFile> objects) {
  std::string out = kCacheMagic.str();
  auto put = [&](uint64_t n) {
    for (int i = 0; i < 8; ++i)
      out += static_cast<char>((n >> (8 * i)) & 0xff);
  };
  put(objects.size());
  for (const ObjectFile &object : objects)
    put(object.size());
  for (const ObjectFile &object : objects)
    out.append(object.data(), object.size());
  return out;
}

/// The object files of a cache entry, or nothing when it is damaged.
static std::optional<std::vector<llvm::StringRef>>
unpackObjects(llvm::StringRef data) {
  if (!data.consume_front(kCacheMagic))
    return std::nullopt;
  auto get = [&](uint64_t &n) {
    if (data.size() < 8)
      return false;
    n = 0;
    for (int i = 0; i < 8; ++i)
      n |= uint64_t(static_cast<uint8_t>(data[i])) << (8 * i);
    data = data.drop_front(8);
    return true;
  };
  uint64_t count;
  if (!get(count) || count == 0 || count > data.size() / 8)
    return std::nullopt;
  std::vector<uint64_t> sizes(count);
  for (uint64_t &size : sizes)
    if (!get(size))
      return std::nullopt;
  std::vector<llvm::StringRef> objects;
  for (uint64_t size : sizes) {
    if (size > data.size())
      return std::nullopt;
    objects.push_back(data.take_front(size));
    data = data.drop_front(size);
  }
  if (!data.empty())
    return std::nullopt;
  return objects;
}

/// A JIT holding `objects`, linked against the runtime's symbols and the
/// process's libraries, its global constructors run. With KILN_PERF=1 perf
/// is told about the code (jitdump: `perf record -k 1`, then `perf inject
/// --jit`), for profiling compiled steps.
static llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>>
loadObjects(llvm::ArrayRef<llvm::StringRef> objects) {
  llvm::orc::LLJITBuilder builder;
  const char *perf = std::getenv("KILN_PERF");
  if (perf && std::string(perf) == "1")
    builder.setObjectLinkingLayerCreator(
        [](llvm::orc::ExecutionSession &session)
            -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
          auto layer = std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
              session, [](const llvm::MemoryBuffer &) {
                return std::make_unique<llvm::SectionMemoryManager>();
              });
          if (llvm::JITEventListener *listener =
                  llvm::JITEventListener::createPerfJITEventListener())
            layer->registerJITEventListener(*listener);
          return layer;
        });
  auto jit = builder.create();
  if (!jit)
    return jit.takeError();
  llvm::orc::LLJIT &j = **jit;
  auto generator =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
          j.getDataLayout().getGlobalPrefix());
  if (!generator)
    return generator.takeError();
  j.getMainJITDylib().addGenerator(std::move(*generator));
  llvm::orc::MangleAndInterner mangle(j.getExecutionSession(),
                                      j.getDataLayout());
  if (llvm::Error e = j.getMainJITDylib().define(
          llvm::orc::absoluteSymbols(runtimeSymbols(mangle))))
    return std::move(e);
  for (llvm::StringRef object : objects)
    if (llvm::Error e = j.addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(
            object, "kiln-object")))
      return std::move(e);
  // Global constructors: a GPU module's loads its kernels.
  if (llvm::Error e = j.initialize(j.getMainJITDylib()))
    return std::move(e);
  return std::move(*jit);
}

kiln_status_t
Compiler::loadCached(const CompileOptions &options, llvm::StringRef cacheKey,
                     llvm::StringRef cacheDir, kiln_executable_t **out,
                     const llvm::StringMap<std::string> *variableNames) {
  *out = nullptr;
  if (cacheDir.empty())
    return nullptr;
  std::string path = cachePath(cacheDir, cacheKey, options);
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return nullptr; // not cached (or unreadable: compile instead)
  std::optional<std::vector<llvm::StringRef>> objects =
      unpackObjects((*buffer)->getBuffer());
  auto jit = objects ? loadObjects(*objects)
                     : llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>>(
                           llvm::createStringError("damaged"));
  if (!jit) {
    // A damaged cache entry: drop it and compile instead.
    llvm::consumeError(jit.takeError());
    llvm::sys::fs::remove(path);
    return nullptr;
  }
  llvm::orc::LLJIT *raw = jit->release();
  auto *manifest = static_cast<const char *>(lookupOrc(raw, "kiln_manifest"));
  if (!manifest) {
    delete raw;
    llvm::sys::fs::remove(path);
    return nullptr;
  }
  if (kiln_status_t s = createExecutable(manifest, lookupOrc, raw, releaseOrc,
                                         variableNames, out)) {
    kiln_status_free(s);
    llvm::sys::fs::remove(path);
    *out = nullptr;
  }
  return nullptr;
}

/// The end of a compilation: the executable made from the JIT `ctx`
/// (released if the code has no manifest), with the compiled `objects`
/// saved first as the cache entry `cacheFile` (when not empty; written to
/// a temporary name, then renamed, so readers never see half a file).
static kiln_status_t
finishCompilation(const char *manifest, kiln_symbol_lookup_fn lookup,
                  void *ctx, void (*release)(void *),
                  llvm::ArrayRef<ObjectFile> objects,
                  const std::string &cacheFile,
                  const llvm::StringMap<std::string> *variableNames,
                  kiln_executable_t **out) {
  if (!manifest) {
    release(ctx);
    return kiln_status_create(KILN_INTERNAL,
                              "compiled module has no kiln_manifest");
  }
  if (!cacheFile.empty() && !objects.empty()) {
    // A unique temporary name (two threads may compile the same key); a
    // failed write (a full disk) leaves no entry and is not an error.
    int fd = -1;
    llvm::SmallString<256> tmp;
    if (!llvm::sys::fs::createUniqueFile(cacheFile + ".tmp-%%%%%%%%", fd, tmp)) {
      bool failed;
      {
        llvm::raw_fd_ostream file(fd, /*shouldClose=*/true);
        file << packObjects(objects);
        file.close();
        failed = file.has_error();
        file.clear_error();
      }
      if (failed || llvm::sys::fs::rename(tmp, cacheFile))
        llvm::sys::fs::remove(tmp);
    }
  }
  return createExecutable(manifest, lookup, ctx, release, variableNames, out);
}

/// The cache entry for `cacheKey` in `cacheDir` (created), or "" for none.
static std::string cacheFile(llvm::StringRef cacheDir,
                             llvm::StringRef cacheKey,
                             const CompileOptions &options) {
  if (cacheDir.empty() || llvm::sys::fs::create_directories(cacheDir))
    return std::string();
  return cachePath(cacheDir, cacheKey, options);
}

kiln_status_t Compiler::jitObjects(
    ModuleOp module, const CompileOptions &options,
    llvm::orc::JITTargetMachineBuilder &builder, llvm::StringRef cacheKey,
    llvm::StringRef cacheDir, kiln_executable_t **out,
    const llvm::StringMap<std::string> *variableNames, double *mlirSeconds) {
  Stopwatch clock;
  auto llvmContext = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, *llvmContext, "kiln");
  if (!llvmModule)
    return kiln_status_create(KILN_INTERNAL, "translation to LLVM IR failed");
  auto machine = builder.createTargetMachine();
  if (!machine)
    return kiln_status_create(KILN_INTERNAL,
                              "cannot create a target machine: %s",
                              llvm::toString(machine.takeError()).c_str());
  llvmModule->setDataLayout((*machine)->createDataLayout());
  llvmModule->setTargetTriple((*machine)->getTargetTriple());
  machine->reset();
  unsigned parts =
      codegenPartitions(*llvmModule, options.codegenPartitions);
  unsigned threads = compileThreads();
  double translated = clock.seconds();
  std::vector<ObjectFile> objects;
  if (llvm::Error e = emitObjects(
          std::move(llvmModule), parts, threads,
          [&]() -> llvm::Expected<std::unique_ptr<llvm::TargetMachine>> {
            llvm::orc::JITTargetMachineBuilder copy = builder;
            return copy.createTargetMachine();
          },
          options.optLevel, objects))
    return kiln_status_create(KILN_INTERNAL, "code generation failed: %s",
                              llvm::toString(std::move(e)).c_str());
  double generated = clock.seconds();
  std::vector<llvm::StringRef> views;
  for (const ObjectFile &object : objects)
    views.emplace_back(object.data(), object.size());
  auto jit = loadObjects(views);
  if (!jit)
    return kiln_status_create(KILN_INTERNAL, "cannot link the compiled code: %s",
                              llvm::toString(jit.takeError()).c_str());
  // (The manifest's lookup links the code: a link error says what failed.)
  auto address = (*jit)->lookup("kiln_manifest");
  if (!address)
    return kiln_status_create(KILN_INTERNAL, "cannot link the compiled code: %s",
                              llvm::toString(address.takeError()).c_str());
  llvm::orc::LLJIT *raw = jit->release();
  auto *manifest = address->toPtr<const char *>();
  if (mlirSeconds)
    llvm::errs() << llvm::format(
        "kiln compile: MLIR passes %.2f s, translation to LLVM IR %.2f s, "
        "LLVM optimization and code generation %.2f s (%u partition%s, %u "
        "thread%s), linking %.2f s, total %.2f s\n",
        *mlirSeconds, translated, generated - translated, parts,
        parts == 1 ? "" : "s", std::min(threads, parts),
        std::min(threads, parts) == 1 ? "" : "s", clock.seconds() - generated,
        *mlirSeconds + clock.seconds());
  return finishCompilation(manifest, lookupOrc, raw, releaseOrc, objects,
                           cacheFile(cacheDir, cacheKey, options),
                           variableNames, out);
}

kiln_status_t
Compiler::jitCached(ModuleOp module, const CompileOptions &options,
                    llvm::StringRef cacheKey, llvm::StringRef cacheDir,
                    kiln_executable_t **out, bool *fromCache,
                    const llvm::StringMap<std::string> *variableNames) {
  *out = nullptr;
  if (fromCache)
    *fromCache = false;
  if (kiln_status_t s =
          loadCached(options, cacheKey, cacheDir, out, variableNames))
    return s;
  if (*out) {
    if (fromCache)
      *fromCache = true;
    return nullptr;
  }
  bool timed = compileTiming();
  Stopwatch total;
  if (kiln_status_t status = lower(module, options))
    return status;
  double mlirSeconds = total.seconds();
  DiagnosticCollector diagnostics(*context);
  // Optimize for the host CPU: without a target machine the vectorizer has
  // no cost model and leaves loops scalar (about 10x slower training steps).
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (builder) {
    if (options.targetCpu != "host" && options.targetCpu != "native") {
      // The CPU's own features, not the host's.
      builder->setCPU(options.targetCpu);
      builder->getFeatures() = llvm::SubtargetFeatures();
    }
    builder->setCodeGenOptLevel(
        static_cast<llvm::CodeGenOptLevel>(std::min(options.optLevel, 3u)));
  }
  if (options.target == Target::CPU) {
    if (!builder)
      return kiln_status_create(KILN_INTERNAL, "no target for this host: %s",
                                llvm::toString(builder.takeError()).c_str());
    // Position-independent code, as the JIT's linker wants on x86-64.
    builder->setRelocationModel(llvm::Reloc::PIC_);
    builder->setCodeModel(llvm::CodeModel::Small);
    return jitObjects(module, options, *builder, cacheKey, cacheDir, out,
                      variableNames, timed ? &mlirSeconds : nullptr);
  }
  std::unique_ptr<llvm::TargetMachine> host;
  if (builder) {
    if (auto machine = builder->createTargetMachine())
      host = std::move(*machine);
    else
      llvm::consumeError(machine.takeError());
  } else {
    llvm::consumeError(builder.takeError());
  }
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0, host.get());
  double translated = 0, optimized = 0;
  std::function<llvm::Error(llvm::Module *)> transformer =
      [&](llvm::Module *m) {
        translated = total.seconds();
        llvm::Error e = optimize(m);
        optimized = total.seconds();
        return e;
      };
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel =
      static_cast<llvm::CodeGenOptLevel>(std::min(options.optLevel, 3u));
  engineOptions.enableObjectDump = !cacheDir.empty();
  engineOptions.enableGDBNotificationListener = false;
  // KILN_PERF=1: tell perf about the JIT's code (jitdump: `perf record -k 1`,
  // then `perf inject --jit`), for profiling compiled steps.
  engineOptions.enablePerfNotificationListener =
      std::getenv("KILN_PERF") && std::string(std::getenv("KILN_PERF")) == "1";
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine) {
    std::string message = llvm::toString(engine.takeError());
    return kiln_status_create(KILN_INTERNAL, "JIT compilation failed: %s",
                              message.c_str());
  }
  ExecutionEngine *raw = engine->release();
  raw->registerSymbols(runtimeSymbols);
  // Global constructors: a GPU module's loads its kernels.
  raw->initialize();
  auto *manifest =
      static_cast<const char *>(lookupSymbol(raw, "kiln_manifest"));
  if (timed)
    llvm::errs() << llvm::format(
        "kiln compile: MLIR passes %.2f s, translation to LLVM IR %.2f s, "
        "LLVM optimization %.2f s, code generation and linking %.2f s, "
        "total %.2f s\n",
        mlirSeconds, translated - mlirSeconds, optimized - translated,
        total.seconds() - optimized, total.seconds());
  // The engine's object, for the cache: dumped to a file and read back.
  std::string file = manifest ? cacheFile(cacheDir, cacheKey, options) : "";
  std::vector<ObjectFile> objects;
  llvm::SmallString<256> dumped;
  if (!file.empty() &&
      !llvm::sys::fs::createUniqueFile(file + ".o-%%%%%%%%", dumped)) {
    raw->dumpToObjectFile(dumped.str().str());
    if (auto buffer = llvm::MemoryBuffer::getFile(dumped))
      objects.emplace_back((*buffer)->getBuffer().begin(),
                           (*buffer)->getBuffer().end());
    llvm::sys::fs::remove(dumped);
  }
  return finishCompilation(manifest, lookupSymbol, raw, releaseEngine,
                           objects, file, variableNames, out);
}

kiln_status_t Compiler::jitSource(llvm::StringRef source,
                                  llvm::StringRef filename,
                                  const CompileOptions &options,
                                  kiln_executable_t **out) {
  *out = nullptr;
  kiln_status_t status = nullptr;
  OwningOpRef<ModuleOp> module = parse(source, filename, &status);
  if (!module)
    return status;
  return jit(*module, options, out);
}
