/*===- Runtime.h - Kiln runtime C API ----------------------------*- C -*-===*\
|*                                                                            *|
|* Part of the Kiln project.                                                  *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* The runtime runs compiled Kiln modules. It has no MLIR or LLVM inside: an  *|
|* ahead-of-time compiled library needs only this runtime, and the JIT hands  *|
|* its code to the same API. This header is C99 and C++.                     *|
|*                                                                            *|
|* Conventions:                                                               *|
|*  - A kiln_status_t of NULL means success. A non-NULL status carries a code *|
|*    and a message; whoever receives it owns it and frees it with            *|
|*    kiln_status_free.                                                       *|
|*  - Objects (buffers, executables) are reference counted: create/load       *|
|*    returns a reference (count 1) that the caller releases; retain adds one.*|
|*  - An out handle (kiln_buffer_t **out, ...) is NULL after a failed call.  *|
|*  - Handles passed in must be valid (not NULL) unless a comment says NULL   *|
|*    is allowed.                                                             *|
|*  - Thread safety is stated per function. Reference counting and the       *|
|*    buffer pool are thread-safe; the metadata of buffers and executables    *|
|*    never changes after creation.                                           *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef KILN_RUNTIME_RUNTIME_H
#define KILN_RUNTIME_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define KILN_RUNTIME_EXPORT __attribute__((visibility("default")))
#define KILN_PRINTF_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define KILN_RUNTIME_EXPORT
#define KILN_PRINTF_FORMAT(fmt, args)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===
 * Status
 *===----------------------------------------------------------------------===*/

/** The result of a call that can fail: NULL means success. */
typedef struct kiln_status_s *kiln_status_t;

typedef enum {
  KILN_OK = 0,
  KILN_INVALID_ARGUMENT = 1,
  KILN_NOT_FOUND = 2,
  KILN_OUT_OF_MEMORY = 3,
  KILN_IO_ERROR = 4,
  KILN_DATA_LOSS = 5, /* a corrupt or truncated file */
  KILN_UNIMPLEMENTED = 6,
  KILN_INTERNAL = 7,
  KILN_UNAVAILABLE = 8 /* e.g. a device that is not present */
} kiln_status_code_t;

/** Creates a status with a printf-style message; returns NULL for KILN_OK.
 *  Ownership: the caller owns the result and frees it with kiln_status_free.
 *  If memory runs out, a shared KILN_OUT_OF_MEMORY status is returned instead
 *  (freeing it is still correct). Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_status_create(kiln_status_code_t code,
                                                     const char *format, ...)
    KILN_PRINTF_FORMAT(2, 3);

/** Prefixes the message of `status` with "CONTEXT: " (CONTEXT formatted
 *  printf-style) and returns it; NULL stays NULL. Ownership passes through:
 *  the caller gives up `status` and owns the result. Not thread-safe for the
 *  same status; thread-safe otherwise. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_status_annotate(kiln_status_t status,
                                                       const char *format, ...)
    KILN_PRINTF_FORMAT(2, 3);

/** The code of a status (KILN_OK for NULL). Ownership: `status` is borrowed.
 *  Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_code_t kiln_status_code(kiln_status_t status);

/** The message of a status ("" for NULL). Ownership: borrowed; the string is
 *  valid until the status is freed or annotated. Thread-safe. */
KILN_RUNTIME_EXPORT const char *kiln_status_message(kiln_status_t status);

/** Frees a status; NULL is allowed. Ownership: takes `status`. Thread-safe
 *  for distinct statuses; a status must be freed once. */
KILN_RUNTIME_EXPORT void kiln_status_free(kiln_status_t status);

/*===----------------------------------------------------------------------===
 * Element types and devices
 *===----------------------------------------------------------------------===*/

typedef enum {
  KILN_F32 = 0,
  KILN_F64 = 1,
  KILN_F16 = 2,
  KILN_BF16 = 3,
  KILN_I1 = 4, /* one byte per element, 0 or 1 (NumPy's bool) */
  KILN_I32 = 5,
  KILN_I64 = 6,
  /* Storage types (tf.int8/int16/uint8/uint16/uint32): buffers, files,
   * variables and the ops that move elements hold them as they are;
   * compiled arithmetic reads them widened to i32 (i64 for ui32). */
  KILN_I8 = 7,
  KILN_I16 = 8,
  KILN_UI8 = 9,
  KILN_UI16 = 10,
  KILN_UI32 = 11
} kiln_dtype_t;

/** Bytes per element (0 for an invalid value). Pure function; thread-safe. */
KILN_RUNTIME_EXPORT size_t kiln_dtype_size(kiln_dtype_t dtype);

/** "f32", "f64", "f16", "bf16", "i1", "i32", "i64", "i8", "i16", "ui8",
 *  "ui16" or "ui32" (MLIR's spellings; "?" for an invalid value). Ownership: a static string. Thread-safe. */
KILN_RUNTIME_EXPORT const char *kiln_dtype_name(kiln_dtype_t dtype);

/** Parses a name returned by kiln_dtype_name into `*out`; an unknown name is
 *  KILN_INVALID_ARGUMENT. Ownership: `name` is borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_dtype_parse(const char *name,
                                                   kiln_dtype_t *out);

/* Devices. Every device type has a backend inside the runtime that
 * allocates, frees, copies and zeroes its memory; buffers, copies and calls
 * go through it, so a device type is added behind this same API. The host
 * (KILN_DEVICE_CPU, one device) is always present. NVIDIA GPUs
 * (KILN_DEVICE_CUDA) are driven through the CUDA driver, which the runtime
 * loads when a CUDA device is first asked for: libcuda.so.1, or the library
 * the environment variable KILN_CUDA_DRIVER names (read once). The runtime
 * links nothing from CUDA; without a driver, or without a GPU, there are no
 * CUDA devices and asking for one is KILN_UNAVAILABLE saying what is
 * missing. GPU memory comes from a cache per device (freed blocks are kept
 * for reuse, see kiln_device_memory_stats); copies and zeroing are
 * complete when they return. */

