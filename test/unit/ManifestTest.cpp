//===- ManifestTest.cpp - Tests of the manifest parser and printer --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// parseManifest, printManifest and isIdentifier (kiln/Runtime/Manifest.h),
// called directly through the KilnManifest library, as the compiler does.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Manifest.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

using namespace kiln::runtime;
using namespace kiln::runtime::test;

const std::vector<MalformedManifest> &
kiln::runtime::test::malformedManifests() {
  static const std::vector<MalformedManifest> cases = {
      {"", KILN_DATA_LOSS, "the kiln manifest is empty"},
      {"kiln-manifest\n", KILN_DATA_LOSS,
       "line 1 ('kiln-manifest'): expected the header 'kiln-manifest N'"},
      {"kiln manifest 1\n", KILN_DATA_LOSS, "expected the header"},
      {"kiln-manifest 6\n", KILN_UNIMPLEMENTED,
       "kiln manifest version 6 is not supported: this runtime reads "
       "versions 1 to 5"},
      // Version 5: atomic entries.
      {"kiln-manifest 4\nentry f 0 0 0 cpu\natomic\nend\n", KILN_DATA_LOSS,
       "line 3 ('atomic'): unknown keyword"},
      {"kiln-manifest 5\natomic\n", KILN_DATA_LOSS,
       "'atomic' outside an entry"},
      {"kiln-manifest 5\nentry f 1 0 0 cpu\natomic\nin f32 0\nend\n",
       KILN_DATA_LOSS, "'atomic' before all inputs, outputs and variables"},
      {"kiln-manifest 5\nentry f 0 0 0 cpu\natomic\natomic\nend\n",
       KILN_DATA_LOSS, "a second 'atomic' line"},
      {"kiln-manifest 5\nentry f 0 0 0 cpu\natomic now\nend\n",
       KILN_DATA_LOSS, "extra words after 'atomic'"},
      {"kiln-manifest 5\nentry f 0 0 0 cpu\ncheck c\natomic\nend\n",
       KILN_DATA_LOSS, "'atomic' after a 'check' line"},
      {"kiln-manifest 0\n", KILN_UNIMPLEMENTED,
       "kiln manifest version 0 is not supported"},
      // Version 4: the device of each entry.
      {"kiln-manifest 4\nentry f 0 0 0 tpu\nend\n", KILN_DATA_LOSS,
       "line 2 ('entry f 0 0 0 tpu'): unknown device type 'tpu' (expected "
       "cpu or cuda)"},
      {"kiln-manifest 4\nentry f 0 0 0 cuda:0\nend\n", KILN_DATA_LOSS,
       "unknown device type 'cuda:0'"},
      {"kiln-manifest 4\nentry f 0 0 0\nend\n", KILN_DATA_LOSS,
       "line 2 ('entry f 0 0 0'): expected 'entry NAME NUM_INPUTS "
       "NUM_OUTPUTS NUM_VARIABLES DEVICE'"},
      {"kiln-manifest 3\nentry f 0 0 0 cpu\nend\n", KILN_DATA_LOSS,
       "expected 'entry NAME NUM_INPUTS NUM_OUTPUTS NUM_VARIABLES'"},
      // Version 3: open extents and checks.
      {"kiln-manifest 2\nentry f 0 1 0\nout f32 1 ?\nend\n", KILN_DATA_LOSS,
       "extent '?' is not a non-negative integer"},
      {"kiln-manifest 3\nentry f 0 1 0\nout f32 1 x\nend\n", KILN_DATA_LOSS,
       "extent 'x' is not a non-negative integer or ?"},
      {"kiln-manifest 3\nvariable w f32 1 ?\n", KILN_DATA_LOSS,
       "extent '?' is not a non-negative integer"},
      {"kiln-manifest 3\ncheck a b\n", KILN_DATA_LOSS,
       "'check' outside an entry"},
      {"kiln-manifest 3\nentry f 0 1 0\ncheck a\nout f32 0\nend\n",
       KILN_DATA_LOSS, "'check' before all inputs, outputs and variables"},
      {"kiln-manifest 3\nentry f 0 0 0\ncheck\nend\n", KILN_DATA_LOSS,
       "expected 'check MESSAGE'"},
      {"kiln-manifest 3\nentry f 0 0 0\ncheck a  b\nend\n", KILN_DATA_LOSS,
       "extra spaces"},
      {"kiln-manifest 2\nentry f 0 0 0\ncheck a\nend\n", KILN_DATA_LOSS,
       "unknown keyword 'check'"},
      {"kiln-manifest 1\nvar w f32 0\n", KILN_DATA_LOSS,
       "line 2 ('var w f32 0'): unknown keyword 'var'"},
      {"kiln-manifest 1\nentry f 1 0\nin q8 1 2\nend\n", KILN_DATA_LOSS,
       "line 3 ('in q8 1 2'): unknown dtype 'q8'"},
      {"kiln-manifest 1\nentry f 1 0\nend\n", KILN_DATA_LOSS,
       "line 3 ('end'): 'end' does not close a complete entry: 1 inputs, 0 "
       "outputs and 0 variables are missing"},
      // Version 2: variables.
      {"kiln-manifest 2\nentry f 0 0\nend\n", KILN_DATA_LOSS,
       "expected 'entry NAME NUM_INPUTS NUM_OUTPUTS NUM_VARIABLES'"},
      {"kiln-manifest 2\nvar w r f32 0\n", KILN_DATA_LOSS,
       "'var' outside an entry"},
      {"kiln-manifest 2\nentry f 0 0 1\nvar w r f32 0\nend\n", KILN_DATA_LOSS,
       "variable 'w' is not declared"},
      {"kiln-manifest 2\nvariable w f32 1 3\nentry f 0 0 1\nvar w r f32 0\n"
       "end\n",
       KILN_DATA_LOSS, "variable 'w' does not match its declaration"},
      {"kiln-manifest 2\nvariable w f32 0\nentry f 0 0 1\nvar w x f32 0\n"
       "end\n",
       KILN_DATA_LOSS, "expected 'var NAME r|rw DTYPE RANK D0 D1 ...'"},
      {"kiln-manifest 2\nvariable w f32 0\nentry f 0 0 2\nvar w r f32 0\n"
       "var w rw f32 0\nend\n",
       KILN_DATA_LOSS, "variable 'w' listed twice"},
      {"kiln-manifest 2\nvariable w f32 0\nentry f 0 0 1\nvar w r f32 0\n"
       "var w r f32 0\nend\n",
       KILN_DATA_LOSS, "more variables than the entry declares"},
      {"kiln-manifest 2\nvariable w f32 0\nvariable w f32 0\n", KILN_DATA_LOSS,
       "duplicate variable 'w'"},
      {"kiln-manifest 2\nentry f 0 0 0\nvariable w f32 0\nend\n",
       KILN_DATA_LOSS, "'variable' inside an entry"},
      {"kiln-manifest 2\nvariable w f32 0\nentry f 0 1 1\nvar w r f32 0\n"
       "out f32 0\nend\n",
       KILN_DATA_LOSS, "variable before all inputs and outputs"},
      {"kiln-manifest 2\nvariable 9w f32 0\n", KILN_DATA_LOSS,
       "with a C identifier as name"},
      {"kiln-manifest 2\nvariable w f32 0\nentry f 0 0 1\nend\n",
       KILN_DATA_LOSS, "0 inputs, 0 outputs and 1 variables are missing"},
      // Version 1: signatures.
      {"kiln-manifest 1\nentry f 0 1\nout f32 1 -2\nend\n", KILN_DATA_LOSS,
       "extent '-2' is not a non-negative integer"},
      {"kiln-manifest 1\nentry f 0 1\nout f32 2 3\nend\n", KILN_DATA_LOSS,
       "rank 2 but 1 extents"},
      {"kiln-manifest 1\nentry f 0 1\nout f32 1 3 4\nend\n", KILN_DATA_LOSS,
       "rank 1 but 2 extents"},
      {"kiln-manifest 1\nentry f 0 1\nout f32 17\nend\n", KILN_DATA_LOSS,
       "with a rank of at most 16"},
      {"kiln-manifest 1\nentry f 0 1\nout f32 2 4611686018427387904 4\nend\n",
       KILN_DATA_LOSS, "is too large"},
      {"kiln-manifest 1\nentry f 0 0\n", KILN_DATA_LOSS,
       "missing 'end' of entry 'f'"},
      {"kiln-manifest 1\nentry f 0 0\nentry g 0 0\nend\n", KILN_DATA_LOSS,
       "line 3 ('entry g 0 0'): 'entry' before the previous entry's 'end'"},
      {"kiln-manifest 1\nin f32 0\n", KILN_DATA_LOSS, "'in' outside an entry"},
      {"kiln-manifest 1\nend\n", KILN_DATA_LOSS, "'end' outside an entry"},
      {"kiln-manifest 1\nentry f 0 1\nout f32 0\nout f32 0\nend\n",
       KILN_DATA_LOSS, "more outputs than the entry declares"},
      {"kiln-manifest 1\nentry f 1 1\nin f32 0\nin f32 0\nend\n",
       KILN_DATA_LOSS, "more inputs than the entry declares"},
      {"kiln-manifest 1\nentry f 1 1\nout f32 0\nin f32 0\nend\n",
       KILN_DATA_LOSS, "output before all inputs"},
      {"kiln-manifest 1\nentry f 2 1\nin f32 0\nout f32 0\nin f32 0\nend\n",
       KILN_DATA_LOSS, "output before all inputs"},
      {"kiln-manifest 1\nentry f 0 0\nend x\n", KILN_DATA_LOSS,
       "extra words after 'end'"},
      {"kiln-manifest 1\nentry f 0\nend\n", KILN_DATA_LOSS,
       "expected 'entry NAME NUM_INPUTS NUM_OUTPUTS'"},
      {"kiln-manifest 1\nentry f -1 0\nend\n", KILN_DATA_LOSS,
       "expected 'entry NAME NUM_INPUTS NUM_OUTPUTS'"},
      {"kiln-manifest 1\nentry f 0 0 0\nend\n", KILN_DATA_LOSS,
       "expected 'entry NAME NUM_INPUTS NUM_OUTPUTS'"},
      {"kiln-manifest 1\nentry f 2000000 0\nend\n", KILN_DATA_LOSS,
       "expected 'entry NAME NUM_INPUTS NUM_OUTPUTS'"},
      {"kiln-manifest 1\nentry 9f 0 0\nend\n", KILN_DATA_LOSS,
       "entry name '9f' is not a C identifier"},
      {"kiln-manifest 1\nentry add 0 0\nend\nentry add 0 0\nend\n",
       KILN_DATA_LOSS, "line 4 ('entry add 0 0'): duplicate entry 'add'"},
      {"kiln-manifest 1\nentry  f 0 0\nend\n", KILN_DATA_LOSS, "extra spaces"},
      {"kiln-manifest 1\n\nentry f 0 0\nend\n", KILN_DATA_LOSS,
       "line 2 (''): blank line"},
      {"kiln-manifest 1\r\n", KILN_DATA_LOSS, "expected the header"},
      {"kiln-manifest 1\nfoo bar\n", KILN_DATA_LOSS,
       "line 2 ('foo bar'): unknown keyword 'foo'"},
  };
  return cases;
}

