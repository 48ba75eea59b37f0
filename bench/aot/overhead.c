/* Per-call overhead of an ahead-of-time compiled entry: the same 4-float
 * entry called through the generated header (kiln_instance_call: argument
 * checks, buffer wrapping, variable binding) and through the raw ABI
 * (tiny_entry_tiny with the data pointers). Prints nanoseconds per call. */
#define _POSIX_C_SOURCE 199309L
#include "tiny.h"

#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
  tiny_t *model = tiny_create(NULL, 0);
  if (!model || tiny_init_variables(model) != 0)
    return 1;
  float x[4] = {1, 2, 3, 4}, y[4], bias[4];
  tiny_get_variable(model, "bias", bias, sizeof bias);
  const int calls = 1000000;
  double best_api = 1e9, best_raw = 1e9;
  for (int round = 0; round < 5; ++round) {
    double t0 = now();
    for (int i = 0; i < calls; ++i)
      tiny_tiny(model, x, y);
    double t1 = now();
    void *args[] = {x, y, bias};
    for (int i = 0; i < calls; ++i)
      tiny_entry_tiny(args, NULL);
    double t2 = now();
    if ((t1 - t0) / calls < best_api)
      best_api = (t1 - t0) / calls;
    if ((t2 - t1) / calls < best_raw)
      best_raw = (t2 - t1) / calls;
  }
  printf("through the header (checked): %.0f ns/call\n", best_api * 1e9);
  printf("raw entry ABI:                %.0f ns/call\n", best_raw * 1e9);
  printf("y = [%g %g %g %g]\n", y[0], y[1], y[2], y[3]);
  tiny_destroy(model);
  return 0;
}
