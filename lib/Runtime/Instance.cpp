//===- Instance.cpp - One model: an executable and its variable store -----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// What the header of an ahead-of-time compiled library wraps: the library's
// entries (an executable), a variable store owned by the instance, and the
// message of the last error, behind calls that return plain status codes
// and take raw pointers to dense arrays of the manifest's shapes.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <cstring>
#include <new>
#include <string>
#include <vector>

struct kiln_instance_s {
  kiln_executable_t *executable = nullptr;
  kiln_variables_t *variables = nullptr;
  std::string error;
};

/// Records `status` as the instance's last error (or clears it) and returns
/// its code.
static int32_t report(kiln_instance_t *instance, kiln_status_t status) {
  int32_t code = static_cast<int32_t>(kiln_status_code(status));
  instance->error = status ? kiln_status_message(status) : "";
  kiln_status_free(status);
  return code;
}

/// Runs `fn(path)` on an instance's store: load or save.
template <typename Fn>
static int32_t withPath(kiln_instance_t *instance, const char *path,
                        const char *what, Fn fn) {
  if (!instance)
    return KILN_INVALID_ARGUMENT;
  if (!path)
    return report(instance, kiln_status_create(KILN_INVALID_ARGUMENT,
                                               "%s: the path is NULL", what));
  return report(instance, fn(path));
}