typedef enum { KILN_DEVICE_CPU = 0, KILN_DEVICE_CUDA = 1 } kiln_device_type_t;

/** A device: its type and which one of that type (0 for the CPU). */
typedef struct {
  kiln_device_type_t type;
  int32_t ordinal;
} kiln_device_t;

/** "cpu" or "cuda" ("?" for an invalid value): the names that manifests and
 *  messages use. Ownership: a static string. Thread-safe. */
KILN_RUNTIME_EXPORT const char *kiln_device_type_name(kiln_device_type_t type);

/** Parses a name returned by kiln_device_type_name into `*out`; an unknown
 *  name is KILN_INVALID_ARGUMENT listing the known ones. Ownership: `name`
 *  is borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t
kiln_device_type_parse(const char *name, kiln_device_type_t *out);

/** The number of devices of `type` this runtime can use: 1 for the CPU,
 *  the GPUs the CUDA driver reports (0 without a driver), 0 for an invalid
 *  type. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t kiln_device_count(kiln_device_type_t type);

/** NULL if `device` can be used; otherwise KILN_UNAVAILABLE naming it and
 *  saying why ("device cuda:0 is not available: no CUDA driver: cannot
 *  load libcuda.so.1 (...)", "device cpu:1 is not available: there is 1
 *  cpu device"), or KILN_INVALID_ARGUMENT for an invalid type. Ownership: the caller owns the status. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_device_check(kiln_device_t device);

/*===----------------------------------------------------------------------===
 * Buffers
 *===----------------------------------------------------------------------===*/

/** A dense, row-major tensor in some device's memory. Reference counted. */
typedef struct kiln_buffer_s kiln_buffer_t;

#define KILN_MAX_RANK 16

/** Creates a buffer with uninitialized contents, 64-byte aligned, in the
 *  memory of `device` (allocated by its backend: for the CPU, from the
 *  process-wide pool). `shape` holds `rank` extents (may be NULL for rank
 *  0). Errors: a device that is not available (KILN_UNAVAILABLE, as
 *  kiln_device_check: today every CUDA device) or of an invalid type, a
 *  negative extent, a rank outside [0, KILN_MAX_RANK] or a size that
 *  overflows (KILN_INVALID_ARGUMENT); no memory (KILN_OUT_OF_MEMORY).
 *  Ownership: `shape` is copied; the caller owns the new reference in `*out`
 *  and releases it. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_create(kiln_device_t device,
                                                     kiln_dtype_t dtype,
                                                     int32_t rank,
                                                     const int64_t *shape,
                                                     kiln_buffer_t **out);

/** As kiln_buffer_create, with every byte zero. Ownership: as
 *  kiln_buffer_create. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_create_zeroed(
    kiln_device_t device, kiln_dtype_t dtype, int32_t rank,
    const int64_t *shape, kiln_buffer_t **out);

/** Wraps host memory without copying it; the buffer is a CPU buffer.
 *  Ownership: `data` is borrowed: the runtime neither copies nor frees it,
 *  and it must stay valid until `release_fn(ctx, data)` runs, which happens
 *  exactly once when the last reference goes (`release_fn` may be NULL). If
 *  this call fails, `release_fn` is not called. `shape` is copied; the caller
 *  owns the reference in `*out`. `data` may be NULL only if the buffer has no
 *  bytes. Thread-safe; `release_fn` runs on whichever thread drops the last
 *  reference. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_wrap_host(
    kiln_dtype_t dtype, int32_t rank, const int64_t *shape, void *data,
    void (*release_fn)(void *ctx, void *data), void *ctx, kiln_buffer_t **out);

/** Adds a reference; NULL is allowed. Ownership: the caller owns one more
 *  reference. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_buffer_retain(kiln_buffer_t *buffer);

/** Drops a reference; NULL is allowed. The last reference returns pooled
 *  memory to the pool or calls the release function of wrapped memory.
 *  Ownership: takes one reference. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_buffer_release(kiln_buffer_t *buffer);

/** The number of references held on `buffer` (0 for NULL): a snapshot,
 *  meaningful only while the caller controls every other holder (a store
 *  about to let a call write a variable in place checks that nobody else
 *  still reads the old value). Thread-safe. */
KILN_RUNTIME_EXPORT int64_t kiln_buffer_refcount(const kiln_buffer_t *buffer);

/** The element type. Ownership: borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_dtype_t kiln_buffer_dtype(const kiln_buffer_t *buffer);

/** The number of dimensions. Ownership: borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t kiln_buffer_rank(const kiln_buffer_t *buffer);

/** The extents (rank entries; never NULL, even for rank 0). Ownership: owned
 *  by the buffer, valid while it lives. Thread-safe. */
KILN_RUNTIME_EXPORT const int64_t *
kiln_buffer_shape(const kiln_buffer_t *buffer);

/** The number of elements (1 for rank 0). Ownership: borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT int64_t
kiln_buffer_element_count(const kiln_buffer_t *buffer);

/** The size of the contents in bytes (elements times the dtype size).
 *  Ownership: borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT size_t kiln_buffer_byte_size(const kiln_buffer_t *buffer);

/** The device whose memory holds the contents. Ownership: borrowed.
 *  Thread-safe. */
