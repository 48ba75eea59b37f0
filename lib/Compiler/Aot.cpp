//===- Aot.cpp - Ahead-of-time compilation to a shared library ------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Aot.h"
#include "kiln/ABI/EntryPoints.h"

#include "Diagnostics.h"
#include "ObjectCode.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include <dlfcn.h>

#include <sstream>

using namespace mlir;
using namespace mlir::kiln;

#ifndef KILN_RUNTIME_HEADER_PATH
#define KILN_RUNTIME_HEADER_PATH ""
#endif

/// Entry points of an AOT library take static shapes: its header passes
/// plain pointers. Reports the first offender at its location.
static LogicalResult checkStaticSignatures(ModuleOp module) {
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    for (auto [kind, types] :
         {std::make_pair("input", TypeRange(func.getArgumentTypes())),
          std::make_pair("output", TypeRange(func.getResultTypes()))})
      for (auto [i, type] : llvm::enumerate(types)) {
        auto tensor = dyn_cast<RankedTensorType>(type);
        if (tensor && !tensor.hasStaticShape())
          return func.emitError()
                 << "entry point '" << func.getName() << "': " << kind << " #"
                 << i << " has type " << type
                 << "; ahead-of-time libraries take static shapes (their "
                    "header passes plain pointers)";
      }
  }
  return success();
}

/// Why the header of a library named `name` would not compile next to the
/// C library's and the runtime's headers, or nothing: it defines NAME_t and
/// functions NAME_create, NAME_error, ...
static std::optional<std::string> nameClash(llvm::StringRef name) {
  if (name.starts_with("kiln"))
    return "names starting with 'kiln' belong to the Kiln runtime";
  // Types NAME_t that C's and POSIX's common headers define.
  static const char *const kTypes[] = {
      "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
      "uint64", "intptr", "uintptr", "intmax", "uintmax", "size", "ssize",
      "ptrdiff", "wchar", "wint", "max_align", "off", "off64", "dev", "ino",
      "mode", "nlink", "uid", "gid", "pid", "id", "time", "clock", "clockid",
      "timer", "key", "blksize", "blkcnt", "fsblkcnt", "fsfilcnt",
      "useconds", "suseconds", "caddr", "daddr", "fsid", "loff", "pthread",
      "sigset", "sig_atomic", "locale", "fpos", "div", "ldiv", "lldiv",
      "mbstate", "socklen", "sa_family", "in_addr", "in_port", "float",
      "double", "char16", "char32", "nfds", "rlim", "regoff", "regex"};
  for (const char *type : kTypes)
    if (name == type)
      return ("the header would define " + name + "_t, which the C library "
              "already defines")
          .str();
  return std::nullopt;
}

