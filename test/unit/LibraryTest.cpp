//===- LibraryTest.cpp - Tests of libkiln_runtime.so itself ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// What the build promises about the shared library (lib/Runtime/CMakeLists.txt
// and kiln_runtime.map): it links only system libraries and exports the C
// API and nothing else.
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include "RuntimeTestUtils.h"

#include "gtest/gtest.h"

#include <sstream>
#include <string>

using namespace kiln::runtime::test;

namespace {

TEST(Library, LinksOnlySystemLibraries) {
  std::string out = capture("ldd " KILN_RUNTIME_LIBRARY_PATH " 2>&1");
  ASSERT_FALSE(out.empty());
  std::istringstream lines(out);
  std::string line;
  const char *allowed[] = {"linux-vdso.so", "libc.so",     "libstdc++.so",
                           "libm.so",       "libgcc_s.so", "libdl.so",
                           "libpthread.so", "ld-linux",    "librt.so",
                           "libclang_rt.",  "libasan.so",  "libubsan.so",
                           "libz.so"};
  while (std::getline(lines, line)) {
    bool ok = false;
    for (const char *name : allowed)
      ok = ok || contains(line, name);
    EXPECT_TRUE(ok) << "unexpected dependency: " << line;
  }
}

TEST(Library, ExportsOnlyTheCApi) {
  std::string out =
      capture("nm -D --defined-only " KILN_RUNTIME_LIBRARY_PATH " 2>/dev/null");
  if (out.empty())
    GTEST_SKIP() << "nm is not available";
  std::istringstream lines(out);
  std::string address, type, name;
  int count = 0;
  while (lines >> address >> type >> name) {
    // The C API, the allocation functions of compiled code and the host
    // calls of compiled GPU code.
    bool api = name.rfind("kiln_", 0) == 0 ||
               name.rfind("_mlir_memref_to_llvm_", 0) == 0 ||
               name.rfind("mgpu", 0) == 0;
    EXPECT_TRUE(api) << "exported: " << name;
    ++count;
  }
  // 120 kiln_ functions (with kiln_check_failed, kiln_summary_scalar, the
  // 8 kiln_print_*, the 4 kiln_sort_* and the 26 collective functions
  // compiled code calls), 3 allocation and 12 GPU host calls.
  EXPECT_EQ(count, 120 + 3 + 12);
}

} // namespace
