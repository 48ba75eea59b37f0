//===- ShapeUtilsTest.cpp - Unit tests for Kiln's shape rules
//--------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Dialect/Kiln/ShapeUtils.h"

#include "gtest/gtest.h"

using namespace mlir::kiln;

namespace {

constexpr int64_t kDyn = kDynamic;

/// The shape of a successful computation; fails the test otherwise.
Shape ok(llvm::Expected<Shape> result) {
  if (!result) {
    ADD_FAILURE() << llvm::toString(result.takeError());
    return {};
  }
  return *result;
}

/// The message of a failed computation; fails the test on success.
template <typename T>
std::string err(llvm::Expected<T> result) {
  if (result) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return llvm::toString(result.takeError());
}

std::string err(llvm::Error error) {
  if (!error)
    return "";
  return llvm::toString(std::move(error));
}

TEST(Broadcast, NumPyRules) {
  EXPECT_EQ(ok(broadcastShapes({4, 3}, {3})), (Shape{4, 3}));
  EXPECT_EQ(ok(broadcastShapes({4, 1}, {1, 5})), (Shape{4, 5}));
  EXPECT_EQ(ok(broadcastShapes({}, {2, 2})), (Shape{2, 2}));
  EXPECT_EQ(ok(broadcastShapes({}, {})), (Shape{}));
  EXPECT_EQ(ok(broadcastShapes({2, 1, 3}, {5, 1})), (Shape{2, 5, 3}));
  EXPECT_EQ(ok(broadcastShapes({0}, {1})), (Shape{0}));
}

TEST(Broadcast, Mismatch) {
  std::string message = err(broadcastShapes({4, 3}, {4}));
  EXPECT_NE(message.find("[4, 3] and [4] are not broadcast-compatible"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("dimension 1"), std::string::npos) << message;
}

TEST(Broadcast, DynamicDimensions) {
  EXPECT_EQ(ok(broadcastShapes({kDyn, 3}, {3})), (Shape{kDyn, 3}));
  EXPECT_EQ(ok(broadcastShapes({kDyn, 3}, {4, 3})), (Shape{4, 3}));
  EXPECT_EQ(ok(broadcastShapes({kDyn}, {1})), (Shape{kDyn}));
  EXPECT_EQ(ok(broadcastShapes({kDyn}, {kDyn})), (Shape{kDyn}));
}

TEST(Broadcast, To) {
  EXPECT_EQ(err(checkBroadcastableTo({3}, {2, 3})), "");
  EXPECT_EQ(err(checkBroadcastableTo({1, 3}, {4, 3})), "");
  EXPECT_NE(err(checkBroadcastableTo({2, 3}, {3})).find("fewer dimensions"),
            std::string::npos);
  EXPECT_NE(err(checkBroadcastableTo({2}, {4, 3})).find("dimension 0 is 2"),
            std::string::npos);
}

TEST(Axes, Normalize) {
  EXPECT_EQ(*normalizeAxis(-1, 3), 2);
  EXPECT_EQ(*normalizeAxis(0, 3), 0);
  EXPECT_NE(err(normalizeAxis(3, 3)).find("axis 3 is out of range for rank 3"),
            std::string::npos);
  EXPECT_NE(err(normalizeAxis(-4, 3)).find("out of range"), std::string::npos);
  EXPECT_EQ(ok(normalizeAxes({-1, 0}, 3)), (Shape{0, 2}));
  EXPECT_NE(err(normalizeAxes({1, -2}, 3)).find("appears twice"),
            std::string::npos);
}

TEST(Reduce, KeepDims) {
  EXPECT_EQ(reduceShape({2, 3, 4}, {1}, false), (Shape{2, 4}));
  EXPECT_EQ(reduceShape({2, 3, 4}, {0, 2}, true), (Shape{1, 3, 1}));
  EXPECT_EQ(reduceShape({2, 3}, {0, 1}, false), (Shape{}));
}

TEST(Permutation, Checks) {
  EXPECT_EQ(err(checkPermutation({1, 0}, 2)), "");
  EXPECT_NE(err(checkPermutation({0, 0}, 2)).find("not a permutation"),
            std::string::npos);
  EXPECT_NE(err(checkPermutation({0}, 2)).find("has 1 entries"),
            std::string::npos);
  EXPECT_EQ(permuteShape({2, 3, 4}, {2, 0, 1}), (Shape{4, 2, 3}));
}

TEST(Slice, Shapes) {
  EXPECT_EQ(ok(sliceShape({10, 4}, {1, 0}, {7, 4}, {2, 1})), (Shape{3, 4}));
  EXPECT_EQ(ok(sliceShape({5}, {2}, {2}, {1})), (Shape{0}));
  EXPECT_NE(err(sliceShape({5}, {0}, {6}, {1})).find("exceeds"),
            std::string::npos);
  EXPECT_NE(err(sliceShape({5}, {0}, {5}, {0})).find("must be positive"),
            std::string::npos);
  EXPECT_NE(err(sliceShape({5}, {3}, {2}, {1})).find("start <= limit"),
            std::string::npos);
}

TEST(Pad, Shapes) {
  EXPECT_EQ(ok(padShape({2, 3}, {1, 0}, {0, 2})), (Shape{3, 5}));
  EXPECT_NE(err(padShape({2}, {-1}, {0})).find("non-negative"),
            std::string::npos);
}

TEST(Concat, Shapes) {
  EXPECT_EQ(ok(concatShape({Shape{2, 3}, Shape{1, 3}}, 0)), (Shape{3, 3}));
  EXPECT_NE(err(concatShape({Shape{2, 3}, Shape{2, 4}}, 0)).find("dimension 1"),
            std::string::npos);
}

TEST(Gather, Shapes) {
  EXPECT_EQ(gatherShape({10, 4}, {3}, 0), (Shape{3, 4}));
  EXPECT_EQ(gatherShape({2, 10, 4}, {5, 6}, 1), (Shape{2, 5, 6, 4}));
}

TEST(Matmul, Shapes) {
  EXPECT_EQ(ok(matmulShape({4, 8}, {8, 2}, false, false)), (Shape{4, 2}));
  EXPECT_EQ(ok(matmulShape({8, 4}, {2, 8}, true, true)), (Shape{4, 2}));
  EXPECT_NE(
      err(matmulShape({4, 8}, {7, 2}, false, false)).find("contracts 8 with 7"),
      std::string::npos);
  EXPECT_EQ(ok(batchMatmulShape({5, 4, 8}, {8, 2})), (Shape{5, 4, 2}));
  EXPECT_EQ(ok(batchMatmulShape({5, 1, 4, 8}, {3, 8, 2})), (Shape{5, 3, 4, 2}));
  EXPECT_NE(err(batchMatmulShape({2, 4, 8}, {3, 8, 2})).find("batch"),
            std::string::npos);
}

TEST(Window, TensorFlowRules) {
  // SAME: ceil(in / stride); the extra padding element goes at the end.
  WindowDim same = *windowDim(28, 3, 2, 1, true);
  EXPECT_EQ(same.output, 14);
  EXPECT_EQ(same.padLow, 0);
  EXPECT_EQ(same.padHigh, 1);
  WindowDim same1 = *windowDim(5, 3, 1, 1, true);
  EXPECT_EQ(same1.output, 5);
  EXPECT_EQ(same1.padLow, 1);
  EXPECT_EQ(same1.padHigh, 1);
  // VALID: floor((in - effective) / stride) + 1.
  EXPECT_EQ(windowDim(28, 3, 1, 1, false)->output, 26);
  EXPECT_EQ(windowDim(7, 3, 2, 2, false)->output, 2);
  EXPECT_NE(err(windowDim(2, 3, 1, 1, false)).find("does not fit"),
            std::string::npos);
  EXPECT_NE(err(windowDim(5, 3, 0, 1, false)).find("positive"),
            std::string::npos);
}

TEST(Conv, Shapes) {
  EXPECT_EQ(
      ok(conv2dShape({8, 28, 28, 1}, {3, 3, 1, 16}, {1, 1}, {1, 1}, false)),
      (Shape{8, 26, 26, 16}));
  EXPECT_EQ(
      ok(conv2dShape({kDyn, 28, 28, 1}, {3, 3, 1, 16}, {2, 2}, {1, 1}, true)),
      (Shape{kDyn, 14, 14, 16}));
  EXPECT_NE(err(conv2dShape({1, 5, 5, 2}, {3, 3, 1, 4}, {1, 1}, {1, 1}, false))
                .find("2 channels"),
            std::string::npos);
  EXPECT_EQ(ok(pool2dShape({1, 4, 4, 3}, {2, 2}, {2, 2}, false)),
            (Shape{1, 2, 2, 3}));
}

TEST(Format, Shapes) {
  EXPECT_EQ(formatShape({2, kDyn, 3}), "[2, ?, 3]");
  EXPECT_EQ(formatShape({}), "[]");
  EXPECT_EQ(numElements({2, 3}), 6);
  EXPECT_EQ(numElements({2, kDyn}), kDyn);
}

} // namespace