kiln_status_t mlir::kiln::compileObjects(
    Compiler &compiler, ModuleOp module, const AotOptions &options,
    std::vector<llvm::SmallVector<char, 0>> &objects, std::string &manifest) {
  if (!isCIdentifier(options.name))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "library name '%s' is not a C identifier",
                              options.name.c_str());
  if (std::optional<std::string> clash = nameClash(options.name))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "library name '%s' cannot be used: %s; choose "
                              "another name",
                              options.name.c_str(), clash->c_str());
  {
    DiagnosticCollector diagnostics(*module.getContext());
    if (failed(checkStaticSignatures(module)))
      return diagnostics.status(KILN_UNIMPLEMENTED, "unsupported signature");
  }

  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return kiln_status_create(KILN_INTERNAL, "no LLVM target for %s: %s",
                              triple.str().c_str(), error.c_str());
  std::string cpu = options.targetCpu, features;
  if (cpu.empty() || cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures wanted;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      wanted.AddFeature(feature.first(), feature.second);
    features = wanted.getString();
  } else if (std::unique_ptr<llvm::MCSubtargetInfo> info(
                 target->createMCSubtargetInfo(triple, cpu, ""));
             !info || !info->isCPUStringValid(cpu)) {
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "unknown target CPU '%s' for %s (try "
                              "x86-64-v2, x86-64-v3, x86-64-v4 or native)",
                              cpu.c_str(), triple.str().c_str());
  }
  auto makeMachine = [&]() {
    return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
        triple, cpu, features, llvm::TargetOptions(), llvm::Reloc::PIC_,
        std::nullopt,
        options.optLevel >= 3 ? llvm::CodeGenOptLevel::Aggressive
                              : llvm::CodeGenOptLevel::Default));
  };
  std::unique_ptr<llvm::TargetMachine> machine = makeMachine();
  if (!machine)
    return kiln_status_create(KILN_INTERNAL, "cannot create a target machine "
                                             "for %s",
                              cpu.c_str());
  // The code is generated for the target machine's CPU ("host" is the CPU
  // that compiles, with its features).
  CompileOptions lowering;
  lowering.target = options.target;
  lowering.optLevel = options.optLevel;
  lowering.gpuChip = options.gpuChip;
  lowering.allowTf32 = options.allowTf32;
  lowering.tensorCores = options.tensorCores;
  lowering.mergeLaunches = options.mergeLaunches;
  lowering.gpuFormat = options.gpuFormat;
  lowering.targetCpu =
      options.targetCpu.empty() || options.targetCpu == "native"
          ? "host"
          : options.targetCpu;
  if (kiln_status_t s = compiler.lower(module, lowering))
    return s;

  // Export NAME_manifest, NAME_entry_E, NAME_shape_E; everything else the
  // module defines becomes internal, so libraries never clash.
  std::string prefix = options.name + "_";
  SymbolTable symbols(module);
  for (Operation &op : llvm::make_early_inc_range(*module.getBody())) {
    auto symbol = dyn_cast<SymbolOpInterface>(op);
    if (!symbol)
      continue;
    llvm::StringRef name = symbol.getName();
    std::string renamed;
    if (name == "kiln_manifest")
      renamed = prefix + "manifest";
    else if (name.starts_with("kiln_entry_"))
      renamed = prefix + "entry_" + name.drop_front(11).str();
    else if (name.starts_with("kiln_shape_"))
      renamed = prefix + "shape_" + name.drop_front(11).str();
    if (auto global = dyn_cast<LLVM::GlobalOp>(op)) {
      if (name == "kiln_manifest") {
        auto text = dyn_cast_or_null<StringAttr>(global.getValueOrNull());
        manifest = text ? text.getValue().rtrim('\0').str() : "";
      } else {
        global.setLinkage(LLVM::Linkage::Internal);
      }
    }
    if (auto func = dyn_cast<LLVM::LLVMFuncOp>(op))
      if (renamed.empty() && !func.isExternal())
        func.setLinkage(LLVM::Linkage::Internal);
    if (!renamed.empty() &&
        failed(symbols.rename(&op, StringAttr::get(module.getContext(),
                                                   renamed))))
      return kiln_status_create(KILN_INTERNAL, "cannot rename %s",
                                name.str().c_str());
  }
  if (manifest.empty())
    return kiln_status_create(KILN_INTERNAL, "the lowered module has no "
                                             "kiln_manifest");

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, options.name);
  if (!llvmModule)
    return kiln_status_create(KILN_INTERNAL,
                              "translation to LLVM IR failed");
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  unsigned parts = codegenPartitions(*llvmModule, options.codegenPartitions);
  if (llvm::Error e = emitObjects(
          std::move(llvmModule), parts, compileThreads(),
          [&]() -> llvm::Expected<std::unique_ptr<llvm::TargetMachine>> {
            if (std::unique_ptr<llvm::TargetMachine> m = makeMachine())
              return std::move(m);
            return llvm::createStringError("cannot create a target machine");
          },
          options.optLevel, objects))
    return kiln_status_create(KILN_INTERNAL, "code generation failed: %s",
                              llvm::toString(std::move(e)).c_str());
  return nullptr;
}

using ::kiln::runtime::EntrySpec;
using ::kiln::runtime::TensorSpec;
using ::kiln::runtime::VariableSpec;

/// The C type of a dtype's elements in the generated header.
static const char *cType(kiln_dtype_t dtype) {
  switch (dtype) {
  case KILN_F32:
    return "float";
  case KILN_F64:
    return "double";
  case KILN_I32:
    return "int32_t";
  case KILN_I64:
    return "int64_t";
  case KILN_I1:
  case KILN_UI8:
    return "uint8_t";
  case KILN_I8:
    return "int8_t";
  case KILN_I16:
    return "int16_t";
  case KILN_UI16:
    return "uint16_t";
  case KILN_UI32:
    return "uint32_t";
  case KILN_F16:
  case KILN_BF16:
    return "uint16_t"; // raw bits
  }
  return "void";
}

