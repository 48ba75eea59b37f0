//===- CompilerTest.cpp - Unit tests for the compiler library
//--------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Compiler.h"

#include "RuntimeTestUtils.h"
#include "../../lib/Compiler/ObjectCode.h"

#include "llvm/AsmParser/Parser.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <vector>
#include <string>

#include <stdlib.h>

using namespace mlir::kiln;

namespace {

using ::kiln::runtime::test::message;

const char *kModule = R"mlir(
func.func @scale(%x: tensor<2x2xf32>, %s: tensor<f32>) -> (tensor<2x2xf32>, tensor<f32>) {
  %0 = kiln.mul %x, %s : tensor<2x2xf32>, tensor<f32> -> tensor<2x2xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : tensor<2x2xf32> -> tensor<f32>
  return %0, %1 : tensor<2x2xf32>, tensor<f32>
}
)mlir";

TEST(Compiler, JitAndInvoke) {
  Compiler compiler;
  kiln_executable_t *exe = nullptr;
  ASSERT_EQ(compiler.jitSource(kModule, "scale.mlir", {}, &exe), nullptr);
  ASSERT_EQ(kiln_executable_entry_count(exe), 1);
  EXPECT_STREQ(kiln_executable_entry_name(exe, 0), "scale");

  int64_t shape[] = {2, 2};
  kiln_buffer_t *x = nullptr, *s = nullptr;
  ASSERT_EQ(kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 2, shape, &x),
            nullptr);
  ASSERT_EQ(kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 0, nullptr, &s),
            nullptr);
  auto *xd = static_cast<float *>(kiln_buffer_host_data(x));
  for (int i = 0; i < 4; ++i)
    xd[i] = static_cast<float>(i + 1);
  *static_cast<float *>(kiln_buffer_host_data(s)) = 2.0f;
  kiln_buffer_t *in[] = {x, s};
  kiln_buffer_t *out[2] = {nullptr, nullptr};
  ASSERT_EQ(kiln_executable_invoke(exe, "scale", 2, in, 2, out), nullptr);
  EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(out[0]))[3], 8.0f);
  EXPECT_EQ(*static_cast<float *>(kiln_buffer_host_data(out[1])), 20.0f);
  for (kiln_buffer_t *b : {x, s, out[0], out[1]})
    kiln_buffer_release(b);
  kiln_executable_release(exe);
}

TEST(Compiler, ErrorsCarryLocations) {
  Compiler compiler;
  kiln_executable_t *exe = nullptr;
  std::string m = message(compiler.jitSource(
      "func.func @f(%x: tensor<4xf32>) -> tensor<3xf32> {\n"
      "  %0 = kiln.exp %x : tensor<3xf32>\n  return %0 : tensor<3xf32>\n}\n",
      "bad.mlir", {}, &exe));
  EXPECT_NE(m.find("bad.mlir:2:"), std::string::npos) << m;
  EXPECT_EQ(exe, nullptr);
  m = message(compiler.jitSource("func.func @f(", "cut.mlir", {}, &exe));
  EXPECT_NE(m.find("cannot parse cut.mlir"), std::string::npos) << m;
  m = message(
      compiler.jitSource("func.func @f(%x: tensor<*xf32>) -> tensor<*xf32> {\n"
                         "  return %x : tensor<*xf32>\n}\n",
                         "unranked.mlir", {}, &exe));
  EXPECT_NE(m.find("unranked.mlir:1:1: error: entry point 'f': input #0"),
            std::string::npos)
      << m;
}

