/* Trains the MLP of mlp.mlir on Fashion-MNIST through the generated C
 * interface of libmlp.so: no Python, no MLIR, no LLVM at run time -- just
 * the library, its header and the Kiln runtime.
 *
 *   train [--epochs N] [--limit N] [--checkpoint PATH] [--load PATH]
 *         [--data DIR]
 *
 * Loads the Debian package dataset-fashion-mnist (idx.gz files, read with
 * the runtime's kiln_idx_read), trains with the compiled train_step (Adam,
 * batches of 64), evaluates with the compiled predict on the 10000 test
 * images and saves a safetensors checkpoint. */

#include "mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != 0) {                                                       \
      fprintf(stderr, "%s failed: %s\n", #call, mlp_error(model));           \
      mlp_destroy(model);                                                    \
      return 1;                                                              \
    }                                                                        \
  } while (0)

/* Reads an idx.gz file as `dtype` (the first `limit` items; -1: all). */
static kiln_buffer_t *read_idx(const char *dir, const char *name,
                               kiln_dtype_t dtype, int64_t limit) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  kiln_buffer_t *b = NULL;
  kiln_status_t s = kiln_idx_read(path, dtype, limit, &b);
  if (s) {
    fprintf(stderr, "%s\n", kiln_status_message(s));
    kiln_status_free(s);
    return NULL;
  }
  return b;
}

int main(int argc, char **argv) {
  int epochs = 1;
  int64_t limit = -1;
  const char *checkpoint = "mlp.safetensors";
  const char *load = NULL; /* start from this checkpoint */
  const char *data = "/usr/share/datasets/fashion-mnist";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--epochs"))
      epochs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--limit"))
      limit = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--checkpoint"))
      checkpoint = argv[i + 1];
    else if (!strcmp(argv[i], "--load"))
      load = argv[i + 1];
    else if (!strcmp(argv[i], "--data"))
      data = argv[i + 1];
  }

  kiln_buffer_t *train_x = read_idx(data, "train-images-idx3-ubyte.gz", KILN_F32, limit);
  kiln_buffer_t *train_y = read_idx(data, "train-labels-idx1-ubyte.gz", KILN_I32, limit);
  kiln_buffer_t *test_x = read_idx(data, "t10k-images-idx3-ubyte.gz", KILN_F32, -1);
  kiln_buffer_t *test_y = read_idx(data, "t10k-labels-idx1-ubyte.gz", KILN_I32, -1);
  if (!train_x || !train_y || !test_x || !test_y)
    return 1;
  const float *images = kiln_buffer_host_data(train_x);
  const int32_t *labels = kiln_buffer_host_data(train_y);
  int64_t n = kiln_buffer_shape(train_y)[0];

  char error[512];
  mlp_t *model = mlp_create(error, sizeof error);
  if (!model) {
    fprintf(stderr, "cannot create the model: %s\n", error);
    return 1;
  }
  if (load) {
    CHECK(mlp_load_checkpoint(model, load));
  } else {
    CHECK(mlp_init_variables(model)); /* initializers of mlp.mlir */
    CHECK(mlp_initialize(model));     /* its `initialize` entry: Glorot */
  }

  /* Batches of 64 consecutive images of a shuffled order. */
  int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
  float *batch_x = malloc(sizeof(float) * 64 * 784);
  int32_t batch_y[64];
  srand(1);
  for (int64_t i = 0; i < n; ++i)
    order[i] = i;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (int64_t i = n - 1; i > 0; --i) {
      int64_t j = rand() % (i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    double total = 0;
    int64_t steps = n / 64;
    for (int64_t s = 0; s < steps; ++s) {
      for (int k = 0; k < 64; ++k) {
        int64_t row = order[s * 64 + k];
        memcpy(batch_x + k * 784, images + row * 784, sizeof(float) * 784);
        batch_y[k] = labels[row];
      }
      float loss;
      CHECK(mlp_train_step(model, batch_x, batch_y, &loss));
      total += loss;
    }
    printf("epoch %d: mean loss %.4f over %lld steps\n", epoch + 1,
           steps ? total / (double)steps : 0.0, (long long)steps);
  }

  /* Accuracy on the 10000 test images, 1000 at a time. */
  const float *tx = kiln_buffer_host_data(test_x);
  const int32_t *ty = kiln_buffer_host_data(test_y);
  int64_t predicted[1000], correct = 0;
  for (int b = 0; b < 10; ++b) {
    CHECK(mlp_predict(model, tx + (int64_t)b * 1000 * 784, predicted));
    for (int k = 0; k < 1000; ++k)
      correct += predicted[k] == ty[b * 1000 + k];
  }
  printf("test accuracy %.4f\n", (double)correct / 10000.0);
  CHECK(mlp_save_checkpoint(model, checkpoint));
  printf("checkpoint: %s\n", checkpoint);

  /* A fresh instance restored from the checkpoint predicts the same. */
  mlp_t *restored = mlp_create(error, sizeof error);
  int64_t again[1000];
  int same = restored && mlp_load_checkpoint(restored, checkpoint) == 0 &&
             mlp_predict(restored, tx, again) == 0 &&
             mlp_predict(model, tx, predicted) == 0 &&
             memcmp(again, predicted, sizeof again) == 0;
  printf("restored model predicts the same: %s\n", same ? "yes" : "no");
  mlp_destroy(restored);

  free(order);
  free(batch_x);
  kiln_buffer_release(train_x);
  kiln_buffer_release(train_y);
  kiln_buffer_release(test_x);
  kiln_buffer_release(test_y);
  mlp_destroy(model);
  return same ? 0 : 1;
}
