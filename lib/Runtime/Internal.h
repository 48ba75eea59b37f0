//===- Internal.h - Runtime internals shared between its files --*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Helpers used by more than one file of the runtime. Like the rest of the
// runtime, this is plain C++17: nothing from MLIR or LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_LIB_RUNTIME_INTERNAL_H
#define KILN_LIB_RUNTIME_INTERNAL_H

#include "kiln/Runtime/Runtime.h"

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <string>
#include <utility>

namespace kiln::runtime {

// Shape.cpp: compiled into the runtime and into the manifest library.

/// Formats `rank` extents as "[2, 3]" ("[]" for rank 0) for diagnostics.
std::string formatShape(const int64_t *shape, int32_t rank);

/// Checks a rank and its extents (non-negative, at most KILN_MAX_RANK of
/// them) and computes the element count and the byte size for elements of
/// `elementSize` bytes, failing with KILN_INVALID_ARGUMENT rather than
/// overflowing. `shape` may be NULL for rank 0.
kiln_status_t checkShape(int32_t rank, const int64_t *shape, size_t elementSize,
                         int64_t *elements, size_t *bytes);

// The rest: the runtime only.

/// Whether the contents of `buffer` are in host memory (a CPU buffer), even
/// if it has no bytes and a NULL data pointer.
bool isHostBuffer(const kiln_buffer_t *buffer);

/// Checks that entry `index` of `e` can run here: its device is available
/// (KILN_UNAVAILABLE "entry 'f' was compiled for cuda, which this runtime
/// cannot run: ..." otherwise) (Executable.cpp).
kiln_status_t checkEntryDevice(const kiln_executable_t *e, int32_t index);

/// Rounds `bytes` (at least 1) up to its size class in the device pools
/// (64, 128, 256 bytes, then four classes per power of two), stores the
/// class's index in `*index` and returns the class size (Buffer.cpp).
size_t sizeClass(size_t bytes, unsigned *index);

/// Writes the concatenation of `pieces` (pointer, size) to `path`
/// atomically and durably: a temporary file in the same directory, flushed
/// to disk, renamed over `path`. On failure (KILN_IO_ERROR naming `path`)
/// the previous file is untouched and the temporary file removed.
kiln_status_t writeFileAtomically(const char *path,
                                  const std::pair<const void *, size_t> *pieces,
                                  size_t numPieces);

/// Where run-time checks of compiled code (an index out of range, an integer
/// division by zero) report: the first failure's message. The calling
/// thread's slot is set around a call of an entry, and the thread pool
/// hands it to the workers running that call's loops.
struct CheckSlot {
  std::atomic<bool> failed{false};
  // Written once, by the thread that set `failed`.
  kiln_status_code_t code = KILN_INVALID_ARGUMENT;
  std::string message;
};

/// The slot of the call running on this thread (null outside a call).
CheckSlot *currentChecks();
void setCurrentChecks(CheckSlot *slot);

/// CPUs this process may run on (its affinity mask), at least 1.
int availableCpus();

/// Records a failure of compiled code (a run-time check, a collective) in
/// the current call's slot (the first one wins), or writes it to standard
/// error outside a call the runtime made.
void reportFailure(kiln_status_code_t code, std::string message);

} // namespace kiln::runtime

#endif // KILN_LIB_RUNTIME_INTERNAL_H