KILN_RUNTIME_EXPORT kiln_device_t
kiln_buffer_device(const kiln_buffer_t *buffer);

/** Host pointer to the contents, or NULL if the memory is not host memory
 *  (or a wrapped empty buffer was given NULL). Ownership: owned by the
 *  buffer, valid while it lives. Thread-safe itself; reading and writing the
 *  contents is the caller's to synchronize. */
KILN_RUNTIME_EXPORT void *kiln_buffer_host_data(kiln_buffer_t *buffer);

/** The address of the contents in the memory of the buffer's device: what
 *  compiled code for that device receives. For a CPU buffer this is
 *  kiln_buffer_host_data; for a device buffer a device address that host
 *  code must not dereference. NULL only for a wrapped empty buffer given
 *  NULL. Ownership: owned by the buffer, valid while it lives. Thread-safe
 *  itself; the contents are the caller's to synchronize. */
KILN_RUNTIME_EXPORT void *kiln_buffer_data(kiln_buffer_t *buffer);

/** Copies the contents of `src` into `dst`, on any devices (host to host,
 *  host to device, device to host, device to device); the copy is complete
 *  when the call returns. The buffers must have the same dtype and shape
 *  (else KILN_INVALID_ARGUMENT naming both, "kiln_buffer_copy: the source
 *  is f32 [2, 3] but the destination is f32 [3, 2]"); a device that fails
 *  reports its own error (KILN_UNAVAILABLE without its backend). Copying a
 *  buffer onto itself does nothing; overlapping host buffers are copied as
 *  if through a temporary. Ownership: both borrowed. Thread-safe itself; no
 *  other thread may write `src` or use `dst` while it runs. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_copy(kiln_buffer_t *dst,
                                                   const kiln_buffer_t *src);

/** A new buffer on `device` with the dtype, shape and contents of `src`
 *  (PyTorch's `tensor.to(device)`, always a copy): the way to move inputs
 *  onto a GPU and results back to the host. The copy is complete when the
 *  call returns. Errors as kiln_buffer_create and kiln_buffer_copy.
 *  Ownership: `src` borrowed; `*out` is a new reference. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_copy_to(const kiln_buffer_t *src,
                                                      kiln_device_t device,
                                                      kiln_buffer_t **out);

/*===----------------------------------------------------------------------===
 * The buffer pool
 *===----------------------------------------------------------------------===*/

/* Freed pooled buffers keep their memory, grouped by size class (64, 128,
 * 256 bytes, then four classes per power of two, so at most 25% is wasted),
 * and the next buffer of that class reuses it: repeated calls with the same
 * shapes touch no fresh pages. At most KILN_POOL_LIMIT_MB (environment, read
 * once, default 1024) megabytes stay cached; beyond that, the blocks cached
 * longest ago are freed. */

typedef struct {
  uint64_t allocations;  /* blocks taken from the system */
  uint64_t reuses;       /* blocks served from the cache */
  uint64_t bytes_cached; /* bytes held for reuse */
  uint64_t bytes_in_use; /* bytes of live pooled buffers (by size class) */
} kiln_pool_stats_t;

/** Copies the current pool counters to `*out`. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_pool_stats(kiln_pool_stats_t *out);

/** Frees every cached block (live buffers are not affected). Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_pool_trim(void);

/** The counters of `device`'s pool: for cpu:0 the pool above; for a GPU,
 *  its cache of device memory (freed blocks stay with their device, in the
 *  same size classes, until it is trimmed or an allocation finds the
 *  device full). KILN_UNAVAILABLE if the device is not present.
 *  Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t
kiln_device_memory_stats(kiln_device_t device, kiln_pool_stats_t *out);

/** Frees `device`'s cached blocks (live buffers are not affected).
 *  Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_device_memory_trim(kiln_device_t device);

/*===----------------------------------------------------------------------===
 * Threads
 *===----------------------------------------------------------------------===*/

/* Compiled code runs its parallel loops (a contraction's cache tiles, chunks
 * of large elementwise loops) on the runtime's thread pool: the calling
 * thread and `kiln_num_threads() - 1` workers, started on first use. The
 * count comes from KILN_NUM_THREADS (environment, read once) or else the
 * CPUs the process may run on. Each iteration of a loop writes its own part
 * of the result, so results are bitwise identical for any thread count. */

/** Runs `body(context, i, i + 1)` for every i in [0, count), on the pool's
 *  threads; returns when all have run. A loop started inside another (or
 *  while another thread's loop holds the pool) runs on its caller alone.
 *  Called by generated code. */
KILN_RUNTIME_EXPORT void kiln_parallel_for(void (*body)(void *, int64_t,
                                                        int64_t),
                                           void *context, int64_t count);

/* kiln.print in compiled code: one call per text and per tensor, in program
 * order. `stream` is 1 (standard output) or 2 (standard error); each call's
 * output is written and flushed at once. A tensor comes as an unranked
 * memref (its rank, and a descriptor: allocated and aligned pointers, the
 * offset, then `rank` extents and `rank` strides, all int64) and prints as
 * tf.print prints it: nested brackets, elements separated by spaces, at
 * most `summarize` elements at each end of a dimension (-1: all), floats
 * in %g form, bools as 1 and 0. Called by generated code. */
KILN_RUNTIME_EXPORT void kiln_print_text(int64_t stream, int64_t rank,
                                         void *descriptor);
KILN_RUNTIME_EXPORT void kiln_print_tensor_f32(int64_t stream, int64_t summarize,
                                               int64_t rank, void *descriptor);
KILN_RUNTIME_EXPORT void kiln_print_tensor_f64(int64_t stream, int64_t summarize,
                                               int64_t rank, void *descriptor);
