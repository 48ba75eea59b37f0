//===- FrontEndTest.cpp - Engine, ModuleBuilder and typed attributes ------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// What front ends use from lib/Compiler: attributes as typed values, the
// eager kernel cache (Engine::run), module merging, and the id-based
// ModuleBuilder. Oracles are hand-computed values and MLIR's own printing.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Engine.h"
#include "kiln/Compiler/ModuleBuilder.h"
#include "kiln/Compiler/OpAttributes.h"

#include "RuntimeTestUtils.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <string>

using namespace mlir;
using namespace mlir::kiln;
using ::kiln::runtime::test::message;

namespace {

std::string print(Attribute attr) {
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  return text;
}

kiln_buffer_t *vector(std::initializer_list<float> values) {
  int64_t n = static_cast<int64_t>(values.size());
  kiln_buffer_t *b = nullptr;
  EXPECT_EQ(kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 1, &n, &b),
            nullptr);
  std::copy(values.begin(), values.end(),
            static_cast<float *>(kiln_buffer_host_data(b)));
  return b;
}

float at(kiln_buffer_t *b, int i) {
  return static_cast<float *>(kiln_buffer_host_data(b))[i];
}

/// Each test compiles without touching the user's disk cache.
struct NoDiskCache : ::testing::Test {
  void SetUp() override { setenv("KILN_CACHE_DIR", "off", 1); }
};

TEST(OpAttributes, BuildsEachKind) {
  MLIRContext context;
  AttrList list = {
      {"u", AttrValue::unit()},
      {"b", AttrValue::boolean(true)},
      {"i", AttrValue::i32(-3)},
      {"l", AttrValue::i64(1LL << 40)},
      {"f", AttrValue::f32(0.5)},
      {"d", AttrValue::f64(0.25)},
      {"s", AttrValue::string("a\"b")},
      {"y", AttrValue::symbol("w")},
      {"a", AttrValue::i64Array({1, 2})},
      {"c", AttrValue::i32Array({3, 0})},
      {"e", AttrValue::i64Array({})},
      {"t", AttrValue::stringArray({"x", "y"})},
  };
  std::string error;
  FailureOr<DictionaryAttr> dict = buildAttributes(context, list, error);
  ASSERT_TRUE(succeeded(dict)) << error;
  // (A dictionary prints sorted by name.)
  EXPECT_EQ(print(*dict),
            "{a = array<i64: 1, 2>, b = true, c = array<i32: 3, 0>, "
            "d = 2.500000e-01 : f64, "
            "e = array<i64>, f = 5.000000e-01 : f32, i = -3 : i32, "
            "l = 1099511627776 : i64, s = \"a\\22b\", t = [\"x\", \"y\"], "
            "u, y = @w}");
}

TEST(OpAttributes, RejectsBadValues) {
  MLIRContext context;
  std::string error;
  EXPECT_TRUE(failed(buildAttributes(
      context, {{"n", AttrValue::i32(1LL << 33)}}, error)));
  EXPECT_NE(error.find("attribute 'n': 8589934592 does not fit in i32"),
            std::string::npos)
      << error;
  EXPECT_TRUE(failed(buildAttributes(
      context, {{"x", AttrValue::i64(1)}, {"x", AttrValue::i64(2)}}, error)));
  EXPECT_NE(error.find("attribute 'x' is given twice"), std::string::npos);
  EXPECT_TRUE(failed(
      buildAttributes(context, {{"s", AttrValue::symbol("")}}, error)));
  EXPECT_TRUE(
      failed(buildTensorType(context, TensorTypeSpec{KILN_F32, {2, -2}}, error)));
  EXPECT_NE(error.find("extent of -2"), std::string::npos) << error;
}

TEST(OpAttributes, KeysTellValuesApart) {
  auto key = [](AttrList list) { return OpAttributes(std::move(list)).key(); };
  // Same printed digits, different kinds; same bytes, different split.
  EXPECT_NE(key({{"a", AttrValue::i32(1)}}), key({{"a", AttrValue::i64(1)}}));
  EXPECT_NE(key({{"a", AttrValue::string("bc")}}),
            key({{"ab", AttrValue::string("c")}}));
  EXPECT_NE(key({{"a", AttrValue::i64Array({1, 2})}}),
            key({{"a", AttrValue::i64Array({1})}, {"b", AttrValue::i64(2)}}));
  EXPECT_EQ(key({{"a", AttrValue::f64(0.5)}}), key({{"a", AttrValue::f64(0.5)}}));
  std::string k1, k2;
  appendTypeKey(k1, {KILN_F32, {2, 3}});
  appendTypeKey(k2, {KILN_F32, {23}});
  EXPECT_NE(k1, k2);
}