TEST(Compiler, OpenExtentsRunForEverySize) {
  Compiler compiler;
  kiln_executable_t *exe = nullptr;
  // Returning an argument is a copy; the sum needs equal extents.
  ASSERT_EQ(compiler.jitSource(
                "func.func @f(%x: tensor<?x2xf32>, %y: tensor<?x2xf32>)\n"
                "    -> (tensor<?x2xf32>, tensor<?x2xf32>) {\n"
                "  %s = kiln.add %x, %y : tensor<?x2xf32>, tensor<?x2xf32> -> "
                "tensor<?x2xf32>\n"
                "  return %x, %s : tensor<?x2xf32>, tensor<?x2xf32>\n}\n",
                "open.mlir", {}, &exe),
            nullptr);
  for (int64_t n : {1, 5, 0}) {
    std::vector<float> data(static_cast<size_t>(n) * 2);
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = float(i);
    int64_t dims[] = {n, 2};
    kiln_buffer_t *x = nullptr;
    ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 2, dims, data.data(), nullptr,
                                    nullptr, &x),
              nullptr);
    kiln_buffer_t *in[] = {x, x};
    kiln_buffer_t *out[] = {nullptr, nullptr};
    ASSERT_EQ(kiln_executable_invoke(exe, "f", 2, in, 2, out), nullptr);
    for (kiln_buffer_t *o : out)
      EXPECT_EQ(kiln_buffer_shape(o)[0], n);
    if (n > 0) {
      EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(out[0]))[1], 1.0f);
      EXPECT_EQ(static_cast<float *>(kiln_buffer_host_data(out[1]))[2 * n - 1],
                float(4 * n - 2));
    }
    for (kiln_buffer_t *o : out)
      kiln_buffer_release(o);
    kiln_buffer_release(x);
  }
  // Different extents where the sum needs equal ones: the check's message,
  // with the op's location.
  float a[6] = {}, b[4] = {};
  int64_t da[] = {3, 2}, db[] = {2, 2};
  kiln_buffer_t *x = nullptr, *y = nullptr;
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 2, da, a, nullptr, nullptr, &x),
            nullptr);
  ASSERT_EQ(kiln_buffer_wrap_host(KILN_F32, 2, db, b, nullptr, nullptr, &y),
            nullptr);
  kiln_buffer_t *in[] = {x, y};
  kiln_buffer_t *out[] = {nullptr, nullptr};
  std::string m = message(kiln_executable_invoke(exe, "f", 2, in, 2, out));
  EXPECT_EQ(m, "entry 'f': the input shapes do not fit together: "
               "open.mlir:3:8: dimension 0 of operand #1 does not match the "
               "other operands");
  kiln_buffer_release(x);
  kiln_buffer_release(y);
  kiln_executable_release(exe);
}

TEST(Compiler, RunPassesReportsBadPipelinesAndFailures) {
  Compiler compiler;
  kiln_status_t status = nullptr;
  mlir::OwningOpRef<mlir::ModuleOp> module = compiler.parse(
      "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
      "  %0 = kiln.neg %x : tensor<4xf32>\n  %1 = kiln.neg %0 : tensor<4xf32>\n"
      "  return %1 : tensor<4xf32>\n}\n",
      "m.mlir", &status);
  ASSERT_TRUE(module) << message(status);
  std::string m = message(compiler.runPasses(*module, "no-such-pass"));
  EXPECT_NE(m.find("cannot parse the pass pipeline 'no-such-pass'"),
            std::string::npos)
      << m;
  EXPECT_EQ(compiler.runPasses(*module, "canonicalize"), nullptr);
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  EXPECT_EQ(text.find("kiln.neg"), std::string::npos) << text; // folded
  m = message(compiler.runPasses(
      *module, "kiln-freeze-variables{checkpoint=/nonexistent.safetensors}"));
  EXPECT_NE(m.find("the passes failed"), std::string::npos) << m;
}

TEST(Compiler, SeveralModulesInOneContext) {
  Compiler compiler;
  for (int i = 0; i < 3; ++i) {
    kiln_executable_t *exe = nullptr;
    ASSERT_EQ(compiler.jitSource(kModule, "scale.mlir", {}, &exe), nullptr);
    kiln_executable_release(exe);
  }
}