/// "f32 [4, 3]" for the header's comments.
static std::string describe(const TensorSpec &spec) {
  std::string text = std::string(kiln_dtype_name(spec.dtype)) + " [";
  for (size_t i = 0; i < spec.shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(spec.shape[i]);
  return text + "]";
}

/// The header's opening comment, include guard and includes.
static void writePreamble(std::ostringstream &h, const AotOptions &options,
                          const std::string &guard) {
  const std::string &n = options.name;
  h << "/* " << n << ".h: the C interface of lib" << n
    << ".so, generated by tensor-compile";
  if (!options.sourceName.empty())
    h << "\n * from " << options.sourceName;
  h << ". Do not edit.\n"
       " *\n"
       " * Build: cc prog.c -I<dir> -L<dir> -l"
    << n
    << " -lkiln_runtime -Wl,-rpath,<dir>\n"
       " *\n"
       " * Usage: create an instance (it owns its variables), give the "
       "variables\n"
       " * values (initialize, or load a checkpoint), call entries, save.\n"
       " * Every function returning int32_t returns 0 on success or a\n"
       " * kiln_status_code_t; "
    << n
    << "_error(model) then says what went wrong.\n"
       " *\n"
       " * Ownership: arrays passed to entries are borrowed (dense, "
       "row-major,\n"
       " * of the shapes below); outputs are written in full. Thread-safety: "
       "an\n"
       " * instance is used by one thread at a time; instances are "
       "independent,\n"
       " * so use one per thread. The compiled code keeps no other state.\n"
       " */\n"
       "#ifndef "
    << guard << "\n#define " << guard
    << "\n\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n"
       "#include \"kiln/Runtime/Runtime.h\"\n\n"
       "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
}

/// The variables' comment, the library's symbols and the lookup function
/// that hands them to the runtime.
static void writeSymbols(std::ostringstream &h, const std::string &n,
                         const std::vector<VariableSpec> &variables,
                         const std::vector<EntrySpec> &entries) {
  h << "/* Variables of the model (names for get/set_variable and "
       "checkpoints):\n";
  for (const VariableSpec &v : variables)
    h << " *   " << v.name << ": " << describe(v.spec) << "\n";
  if (variables.empty())
    h << " *   (none)\n";
  h << " */\n\n/* The compiled code in lib" << n << ".so. */\n"
    << "extern const char " << n << "_manifest[];\n";
  for (const EntrySpec &e : entries)
    h << "int32_t " << n << "_entry_" << e.name
      << "(void **args, const int64_t *dims);\n";
  // A union, not a cast: ISO C has no conversion between function and
  // object pointers.
  h << "\nstatic inline void *" << n
    << "_lookup_(void *ctx, const char *symbol) {\n"
       "  union {\n    int32_t (*fn)(void **, const int64_t *);\n"
       "    void *ptr;\n  } entry;\n  (void)ctx;\n  entry.ptr = NULL;\n";
  for (const EntrySpec &e : entries)
    h << "  if (strcmp(symbol, \"kiln_entry_" << e.name << "\") == 0)\n"
      << "    entry.fn = &" << n << "_entry_" << e.name << ";\n";
  h << "  return entry.ptr;\n}\n\n";
}

/// The instance type and its fixed API (create, destroy, error, variables,
/// checkpoints).
static void writeInstanceApi(std::ostringstream &h, const std::string &n) {
  h << "/** One model: the compiled entries and its own variables. */\n"
    << "typedef struct " << n << "_s " << n << "_t;\n\n"
    << "/** Creates an instance with no variable values yet. On failure "
       "returns\n *  NULL and, if `error` is not NULL, writes the message "
       "there. */\n"
    << "static inline " << n << "_t *" << n
    << "_create(char *error, size_t error_size) {\n"
       "  kiln_instance_t *instance = NULL;\n"
       "  kiln_status_t status = kiln_instance_create("
    << n << "_manifest, " << n
    << "_lookup_, NULL, &instance);\n"
       "  if (status && error && error_size) {\n"
       "    strncpy(error, kiln_status_message(status), error_size - 1);\n"
       "    error[error_size - 1] = '\\0';\n"
       "  }\n"
       "  kiln_status_free(status);\n  return ("
    << n << "_t *)instance;\n}\n\n";
  auto simple = [&](const std::string &fn, const std::string &doc,
                    const std::string &params, const std::string &call,
                    const std::string &ret = "int32_t") {
    h << "/** " << doc << " */\nstatic inline " << ret
      << (ret.back() == '*' ? "" : " ") << n << "_" << fn << "(" << n
      << "_t *model" << params << ") {\n  " << (ret == "void" ? "" : "return ")
      << call << ";\n}\n\n";
  };
  simple("destroy", "Destroys the instance and its variables (NULL is "
                    "fine).",
         "", "kiln_instance_destroy((kiln_instance_t *)model)", "void");
  simple("error", "The message of the last failed call (\"\" if it "
                  "succeeded); valid\n *  until the next call.",
         "", "kiln_instance_error((kiln_instance_t *)model)", "const char *");
  simple("init_variables", "Gives every variable without a value its "
                           "initial value.",
         "", "kiln_instance_initialize((kiln_instance_t *)model)");
  simple("load_checkpoint", "Loads a safetensors checkpoint (checked: a variable of "
                 "another shape\n *  is an error naming it; on failure "
                 "nothing changes).",
         ", const char *path",
         "kiln_instance_load((kiln_instance_t *)model, path)");
  simple("save_checkpoint", "Saves every variable to a safetensors file "
                 "(atomically).",
         ", const char *path",
         "kiln_instance_save((kiln_instance_t *)model, path)");
  simple("get_variable", "Copies variable `name` into `data` (`bytes` must "
                         "be its size).",
         ", const char *name, void *data, size_t bytes",
         "kiln_instance_get_variable((kiln_instance_t *)model, name, data, "
         "bytes)");
  simple("set_variable", "Copies `data` into variable `name` (`bytes` must "
                         "be its size).",
         ", const char *name, const void *data, size_t bytes",
         "kiln_instance_set_variable((kiln_instance_t *)model, name, data, "
         "bytes)");
}

/// The typed function of one entry point.
static void writeEntry(std::ostringstream &h, const std::string &n,
                       const EntrySpec &e) {
  h << "/** Entry point " << e.name << ".\n";
  for (size_t i = 0; i < e.inputs.size(); ++i)
    h << " *  in" << i << ": " << describe(e.inputs[i]) << "\n";
  for (size_t i = 0; i < e.outputs.size(); ++i)
    h << " *  out" << i << ": " << describe(e.outputs[i]) << "\n";
  for (const auto &var : e.variables)
    h << " *  " << (var.writes ? "updates" : "reads") << " variable "
      << var.name << "\n";
  h << " */\nstatic inline int32_t " << n << "_" << e.name << "(" << n
    << "_t *model";
  for (size_t i = 0; i < e.inputs.size(); ++i)
    h << ", const " << cType(e.inputs[i].dtype) << " *in" << i;
  for (size_t i = 0; i < e.outputs.size(); ++i)
    h << ", " << cType(e.outputs[i].dtype) << " *out" << i;
  h << ") {\n  void *args[] = {";
  size_t count = 0;
  for (size_t i = 0; i < e.inputs.size(); ++i)
    h << (count++ ? ", " : "") << "(void *)in" << i;
  for (size_t i = 0; i < e.outputs.size(); ++i)
    h << (count++ ? ", " : "") << "(void *)out" << i;
  if (!count)
    h << "NULL";
  h << "};\n  return kiln_instance_call((kiln_instance_t *)model, \""
    << e.name << "\", args);\n}\n\n";
}

kiln_status_t mlir::kiln::generateHeader(const AotOptions &options,
                                         const std::string &manifestText,
                                         std::string &header) {
  // The runtime's own (strict) reader: the header describes exactly what
  // the runtime will load.
  ::kiln::runtime::Manifest manifest;
  if (kiln_status_t s =
          ::kiln::runtime::parseManifest(manifestText.c_str(), manifest))
    return kiln_status_annotate(s, "the compiled module's manifest");
  const std::string &n = options.name;
  std::string guard = llvm::StringRef(n).upper() + "_H";
  std::ostringstream h;
  writePreamble(h, options, guard);
  writeSymbols(h, n, manifest.variables, manifest.entries);
  writeInstanceApi(h, n);
  for (const EntrySpec &e : manifest.entries)
    if (!llvm::StringRef(e.name).starts_with("kiln_")) // internal entries
      writeEntry(h, n, e);
  h << "#ifdef __cplusplus\n} /* extern \"C\" */\n#endif\n\n#endif /* "
    << guard << " */\n";
  header = h.str();
  return nullptr;
}

/// The header's own functions: entries may not use these names.
static constexpr llvm::StringLiteral kReservedNames[] = {
    "create",          "destroy",         "error",        "init_variables",
    "load_checkpoint", "save_checkpoint", "get_variable", "set_variable",
    "manifest",        "lookup_"};

/// The file that defines `symbol` (a shared library), or "".
static std::string libraryOf(const void *symbol) {
  Dl_info info;
  if (dladdr(symbol, &info) && info.dli_fname)
    return info.dli_fname;
  return "";
}

static kiln_status_t writeFile(const std::string &path,
                               llvm::StringRef contents) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (!ec) {
    os << contents;
    os.close();
    ec = os.error();
  }
  if (ec)
    return kiln_status_create(KILN_IO_ERROR, "cannot write %s: %s",
                              path.c_str(), ec.message().c_str());
  return nullptr;
}