KILN_RUNTIME_EXPORT void kiln_print_tensor_f16(int64_t stream, int64_t summarize,
                                               int64_t rank, void *descriptor);
KILN_RUNTIME_EXPORT void kiln_print_tensor_bf16(int64_t stream, int64_t summarize,
                                                int64_t rank, void *descriptor);
KILN_RUNTIME_EXPORT void kiln_print_tensor_i1(int64_t stream, int64_t summarize,
                                              int64_t rank, void *descriptor);
KILN_RUNTIME_EXPORT void kiln_print_tensor_i32(int64_t stream, int64_t summarize,
                                               int64_t rank, void *descriptor);
KILN_RUNTIME_EXPORT void kiln_print_tensor_i64(int64_t stream, int64_t summarize,
                                               int64_t rank, void *descriptor);

/* kiln.sort in compiled code: sorts every row (the last dimension) of
 * `values` (an unranked memref: rank and descriptor, as for kiln.print) in
 * place, ascending or, when `descending` is nonzero, descending, and
 * writes into `indices` (int32, the same extents) the position in its row
 * each sorted value came from. Stable; NaN sorts as greater than every
 * number (NumPy's order). Called by generated code. */
KILN_RUNTIME_EXPORT void kiln_sort_f32(int64_t descending, int64_t rank,
                                       void *values, int64_t indices_rank,
                                       void *indices);
KILN_RUNTIME_EXPORT void kiln_sort_f64(int64_t descending, int64_t rank,
                                       void *values, int64_t indices_rank,
                                       void *indices);
KILN_RUNTIME_EXPORT void kiln_sort_i32(int64_t descending, int64_t rank,
                                       void *values, int64_t indices_rank,
                                       void *indices);
KILN_RUNTIME_EXPORT void kiln_sort_i64(int64_t descending, int64_t rank,
                                       void *values, int64_t indices_rank,
                                       void *indices);

/*===----------------------------------------------------------------------===
 * Collectives (data parallelism over processes)
 *
 * A process launched by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE set) loads
 * libmpi.so.40 (or the library KILN_MPI_LIBRARY names) with dlopen the
 * first time a collective or one of these functions runs, and initializes
 * MPI unless the program already did (mpi4py); any other process is a
 * world of one process and never loads MPI. Groups are named: "world" is
 * every process. KILN_COLLECTIVE_TIMEOUT (seconds, 600 by default) bounds
 * how long a collective waits for the other processes before the job is
 * aborted with a message; KILN_COLLECTIVE_CHECKS=0 skips the comparison of
 * each collective's type and shape across processes.
 *===----------------------------------------------------------------------===*/

/** Sets up the collectives (loads and initializes MPI under mpirun).
 *  KILN_UNAVAILABLE naming the library when MPI cannot be loaded. The
 *  collectives call it themselves; call it to see the error early. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_collectives_init(void);

/** This process's rank in group `name` (-1 when it is not a member) and
 *  the group's size. KILN_NOT_FOUND for an unknown group. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_group_info(const char *name,
                                                  int32_t *rank,
                                                  int32_t *size);

/** Defines group `name` as the world's processes `ranks[0..count)` (the
 *  group's rank i is ranks[i]). Every process of the world must call it,
 *  with the same arguments (MPI splits the world's communicator); a
 *  process outside the group gets rank -1 in it. KILN_INVALID_ARGUMENT for
 *  an empty or duplicate list, a rank outside the world or a name already
 *  defined. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_group_define(const char *name,
                                                    const int32_t *ranks,
                                                    int32_t count);

/* The collectives of compiled code, one per element type (f32, f64, i32,
 * i64). Texts come as address and length: the group's name and where the
 * op is ("file:line:col: kiln.all_reduce"). Buffers are unranked memrefs
 * (rank, descriptor) of contiguous row-major data. A failure (processes
 * that disagree, an unknown group, MPI unavailable) is returned by the
 * running call (KILN_INVALID_ARGUMENT or KILN_UNAVAILABLE) naming the op.
 * `reduction`: 0 sum, 1 mean, 2 max, 3 min. Called by generated code.
 * kiln_all_reduce_start_* hands the all-reduce of `data` (in place) to the
 * runtime's communication thread and returns; kiln_all_reduce_done_* waits
 * for the one started on the same buffer. The other collectives first wait
 * for every started one (KILN_COLLECTIVE_OVERLAP=0: a start runs its
 * all-reduce at once). */
#define KILN_DECLARE_COLLECTIVES(suffix)                                       \
  KILN_RUNTIME_EXPORT void kiln_all_reduce_##suffix(                           \
      int64_t reduction, int64_t group, int64_t group_length, int64_t where,   \
      int64_t where_length, int64_t rank, void *data);                         \
  KILN_RUNTIME_EXPORT void kiln_all_reduce_start_##suffix(                     \
      int64_t reduction, int64_t group, int64_t group_length, int64_t where,   \
      int64_t where_length, int64_t rank, void *data);                         \
  KILN_RUNTIME_EXPORT void kiln_all_reduce_done_##suffix(                      \
      int64_t group, int64_t group_length, int64_t where,                      \
      int64_t where_length, int64_t rank, void *data);                         \
  KILN_RUNTIME_EXPORT void kiln_broadcast_from_##suffix(                       \
      int64_t root, int64_t group, int64_t group_length, int64_t where,        \
      int64_t where_length, int64_t rank, void *data);                         \
  KILN_RUNTIME_EXPORT void kiln_all_gather_##suffix(                           \
      int64_t axis, int64_t group, int64_t group_length, int64_t where,        \
      int64_t where_length, int64_t input_rank, void *input,                   \
      int64_t output_rank, void *output);                                      \
  KILN_RUNTIME_EXPORT void kiln_reduce_scatter_##suffix(                       \
      int64_t reduction, int64_t axis, int64_t group, int64_t group_length,    \
      int64_t where, int64_t where_length, int64_t input_rank, void *input,    \
      int64_t output_rank, void *output);