namespace {

/// Parses `text`, expecting success.
Manifest parse(const std::string &text) {
  Manifest manifest;
  EXPECT_EQ(describe(parseManifest(text.c_str(), manifest)), "0: ") << text;
  return manifest;
}

/// A tensor spec.
TensorSpec spec(kiln_dtype_t dtype, std::vector<int64_t> shape) {
  TensorSpec result;
  result.dtype = dtype;
  result.shape = std::move(shape);
  return result;
}

/// Expects two tensor specs to be equal (`where` names them).
void expectSame(const TensorSpec &a, const TensorSpec &b,
                const std::string &where) {
  EXPECT_EQ(a.dtype, b.dtype) << where;
  EXPECT_EQ(a.shape, b.shape) << where;
}

/// Expects two manifests to have the same fields, checks compared after
/// `normalize`.
void expectSame(const Manifest &a, const Manifest &b,
                const std::vector<std::string> &checks = {}) {
  ASSERT_EQ(a.variables.size(), b.variables.size());
  for (size_t i = 0; i < a.variables.size(); ++i) {
    EXPECT_EQ(a.variables[i].name, b.variables[i].name);
    expectSame(a.variables[i].spec, b.variables[i].spec, a.variables[i].name);
  }
  ASSERT_EQ(a.entries.size(), b.entries.size());
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const EntrySpec &x = a.entries[i], &y = b.entries[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.device, y.device) << x.name;
    EXPECT_EQ(x.atomic, y.atomic) << x.name;
    ASSERT_EQ(x.inputs.size(), y.inputs.size()) << x.name;
    for (size_t k = 0; k < x.inputs.size(); ++k)
      expectSame(x.inputs[k], y.inputs[k], x.name + " input");
    ASSERT_EQ(x.outputs.size(), y.outputs.size()) << x.name;
    for (size_t k = 0; k < x.outputs.size(); ++k)
      expectSame(x.outputs[k], y.outputs[k], x.name + " output");
    ASSERT_EQ(x.variables.size(), y.variables.size()) << x.name;
    for (size_t k = 0; k < x.variables.size(); ++k) {
      EXPECT_EQ(x.variables[k].name, y.variables[k].name);
      EXPECT_EQ(x.variables[k].writes, y.variables[k].writes);
      expectSame(x.variables[k].spec, y.variables[k].spec, x.name + " var");
    }
    EXPECT_EQ(x.checks, y.checks) << x.name;
  }
}