kiln_status_t mlir::kiln::compileLibrary(Compiler &compiler, ModuleOp module,
                                         const AotOptions &options,
                                         const std::string &outDir,
                                         const std::string &linker) {
  // Entry functions are NAME_ENTRY in the header, next to the fixed API.
  {
    DiagnosticCollector diagnostics(*module.getContext());
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isPrivate() && !func.isExternal() &&
          llvm::is_contained(kReservedNames, func.getName())) {
        func.emitError() << "entry point '" << func.getName()
                         << "' would collide with the generated function "
                         << options.name << "_" << func.getName()
                         << "; rename it";
        return diagnostics.status(KILN_INVALID_ARGUMENT, "reserved entry name");
      }
  }
  std::vector<llvm::SmallVector<char, 0>> objects;
  std::string manifest;
  if (kiln_status_t s =
          compileObjects(compiler, module, options, objects, manifest))
    return s;
  if (std::error_code ec = llvm::sys::fs::create_directories(outDir + "/kiln/Runtime"))
    return kiln_status_create(KILN_IO_ERROR, "cannot create %s: %s",
                              outDir.c_str(), ec.message().c_str());
  std::string libraryPath = outDir + "/lib" + options.name + ".so";
  std::vector<std::string> objectPaths;
  auto removeObjects = [&] {
    for (const std::string &path : objectPaths)
      llvm::sys::fs::remove(path);
  };
  for (const auto &object : objects) {
    objectPaths.push_back(outDir + "/" + options.name +
                          (objects.size() == 1
                               ? std::string()
                               : "." + std::to_string(objectPaths.size())) +
                          ".o");
    if (kiln_status_t s = writeFile(
            objectPaths.back(), llvm::StringRef(object.data(), object.size()))) {
      removeObjects();
      return s;
    }
  }

  // The runtime, next to the library: the header calls it, and the
  // library's temporaries come from its pool (it is linked against it).
  std::string runtime =
      libraryOf(reinterpret_cast<const void *>(&kiln_status_create));
  if (runtime.empty() ||
      llvm::sys::fs::copy_file(runtime, outDir + "/libkiln_runtime.so")) {
    removeObjects();
    return kiln_status_create(KILN_NOT_FOUND,
                              "cannot copy the Kiln runtime library ('%s')",
                              runtime.c_str());
  }

  // Link with the system's C compiler driver.
  std::string driver = linker;
  if (driver.empty())
    if (const char *cc = std::getenv("CC"); cc && *cc)
      driver = cc;
  llvm::ErrorOr<std::string> program = llvm::sys::findProgramByName(
      driver.empty() ? "cc" : driver);
  if (!program && driver.empty())
    program = llvm::sys::findProgramByName("clang-22");
  if (!program) {
    removeObjects();
    return kiln_status_create(KILN_NOT_FOUND,
                              "no C compiler driver to link with ('%s'): set "
                              "CC",
                              driver.empty() ? "cc" : driver.c_str());
  }
  std::string soname = "-Wl,-soname,lib" + options.name + ".so";
  std::string runtimeDir = "-L" + outDir;
  llvm::SmallVector<llvm::StringRef> args = {*program, "-shared", "-o",
                                            libraryPath};
  args.append(objectPaths.begin(), objectPaths.end());
  args.append({soname, runtimeDir, "-lkiln_runtime", "-Wl,-rpath,$ORIGIN",
               "-lm"});
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, args, std::nullopt, {}, 0, 0,
                                     &message);
  removeObjects();
  if (rc != 0)
    return kiln_status_create(KILN_INTERNAL, "linking %s failed (%s exited "
                                             "with %d) %s",
                              libraryPath.c_str(), program->c_str(), rc,
                              message.c_str());

  std::string header;
  if (kiln_status_t s = generateHeader(options, manifest, header))
    return s;
  if (kiln_status_t s = writeFile(outDir + "/" + options.name + ".h", header))
    return s;
  if (llvm::sys::fs::copy_file(KILN_RUNTIME_HEADER_PATH,
                               outDir + "/kiln/Runtime/Runtime.h"))
    return kiln_status_create(KILN_NOT_FOUND,
                              "cannot copy the runtime header '%s'",
                              KILN_RUNTIME_HEADER_PATH);
  return nullptr;
}
