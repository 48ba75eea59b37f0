/*===- RuntimeCApi.c - The runtime header used from C99 -------------------===*\
|*                                                                            *|
|* Part of the Kiln project.                                                  *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* Compiled as strict C99 with warnings as errors: the runtime header must   *|
|* work from C. StatusTest.cpp calls kiln_test_c_api.                         *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "kiln/Runtime/Runtime.h"

#include <string.h>

int kiln_test_c_api(void);

/** Exercises statuses, buffers, devices and the pool from C; returns 0 on
 *  success or the line that failed. */
int kiln_test_c_api(void) {
  kiln_device_t cpu = {KILN_DEVICE_CPU, 0};
  kiln_device_t cuda = {KILN_DEVICE_CUDA, 0};
  int64_t shape[2] = {2, 3};
  kiln_buffer_t *buffer = NULL, *copy = NULL;
  kiln_status_t status;
  kiln_pool_stats_t stats;

  status = kiln_buffer_create_zeroed(cpu, KILN_I32, 2, shape, &buffer);
  if (status)
    return __LINE__;
  if (kiln_buffer_rank(buffer) != 2 || kiln_buffer_byte_size(buffer) != 24 ||
      kiln_buffer_element_count(buffer) != 6)
    return __LINE__;
  if (((const int32_t *)kiln_buffer_host_data(buffer))[5] != 0)
    return __LINE__;
  if (kiln_buffer_data(buffer) != kiln_buffer_host_data(buffer))
    return __LINE__;
  status = kiln_buffer_create(cpu, KILN_I32, 2, shape, &copy);
  if (status)
    return __LINE__;
  status = kiln_buffer_copy(copy, buffer);
  if (status || ((const int32_t *)kiln_buffer_data(copy))[5] != 0)
    return __LINE__;
  kiln_buffer_release(copy);
  kiln_buffer_release(buffer);

  /* Devices: the CPU is there, CUDA is not in this build. */
  if (kiln_device_count(KILN_DEVICE_CPU) != 1 ||
      strcmp(kiln_device_type_name(KILN_DEVICE_CUDA), "cuda") != 0)
    return __LINE__;
  status = kiln_device_check(cuda);
  if (kiln_status_code(status) != KILN_UNAVAILABLE)
    return __LINE__;
  kiln_status_free(status);

  status = kiln_status_create(KILN_NOT_FOUND, "no %s", "thing");
  status = kiln_status_annotate(status, "in C");
  if (kiln_status_code(status) != KILN_NOT_FOUND ||
      strcmp(kiln_status_message(status), "in C: no thing") != 0)
    return __LINE__;
  kiln_status_free(status);

  kiln_pool_stats(&stats);
  if (stats.allocations == 0)
    return __LINE__;
  return 0;
}