// The disk cache: a second compilation of the same key loads the object and
// runs the same code; another key, or no directory, compiles.
TEST(Compiler, DiskCacheLoadsCompiledObjects) {
  char tmpl[] = "/tmp/kiln-compiler-cache-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  Compiler compiler;
  auto run = [&](llvm::StringRef key, llvm::StringRef cacheDir,
                 bool *fromCache) -> float {
    kiln_status_t status = nullptr;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        compiler.parse(kModule, "scale.mlir", &status);
    EXPECT_EQ(status, nullptr);
    kiln_executable_t *exe = nullptr;
    EXPECT_EQ(compiler.jitCached(*module, {}, key, cacheDir, &exe, fromCache),
              nullptr);
    int64_t shape[] = {2, 2};
    kiln_buffer_t *x = nullptr, *s = nullptr;
    kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 2, shape, &x);
    kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 0, nullptr, &s);
    for (int i = 0; i < 4; ++i)
      static_cast<float *>(kiln_buffer_host_data(x))[i] = 1.0f + i;
    *static_cast<float *>(kiln_buffer_host_data(s)) = 3.0f;
    kiln_buffer_t *in[] = {x, s};
    kiln_buffer_t *out[2] = {nullptr, nullptr};
    EXPECT_EQ(kiln_executable_invoke(exe, "scale", 2, in, 2, out), nullptr);
    float result = *static_cast<float *>(kiln_buffer_host_data(out[1]));
    for (kiln_buffer_t *b : {x, s, out[0], out[1]})
      kiln_buffer_release(b);
    kiln_executable_release(exe);
    return result;
  };
  bool cached = true;
  float first = run("scale", dir, &cached);
  EXPECT_FALSE(cached);
  EXPECT_EQ(run("scale", dir, &cached), first);
  EXPECT_TRUE(cached);
  EXPECT_EQ(run("other key", dir, &cached), first);
  EXPECT_FALSE(cached);
  EXPECT_EQ(run("scale", "", &cached), first);
  EXPECT_FALSE(cached);
  // A damaged entry is dropped and compiled again.
  std::error_code error;
  for (llvm::sys::fs::directory_iterator it(dir, error), end;
       !error && it != end; it.increment(error)) {
    std::string text;
    auto buffer = llvm::MemoryBuffer::getFile(it->path());
    ASSERT_TRUE(static_cast<bool>(buffer));
    llvm::raw_fd_ostream file(it->path(), error);
    file << (*buffer)->getBuffer().drop_back(100);
  }
  EXPECT_EQ(run("scale", dir, &cached), first);
  EXPECT_FALSE(cached);
  EXPECT_EQ(run("scale", dir, &cached), first);
  EXPECT_TRUE(cached);
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}