TEST(Manifest, RoundTrip) {
  Manifest m;
  m.variables = {{"w", spec(KILN_F32, {784, 10})},
                 {"b", spec(KILN_F32, {10})},
                 {"step", spec(KILN_I64, {})}};
  EntrySpec train;
  train.name = "train_step";
  train.inputs = {spec(KILN_F32, {kDynamicExtent, 784}),
                  spec(KILN_I32, {kDynamicExtent})};
  train.outputs = {spec(KILN_F32, {})};
  train.variables = {{"w", true, spec(KILN_F32, {784, 10})},
                     {"b", false, spec(KILN_F32, {10})},
                     {"step", true, spec(KILN_I64, {})}};
  train.checks = {"model.mlir:3:5: batch sizes differ", "second check"};
  EntrySpec gpu;
  gpu.name = "predict_gpu";
  gpu.device = KILN_DEVICE_CUDA;
  gpu.inputs = {spec(KILN_BF16, {2, kDynamicExtent, 3}), spec(KILN_I1, {0})};
  gpu.outputs = {spec(KILN_F16, {kDynamicExtent}), spec(KILN_F64, {1, 1})};
  EntrySpec none;
  none.name = "_nothing2";
  m.entries = {train, gpu, none};

  std::string text = printManifest(m);
  EXPECT_EQ(text, "kiln-manifest 4\n"
                  "variable w f32 2 784 10\n"
                  "variable b f32 1 10\n"
                  "variable step i64 0\n"
                  "entry train_step 2 1 3 cpu\n"
                  "in f32 2 ? 784\n"
                  "in i32 1 ?\n"
                  "out f32 0\n"
                  "var w rw f32 2 784 10\n"
                  "var b r f32 1 10\n"
                  "var step rw i64 0\n"
                  "check model.mlir:3:5: batch sizes differ\n"
                  "check second check\n"
                  "end\n"
                  "entry predict_gpu 2 2 0 cuda\n"
                  "in bf16 3 2 ? 3\n"
                  "in i1 1 0\n"
                  "out f16 1 ?\n"
                  "out f64 2 1 1\n"
                  "end\n"
                  "entry _nothing2 0 0 0 cpu\n"
                  "end\n");
  Manifest back = parse(text);
  EXPECT_EQ(back.version, 4u); // (no atomic entry: the oldest that holds it)
  expectSame(m, back);
  // Printing what was parsed gives the same text again.
  EXPECT_EQ(printManifest(back), text);
  // An empty manifest is a header.
  EXPECT_EQ(printManifest(Manifest()), "kiln-manifest 4\n");
  expectSame(parse(printManifest(Manifest())), Manifest());
  // An atomic entry makes it version 5, with its line after the bindings.
  m.entries[0].atomic = true;
  text = printManifest(m);
  EXPECT_EQ(text.rfind("kiln-manifest 5\n", 0), 0u) << text;
  EXPECT_NE(text.find("var step rw i64 0\natomic\ncheck model.mlir"),
            std::string::npos)
      << text;
  back = parse(text);
  EXPECT_EQ(back.version, 5u);
  EXPECT_TRUE(back.entries[0].atomic);
  EXPECT_FALSE(back.entries[1].atomic);
  expectSame(m, back);
  EXPECT_EQ(printManifest(back), text);
}