KILN_DECLARE_COLLECTIVES(f32)
KILN_DECLARE_COLLECTIVES(f64)
KILN_DECLARE_COLLECTIVES(i32)
KILN_DECLARE_COLLECTIVES(i64)
#undef KILN_DECLARE_COLLECTIVES

/** kiln.group_rank / kiln.group_size in compiled code. */
KILN_RUNTIME_EXPORT int64_t kiln_group_rank(int64_t group,
                                            int64_t group_length,
                                            int64_t where,
                                            int64_t where_length);
KILN_RUNTIME_EXPORT int64_t kiln_group_size(int64_t group,
                                            int64_t group_length,
                                            int64_t where,
                                            int64_t where_length);

/** kiln.summary_scalar in compiled code: appends "step,tag,value,wall time"
 *  to the CSV file at `path` (texts given by address and length), the file
 *  kiln.summary's writers keep. Called by generated code. */
KILN_RUNTIME_EXPORT void kiln_summary_scalar(int64_t path, int64_t path_length,
                                             int64_t tag, int64_t tag_length,
                                             double value, int64_t step);

/** A run-time check of compiled code failed (an index out of range, an
 *  integer division by zero): `message` is the address of its text
 *  (`length` bytes, naming the op's file:line); with `bound` >= 0 the text
 *  gets " (<value> is not in [0, <bound>))". The running call returns it as
 *  KILN_INVALID_ARGUMENT once the compiled code is done (the first failure
 *  wins; the code goes on with a clamped index or a zero, so it never reads
 *  out of bounds). Outside a call the runtime made, the text goes to
 *  standard error. Called by generated code. */
KILN_RUNTIME_EXPORT void kiln_check_failed(int64_t message, int64_t length,
                                           int64_t value, int64_t bound);

/** The pool's thread count (the caller included). */
KILN_RUNTIME_EXPORT int32_t kiln_num_threads(void);

/** Sets the pool's thread count, 1 to 1024 (the caller included); waits
 *  for a running loop to finish. KILN_INVALID_ARGUMENT otherwise. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_set_num_threads(int32_t count);

/*===----------------------------------------------------------------------===
 * Executables
 *===----------------------------------------------------------------------===*/

/* A compiled module exports, for each entry point NAME,
 *
 *   int32_t kiln_entry_NAME(void **args, const int64_t *dims);
 *
 * taking the data pointers (kiln_buffer_data: addresses in the memory of
 * the device the entry was compiled for) of the inputs, then of the
 * outputs, then of the variables it binds (dense, row-major, of the
 * declared dtype and shape;
 * inputs are only read, outputs are written in full, variables are read and,
 * if the entry assigns them, updated in place) and the extents that the
 * manifest leaves open (`?`), those of the inputs then of the outputs, in
 * order (NULL if there are none); it returns 0 on success. An entry with
 * open extents (or shape checks) also has
 *
 *   int32_t kiln_shape_NAME(const int64_t *in_dims, int64_t *out_dims);
 *
 * which takes the inputs' open extents, checks that they fit together
 * (returning 1 + the index of the first failed `check` line, else 0) and
 * stores the outputs' open extents. The module also exports
 * `kiln_manifest`, a NUL-terminated text that declares its variables and
 * its entries (see docs/runtime.md):
 *
 *   kiln-manifest 4
 *   variable NAME DTYPE RANK D0 D1 ...
 *   entry NAME NUM_INPUTS NUM_OUTPUTS NUM_VARIABLES DEVICE   (cpu or cuda)
 *   in DTYPE RANK D0 D1 ...        (an extent may be ?)
 *   out DTYPE RANK D0 D1 ...       (likewise)
 *   var NAME r|rw DTYPE RANK D0 D1 ...
 *   check MESSAGE
 *   end
 *
 * Version 3 (no DEVICE: cpu), version 2 (no ? and no checks either) and
 * version 1 (no variables) manifests are read too. kiln/Runtime/Manifest.h
 * (the KilnManifest library) parses and prints this text from C++.
 */

/** A set of compiled entry points. Reference counted. */
typedef struct kiln_executable_s kiln_executable_t;

/** Resolves a symbol of compiled code; returns NULL if absent. */
typedef void *(*kiln_symbol_lookup_fn)(void *ctx, const char *symbol);

/** Builds an executable from a manifest and a symbol lookup (how the JIT
 *  hands over its code). Every entry's `kiln_entry_NAME` is looked up now.
 *  Errors: a malformed manifest (KILN_DATA_LOSS naming the line), a newer
 *  manifest version (KILN_UNIMPLEMENTED), a missing entry symbol
 *  (KILN_NOT_FOUND). Ownership: `manifest` is copied; `ctx` is handed over:
 *  `release_fn(ctx)`, if not NULL, runs exactly once, when the executable is
 *  destroyed or at once if this call fails. The caller owns the reference in
 *  `*out`. Thread-safe; `lookup` is only called during this call. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_executable_create(
    const char *manifest, kiln_symbol_lookup_fn lookup, void *ctx,
    void (*release_fn)(void *ctx), kiln_executable_t **out);

/** Loads an ahead-of-time compiled shared library with dlopen, reads its
 *  `kiln_manifest` and resolves its entries with dlsym. Errors name the
 *  path and the loader's message. A path without '/' is searched for like
 *  any dlopen name. Ownership: the caller owns the reference in `*out`; the
 *  library is closed when the executable is destroyed. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t
kiln_executable_load_library(const char *path, kiln_executable_t **out);

/** Adds a reference; NULL is allowed. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_executable_retain(kiln_executable_t *executable);

/** Drops a reference; NULL is allowed. The last one destroys the executable
 *  (and runs its release function). Ownership: takes one reference.
 *  Thread-safe, but no call may be running on the executable when its last
 *  reference goes. */