/// A module of several functions compiled in partitions: every function
/// defined in exactly one object file, the results those of one piece.
TEST(Compiler, PartitionedCodeGenerationAndItsCache) {
  const char *source = R"mlir(
func.func @f(%x: tensor<64xf32>) -> (tensor<64xf32>, tensor<f32>) {
  %0 = kiln.tanh %x : tensor<64xf32>
  %1 = kiln.exp %0 : tensor<64xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0>} : tensor<64xf32> -> tensor<f32>
  return %1, %2 : tensor<64xf32>, tensor<f32>
}
func.func @g(%x: tensor<64xf32>) -> tensor<f32> {
  %0 = kiln.mul %x, %x : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  %1 = kiln.reduce_max %0 {axes = array<i64: 0>} : tensor<64xf32> -> tensor<f32>
  return %1 : tensor<f32>
}
)mlir";
  char tmpl[] = "/tmp/kiln-partitions-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  Compiler compiler;
  auto run = [&](unsigned parts, bool *fromCache) {
    kiln_status_t status = nullptr;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        compiler.parse(source, "parts.mlir", &status);
    EXPECT_EQ(status, nullptr);
    CompileOptions options;
    options.codegenPartitions = parts;
    kiln_executable_t *exe = nullptr;
    EXPECT_EQ(compiler.jitCached(*module, options, "parts", dir, &exe,
                                 fromCache),
              nullptr);
    int64_t shape[] = {64};
    kiln_buffer_t *x = nullptr;
    kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 1, shape, &x);
    for (int i = 0; i < 64; ++i)
      static_cast<float *>(kiln_buffer_host_data(x))[i] = 0.05f * (i - 32);
    std::vector<float> results;
    kiln_buffer_t *out[2] = {nullptr, nullptr};
    EXPECT_EQ(kiln_executable_invoke(exe, "f", 1, &x, 2, out), nullptr);
    for (int i = 0; i < 64; ++i)
      results.push_back(static_cast<float *>(kiln_buffer_host_data(out[0]))[i]);
    results.push_back(*static_cast<float *>(kiln_buffer_host_data(out[1])));
    kiln_buffer_release(out[0]);
    kiln_buffer_release(out[1]);
    out[0] = out[1] = nullptr;
    kiln_status_t failed = kiln_executable_invoke(exe, "g", 1, &x, 1, out);
    EXPECT_EQ(failed, nullptr) << message(failed);
    results.push_back(*static_cast<float *>(kiln_buffer_host_data(out[0])));
    kiln_buffer_release(out[0]);
    kiln_buffer_release(x);
    kiln_executable_release(exe);
    return results;
  };
  bool cached = true;
  std::vector<float> whole = run(1, &cached);
  EXPECT_FALSE(cached);
  double sum = 0;
  for (int i = 0; i < 64; ++i) {
    double want = std::exp(std::tanh(0.05 * (i - 32)));
    EXPECT_NEAR(whole[i], want, 1e-6 * want);
    sum += want;
  }
  EXPECT_NEAR(whole[64], sum, 1e-5 * sum);
  EXPECT_FLOAT_EQ(whole[65], 0.05f * 32 * 0.05f * 32);
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'/*").c_str()), 0);
  EXPECT_EQ(run(3, &cached), whole);
  EXPECT_FALSE(cached);
  // The cache entry holds three object files ("KILNOBJS", then the count).
  std::error_code error;
  int entries = 0;
  for (llvm::sys::fs::directory_iterator it(dir, error), end;
       !error && it != end; it.increment(error), ++entries) {
    auto buffer = llvm::MemoryBuffer::getFile(it->path());
    ASSERT_TRUE(static_cast<bool>(buffer));
    llvm::StringRef data = (*buffer)->getBuffer();
    ASSERT_GT(data.size(), 16u);
    EXPECT_EQ(data.take_front(8), "KILNOBJS");
    EXPECT_EQ(static_cast<uint8_t>(data[8]), 3);
  }
  EXPECT_EQ(entries, 1);
  EXPECT_EQ(run(3, &cached), whole); // the three objects, from the cache
  EXPECT_TRUE(cached);
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}

