//===- Sort.cpp - kiln.sort in compiled code ------------------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// kiln_sort_<type>: sorts every row (the last dimension) of an unranked
// memref in place and writes, for each sorted value, the position in its row
// it came from. Stable (std::stable_sort, a merge sort); NaN is greater than
// every number (NumPy's order).
//
//===----------------------------------------------------------------------===//

#include "kiln/Runtime/Runtime.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

/// The ranked memref descriptor an unranked memref points to.
template <typename T> struct Descriptor {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t rest[]; // sizes[rank], then strides[rank]
};

template <typename T> bool isNan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

/// a before b in ascending order (NaN last).
template <typename T> bool ascending(T a, T b) {
  if (isNan(a))
    return false;
  return isNan(b) || a < b;
}

template <typename T>
void sortRows(int64_t descending, int64_t rank, void *valuesDescriptor,
              int64_t indicesRank, void *indicesDescriptor) {
  auto *values = static_cast<Descriptor<T> *>(valuesDescriptor);
  auto *indices = static_cast<Descriptor<int32_t> *>(indicesDescriptor);
  if (rank < 1 || indicesRank != rank)
    return;
  const int64_t *sizes = values->rest, *strides = values->rest + rank;
  const int64_t *indexStrides = indices->rest + rank;
  int64_t n = sizes[rank - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < rank; ++d)
    rows *= sizes[d];
  if (n == 0 || rows == 0)
    return;
  std::vector<T> row(static_cast<size_t>(n));
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::vector<int64_t> at(static_cast<size_t>(rank), 0);
  for (int64_t r = 0; r < rows; ++r) {
    // Row r's first element, in both buffers (row-major over the leading
    // dimensions).
    int64_t valueBase = values->offset, indexBase = indices->offset;
    for (int64_t d = 0; d + 1 < rank; ++d) {
      valueBase += at[d] * strides[d];
      indexBase += at[d] * indexStrides[d];
    }
    T *v = values->aligned + valueBase;
    int32_t *p = indices->aligned + indexBase;
    int64_t step = strides[rank - 1], indexStep = indexStrides[rank - 1];
    for (int64_t j = 0; j < n; ++j) {
      row[j] = v[j * step];
      order[j] = static_cast<int32_t>(j);
    }
    if (descending)
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return ascending(row[b], row[a]);
      });
    else
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return ascending(row[a], row[b]);
      });
    for (int64_t j = 0; j < n; ++j) {
      v[j * step] = row[order[j]];
      p[j * indexStep] = order[j];
    }
    for (int64_t d = rank - 2; d >= 0; --d) {
      if (++at[d] < sizes[d])
        break;
      at[d] = 0;
    }
  }
}

} // namespace

extern "C" {

#define KILN_SORT(SUFFIX, TYPE)                                                \
  KILN_RUNTIME_EXPORT void kiln_sort_##SUFFIX(                                 \
      int64_t descending, int64_t rank, void *values, int64_t indicesRank,     \
      void *indices) {                                                         \
    sortRows<TYPE>(descending, rank, values, indicesRank, indices);            \
  }

KILN_SORT(f32, float)
KILN_SORT(f64, double)
KILN_SORT(i32, int32_t)
KILN_SORT(i64, int64_t)

#undef KILN_SORT

} // extern "C"
