//===- Shape.cpp - Shape checks and formatting shared by the runtime ------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The shape helpers that both the runtime and the manifest library need: a
// buffer's shape and a manifest's declared shape are checked by the same
// rules (rank, non-negative extents, no size overflow), with the same
// messages. This file is compiled into both (see CMakeLists.txt), so it
// calls the runtime only through its exported C API.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

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