KILN_RUNTIME_EXPORT void kiln_executable_release(kiln_executable_t *executable);

/** The number of entry points. Ownership: borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t
kiln_executable_entry_count(const kiln_executable_t *executable);

/** The name of entry `index`, or NULL if `index` is out of range. Ownership:
 *  owned by the executable, valid while it lives. Thread-safe. */
KILN_RUNTIME_EXPORT const char *
kiln_executable_entry_name(const kiln_executable_t *executable, int32_t index);

/** The index of the entry called `name`, or -1 if there is none. Ownership:
 *  borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t kiln_executable_find_entry(
    const kiln_executable_t *executable, const char *name);

/** The number of inputs of entry `entry`, or -1 if `entry` is out of range.
 *  Ownership: borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t
kiln_entry_input_count(const kiln_executable_t *executable, int32_t entry);

/** The number of outputs of entry `entry`, or -1 if `entry` is out of range.
 *  Ownership: borrowed. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t
kiln_entry_output_count(const kiln_executable_t *executable, int32_t entry);

/** The device entry `entry` runs on: the device type the manifest gives
 *  it, ordinal 0. Out of range: {KILN_DEVICE_CPU, -1}. An entry for a
 *  device this runtime cannot use loads (so the module's other entries
 *  run), but calling it is KILN_UNAVAILABLE. Ownership: borrowed.
 *  Thread-safe. */
KILN_RUNTIME_EXPORT kiln_device_t
kiln_entry_device(const kiln_executable_t *executable, int32_t entry);

/** Runs every entry of `executable` on `device` from now on, instead of
 *  the first device of the type it was compiled for: an executable
 *  compiled for CUDA runs on any of the machine's GPUs (its kernels are
 *  loaded on that GPU at its first call; inputs, outputs and variables must
 *  be in that GPU's memory, and kiln_variables_initialize puts them there).
 *  Another device type is KILN_INVALID_ARGUMENT; a device that is not
 *  available, KILN_UNAVAILABLE with the reason. Not thread-safe: call it
 *  before the executable's first call. */
KILN_RUNTIME_EXPORT kiln_status_t
kiln_executable_set_device(kiln_executable_t *executable, kiln_device_t device);

/** Describes input (is_output == 0) or output `index` of entry `entry`:
 *  stores its dtype, rank and extents (-1 for an extent known only at call
 *  time) in whichever of the out pointers are not NULL. Out of range: rank -1, shape NULL, dtype KILN_F32. Ownership:
 *  `*shape` is owned by the executable, valid while it lives. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_entry_arg(const kiln_executable_t *executable,
                                        int32_t entry, int is_output,
                                        int32_t index, kiln_dtype_t *dtype,
                                        int32_t *rank, const int64_t **shape);

/** The number of variables the module declares. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t
kiln_executable_variable_count(const kiln_executable_t *executable);

/** Describes declared variable `index`: stores its name, dtype, rank and
 *  extents in whichever out pointers are not NULL. Out of range: name NULL,
 *  rank -1. Ownership: `*name` and `*shape` are owned by the executable,
 *  valid while it lives. Thread-safe. */
KILN_RUNTIME_EXPORT void
kiln_executable_variable(const kiln_executable_t *executable, int32_t index,
                         const char **name, kiln_dtype_t *dtype, int32_t *rank,
                         const int64_t **shape);

/** The number of variables entry `entry` binds, or -1 if `entry` is out of
 *  range. Thread-safe. */
KILN_RUNTIME_EXPORT int32_t
kiln_entry_variable_count(const kiln_executable_t *executable, int32_t entry);

/** Describes variable `index` of entry `entry`: its name and whether the
 *  entry assigns it (`*writes` = 1) or only reads it (0). Out of range: name
 *  NULL. Ownership: `*name` is owned by the executable. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_entry_variable(const kiln_executable_t *executable,
                                             int32_t entry, int32_t index,
                                             const char **name, int *writes);

/** Calls entry `name`. Its device (kiln_entry_device) must be available:
 *  if not, KILN_UNAVAILABLE "entry 'f' was compiled for cuda, which this
 *  runtime cannot run: device cuda:0 is not available: ...". The argument
 *  counts must match the entry's, and every input and every non-NULL
 *  output must match the declared dtype and shape and live in the memory of
 *  the entry's device (an open extent of an input takes any size; the
 *  entry's shape function then checks that the inputs fit together --
 *  KILN_INVALID_ARGUMENT with the check's message if not -- and gives the
 *  outputs' extents); a mismatch is KILN_INVALID_ARGUMENT naming the
 *  entry and the argument (an unknown entry is KILN_NOT_FOUND listing the
 *  entries). Outputs may not share memory with inputs or with each other
 *  (KILN_INVALID_ARGUMENT). A NULL `outputs[i]` is allocated on the entry's
 *  device (from the pool, for the CPU) and stored there; the entry gets the
 *  kiln_buffer_data of every argument. A nonzero return code from the
 *  entry is KILN_INTERNAL "entry 'f' failed with code N".
 *  Ownership: inputs are borrowed and not modified; non-NULL outputs are
 *  borrowed and written in full; outputs allocated here are owned by the
 *  caller on success, and released (and reset to NULL) on failure.
 *  Thread-safe: compiled entries keep no state, so concurrent calls are fine
 *  as long as no output buffer is written by two of them at once or read
 *  while it is written. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_executable_invoke(
    kiln_executable_t *executable, const char *name, int32_t num_inputs,
    kiln_buffer_t *const *inputs, int32_t num_outputs, kiln_buffer_t **outputs);

/*===----------------------------------------------------------------------===
 * Variables
 *===----------------------------------------------------------------------===*/

