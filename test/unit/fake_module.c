/*===- fake_module.c - A hand-written Kiln module for runtime tests -------===*\
|*                                                                            *|
|* Part of the Kiln project.                                                  *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* What an ahead-of-time compiled Kiln library exports, without a compiler:   *|
|* the manifest and one entry point, scale(x: f32[4], s: f32[]) -> f32[4].    *|
|* Built with KILN_FAKE_MODULE_BROKEN, its manifest also declares an entry    *|
|* whose symbol does not exist.                                               *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include <stdint.h>

#define KILN_FAKE_EXPORT __attribute__((visibility("default")))

KILN_FAKE_EXPORT const char kiln_manifest[] = "kiln-manifest 1\n"
                                              "entry scale 2 1\n"
                                              "in f32 1 4\n"
                                              "in f32 0\n"
                                              "out f32 1 4\n"
                                              "end\n"
#ifdef KILN_FAKE_MODULE_BROKEN
                                              "entry missing 0 0\n"
                                              "end\n"
#endif
    ;

/** y = x * s. */
KILN_FAKE_EXPORT int32_t kiln_entry_scale(void **args, const int64_t *dims) {
  (void)dims;
  const float *x = (const float *)args[0];
  const float *s = (const float *)args[1];
  float *y = (float *)args[2];
  for (int i = 0; i < 4; ++i)
    y[i] = x[i] * *s;
  return 0;
}
