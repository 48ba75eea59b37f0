//===- EntryAttrTest.cpp - #kiln.entry to manifest and back ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The entry description is IR; the manifest is written from it once, by the
// compiler, and read by the runtime's parser. These tests check that the
// fields survive that trip: IR attribute -> manifest text -> runtime parser
// -> the same fields, directly and through the whole CPU pipeline.
//
//===----------------------------------------------------------------------===//

#include "kiln/ABI/EntryPoints.h"
#include "kiln/Compiler/Compiler.h"
#include "kiln/Runtime/Manifest.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <string>

using namespace mlir;
using namespace mlir::kiln;
using ::kiln::runtime::kDynamicExtent;

namespace {

using ::kiln::runtime::test::message;

/// A module whose entry uses every field: open extents, a variable that is
/// read and one that is written, two checks (one over two lines), a device.
const char *kDescribed = R"mlir(
module attributes {kiln.variables = {b = tensor<f64>, w = tensor<3x2xf32>}} {
  func.func @step(%x: tensor<?x3xf32>, %n: tensor<i64>, %w: tensor<3x2xf32> {kiln.variable = @w}, %b: tensor<f64> {kiln.variable = @b})
      -> (tensor<?x2xf32>, tensor<i1>, tensor<f64>)
      attributes {kiln.assigned = [@b], kiln.entry = #kiln.entry<
        inputs = [tensor<?x3xf32>, tensor<i64>],
        outputs = [tensor<?x2xf32>, tensor<i1>],
        variables = [#kiln.binding<@w : tensor<3x2xf32>, read>,
                     #kiln.binding<@b : tensor<f64>, read_write>],
        checks = ["rows differ", "second\ncheck"], device = cuda>} {
    %t = arith.constant dense<true> : tensor<i1>
    %y = tensor.empty() : tensor<1x2xf32>
    %c = tensor.cast %y : tensor<1x2xf32> to tensor<?x2xf32>
    return %c, %t, %b : tensor<?x2xf32>, tensor<i1>, tensor<f64>
  }
}
)mlir";

TEST(EntryAttr, ManifestRoundTrip) {
  Compiler compiler;
  kiln_status_t status = nullptr;
  OwningOpRef<ModuleOp> module =
      compiler.parse(kDescribed, "described.mlir", &status);
  ASSERT_TRUE(module) << message(status);
  auto func = cast<func::FuncOp>(&module->getBody()->front());
  EntryAttr entry = getEntry(func);
  ASSERT_TRUE(entry);

  FailureOr<::kiln::runtime::Manifest> built = buildManifest(*module);
  ASSERT_TRUE(succeeded(built));
  std::string text = ::kiln::runtime::printManifest(*built);
  ::kiln::runtime::Manifest read;
  ASSERT_EQ(::kiln::runtime::parseManifest(text.c_str(), read), nullptr)
      << text;

  // The module's variables, in the dictionary's (sorted) order.
  ASSERT_EQ(read.variables.size(), 2u);
  EXPECT_EQ(read.variables[0].name, "b");
  EXPECT_EQ(read.variables[0].spec.dtype, KILN_F64);
  EXPECT_TRUE(read.variables[0].spec.shape.empty());
  EXPECT_EQ(read.variables[1].name, "w");
  EXPECT_EQ(read.variables[1].spec.shape, (std::vector<int64_t>{3, 2}));

  ASSERT_EQ(read.entries.size(), 1u);
  const ::kiln::runtime::EntrySpec &e = read.entries[0];
  EXPECT_EQ(e.name, "step");
  EXPECT_EQ(e.device, KILN_DEVICE_CUDA);
  // Inputs and outputs: the attribute's types, `?` as kDynamicExtent, the
  // dtype names equal to MLIR's element type spelling.
  ASSERT_EQ(e.inputs.size(), entry.getInputs().size());
  ASSERT_EQ(e.outputs.size(), entry.getOutputs().size());
  for (auto [spec, type] : llvm::zip_equal(
           llvm::concat<const ::kiln::runtime::TensorSpec>(e.inputs, e.outputs),
           llvm::concat<RankedTensorType>(entry.getInputTypes(),
                                          entry.getOutputTypes()))) {
    std::string element;
    llvm::raw_string_ostream os(element);
    os << type.getElementType();
    EXPECT_EQ(kiln_dtype_name(spec.dtype), element);
    ASSERT_EQ(spec.shape.size(), static_cast<size_t>(type.getRank()));
    for (int64_t d = 0; d < type.getRank(); ++d)
      EXPECT_EQ(spec.shape[d], type.isDynamicDim(d) ? kDynamicExtent
                                                    : type.getDimSize(d));
  }
  EXPECT_EQ(e.inputs[0].shape, (std::vector<int64_t>{kDynamicExtent, 3}));
  ASSERT_EQ(e.variables.size(), 2u);
  EXPECT_EQ(e.variables[0].name, "w");
  EXPECT_FALSE(e.variables[0].writes);
  EXPECT_EQ(e.variables[1].name, "b");
  EXPECT_TRUE(e.variables[1].writes);
  EXPECT_EQ(e.variables[1].spec.dtype, KILN_F64);
  // Checks keep their order; a message goes on one line.
  ASSERT_EQ(e.checks.size(), 2u);
  EXPECT_EQ(e.checks[0], "rows differ");
  EXPECT_EQ(e.checks[1], "second check");
}

TEST(EntryAttr, PipelineWritesWhatItRecorded) {
  // kiln-prepare-entry-points records the entry; after the whole pipeline
  // the module's kiln_manifest says the same thing.
  const char *source = R"mlir(
kiln.variable @w : tensor<3xf32> = dense<1.0>
func.func @f(%x: tensor<?x3xf32>, %y: tensor<?x3xf32>) -> tensor<?xf32> {
  %w = kiln.read_variable @w : tensor<3xf32>
  %s = kiln.add %x, %y : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<?x3xf32>
  %m = kiln.mul %s, %w : tensor<?x3xf32>, tensor<3xf32> -> tensor<?x3xf32>
  %r = kiln.reduce_sum %m {axes = array<i64: 1>} : tensor<?x3xf32> -> tensor<?xf32>
  kiln.assign_variable @w, %w : tensor<3xf32>
  return %r : tensor<?xf32>
}
)mlir";
  Compiler compiler;
  kiln_status_t status = nullptr;
  OwningOpRef<ModuleOp> module = compiler.parse(source, "f.mlir", &status);
  ASSERT_TRUE(module) << message(status);
  kiln_status_t lowered = compiler.lower(*module);
  ASSERT_EQ(lowered, nullptr) << message(lowered);
  auto global = module->lookupSymbol<LLVM::GlobalOp>("kiln_manifest");
  ASSERT_TRUE(global);
  std::string text =
      cast<StringAttr>(global.getValueOrNull()).getValue().rtrim('\0').str();
  ::kiln::runtime::Manifest read;
  ASSERT_EQ(::kiln::runtime::parseManifest(text.c_str(), read), nullptr)
      << text;
  EXPECT_EQ(read.version, 4u); // (no entry with run-time checks)
  ASSERT_EQ(read.variables.size(), 1u);
  EXPECT_EQ(read.variables[0].name, "w");
  // The entry (and the variables' initializer).
  const ::kiln::runtime::EntrySpec *f = nullptr;
  for (const auto &e : read.entries)
    if (e.name == "f")
      f = &e;
  ASSERT_NE(f, nullptr) << text;
  EXPECT_EQ(f->device, KILN_DEVICE_CPU);
  ASSERT_EQ(f->inputs.size(), 2u);
  EXPECT_EQ(f->inputs[1].shape, (std::vector<int64_t>{kDynamicExtent, 3}));
  ASSERT_EQ(f->outputs.size(), 1u);
  EXPECT_EQ(f->outputs[0].shape, (std::vector<int64_t>{kDynamicExtent}));
  ASSERT_EQ(f->variables.size(), 1u);
  EXPECT_TRUE(f->variables[0].writes);
  // The rows of x and y must agree: one check, naming the add's location.
  ASSERT_EQ(f->checks.size(), 1u);
  EXPECT_NE(f->checks[0].find("f.mlir:5:8:"), std::string::npos) << f->checks[0];
}

} // namespace