/// The partitions' object files: each function defined once, small helpers
/// and constants copied where they are used but never emitted twice.
TEST(ObjectCode, EveryFunctionIsDefinedInOnePartition) {
  const char *ir = R"ll(
@table = internal constant [4 x float] [float 1.0, float 2.0, float 3.0, float 4.0]
@big = internal constant [2048 x float] zeroinitializer
@counter = internal global i64 0
define internal float @helper(i64 %i) {
  %p = getelementptr [4 x float], ptr @table, i64 0, i64 %i
  %v = load float, ptr %p
  ret float %v
}
define float @a(i64 %i) noinline {
  %v = call float @helper(i64 %i)
  %p = getelementptr [2048 x float], ptr @big, i64 0, i64 %i
  %w = load float, ptr %p
  %s = fadd float %v, %w
  store i64 %i, ptr @counter
  ret float %s
}
define float @b(i64 %i) noinline {
  %v = call float @helper(i64 %i)
  %n = load i64, ptr @counter
  %f = sitofp i64 %n to float
  %s = fmul float %v, %f
  ret float %s
}
define float @c(i64 %i) noinline {
  %v = call float @a(i64 %i)
  %w = call float @b(i64 %i)
  %s = fsub float %v, %w
  ret float %s
}
)ll";
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto context = std::make_unique<llvm::LLVMContext>();
  llvm::SMDiagnostic diagnostic;
  std::unique_ptr<llvm::Module> module = llvm::parseAssemblyString(
      ir, diagnostic, *context);
  ASSERT_TRUE(module);
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  ASSERT_TRUE(static_cast<bool>(builder));
  builder->setRelocationModel(llvm::Reloc::PIC_);
  auto machine = builder->createTargetMachine();
  ASSERT_TRUE(static_cast<bool>(machine));
  module->setDataLayout((*machine)->createDataLayout());
  module->setTargetTriple((*machine)->getTargetTriple());
  EXPECT_EQ(codegenPartitions(*module), 1u); // small: compiled whole
  EXPECT_EQ(codegenPartitions(*module, 3), 3u);
  EXPECT_EQ(codegenPartitions(*module, 9), 4u); // at most one per function
  std::vector<ObjectFile> objects;
  llvm::Error e = emitObjects(
      std::move(module), 3, 2,
      [&]() { return builder->createTargetMachine(); }, 3, objects);
  ASSERT_FALSE(static_cast<bool>(e)) << llvm::toString(std::move(e));
  ASSERT_EQ(objects.size(), 3u);
  std::map<std::string, int> defined;
  for (const ObjectFile &bytes : objects) {
    auto object = llvm::object::ObjectFile::createObjectFile(
        llvm::MemoryBufferRef(llvm::StringRef(bytes.data(), bytes.size()),
                              "part"));
    ASSERT_TRUE(static_cast<bool>(object));
    for (const llvm::object::SymbolRef &symbol : (*object)->symbols()) {
      auto flags = symbol.getFlags();
      auto name = symbol.getName();
      ASSERT_TRUE(flags && name);
      // (Defined ones, global or local: a local only its partition uses
      // stays local.)
      if (!(*flags & llvm::object::SymbolRef::SF_Undefined))
        ++defined[name->str()];
    }
  }
  // The counter a writes and b reads (made external where they are apart).
  for (const char *name : {"a", "b", "c", "counter"})
    EXPECT_EQ(defined[name], 1) << name;
  // The helper is inlined into a and b, in their own partitions; where it
  // survives, once. The constants are folded (a load of zeros) or defined
  // once.
  for (const char *name : {"helper", "table", "big"})
    EXPECT_LE(defined[name], 1) << name;
}

/// The variables of `module`, in order, as "name" strings.
std::string variableNames(mlir::ModuleOp module) {
  std::string names;
  for (mlir::Operation &op : module.getBody()->getOperations())
    if (auto name = op.getAttrOfType<mlir::StringAttr>("sym_name"))
      if (op.getName().getStringRef() == "kiln.variable")
        names += name.getValue().str() + " ";
  return names;
}

TEST(Compiler, CanonicalVariableNamesKeepSlotsWithTheirVariables) {
  Compiler compiler;
  kiln_status_t status = nullptr;
  mlir::OwningOpRef<mlir::ModuleOp> module = compiler.parse(R"(
    kiln.variable @w_7f00a0_momentum : tensor<2xf32>
    kiln.variable @w_7f00a0 : tensor<2xf32>
    kiln.variable @b_7f00b8 : tensor<f32>
  )", "vars.mlir", &status);
  ASSERT_EQ(status, nullptr);
  llvm::StringMap<std::string> original =
      Compiler::canonicalizeVariableNames(*module);
  // Bases numbered in declaration order; the slot follows its variable.
  EXPECT_EQ(variableNames(*module),
            "kiln_var_0_momentum kiln_var_0 kiln_var_1 ");
  ASSERT_EQ(original.size(), 3u);
  EXPECT_EQ(original.lookup("kiln_var_0"), "w_7f00a0");
  EXPECT_EQ(original.lookup("kiln_var_0_momentum"), "w_7f00a0_momentum");
  EXPECT_EQ(original.lookup("kiln_var_1"), "b_7f00b8");

  // A name already in use: nothing is renamed (the cache only misses).
  module = compiler.parse(R"(
    kiln.variable @a_1 : tensor<f32>
    kiln.variable @b_2 : tensor<f32>
    func.func private @kiln_var_1()
  )", "taken.mlir", &status);
  ASSERT_EQ(status, nullptr);
  EXPECT_TRUE(Compiler::canonicalizeVariableNames(*module).empty());
  EXPECT_EQ(variableNames(*module), "a_1 b_2 ");
}

} // namespace