TEST(OpAttributes, TypesRoundTrip) {
  MLIRContext context;
  context.loadDialect<mlir::BuiltinDialect>();
  std::string error;
  FailureOr<RankedTensorType> t =
      buildTensorType(context, {KILN_I64, {-1, 4}}, error);
  ASSERT_TRUE(succeeded(t)) << error;
  EXPECT_TRUE(t->isDynamicDim(0));
  FailureOr<TensorTypeSpec> back = tensorTypeSpec(*t);
  ASSERT_TRUE(succeeded(back));
  EXPECT_EQ(back->dtype, KILN_I64);
  EXPECT_EQ(back->shape, (std::vector<int64_t>{-1, 4}));
}

using EngineTest = NoDiskCache;

TEST_F(EngineTest, RunsAndCachesKernels) {
  Engine engine;
  kiln_buffer_t *a = vector({1, 2, 3}), *b = vector({10, 20, 30});
  std::vector<kiln_buffer_t *> out;
  ASSERT_EQ(engine.run("add", {a, b}, {}, {}, {KILN_DEVICE_CPU, 0}, out),
            nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(at(out[0], 2), 33.0f);
  kiln_buffer_release(out[0]);
  size_t compiled = engine.kernelsCompiled();
  EXPECT_GE(compiled, 1u);
  // Another length reuses the shape-generic kernel: nothing new compiled.
  kiln_buffer_t *c = vector({1, 2, 3, 4, 5}), *d = vector({1, 1, 1, 1, 1});
  ASSERT_EQ(engine.run("add", {c, d}, {}, {}, {KILN_DEVICE_CPU, 0}, out),
            nullptr);
  EXPECT_EQ(at(out[0], 4), 6.0f);
  kiln_buffer_release(out[0]);
  EXPECT_EQ(engine.kernelsCompiled(), compiled);
  EXPECT_GE(engine.cacheHits(), 1u);
  for (kiln_buffer_t *x : {a, b, c, d})
    kiln_buffer_release(x);
}

TEST_F(EngineTest, AttributesAndResultTypesReachTheOp) {
  Engine engine;
  kiln_buffer_t *a = vector({1, 2, 3, 4, 5, 6});
  std::vector<kiln_buffer_t *> out;
  // reshape to [2, 3], then sum over axis 1: [6, 15].
  ASSERT_EQ(engine.run("reshape", {a}, {}, {TensorTypeSpec{KILN_F32, {2, 3}}},
                       {KILN_DEVICE_CPU, 0}, out),
            nullptr);
  kiln_buffer_t *m = out[0];
  EXPECT_EQ(kiln_buffer_rank(m), 2);
  OpAttributes axes({{"axes", AttrValue::i64Array({1})}});
  ASSERT_EQ(engine.run("reduce_sum", {m}, axes, {}, {KILN_DEVICE_CPU, 0}, out),
            nullptr);
  EXPECT_EQ(at(out[0], 0), 6.0f);
  EXPECT_EQ(at(out[0], 1), 15.0f);
  kiln_buffer_release(out[0]);
  // A comparison direction (an i32 enum): 4 > 3.5 and 5 > 3.5 only.
  kiln_buffer_t *t = vector({3.5f});
  OpAttributes gt({{"direction", AttrValue::i32(4)}});
  ASSERT_EQ(engine.run("compare", {a, t}, gt, {}, {KILN_DEVICE_CPU, 0}, out),
            nullptr);
  auto *flags = static_cast<uint8_t *>(kiln_buffer_host_data(out[0]));
  EXPECT_EQ(flags[2] + 2 * flags[3] + 4 * flags[5], 6);
  kiln_buffer_release(out[0]);
  for (kiln_buffer_t *x : {a, m, t})
    kiln_buffer_release(x);
}

TEST_F(EngineTest, EnumCasesByName) {
  Engine engine; // (its context has the Kiln dialect loaded)
  std::string error;
  FailureOr<DictionaryAttr> dict = buildAttributes(
      engine.getContext(),
      {{"padding", AttrValue::enumCase("padding", "SAME")},
       {"direction", AttrValue::enumCase("compare_direction", "lt")}},
      error);
  ASSERT_TRUE(succeeded(dict)) << error;
  EXPECT_EQ(print(*dict), "{direction = 2 : i32, padding = #kiln.padding<SAME>}");
  EXPECT_TRUE(failed(buildAttributes(
      engine.getContext(), {{"padding", AttrValue::enumCase("padding", "MIRROR")}},
      error)));
  EXPECT_NE(error.find("'MIRROR' is not a padding case"), std::string::npos)
      << error;
  EXPECT_TRUE(failed(buildAttributes(
      engine.getContext(), {{"x", AttrValue::enumCase("colour", "red")}},
      error)));
  EXPECT_NE(error.find("no Kiln enum 'colour'"), std::string::npos) << error;
}

TEST_F(EngineTest, ErrorsNameTheOp) {
  Engine engine;
  kiln_buffer_t *a = vector({1, 2, 3}), *b = vector({1, 2});
  std::vector<kiln_buffer_t *> out;
  std::string m =
      message(engine.run("add", {a, b}, {}, {}, {KILN_DEVICE_CPU, 0}, out));
  EXPECT_NE(m.find("shapes [3] and [2] are not broadcast-compatible"),
            std::string::npos)
      << m;
  m = message(engine.run("no_such_op", {a}, {}, {}, {KILN_DEVICE_CPU, 0}, out));
  EXPECT_NE(m.find("no_such_op"), std::string::npos) << m;
  OpAttributes bad({{"axes", AttrValue::i32(1LL << 40)}});
  m = message(engine.run("reduce_sum", {a}, bad, {}, {KILN_DEVICE_CPU, 0}, out));
  EXPECT_NE(m.find("'reduce_sum': attribute 'axes'"), std::string::npos) << m;
  EXPECT_TRUE(out.empty());
  kiln_buffer_release(a);
  kiln_buffer_release(b);
}

TEST_F(EngineTest, MergesModules) {
  Engine engine;
  const char *one = "kiln.variable @v : tensor<f32>\n"
                    "func.func private @helper() {\n  return\n}\n"
                    "func.func @f() {\n  return\n}\n";
  const char *two = "kiln.variable @v : tensor<f32>\n"
                    "func.func private @helper() {\n  return\n}\n"
                    "func.func @g() {\n  return\n}\n";
  std::string merged;
  ASSERT_EQ(engine.mergeModules({one, two}, {"first", "second"},
                                {{"v", "weights"}}, merged),
            nullptr);
  EXPECT_NE(merged.find("@helper_first"), std::string::npos) << merged;
  EXPECT_NE(merged.find("@helper_second"), std::string::npos) << merged;
  EXPECT_NE(merged.find("func.func @first()"), std::string::npos) << merged;
  EXPECT_NE(merged.find("func.func @second()"), std::string::npos) << merged;
  // One shared variable, renamed.
  EXPECT_EQ(merged.find("kiln.variable @weights"),
            merged.rfind("kiln.variable @weights"));
  EXPECT_NE(merged.find("kiln.variable @weights"), std::string::npos);
  const char *clash = "kiln.variable @v : tensor<2xf32>\n"
                      "func.func @h() {\n  return\n}\n";
  std::string m = message(
      engine.mergeModules({one, clash}, {"a", "b"}, {}, merged));
  EXPECT_NE(m.find("variable 'v' has different types"), std::string::npos)
      << m;
}

TEST_F(EngineTest, CompileOptionsFollowTheDevice) {
  Engine engine;
  EXPECT_EQ(engine.compileOptions({KILN_DEVICE_CPU, 0}).target, Target::CPU);
  engine.setAllowTf32(true);
  CompileOptions gpu = engine.compileOptions({KILN_DEVICE_CUDA, 0});
  EXPECT_EQ(gpu.target, Target::CUDA);
  EXPECT_TRUE(gpu.allowTf32);
  EXPECT_FALSE(engine.compileOptions({KILN_DEVICE_CPU, 0}).allowTf32);
  setenv("KILN_CACHE_DIR", "/tmp/kiln-somewhere", 1);
  EXPECT_EQ(Engine::cacheDir(), "/tmp/kiln-somewhere");
  setenv("KILN_CACHE_DIR", "off", 1);
  EXPECT_EQ(Engine::cacheDir(), "");
}

TEST_F(EngineTest, ModuleBuilderBuildsAndRuns) {
  Engine engine;
  ModuleBuilder m(engine.getContext());
  std::string error;
  TensorTypeSpec vec3{KILN_F32, {3}};
  FailureOr<size_t> f = m.function("step", {vec3}, false, error);
  ASSERT_TRUE(succeeded(f)) << error;
  size_t x = *m.argument(*f, 0, error);
  float scale[] = {2, 3, 4};
  FailureOr<size_t> c = m.constant(
      *f, vec3,
      llvm::ArrayRef<char>(reinterpret_cast<const char *>(scale), sizeof scale),
      error);
  ASSERT_TRUE(succeeded(c)) << error;
  ASSERT_TRUE(succeeded(m.declareVariable("w", {KILN_F32, {}}, error)));
  // A second declaration with another type is refused.
  EXPECT_TRUE(failed(m.declareVariable("w", vec3, error)));
  FailureOr<std::vector<size_t>> w =
      m.op(*f, "read_variable", {}, OpAttributes({{"variable",
                                                    AttrValue::symbol("w")}}),
           {TensorTypeSpec{KILN_F32, {}}}, "", 0, false, error);
  ASSERT_TRUE(succeeded(w)) << error;
  FailureOr<std::vector<size_t>> y =
      m.op(*f, "mul", {x, *c}, {}, {}, "user.py", 7, false, error);
  ASSERT_TRUE(succeeded(y)) << error;
  FailureOr<std::vector<size_t>> z =
      m.op(*f, "add", {y->front(), w->front()}, {}, {}, "", 0, false, error);
  ASSERT_TRUE(succeeded(z)) << error;
  FailureOr<TensorTypeSpec> zt = m.type(z->front(), error);
  ASSERT_TRUE(succeeded(zt));
  EXPECT_EQ(zt->shape, (std::vector<int64_t>{3}));
  // A bad op names itself and the builder stays usable.
  EXPECT_TRUE(failed(m.op(*f, "matmul", {x, x}, {}, {}, "user.py", 9, false,
                          error)));
  EXPECT_NE(error.find("matmul expects rank-2 operands"), std::string::npos)
      << error;
  EXPECT_TRUE(failed(m.op(*f, "add", {x, 999}, {}, {}, "", 0, false, error)));
  EXPECT_NE(error.find("no value 999"), std::string::npos) << error;
  ASSERT_TRUE(succeeded(m.finishFunction(*f, {z->front()}, error)));
  EXPECT_NE(m.text().find("kiln.mul"), std::string::npos);
  OwningOpRef<ModuleOp> module = m.takeModule(error);
  ASSERT_TRUE(module) << error;

  kiln_executable_t *exe = nullptr;
  ASSERT_EQ(engine.jit(*module, {KILN_DEVICE_CPU, 0}, &exe), nullptr);
  kiln_variables_t *store = nullptr;
  ASSERT_EQ(kiln_variables_create(&store), nullptr);
  kiln_buffer_t *w0 = nullptr;
  ASSERT_EQ(kiln_buffer_create({KILN_DEVICE_CPU, 0}, KILN_F32, 0, nullptr, &w0),
            nullptr);
  *static_cast<float *>(kiln_buffer_host_data(w0)) = 0.5f;
  ASSERT_EQ(kiln_variables_set(store, "w", w0), nullptr);
  kiln_buffer_t *in = vector({1, 1, 2}), *out = nullptr;
  ASSERT_EQ(kiln_executable_invoke_with_variables(exe, "step", 1, &in, 1, &out,
                                                  store),
            nullptr);
  EXPECT_EQ(at(out, 0), 2.5f);
  EXPECT_EQ(at(out, 2), 8.5f);
  EXPECT_EQ(engine.modulesCompiled(), 1u);
  for (kiln_buffer_t *b : {w0, in, out})
    kiln_buffer_release(b);
  kiln_variables_destroy(store);
  kiln_executable_release(exe);
}

TEST_F(EngineTest, ModuleBuilderBooleanConstantsAndBlocks) {
  Engine engine;
  ModuleBuilder m(engine.getContext());
  std::string error;
  TensorTypeSpec flags{KILN_I1, {3}};
  size_t f = *m.function("f", {}, false, error);
  const char bytes[] = {1, 0, 1};
  FailureOr<size_t> c = m.constant(f, flags, llvm::ArrayRef<char>(bytes, 3),
                                   error);
  ASSERT_TRUE(succeeded(c)) << error;
  EXPECT_TRUE(failed(m.constant(f, flags, llvm::ArrayRef<char>(bytes, 2),
                                error)));
  EXPECT_NE(error.find("3 elements given 2 bytes"), std::string::npos);
  EXPECT_TRUE(failed(m.popBlock(f, {}, "return", error)));
  EXPECT_TRUE(failed(m.discardBlock(f, 3, error)));
  ASSERT_TRUE(succeeded(m.finishFunction(f, {*c}, error)));
  std::string text = m.text();
  EXPECT_NE(text.find("dense<[true, false, true]>"), std::string::npos) << text;
}

TEST_F(EngineTest, ModuleBuilderOutlineTakesUnrecordedValuesAsArguments) {
  Engine engine;
  ModuleBuilder m(engine.getContext());
  std::string error;
  TensorTypeSpec vec3{KILN_F32, {3}};
  size_t f = *m.function("f", {vec3}, false, error);
  size_t x = *m.argument(f, 0, error);
  // y and a block discarded before the tape (its values' ids are
  // forgotten: their storage is likely reused by the next ops of the same
  // kind, which must count as recorded); z recorded.
  size_t y = m.op(f, "mul", {x, x}, {}, {}, "", 0, false, error)->front();
  auto block = m.pushBlock(f, {vec3}, error);
  ASSERT_TRUE(succeeded(block)) << error;
  size_t inner = block->second.front();
  for (int i = 0; i < 32; ++i)
    inner = m.op(f, "sin", {inner}, {}, {}, "", 0, false, error)->front();
  ASSERT_TRUE(succeeded(m.popBlock(f, {inner}, "yield", error))) << error;
  size_t live = m.liveValueCount();
  ASSERT_TRUE(succeeded(m.discardBlock(f, block->first, error))) << error;
  // The block's argument and its 32 results are forgotten.
  EXPECT_EQ(m.liveValueCount(), live - 33);
  // A handle is discarded once.
  EXPECT_TRUE(failed(m.discardBlock(f, block->first, error)));
  size_t start = m.mark();
  size_t s = y;
  for (int i = 0; i < 32; ++i)
    s = m.op(f, "sin", {s}, {}, {}, "", 0, false, error)->front();
  size_t z = m.op(f, "mul", {s, x}, {}, {}, "", 0, false, error)->front();
  std::vector<std::pair<size_t, size_t>> recorded = {{start, m.mark()}};
  auto cut = m.outline(f, z, {x}, "g", false, recorded, error);
  ASSERT_TRUE(succeeded(cut)) << error;
  // y is the one capture; the sines of y and the product are copied.
  ASSERT_EQ(cut->first.size(), 1u);
  EXPECT_EQ(m.type(cut->first[0], error)->shape, vec3.shape);
  EXPECT_EQ(cut->second, std::vector<bool>{true});
  // Without spans everything z depends on is copied: no captures.
  auto all = m.outline(f, z, {x}, "h", false, {}, error);
  ASSERT_TRUE(succeeded(all)) << error;
  EXPECT_TRUE(all->first.empty());
  // The capture is y itself: outlining y with nothing recorded after it
  // reaches no source.
  auto none = m.outline(f, y, {x}, "k", false, {{m.mark(), m.mark() + 1}},
                        error);
  ASSERT_TRUE(succeeded(none)) << error;
  EXPECT_EQ(none->second, std::vector<bool>{false});
  // A region op that fails destroys its blocks: their handles are spent
  // (an error, not a walk of freed memory).
  auto body = m.pushBlock(f, {}, error);
  ASSERT_TRUE(succeeded(body)) << error;
  size_t e = m.op(f, "exp", {x}, {}, {}, "", 0, false, error)->front();
  ASSERT_TRUE(succeeded(m.popBlock(f, {e}, "yield", error))) << error;
  live = m.liveValueCount();
  EXPECT_TRUE(failed(m.regionOp(f, "cond", {x}, {body->first}, {vec3}, "", 0,
                                error)));
  EXPECT_EQ(m.liveValueCount(), live - 1);  // (the exp went with it)
  EXPECT_TRUE(failed(m.discardBlock(f, body->first, error)));
  ASSERT_TRUE(succeeded(m.finishFunction(f, {z}, error)));
  std::string text = m.text();
  EXPECT_NE(text.find("func.func private @g(%arg0: tensor<3xf32>, %arg1: "
                      "tensor<3xf32>)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("func.func private @h(%arg0: tensor<3xf32>) "),
            std::string::npos)
      << text;
}

} // namespace