TEST(Manifest, CheckMessagesArePrintedOnOneLine) {
  Manifest m;
  EntrySpec f;
  f.name = "f";
  f.inputs = {spec(KILN_F32, {kDynamicExtent})};
  f.checks = {"m.mlir:1:2: x and y\ndiffer", "\t tabs\tand  spaces \r\n", "",
              " \n ", "plain"};
  m.entries = {f};
  Manifest back = parse(printManifest(m));
  ASSERT_EQ(back.entries.size(), 1u);
  EXPECT_EQ(back.entries[0].checks,
            (std::vector<std::string>{"m.mlir:1:2: x and y differ",
                                      "tabs and spaces", "shape check failed",
                                      "shape check failed", "plain"}));
}

TEST(Manifest, OldVersionsStillParse) {
  // Version 1: no variables.
  Manifest v1 = parse("kiln-manifest 1\n"
                      "entry add 2 1\n"
                      "in f32 2 2 3\n"
                      "in f32 2 2 3\n"
                      "out f32 2 2 3\n"
                      "end\n"
                      "entry none 0 0\n"
                      "end");
  EXPECT_EQ(v1.version, 1u);
  ASSERT_EQ(v1.entries.size(), 2u);
  EXPECT_EQ(v1.entries[0].name, "add");
  EXPECT_EQ(v1.entries[0].device, KILN_DEVICE_CPU);
  ASSERT_EQ(v1.entries[0].inputs.size(), 2u);
  EXPECT_EQ(v1.entries[0].outputs[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(v1.entries[1].inputs.empty());

  // Version 2: variables.
  Manifest v2 = parse("kiln-manifest 2\n"
                      "variable w f32 1 4\n"
                      "entry step 1 0 1\n"
                      "in i64 0\n"
                      "var w rw f32 1 4\n"
                      "end\n");
  EXPECT_EQ(v2.version, 2u);
  ASSERT_EQ(v2.variables.size(), 1u);
  EXPECT_EQ(v2.variables[0].name, "w");
  ASSERT_EQ(v2.entries.size(), 1u);
  EXPECT_EQ(v2.entries[0].device, KILN_DEVICE_CPU);
  ASSERT_EQ(v2.entries[0].variables.size(), 1u);
  EXPECT_TRUE(v2.entries[0].variables[0].writes);
  EXPECT_EQ(v2.entries[0].inputs[0].dtype, KILN_I64);

  // Version 3: open extents and checks; every entry is a CPU entry.
  Manifest v3 = parse("kiln-manifest 3\n"
                      "entry addv 2 1 0\n"
                      "in f32 1 ?\n"
                      "in f32 1 ?\n"
                      "out f32 1 ?\n"
                      "check x and y differ in length\n"
                      "end\n");
  EXPECT_EQ(v3.version, 3u);
  ASSERT_EQ(v3.entries.size(), 1u);
  EXPECT_EQ(v3.entries[0].device, KILN_DEVICE_CPU);
  EXPECT_EQ(v3.entries[0].inputs[1].shape,
            (std::vector<int64_t>{kDynamicExtent}));
  EXPECT_EQ(v3.entries[0].checks,
            (std::vector<std::string>{"x and y differ in length"}));

  // Printing an old manifest upgrades it to the newest version.
  std::string text = printManifest(v3);
  EXPECT_EQ(text.rfind("kiln-manifest 4\nentry addv 2 1 0 cpu\n", 0), 0u)
      << text;
  expectSame(parse(text), v3);
}

TEST(Manifest, DevicesOfVersion4) {
  Manifest m = parse("kiln-manifest 4\n"
                     "entry f 0 0 0 cuda\n"
                     "end\n"
                     "entry g 0 0 0 cpu\n"
                     "end\n");
  ASSERT_EQ(m.entries.size(), 2u);
  EXPECT_EQ(m.entries[0].device, KILN_DEVICE_CUDA);
  EXPECT_EQ(m.entries[1].device, KILN_DEVICE_CPU);
}

TEST(Manifest, MalformedManifestsFailAsBefore) {
  for (const MalformedManifest &c : malformedManifests()) {
    Manifest m;
    kiln_status_t s = parseManifest(c.text, m);
    EXPECT_EQ(kiln_status_code(s), c.code) << c.text;
    std::string text = message(s);
    EXPECT_TRUE(contains(text, c.expected)) << c.text << " -> " << text;
  }
  Manifest m;
  EXPECT_EQ(describe(parseManifest(nullptr, m)), "5: no kiln manifest");
}

TEST(Manifest, IsIdentifier) {
  for (const char *name : {"f", "_", "_x9", "train_step", "A1", "z"})
    EXPECT_TRUE(isIdentifier(name)) << name;
  for (const char *name : {"", "9f", "a-b", "a b", "a.b", "ä", "f\n", "$x"})
    EXPECT_FALSE(isIdentifier(name)) << name;
  EXPECT_FALSE(isIdentifier(std::string_view("a\0b", 3)));
}

} // namespace