extern "C" {

kiln_status_t kiln_instance_create(const char *manifest,
                                   kiln_symbol_lookup_fn lookup, void *ctx,
                                   kiln_instance_t **out) {
  if (!out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_instance_create: out is NULL");
  *out = nullptr;
  auto *instance = new (std::nothrow) kiln_instance_s();
  if (!instance)
    return kiln_status_create(KILN_OUT_OF_MEMORY, "out of memory");
  kiln_status_t status = kiln_executable_create(manifest, lookup, ctx, nullptr,
                                                &instance->executable);
  if (!status)
    status = kiln_variables_create(&instance->variables);
  if (status) {
    kiln_instance_destroy(instance);
    return status;
  }
  *out = instance;
  return nullptr;
}

void kiln_instance_destroy(kiln_instance_t *instance) {
  if (!instance)
    return;
  kiln_variables_destroy(instance->variables);
  kiln_executable_release(instance->executable);
  delete instance;
}

const char *kiln_instance_error(const kiln_instance_t *instance) {
  return instance ? instance->error.c_str() : "no instance";
}

kiln_executable_t *kiln_instance_executable(kiln_instance_t *instance) {
  return instance ? instance->executable : nullptr;
}

kiln_variables_t *kiln_instance_variables(kiln_instance_t *instance) {
  return instance ? instance->variables : nullptr;
}

int32_t kiln_instance_initialize(kiln_instance_t *instance) {
  if (!instance)
    return KILN_INVALID_ARGUMENT;
  return report(instance, kiln_variables_initialize(instance->variables,
                                                    instance->executable));
}

int32_t kiln_instance_load(kiln_instance_t *instance, const char *path) {
  return withPath(instance, path, "load", [&](const char *p) {
    return kiln_variables_load(instance->variables, p, instance->executable);
  });
}

int32_t kiln_instance_save(kiln_instance_t *instance, const char *path) {
  return withPath(instance, path, "save", [&](const char *p) {
    return kiln_variables_save(instance->variables, p, 0, nullptr);
  });
}

/// Finds variable `name` and checks that `bytes` is its size.
static kiln_status_t findVariable(kiln_instance_t *instance, const char *name,
                                  size_t bytes, kiln_buffer_t **out) {
  *out = name ? kiln_variables_find(instance->variables, name) : nullptr;
  if (!*out)
    return kiln_status_create(KILN_NOT_FOUND,
                              "no variable '%s' (initialize the variables or "
                              "load a checkpoint first)",
                              name ? name : "(null)");
  size_t size = kiln_buffer_byte_size(*out);
  if (bytes != size)
    return kiln_status_create(
        KILN_INVALID_ARGUMENT,
        "variable '%s' is %s %s (%zu bytes) but %zu bytes were given", name,
        kiln_dtype_name(kiln_buffer_dtype(*out)),
        kiln::runtime::formatShape(kiln_buffer_shape(*out),
                                   kiln_buffer_rank(*out))
            .c_str(),
        size, bytes);
  return nullptr;
}

/// Copies buffer `b` (on any device) into the caller's host array `data`
/// of its size, or the array into it.
static kiln_status_t copyWithHost(kiln_buffer_t *b, void *data, bool toHost) {
  if (kiln_buffer_byte_size(b) == 0)
    return nullptr;
  kiln_buffer_t *host = nullptr;
  if (kiln_status_t s =
          kiln_buffer_wrap_host(kiln_buffer_dtype(b), kiln_buffer_rank(b),
                                kiln_buffer_shape(b), data, nullptr, nullptr,
                                &host))
    return s;
  kiln_status_t s = toHost ? kiln_buffer_copy(host, b) : kiln_buffer_copy(b, host);
  kiln_buffer_release(host);
  return s;
}

int32_t kiln_instance_get_variable(kiln_instance_t *instance,
                                   const char *name, void *data,
                                   size_t bytes) {
  if (!instance)
    return KILN_INVALID_ARGUMENT;
  kiln_buffer_t *b = nullptr;
  if (kiln_status_t s = findVariable(instance, name, bytes, &b))
    return report(instance, s);
  return report(instance, copyWithHost(b, data, /*toHost=*/true));
}

int32_t kiln_instance_set_variable(kiln_instance_t *instance,
                                   const char *name, const void *data,
                                   size_t bytes) {
  if (!instance)
    return KILN_INVALID_ARGUMENT;
  kiln_buffer_t *b = nullptr;
  if (kiln_status_t s = findVariable(instance, name, bytes, &b))
    return report(instance, s);
  return report(instance,
                copyWithHost(b, const_cast<void *>(data), /*toHost=*/false));
}

int32_t kiln_instance_call(kiln_instance_t *instance, const char *entry,
                           void *const *args) {
  if (!instance)
    return KILN_INVALID_ARGUMENT;
  kiln_executable_t *exe = instance->executable;
  int32_t index = kiln_executable_find_entry(exe, entry);
  if (index < 0)
    return report(instance,
                  kiln_status_create(KILN_NOT_FOUND, "no entry named '%s'",
                                     entry ? entry : "(null)"));
  int32_t numIn = kiln_entry_input_count(exe, index);
  int32_t numOut = kiln_entry_output_count(exe, index);
  // Wrap the caller's arrays (no copies): inputs, then outputs.
  std::vector<kiln_buffer_t *> buffers(static_cast<size_t>(numIn + numOut),
                                       nullptr);
  kiln_status_t status = nullptr;
  for (int32_t i = 0; i < numIn + numOut && !status; ++i) {
    bool isOutput = i >= numIn;
    int32_t k = isOutput ? i - numIn : i;
    kiln_dtype_t dtype;
    int32_t rank;
    const int64_t *shape;
    kiln_entry_arg(exe, index, isOutput, k, &dtype, &rank, &shape);
    for (int32_t d = 0; d < rank && !status; ++d)
      if (shape[d] < 0)
        status = kiln_status_create(
            KILN_UNIMPLEMENTED,
            "entry '%s': %s #%d has an open extent; call it through "
            "kiln_executable_invoke with buffers",
            entry, isOutput ? "output" : "input", k);
    if (!status && !args[i])
      status = kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': %s #%d is NULL", entry,
                                  isOutput ? "output" : "input", k);
    if (!status)
      status = kiln_buffer_wrap_host(dtype, rank, shape, args[i], nullptr,
                                     nullptr, &buffers[static_cast<size_t>(i)]);
  }
  // An entry on a GPU gets copies of the inputs in its memory and writes
  // its outputs there (allocated by the call); they are copied back into
  // the caller's arrays.
  kiln_device_t device = kiln_entry_device(exe, index);
  bool staged = device.type != KILN_DEVICE_CPU;
  std::vector<kiln_buffer_t *> onDevice;
  if (!status && staged)
    status = kiln::runtime::checkEntryDevice(exe, index);
  if (!status && staged) {
    onDevice.assign(buffers.size(), nullptr);
    for (int32_t i = 0; i < numIn && !status; ++i)
      status = kiln_buffer_copy_to(buffers[static_cast<size_t>(i)], device,
                                   &onDevice[static_cast<size_t>(i)]);
  }
  std::vector<kiln_buffer_t *> &called = staged ? onDevice : buffers;
  if (!status)
    status = kiln_executable_invoke_with_variables(
        exe, entry, numIn, called.data(), numOut, called.data() + numIn,
        instance->variables);
  for (int32_t i = numIn; staged && i < numIn + numOut && !status; ++i)
    status = kiln_buffer_copy(buffers[static_cast<size_t>(i)],
                              onDevice[static_cast<size_t>(i)]);
  for (kiln_buffer_t *b : buffers)
    kiln_buffer_release(b);
  for (kiln_buffer_t *b : onDevice)
    kiln_buffer_release(b);
  return report(instance, status);
}

} // extern "C"
