//===- Status.cpp - Kiln runtime status objects
//----------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

struct kiln_status_s {
  kiln_status_code_t code;
  std::string message;
};

static std::string vformat(const char *format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n < 0)
    return format;
  std::string out(static_cast<size_t>(n), '\0');
  std::vsnprintf(out.data(), out.size() + 1, format, args);
  return out;
}

extern "C" {

kiln_status_t kiln_status_create(kiln_status_code_t code, const char *format,
                                 ...) {
  if (code == KILN_OK)
    return nullptr;
  va_list args;
  va_start(args, format);
  std::string message = vformat(format, args);
  va_end(args);
  auto *status = new (std::nothrow) kiln_status_s{code, std::move(message)};
  if (!status) { // Out of memory while reporting: fail loudly, not silently.
    std::fputs("kiln runtime: out of memory while creating a status\n", stderr);
    std::abort();
  }
  return status;
}

kiln_status_t kiln_status_annotate(kiln_status_t status, const char *format,
                                   ...) {
  if (!status)
    return nullptr;
  va_list args;
  va_start(args, format);
  std::string context = vformat(format, args);
  va_end(args);
  status->message = context + ": " + status->message;
  return status;
}

kiln_status_code_t kiln_status_code(kiln_status_t status) {
  return status ? status->code : KILN_OK;
}

const char *kiln_status_message(kiln_status_t status) {
  return status ? status->message.c_str() : "";
}

void kiln_status_free(kiln_status_t status) { delete status; }

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

static const char *const kDtypeNames[] = {"f32", "f64", "f16", "bf16",
                                          "i1",  "i32", "i64"};

const char *kiln_dtype_name(kiln_dtype_t dtype) {
  if (static_cast<unsigned>(dtype) >=
      sizeof(kDtypeNames) / sizeof(*kDtypeNames))
    return "?";
  return kDtypeNames[dtype];
}

kiln_status_t kiln_dtype_parse(const char *name, kiln_dtype_t *out) {
  for (unsigned i = 0; i < sizeof(kDtypeNames) / sizeof(*kDtypeNames); ++i) {
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
  uint64_t n = 1;
  for (int32_t i = 0; i < rank; ++i) {
    if (shape[i] < 0)
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "shape %s has a negative extent",
                                formatShape(shape, rank).c_str());
    if (shape[i] != 0 &&
        n > (uint64_t(1) << 62) / static_cast<uint64_t>(shape[i]))
      return kiln_status_create(KILN_INVALID_ARGUMENT, "shape %s is too large",
                                formatShape(shape, rank).c_str());
    n *= static_cast<uint64_t>(shape[i]);
  }
  if (elementSize && n > (uint64_t(1) << 62) / elementSize)
    return kiln_status_create(KILN_INVALID_ARGUMENT, "shape %s is too large",
                              formatShape(shape, rank).c_str());
  *elements = static_cast<int64_t>(n);
  *bytes = static_cast<size_t>(n * elementSize);
  return nullptr;
}
