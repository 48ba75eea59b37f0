//===- ObjectCode.cpp - LLVM IR to native object files --------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A big training step lowers to thousands of LLVM functions (the outlined
// loop nests of kiln-cpu-outline-loops) whose optimization and code
// generation take about a minute on one thread. LLVM's pipelines work on
// one module in one context at a time, so the module is cut into
// partitions, each written as bitcode and read back into a context of its
// own, and the partitions are optimized and compiled on separate threads
// (as XLA's CPU backend and LLVM's own parallel LTO code generator do). The
// partition count is a property of the module, never of the machine, so
// that a module compiles to the same code everywhere.
//
//===----------------------------------------------------------------------===//

#include "ObjectCode.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "llvm/Transforms/Utils/ValueMapper.h"

#include <algorithm>
#include <cstdlib>
#include <string>

using namespace llvm;

namespace mlir::kiln {

/// LLVM instructions per partition: below twice this a module is compiled
/// whole (every eager kernel and small training step).
static constexpr uint64_t kInstructionsPerPartition = 40000;
/// At most this many partitions.
static constexpr unsigned kMaxPartitions = 8;
/// Functions of at most this many instructions (not `noinline`) are copied
/// into every partition as `available_externally`, to stay inlinable.
static constexpr unsigned kCopiedFunctionInstructions = 64;
/// Constants of at most this many bytes are copied the same way, so that
/// loads of them still fold.
static constexpr uint64_t kCopiedConstantBytes = 4096;

Error emitObject(Module &module, TargetMachine &machine, unsigned optLevel,
                 SmallVectorImpl<char> &object) {
  auto optimize = makeOptimizingTransformer(optLevel, /*sizeLevel=*/0,
                                            &machine);
  if (Error e = optimize(&module))
    return e;
  raw_svector_ostream os(object);
  legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, os, nullptr,
                                  CodeGenFileType::ObjectFile))
    return createStringError("the target cannot emit object files");
  passes.run(module);
  return Error::success();
}

/// Whether the module can be cut: no appending globals (constructor
/// lists), comdats, aliases or ifuncs, which must stay with their users.
static bool splittable(const Module &module) {
  if (!module.alias_empty() || !module.ifunc_empty() ||
      !module.getComdatSymbolTable().empty())
    return false;
  return llvm::none_of(module.globals(), [](const GlobalVariable &variable) {
    return variable.hasAppendingLinkage();
  });
}

unsigned codegenPartitions(const Module &module, unsigned forced) {
  unsigned definitions = 0;
  uint64_t instructions = 0;
  for (const Function &function : module)
    if (!function.isDeclaration()) {
      ++definitions;
      instructions += function.getInstructionCount();
    }
  if (definitions < 2 || !splittable(module))
    return 1;
  unsigned parts =
      forced ? forced
             : static_cast<unsigned>(std::min<uint64_t>(
                   kMaxPartitions, instructions / kInstructionsPerPartition));
  return std::clamp(parts, 1u, definitions);
}

unsigned compileThreads() {
  if (const char *text = std::getenv("KILN_COMPILE_THREADS")) {
    char *end = nullptr;
    long n = std::strtol(text, &end, 10);
    if (end != text && *end == '\0' && n > 0)
      return static_cast<unsigned>(std::min(n, 256L));
  }
  return std::max(1u, hardware_concurrency().compute_thread_count());
}

namespace {
/// How a module is cut: the partition each definition belongs to, and the
/// definitions copied into the others.
struct Partitioning {
  DenseMap<const GlobalValue *, unsigned> owner;
  DenseSet<const GlobalValue *> copied;
};
} // namespace

/// Deals the function definitions out to `parts` partitions, largest
/// first to the least loaded (ties by name, so the cut is deterministic);
/// global variables are defined in partition 0.
static Partitioning partition(Module &module, unsigned parts) {
  Partitioning result;
  const DataLayout &layout = module.getDataLayout();
  SmallVector<std::pair<unsigned, Function *>> functions;
  for (Function &function : module) {
    if (function.isDeclaration())
      continue;
    unsigned size = function.getInstructionCount();
    functions.push_back({size, &function});
    if (size <= kCopiedFunctionInstructions &&
        !function.hasFnAttribute(Attribute::NoInline))
      result.copied.insert(&function);
  }
  llvm::sort(functions, [](const auto &a, const auto &b) {
    if (a.first != b.first)
      return a.first > b.first;
    return a.second->getName() < b.second->getName();
  });
  SmallVector<uint64_t> load(parts, 0);
  for (auto [size, function] : functions) {
    unsigned lightest = std::min_element(load.begin(), load.end()) -
                        load.begin();
    result.owner[function] = lightest;
    // A function the others copy costs them too; count it once here.
    load[lightest] += std::max(size, 1u);
  }
  for (GlobalVariable &variable : module.globals()) {
    if (variable.isDeclaration())
      continue;
    result.owner[&variable] = 0;
    if (variable.isConstant() &&
        layout.getTypeAllocSize(variable.getValueType()) <=
            kCopiedConstantBytes)
      result.copied.insert(&variable);
  }
  return result;
}

