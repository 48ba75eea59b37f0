/*===- Runtime.h - Kiln runtime C API ----------------------------*- C -*-===*\
|*                                                                            *|
|* Part of the Kiln project.                                                  *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* The runtime runs compiled Kiln modules. It has no MLIR or LLVM inside: an  *|
|* ahead-of-time compiled library needs only this runtime, and the JIT hands  *|
|* its code to the same API.                                                  *|
|*                                                                            *|
|* Conventions:                                                               *|
|*  - A kiln_status_t of NULL means success. A non-NULL status carries a code *|
|*    and a message; whoever receives it owns it and frees it with            *|
|*    kiln_status_free.                                                       *|
|*  - Objects (buffers, executables) are reference counted: create/load       *|
|*    returns a reference (count 1) that the caller releases; retain adds one.*|
|*  - Thread safety is stated per function. Reference counting and the       *|
|*    buffer pool are thread-safe.                                            *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef KILN_RUNTIME_RUNTIME_H
#define KILN_RUNTIME_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#if defined(KILN_RUNTIME_BUILDING)
#define KILN_RUNTIME_EXPORT __attribute__((visibility("default")))
#else
#define KILN_RUNTIME_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===
 * Status
 *===----------------------------------------------------------------------===*/

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
  KILN_UNAVAILABLE = 8, /* e.g. a device that is not present */
} kiln_status_code_t;

/** Creates a status with a printf-style message. Returns NULL for KILN_OK.
 *  The caller owns the result. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_status_create(kiln_status_code_t code,
                                                     const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/** Prefixes the message of `status` with "context: " and returns it (the same
 *  object; NULL stays NULL). Ownership passes through. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_status_annotate(kiln_status_t status,
                                                       const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/** The code of a status (KILN_OK for NULL). Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_code_t kiln_status_code(kiln_status_t status);

/** The message of a status ("" for NULL), valid until the status is freed.
 *  Thread-safe. */
KILN_RUNTIME_EXPORT const char *kiln_status_message(kiln_status_t status);

/** Frees a status; NULL is allowed. Not safe to call twice. */
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
} kiln_dtype_t;

/** Bytes per element. Thread-safe. */
KILN_RUNTIME_EXPORT size_t kiln_dtype_size(kiln_dtype_t dtype);
/** "f32", "f64", "f16", "bf16", "i1", "i32" or "i64" ("?" if invalid).
 *  Thread-safe. */
KILN_RUNTIME_EXPORT const char *kiln_dtype_name(kiln_dtype_t dtype);
/** Parses a name from kiln_dtype_name. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_dtype_parse(const char *name,
                                                   kiln_dtype_t *out);

typedef enum { KILN_DEVICE_CPU = 0, KILN_DEVICE_CUDA = 1 } kiln_device_type_t;

typedef struct {
  kiln_device_type_t type;
  int32_t ordinal;
} kiln_device_t;

/*===----------------------------------------------------------------------===
 * Buffers
 *===----------------------------------------------------------------------===*/

/** A dense, row-major tensor in some device's memory. */
typedef struct kiln_buffer_s kiln_buffer_t;

#define KILN_MAX_RANK 16

/** Creates a buffer with uninitialized contents, 64-byte aligned, from the
 *  process-wide pool. Fails for a negative extent, a rank above
 *  KILN_MAX_RANK, a size that overflows, or a device that is not available
 *  (only KILN_DEVICE_CPU is implemented). The caller releases `*out`.
 *  Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_create(kiln_device_t device,
                                                     kiln_dtype_t dtype,
                                                     int32_t rank,
                                                     const int64_t *shape,
                                                     kiln_buffer_t **out);

/** As kiln_buffer_create, with every byte zero. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_create_zeroed(
    kiln_device_t device, kiln_dtype_t dtype, int32_t rank,
    const int64_t *shape, kiln_buffer_t **out);

/** Wraps host memory the caller owns (borrowed: not copied, not freed by the
 *  runtime). When the last reference goes, `release_fn(ctx, data)` is called
 *  if not NULL. `data` must stay valid until then. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_buffer_wrap_host(
    kiln_dtype_t dtype, int32_t rank, const int64_t *shape, void *data,
    void (*release_fn)(void *ctx, void *data), void *ctx, kiln_buffer_t **out);

/** Adds a reference. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_buffer_retain(kiln_buffer_t *buffer);
/** Drops a reference; the last one returns pooled memory to the pool. NULL is
 *  allowed. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_buffer_release(kiln_buffer_t *buffer);

/* Accessors: thread-safe (a buffer's metadata never changes). */
KILN_RUNTIME_EXPORT kiln_dtype_t kiln_buffer_dtype(const kiln_buffer_t *buffer);
KILN_RUNTIME_EXPORT int32_t kiln_buffer_rank(const kiln_buffer_t *buffer);
/** The extents (rank entries), valid while the buffer lives. */
KILN_RUNTIME_EXPORT const int64_t *
kiln_buffer_shape(const kiln_buffer_t *buffer);
KILN_RUNTIME_EXPORT int64_t
kiln_buffer_element_count(const kiln_buffer_t *buffer);
KILN_RUNTIME_EXPORT size_t kiln_buffer_byte_size(const kiln_buffer_t *buffer);
KILN_RUNTIME_EXPORT kiln_device_t
kiln_buffer_device(const kiln_buffer_t *buffer);
/** Host pointer to the contents, or NULL if the memory is not host memory.
 *  Reading and writing the contents is the caller's to synchronize. */
