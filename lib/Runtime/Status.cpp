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

const char *const kDtypeNames[] = {"f32", "f64", "f16", "bf16",
                                   "i1",  "i32", "i64"};
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
  case KILN_F32:
  case KILN_I32:
    return 4;
  case KILN_F64:
  case KILN_I64:
    return 8;
  case KILN_F16:
  case KILN_BF16:
    return 2;
  case KILN_I1:
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
                            "bf16, i1, i32 or i64)",
                            name);
}

} // extern "C"

std::string kiln::runtime::formatShape(const int64_t *shape, int32_t rank) {
  std::string out = "[";
  for (int32_t i = 0; i < rank; ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

kiln_status_t kiln::runtime::checkShape(int32_t rank, const int64_t *shape,
                                        size_t elementSize, int64_t *elements,
                                        size_t *bytes) {
  if (rank < 0 || rank > KILN_MAX_RANK)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "rank %d is outside [0, %d]", rank,
                              KILN_MAX_RANK);
  if (rank > 0 && !shape)
    return kiln_status_create(KILN_INVALID_ARGUMENT, "shape is NULL");
  // Sizes stay below 2^62 bytes: far beyond any machine, and far from
  // overflowing int64_t, size_t or the pool's size classes.
  const uint64_t limit = uint64_t(1) << 62;
  uint64_t n = 1;
  for (int32_t i = 0; i < rank; ++i) {
    if (shape[i] < 0)
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "shape %s has a negative extent",
                                formatShape(shape, rank).c_str());
    // Check every extent even after a zero one: [0, 2^70] is still absurd.
    if (static_cast<uint64_t>(shape[i]) > limit)
      return kiln_status_create(KILN_INVALID_ARGUMENT, "shape %s is too large",
                                formatShape(shape, rank).c_str());
    if (shape[i] != 0 && n > limit / static_cast<uint64_t>(shape[i]))
      return kiln_status_create(KILN_INVALID_ARGUMENT, "shape %s is too large",
                                formatShape(shape, rank).c_str());
    n *= static_cast<uint64_t>(shape[i]);
  }
  if (elementSize && n > limit / elementSize)
    return kiln_status_create(KILN_INVALID_ARGUMENT, "shape %s is too large",
                              formatShape(shape, rank).c_str());
  *elements = static_cast<int64_t>(n);
  *bytes = static_cast<size_t>(n * elementSize);
  return nullptr;
}