/// The functions and global variables whose code or initializer uses
/// `value` (through constant expressions too); `unknown` when a use is
/// something else.
static void homesOf(const Value *value, SmallPtrSetImpl<const GlobalValue *> &homes,
                    bool &unknown) {
  for (const User *user : value->users()) {
    if (auto *inst = dyn_cast<Instruction>(user))
      homes.insert(inst->getFunction());
    else if (auto *global = dyn_cast<GlobalValue>(user))
      homes.insert(global);
    else if (isa<Constant>(user))
      homesOf(user, homes, unknown);
    else
      unknown = true;
  }
}

/// Local symbols that another partition refers to (a user there, or in a
/// definition copied there) become external and hidden (the names are
/// unique in the module; unnamed values get one). The others stay local,
/// so LLVM's interprocedural passes keep working on them.
static void externalizeShared(Module &module, const Partitioning &cut) {
  unsigned unnamed = 0;
  auto externalize = [&](GlobalValue &value) {
    if (!value.hasName())
      value.setName("kiln_partition_unnamed_" + std::to_string(unnamed++));
    if (!value.hasLocalLinkage() || value.isDeclaration())
      return;
    SmallPtrSet<const GlobalValue *, 8> homes;
    bool unknown = false;
    homesOf(&value, homes, unknown);
    unsigned owner = cut.owner.lookup(&value);
    if (unknown || llvm::any_of(homes, [&](const GlobalValue *home) {
          return cut.owner.lookup(home) != owner || cut.copied.contains(home);
        })) {
      value.setLinkage(GlobalValue::ExternalLinkage);
      value.setVisibility(GlobalValue::HiddenVisibility);
    }
  };
  for (Function &function : module)
    externalize(function);
  for (GlobalVariable &variable : module.globals())
    externalize(variable);
}

Error emitObjects(
    std::unique_ptr<Module> module, unsigned parts, unsigned threads,
    function_ref<Expected<std::unique_ptr<TargetMachine>>()> makeMachine,
    unsigned optLevel, std::vector<ObjectFile> &objects) {
  objects.clear();
  if (parts <= 1 || !splittable(*module)) {
    Expected<std::unique_ptr<TargetMachine>> machine = makeMachine();
    if (!machine)
      return machine.takeError();
    objects.emplace_back();
    return emitObject(*module, **machine, optLevel, objects.back());
  }
  Partitioning cut = partition(*module, parts);
  externalizeShared(*module, cut);
  // Each partition as bitcode: the clones share the module's context,
  // which only this thread may touch.
  std::vector<SmallVector<char, 0>> bitcode(parts);
  for (unsigned p = 0; p < parts; ++p) {
    ValueToValueMapTy map;
    std::unique_ptr<Module> part =
        CloneModule(*module, map, [&](const GlobalValue *value) {
          auto it = cut.owner.find(value);
          return (it != cut.owner.end() && it->second == p) ||
                 (cut.copied.contains(value) && !value->hasLocalLinkage());
        });
    for (const GlobalValue *value : cut.copied) {
      if (cut.owner.lookup(value) == p || value->hasLocalLinkage())
        continue;
      cast<GlobalValue>(map[value])
          ->setLinkage(GlobalValue::AvailableExternallyLinkage);
    }
    // What another partition defines is reached through the GOT: the JIT
    // maps each object on its own, maybe more than 2 GiB from the others,
    // out of reach of a direct PC-relative reference to a hidden symbol.
    // (A symbol defined hidden stays hidden: the linker keeps the strictest
    // visibility, so a library exports no more than before.)
    for (GlobalValue &value : part->global_values())
      if ((value.isDeclaration() || value.hasAvailableExternallyLinkage()) &&
          value.hasHiddenVisibility()) {
        value.setVisibility(GlobalValue::DefaultVisibility);
        value.setDSOLocal(false);
      }
    raw_svector_ostream os(bitcode[p]);
    WriteBitcodeToFile(*part, os);
  }
  module.reset();

  objects.resize(parts);
  std::vector<std::string> failures(parts);
  {
    DefaultThreadPool pool(hardware_concurrency(std::min(threads, parts)));
    for (unsigned p = 0; p < parts; ++p)
      pool.async([&, p] {
        LLVMContext context;
        auto fail = [&](Error e) { failures[p] = toString(std::move(e)); };
        Expected<std::unique_ptr<Module>> part = parseBitcodeFile(
            MemoryBufferRef(StringRef(bitcode[p].data(), bitcode[p].size()),
                            "kiln-partition"),
            context);
        if (!part)
          return fail(part.takeError());
        Expected<std::unique_ptr<TargetMachine>> machine = makeMachine();
        if (!machine)
          return fail(machine.takeError());
        if (Error e = emitObject(**part, **machine, optLevel, objects[p]))
          return fail(std::move(e));
      });
    pool.wait();
  }
  for (unsigned p = 0; p < parts; ++p)
    if (!failures[p].empty())
      return createStringError("partition " + std::to_string(p) + " of " +
                               std::to_string(parts) + ": " + failures[p]);
  return Error::success();
}

} // namespace mlir::kiln