KILN_RUNTIME_EXPORT void *kiln_buffer_host_data(kiln_buffer_t *buffer);

/*===----------------------------------------------------------------------===
 * The buffer pool
 *===----------------------------------------------------------------------===*/

/* Freed pooled buffers keep their memory, grouped by size class, and the
 * next buffer of that class reuses it: repeated calls with the same shapes
 * touch no fresh pages. At most KILN_POOL_LIMIT_MB (environment, default
 * 1024) megabytes stay cached; beyond that, memory is freed. */

typedef struct {
  uint64_t allocations;  /* blocks taken from the system */
  uint64_t reuses;       /* blocks served from the cache */
  uint64_t bytes_cached; /* bytes held for reuse */
  uint64_t bytes_in_use; /* bytes of live pooled buffers */
} kiln_pool_stats_t;

/** Current pool counters. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_pool_stats(kiln_pool_stats_t *out);
/** Frees every cached block. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_pool_trim(void);

/*===----------------------------------------------------------------------===
 * Executables
 *===----------------------------------------------------------------------===*/

/* A compiled module exports, for each entry point NAME,
 *
 *   int32_t kiln_entry_NAME(void **args);
 *
 * taking the data pointers of the inputs and then of the outputs (dense,
 * row-major, of the declared dtype and shape; outputs are written in full)
 * and returning 0 on success, plus `kiln_manifest`, a NUL-terminated text
 * that declares the entries (see docs/runtime.md):
 *
 *   kiln-manifest 1
 *   entry NAME NUM_INPUTS NUM_OUTPUTS
 *   in DTYPE RANK D0 D1 ...
 *   out DTYPE RANK D0 D1 ...
 *   end
 */

typedef struct kiln_executable_s kiln_executable_t;

/** Resolves a symbol of compiled code; NULL if absent. */
typedef void *(*kiln_symbol_lookup_fn)(void *ctx, const char *symbol);

/** Builds an executable from a manifest and a symbol lookup (how the JIT
 *  hands over its code). `release_fn(ctx)`, if not NULL, runs when the
 *  executable is destroyed (also when this call fails). The caller releases
 *  `*out`. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_executable_create(
    const char *manifest, kiln_symbol_lookup_fn lookup, void *ctx,
    void (*release_fn)(void *ctx), kiln_executable_t **out);

/** Loads an ahead-of-time compiled shared library with dlopen. Errors name
 *  the path and the loader's message. The caller releases `*out`.
 *  Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t
kiln_executable_load_library(const char *path, kiln_executable_t **out);

/** Adds / drops a reference. Thread-safe. */
KILN_RUNTIME_EXPORT void kiln_executable_retain(kiln_executable_t *executable);
KILN_RUNTIME_EXPORT void kiln_executable_release(kiln_executable_t *executable);

/* Signature queries: thread-safe; strings and shapes live as long as the
 * executable. */
KILN_RUNTIME_EXPORT int32_t
kiln_executable_entry_count(const kiln_executable_t *executable);
KILN_RUNTIME_EXPORT const char *
kiln_executable_entry_name(const kiln_executable_t *executable, int32_t index);
/** The index of an entry, or -1 if there is none with that name. */
KILN_RUNTIME_EXPORT int32_t kiln_executable_find_entry(
    const kiln_executable_t *executable, const char *name);
KILN_RUNTIME_EXPORT int32_t
kiln_entry_input_count(const kiln_executable_t *executable, int32_t entry);
KILN_RUNTIME_EXPORT int32_t
kiln_entry_output_count(const kiln_executable_t *executable, int32_t entry);
/** Describes input (is_output = 0) or output `index` of `entry`. */
KILN_RUNTIME_EXPORT void kiln_entry_arg(const kiln_executable_t *executable,
                                        int32_t entry, int is_output,
                                        int32_t index, kiln_dtype_t *dtype,
                                        int32_t *rank, const int64_t **shape);

/** Calls entry `name`. Every input, and every non-NULL output, must match
 *  the declared dtype, shape and device; a mismatch is KILN_INVALID_ARGUMENT
 *  naming the entry and the argument. A NULL `outputs[i]` is allocated from
 *  the pool and stored there (the caller releases it). Inputs are not
 *  modified. Thread-safe as long as no two concurrent calls share an output
 *  buffer; compiled entries keep no state. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_executable_invoke(
    kiln_executable_t *executable, const char *name, int32_t num_inputs,
    kiln_buffer_t *const *inputs, int32_t num_outputs, kiln_buffer_t **outputs);

/*===----------------------------------------------------------------------===
 * NumPy .npy files
 *===----------------------------------------------------------------------===*/

/** Reads a .npy file (format 1.0-3.0, C order, little-endian <f4 <f8 <f2 |b1
 *  <i4 <i8) into a new host buffer. A malformed, truncated or unsupported
 *  file is an error naming the file and the problem. Thread-safe. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_npy_read(const char *path,
                                                kiln_buffer_t **out);

/** Writes a host buffer as .npy (format 1.0), atomically: a temporary file
 *  in the same directory, flushed to disk, then renamed over `path`. bf16
 *  has no NumPy dtype and is refused. Thread-safe for distinct paths. */
KILN_RUNTIME_EXPORT kiln_status_t kiln_npy_write(const char *path,
                                                 kiln_buffer_t *buffer);

#ifdef __cplusplus
}
#endif

#endif /* KILN_RUNTIME_RUNTIME_H */