/* Variables are the state of a compiled program (weights, optimizer slots,
 * step counters): named buffers in a store that the caller owns, bound to
 * an entry point at call time by name. An entry that assigns a variable
 * writes its new value into the store's buffer in place. A variable lives
 * in the memory of the device its module runs on and stays there between
 * calls: kiln_variables_initialize and kiln_variables_load put it there,
 * kiln_variables_save copies it to the host to write it. */

/** A variable store: names to buffers, each on its device. */
typedef struct kiln_variables_s kiln_variables_t;

/** Creates an empty store. Ownership: the caller owns `*out` (destroy it
 *  with kiln_variables_destroy). */
KILN_RUNTIME_EXPORT kiln_status_t kiln_variables_create(kiln_variables_t **out);

/** Destroys a store and releases its buffers; NULL is allowed. */
KILN_RUNTIME_EXPORT void kiln_variables_destroy(kiln_variables_t *variables);

/** The number of variables in the store. */
KILN_RUNTIME_EXPORT int32_t
kiln_variables_count(const kiln_variables_t *variables);

/** The name of variable `index` (names are kept sorted), or NULL if out of
 *  range. Ownership: owned by the store, valid until the variable is
 *  replaced or the store destroyed. */
KILN_RUNTIME_EXPORT const char *
kiln_variables_name(const kiln_variables_t *variables, int32_t index);

/** The buffer of variable `name`, or NULL if the store has none. Ownership:
 *  borrowed; valid until the variable is replaced or the store destroyed.
 *  Its contents may be read and written while no call uses the store. */
KILN_RUNTIME_EXPORT kiln_buffer_t *
kiln_variables_find(const kiln_variables_t *variables, const char *name);

/** Sets variable `name` (a C identifier) to a copy of `value`, creating it
 *  or replacing it (its dtype and shape may change). The copy is on the
 *  device the variable is on already, else on `value`'s device.
 *  Ownership: `value` is borrowed. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_variables_set(kiln_variables_t *variables,
                                                     const char *name,
                                                     const kiln_buffer_t *value);

/** Moves variable `name` to `device`: its buffer is replaced by a copy in
 *  that device's memory (nothing happens if it is there already), where
 *  later kiln_variables_set calls keep it. For a program whose entries run
 *  on another device than the one the variable was created on (Python
 *  creates variables on the host and moves them to the GPU of the first
 *  GPU function that binds them). A variable the store lacks is
 *  KILN_NOT_FOUND; a device not available here, KILN_UNAVAILABLE.
 *  Thread-safe only while no call uses the store. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_variables_place(
    kiln_variables_t *variables, const char *name, kiln_device_t device);

/** Gives every variable that `executable` declares and the store lacks its
 *  initial value (from the module's `kiln_init_variables` entry; zeros for a
 *  variable without an initializer), in the memory of the device the
 *  executable's entries run on. Variables already in the store are left as
 *  they are, so this also completes a partial checkpoint. */
KILN_RUNTIME_EXPORT kiln_status_t
kiln_variables_initialize(kiln_variables_t *variables,
                          kiln_executable_t *executable);

/** Calls entry `name` as kiln_executable_invoke does, binding the variables
 *  the entry reads or assigns to the store's buffers by name. A variable the
 *  store lacks is KILN_NOT_FOUND naming it; one of another dtype or shape,
 *  or not in the memory of the entry's device (a store initialized or
 *  loaded for a CPU module, used by a GPU module), is
 *  KILN_INVALID_ARGUMENT naming it; inputs and outputs may not share memory
 *  with a variable. Assigned variables are updated in place.
 *  Thread-safety: a store may be used by one call at a time. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_executable_invoke_with_variables(
    kiln_executable_t *executable, const char *name, int32_t num_inputs,
    kiln_buffer_t *const *inputs, int32_t num_outputs, kiln_buffer_t **outputs,
    kiln_variables_t *variables);

/** Saves variables to a safetensors file: all of them (`num_names` 0) or the
 *  `num_names` listed in `names` (one missing from the store is
 *  KILN_NOT_FOUND). The write is atomic: a temporary file in the same
 *  directory, flushed to disk, then renamed over `path`; if the process dies
 *  or the write fails, the previous file at `path` is intact. bf16 is
 *  stored as BF16, i1 as BOOL. Variables in a device's memory are copied to
 *  the host to be written. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_variables_save(
    const kiln_variables_t *variables, const char *path, int32_t num_names,
    const char *const *names);

/** Loads every tensor of a safetensors file into the store (replacing
 *  variables of the same name). The file is checked before anything
 *  changes: a missing file is KILN_NOT_FOUND; a truncated or corrupt one
 *  (header size, JSON, dtypes, shapes, offsets outside the data or
 *  overlapping, sizes that do not match) is KILN_DATA_LOSS naming the file
 *  and the tensor. When `declared` is not NULL, a tensor named like one of
 *  its variables must have that variable's dtype and shape
 *  (KILN_INVALID_ARGUMENT naming the variable and both shapes). Each tensor
 *  goes to the device its variable is on already, else to the device
 *  `declared` runs on (the host when `declared` is NULL). */
