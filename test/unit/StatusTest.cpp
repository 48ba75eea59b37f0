//===- StatusTest.cpp - Tests of statuses and dtypes ----------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Status objects and the dtype table (Status.cpp), and the header used from
// C99 (RuntimeCApi.c).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <string>

extern "C" int kiln_test_c_api(void);

using namespace kiln::runtime::test;

namespace {

TEST(Status, CodesAndMessages) {
  EXPECT_EQ(kiln_status_create(KILN_OK, "ignored"), nullptr);
  EXPECT_EQ(kiln_status_code(nullptr), KILN_OK);
  EXPECT_STREQ(kiln_status_message(nullptr), "");
  kiln_status_free(nullptr);
  EXPECT_EQ(kiln_status_annotate(nullptr, "context"), nullptr);
  kiln_status_t s = kiln_status_create(KILN_NOT_FOUND, "no %s #%d", "entry", 3);
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  s = kiln_status_annotate(s, "loading %s", "m.so");
  s = kiln_status_annotate(s, "run");
  EXPECT_EQ(kiln_status_code(s), KILN_NOT_FOUND);
  EXPECT_EQ(message(s), "run: loading m.so: no entry #3");
  std::string big(10000, 'x');
  EXPECT_EQ(message(kiln_status_create(KILN_INTERNAL, "%s", big.c_str())), big);
}

TEST(Status, UsableFromC) { EXPECT_EQ(kiln_test_c_api(), 0); }

TEST(Dtype, NamesAndSizes) {
  kiln_dtype_t d;
  const kiln_dtype_t all[] = {KILN_F32, KILN_F64, KILN_F16, KILN_BF16,
                              KILN_I1,  KILN_I32, KILN_I64, KILN_I8,
                              KILN_I16, KILN_UI8, KILN_UI16, KILN_UI32};
  const char *names[] = {"f32", "f64", "f16", "bf16", "i1",   "i32",
                         "i64", "i8",  "i16", "ui8",  "ui16", "ui32"};
  const size_t sizes[] = {4, 8, 2, 2, 1, 4, 8, 1, 2, 1, 2, 4};
  for (int i = 0; i < 12; ++i) {
    EXPECT_STREQ(kiln_dtype_name(all[i]), names[i]);
    EXPECT_EQ(kiln_dtype_size(all[i]), sizes[i]);
    ASSERT_EQ(kiln_dtype_parse(names[i], &d), nullptr);
    EXPECT_EQ(d, all[i]);
  }
  // 12 is within the enum's range (so valid C++) but names no dtype.
  EXPECT_STREQ(kiln_dtype_name(static_cast<kiln_dtype_t>(12)), "?");
  EXPECT_EQ(kiln_dtype_size(static_cast<kiln_dtype_t>(12)), 0u);
  kiln_status_t s = kiln_dtype_parse("f8", &d);
  EXPECT_EQ(kiln_status_code(s), KILN_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(message(s), "unknown dtype 'f8'"));
}

} // namespace
