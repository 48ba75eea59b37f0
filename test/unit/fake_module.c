/* A hand-written "compiled module" for the runtime tests: what an
 * ahead-of-time compiled Kiln library exports, without any compiler. */
#include <stdint.h>

const char kiln_manifest[] = "kiln-manifest 1\n"
                             "entry scale 2 1\n"
                             "in f32 1 4\n"
                             "in f32 0\n"
                             "out f32 1 4\n"
                             "end\n";

int32_t kiln_entry_scale(void **args) {
  const float *x = (const float *)args[0];
  const float *s = (const float *)args[1];
  float *y = (float *)args[2];
  for (int i = 0; i < 4; ++i)
    y[i] = x[i] * *s;
  return 0;
}