KILN_RUNTIME_EXPORT kiln_status_t kiln_variables_load(
    kiln_variables_t *variables, const char *path,
    const kiln_executable_t *declared);

/*===----------------------------------------------------------------------===
 * Instances: what an ahead-of-time compiled library's header wraps
 *===----------------------------------------------------------------------===*/

/* An instance is one model: an executable (a library's entries), a variable
 * store that the instance owns, and the message of its last error. Calls
 * return a kiln_status_code_t (0 is KILN_OK) and keep the message for
 * kiln_instance_error. Thread-safety: an instance is used by one thread at
 * a time; distinct instances are independent. */
typedef struct kiln_instance_s kiln_instance_t;

/** Creates an instance from a manifest and a symbol lookup (as
 *  kiln_executable_create), with an empty variable store. Ownership: the
 *  caller owns `*out` (kiln_instance_destroy). */
KILN_RUNTIME_EXPORT kiln_status_t kiln_instance_create(
    const char *manifest, kiln_symbol_lookup_fn lookup, void *ctx,
    kiln_instance_t **out);

/** Destroys an instance and its variables; NULL is allowed. */
KILN_RUNTIME_EXPORT void kiln_instance_destroy(kiln_instance_t *instance);

/** The message of the last failed call ("" after a successful one).
 *  Ownership: owned by the instance, valid until its next call. */
KILN_RUNTIME_EXPORT const char *
kiln_instance_error(const kiln_instance_t *instance);

/** The instance's executable and store (borrowed), for the full API. */
KILN_RUNTIME_EXPORT kiln_executable_t *
kiln_instance_executable(kiln_instance_t *instance);
KILN_RUNTIME_EXPORT kiln_variables_t *
kiln_instance_variables(kiln_instance_t *instance);

/** Gives every variable without a value its initial value (see
 *  kiln_variables_initialize). */
KILN_RUNTIME_EXPORT int32_t kiln_instance_initialize(kiln_instance_t *instance);

/** Loads a safetensors checkpoint, checked against the module's variables
 *  (a wrong shape is KILN_INVALID_ARGUMENT naming the variable; a truncated
 *  or corrupt file KILN_DATA_LOSS naming the file; nothing changes on
 *  failure). */
KILN_RUNTIME_EXPORT int32_t kiln_instance_load(kiln_instance_t *instance,
                                               const char *path);

/** Saves every variable to a safetensors file, atomically. */
KILN_RUNTIME_EXPORT int32_t kiln_instance_save(kiln_instance_t *instance,
                                               const char *path);

/** Copies variable `name` out of (get) or into (set) `bytes` bytes at
 *  `data`, which must be exactly its size (dense, row-major). */
KILN_RUNTIME_EXPORT int32_t kiln_instance_get_variable(
    kiln_instance_t *instance, const char *name, void *data, size_t bytes);
KILN_RUNTIME_EXPORT int32_t kiln_instance_set_variable(
    kiln_instance_t *instance, const char *name, const void *data,
    size_t bytes);

/** Calls entry `entry` with `args`: the data pointers of its inputs, then
 *  of its outputs (dense, row-major, of the manifest's dtypes and static
 *  shapes; outputs are written in full), binding the instance's variables.
 *  An entry with open extents is KILN_UNIMPLEMENTED here. */
KILN_RUNTIME_EXPORT int32_t kiln_instance_call(kiln_instance_t *instance,
                                               const char *entry,
                                               void *const *args);

/*===----------------------------------------------------------------------===
 * NumPy .npy files
 *===----------------------------------------------------------------------===*/

/** Reads a .npy file (format 1.0, 2.0 or 3.0; C order; <f4 <f8 <f2 |b1 <i4
 *  <i8, with '=' or '|' also accepted as little-endian; any rank including
 *  0) into a new pooled CPU buffer. Errors name the file and the problem: a
 *  missing file is KILN_NOT_FOUND, a read failure KILN_IO_ERROR, a corrupt
 *  or truncated file KILN_DATA_LOSS, a dtype Kiln lacks KILN_INVALID_ARGUMENT,
 *  Fortran order or another format version KILN_UNIMPLEMENTED. Ownership:
 *  the caller owns the reference in `*out`. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_npy_read(const char *path,
                                                kiln_buffer_t **out);

/** Writes a host buffer as .npy format 1.0, atomically: a temporary file in
 *  the same directory, flushed to disk, then renamed over `path`; on failure
 *  `path` is untouched. bf16 has no NumPy dtype and is refused
 *  (KILN_UNIMPLEMENTED). Ownership: `buffer` is borrowed. Thread-safe;
 *  concurrent writes of one path leave one of the files whole. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_npy_write(const char *path,
                                                 const kiln_buffer_t *buffer);

/*===----------------------------------------------------------------------===
 * idx files (MNIST, Fashion-MNIST)
 *===----------------------------------------------------------------------===*/

/** Reads an idx file of unsigned bytes (gzip-compressed or not), such as
 *  /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz, into a new
 *  host buffer of `dtype` (f32, f64, i32, i64 or ui8; values 0..255 unscaled)
 *  with the file's shape, keeping only the first `limit` items along the
 *  first dimension when `limit` >= 0. Errors name the file: missing
 *  (KILN_NOT_FOUND), truncated or not idx (KILN_DATA_LOSS). Ownership: the
 *  caller owns `*out`. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_idx_read(const char *path,
                                                kiln_dtype_t dtype,
                                                int64_t limit,
                                                kiln_buffer_t **out);

#ifdef __cplusplus
}
#endif

#endif /* KILN_RUNTIME_RUNTIME_H */
