//===- DialectTest.cpp - Unit tests for building Kiln IR in C++ -----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The front ends build Kiln ops without spelling result types; these tests
// check that builders infer them and that folding works through the C++ API.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/KilnDialect.h"
#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::kiln;

namespace {

class KilnBuilderTest : public ::testing::Test {
protected:
  KilnBuilderTest() : builder(&context), loc(builder.getUnknownLoc()) {
    context.loadDialect<KilnDialect>();
    module = ModuleOp::create(loc);
    builder.setInsertionPointToEnd(module->getBody());
  }

  Value constant(ArrayRef<int64_t> shape, float value) {
    auto type = RankedTensorType::get(shape, builder.getF32Type());
    return ConstantOp::create(builder, loc,
                              DenseElementsAttr::get(type, value));
  }

  MLIRContext context;
  OpBuilder builder;
  Location loc;
  OwningOpRef<ModuleOp> module;
};

TEST_F(KilnBuilderTest, BroadcastInference) {
  Value a = constant({4, 1}, 1.0f), b = constant({3}, 2.0f);
  auto add = AddOp::create(builder, loc, a, b);
  EXPECT_EQ(add.getType(), RankedTensorType::get({4, 3}, builder.getF32Type()));
  auto cmp = CompareOp::create(builder, loc, CompareDirection::lt, a, b);
  EXPECT_TRUE(cmp.getType().getElementType().isInteger(1));
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(KilnBuilderTest, ShapeOpsInference) {
  Value x = constant({2, 3, 4}, 1.0f);
  auto t = TransposeOp::create(builder, loc, x,
                               builder.getDenseI64ArrayAttr({2, 0, 1}));
  EXPECT_EQ(t.getType().getShape(), ArrayRef<int64_t>({4, 2, 3}));
  auto r =
      ReduceSumOp::create(builder, loc, x, builder.getDenseI64ArrayAttr({-1}),
                          builder.getBoolAttr(true));
  EXPECT_EQ(r.getType().getShape(), ArrayRef<int64_t>({2, 3, 1}));
  auto reshaped = ReshapeOp::create(builder, loc, x, ArrayRef<int64_t>{6, 4});
  EXPECT_EQ(reshaped.getType().getShape(), ArrayRef<int64_t>({6, 4}));
  auto w = constant({4, 5}, 1.0f);
  auto m = MatmulOp::create(builder, loc, reshaped, w);
  EXPECT_EQ(m.getType().getShape(), ArrayRef<int64_t>({6, 5}));
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(KilnBuilderTest, InferenceReportsErrors) {
  Value a = constant({4, 3}, 1.0f), b = constant({4}, 2.0f);
  SmallVector<Type> types;
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  EXPECT_TRUE(failed(
      inferBroadcastType(loc, {a.getType(), b.getType()}, nullptr, types)));
  EXPECT_NE(message.find("not broadcast-compatible"), std::string::npos)
      << message;
}

TEST_F(KilnBuilderTest, ConstantFolding) {
  Value a = constant({2}, 3.0f), b = constant({2}, 4.0f);
  auto mul = MulOp::create(builder, loc, a, b);
  SmallVector<OpFoldResult> folded;
  ASSERT_TRUE(succeeded(mul->fold(folded)));
  auto attr = dyn_cast<DenseElementsAttr>(cast<Attribute>(folded.front()));
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr.getSplatValue<APFloat>().convertToFloat(), 12.0f);
}

} // namespace
