//===- Status.cpp - Kiln runtime status objects and dtypes ----------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A status is a code plus a malloc'ed message. Creating one never fails: if
// memory runs out, a shared static KILN_OUT_OF_MEMORY status stands in, and
// kiln_status_free knows not to free it.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

struct kiln_status_s {
  kiln_status_code_t code;
  char *message; // malloc'ed, NUL-terminated
};

namespace {

char kOutOfMemoryMessage[] = "out of memory (while reporting an error)";

/// Returned when a status cannot be allocated; never freed or modified.
kiln_status_s outOfMemoryStatus = {KILN_OUT_OF_MEMORY, kOutOfMemoryMessage};

/// Formats a printf-style message into a malloc'ed string; NULL if out of
/// memory. A malformed format yields the format itself.
char *vformat(const char *format, va_list args) {
  if (!format)
    format = "";
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n < 0)
    return strdup(format);
  auto *out = static_cast<char *>(std::malloc(static_cast<size_t>(n) + 1));
  if (out)
    std::vsnprintf(out, static_cast<size_t>(n) + 1, format, args);
  return out;
}

// Indexed by kiln_dtype_t.
const char *const kDtypeNames[] = {"f32", "f64", "f16", "bf16",
                                   "i1",  "i32", "i64", "i8",
                                   "i16", "ui8", "ui16", "ui32"};
constexpr unsigned kNumDtypes = sizeof(kDtypeNames) / sizeof(*kDtypeNames);

} // namespace

extern "C" {

kiln_status_t kiln_status_create(kiln_status_code_t code, const char *format,
                                 ...) {
  if (code == KILN_OK)
    return nullptr;
  va_list args;
  va_start(args, format);
  char *message = vformat(format, args);
  va_end(args);
  if (!message)
    return &outOfMemoryStatus;
  auto *status =
      static_cast<kiln_status_s *>(std::malloc(sizeof(kiln_status_s)));
  if (!status) {
    std::free(message);
    return &outOfMemoryStatus;
  }
  status->code = code;
  status->message = message;
  return status;
}

kiln_status_t kiln_status_annotate(kiln_status_t status, const char *format,
                                   ...) {
  if (!status || status == &outOfMemoryStatus)
    return status;
  va_list args;
  va_start(args, format);
  char *context = vformat(format, args);
  va_end(args);
  if (!context) // Keep the original message rather than lose it.
    return status;
  size_t contextLen = std::strlen(context);
  size_t messageLen = std::strlen(status->message);
  auto *combined =
      static_cast<char *>(std::malloc(contextLen + 2 + messageLen + 1));
  if (combined) {
    std::memcpy(combined, context, contextLen);
    std::memcpy(combined + contextLen, ": ", 2);
    std::memcpy(combined + contextLen + 2, status->message, messageLen + 1);
    std::free(status->message);
    status->message = combined;
  }
  std::free(context);
  return status;
}

kiln_status_code_t kiln_status_code(kiln_status_t status) {
  return status ? status->code : KILN_OK;
}

const char *kiln_status_message(kiln_status_t status) {
  return status ? status->message : "";
}

void kiln_status_free(kiln_status_t status) {
  if (!status || status == &outOfMemoryStatus)
    return;
  std::free(status->message);
  std::free(status);
}

size_t kiln_dtype_size(kiln_dtype_t dtype) {
  switch (dtype) {
  case KILN_F64:
  case KILN_I64:
    return 8;
  case KILN_F32:
  case KILN_I32:
  case KILN_UI32:
    return 4;
  case KILN_F16:
  case KILN_BF16:
  case KILN_I16:
  case KILN_UI16:
    return 2;
  case KILN_I1:
  case KILN_I8:
  case KILN_UI8:
    return 1;
  }
  return 0;
}

const char *kiln_dtype_name(kiln_dtype_t dtype) {
  if (static_cast<unsigned>(dtype) >= kNumDtypes)
    return "?";
  return kDtypeNames[dtype];
}

kiln_status_t kiln_dtype_parse(const char *name, kiln_dtype_t *out) {
  if (!name || !out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_dtype_parse: NULL argument");
  for (unsigned i = 0; i < kNumDtypes; ++i) {
    if (std::strcmp(name, kDtypeNames[i]) == 0) {
      *out = static_cast<kiln_dtype_t>(i);
      return nullptr;
    }
  }
  return kiln_status_create(KILN_INVALID_ARGUMENT,
                            "unknown dtype '%s' (expected f32, f64, f16, "
                            "bf16, i1, i32, i64, i8, i16, ui8, ui16 or ui32)",
                            name);
}

} // extern "C"
