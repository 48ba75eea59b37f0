//===- kiln-replay.cpp - Run an ahead-of-time library, check its outputs --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
//   kiln-replay libmodel.so [--entry NAME] [--input x.npy ...] [--synthetic]
//       [--repeat N] [--load-variables ckpt.safetensors] [--expect DIR]
//       [--rtol R] [--atol A] [--output-dir DIR] [--print-scalars] [--time]
//
// Runs an entry of a library that tensor-compile wrote, on the device it was
// compiled for, with only the Kiln runtime (no MLIR, no LLVM, no Python): the
// way to check compiled code on a machine that has a GPU but no compiler.
// Inputs come from .npy files and are copied to the entry's device; the
// variables are initialized there (or loaded from a checkpoint); the entry
// runs N times; the outputs are copied back, written to --output-dir as
// 0.npy, 1.npy, ... and compared with --expect DIR/0.npy, ...: floats within
// |got - want| <= atol + rtol * |want| (NaN where NaN is expected; by
// default rtol 1e-4 for f32, 1e-9 for f64, 1e-2 for f16 and bf16), integers
// and booleans exactly. It prints one line per output and exits 1 on a mismatch
// or an error (docs/gpu.md).
//
// For training and timing runs: an input whose first extent is k > 1 times
// the entry's is a data set of k batches, and call i takes batch i mod k
// (all batches are copied to the device first); --synthetic makes every
// input the entry declares from reproducible pseudo-random values (floats in
// [-1, 1), integers in [0, 10)) directly; --print-scalars prints each call's
// one-element outputs ("call 3: 2.30258512"); --time prints the median and
// the fastest wall time of a call, not counting the first (which loads the
// module's kernels), each call ending when its outputs are complete.
//
//===----------------------------------------------------------------------===//

#include "../common/Elements.h"
#include "kiln/Runtime/Runtime.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string library, entry, loadVariables, expect, outputDir;
  std::vector<std::string> inputs;
  int repeat = 1;
  double rtol = -1, atol = -1;
  bool synthetic = false, printScalars = false, time = false;
};

int usage() {
  std::fprintf(stderr,
               "usage: kiln-replay LIBRARY.so [--entry NAME] [--input X.npy]... "
               "[--repeat N] [--load-variables CKPT] [--expect DIR] "
               "[--rtol R] [--atol A] [--output-dir DIR] [--synthetic] "
               "[--print-scalars] [--time]\n");
  return 2;
}

/// Prints `status` with `what` and frees it; returns 1.
int fail(kiln_status_t status, const std::string &what) {
  std::fprintf(stderr, "kiln-replay: %s: %s\n", what.c_str(),
               kiln_status_message(status));
  kiln_status_free(status);
  return 1;
}

/// Compares output `index` with the expected array; prints one line.
bool compare(int index, kiln_buffer_t *got, kiln_buffer_t *want,
             const Options &options) {
  if (kiln_buffer_dtype(got) != kiln_buffer_dtype(want) ||
      kiln_buffer_rank(got) != kiln_buffer_rank(want) ||
      std::memcmp(kiln_buffer_shape(got), kiln_buffer_shape(want),
                  sizeof(int64_t) * kiln_buffer_rank(got)) != 0) {
    std::printf("output %d: MISMATCH: %s rank %d, expected %s rank %d\n", index,
                kiln_dtype_name(kiln_buffer_dtype(got)), kiln_buffer_rank(got),
                kiln_dtype_name(kiln_buffer_dtype(want)),
                kiln_buffer_rank(want));
    return false;
  }
  kiln_dtype_t dtype = kiln_buffer_dtype(got);
  bool isFloat = dtype == KILN_F32 || dtype == KILN_F64 || dtype == KILN_F16 ||
                 dtype == KILN_BF16;
  bool isHalf = dtype == KILN_F16 || dtype == KILN_BF16;
  double rtol = options.rtol >= 0 ? options.rtol
                : dtype == KILN_F64 ? 1e-9
                : isHalf            ? 1e-2
                                    : 1e-4;
  double atol = options.atol >= 0 ? options.atol
                : dtype == KILN_F64 ? 1e-12
                : isHalf            ? 1e-3
                                    : 1e-5;
  const void *g = kiln_buffer_host_data(got);
  const void *w = kiln_buffer_host_data(want);
  int64_t n = kiln_buffer_element_count(got), bad = 0, worst = -1;
  double worstError = 0;
  for (int64_t i = 0; i < n; ++i) {
    double a = kiln::tools::element(got, g, i), b = kiln::tools::element(want, w, i);
    bool ok;
    if (!isFloat)
      ok = a == b;
    else if (std::isnan(b))
      ok = std::isnan(a);
    else if (std::isinf(b))
      ok = a == b;
    else
      ok = std::fabs(a - b) <= atol + rtol * std::fabs(b);
    if (!ok) {
      double error = std::isnan(a) ? INFINITY : std::fabs(a - b);
      if (worst < 0 || error > worstError) {
        worst = i;
        worstError = error;
      }
      ++bad;
    }
  }
  if (bad == 0) {
    std::printf("output %d: ok (%s, %lld elements)\n", index,
                kiln_dtype_name(dtype), static_cast<long long>(n));
    return true;
  }
  std::printf("output %d: MISMATCH in %lld of %lld elements; worst at flat "
              "index %lld: got %.9g, expected %.9g\n",
              index, static_cast<long long>(bad), static_cast<long long>(n),
              static_cast<long long>(worst), kiln::tools::element(got, g, worst),
              kiln::tools::element(want, w, worst));
  return false;
}

/// A library tensor-compile wrote: its handle and symbol prefix (NAME_ for
/// libNAME.so), through which the runtime's kiln_entry_E and kiln_shape_E
/// names resolve to NAME_entry_E and NAME_shape_E.
struct Library {
  void *handle = nullptr;
  std::string prefix;
};

void *lookup(void *ctx, const char *symbol) {
  auto *library = static_cast<Library *>(ctx);
  std::string name = symbol;
  if (name.rfind("kiln_", 0) == 0)
    name = library->prefix + name.substr(5);
  return dlsym(library->handle, name.c_str());
}

void release(void *ctx) {
  auto *library = static_cast<Library *>(ctx);
  dlclose(library->handle);
  delete library;
}

/// Loads libNAME.so and makes an executable of its entries.
kiln_status_t load(const std::string &path, kiln_executable_t **out) {
  std::string file = path.substr(path.find_last_of('/') + 1);
  if (file.rfind("lib", 0) != 0 || file.size() < 7 ||
      file.compare(file.size() - 3, 3, ".so") != 0)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "%s is not named libNAME.so, as tensor-compile "
                              "names its libraries",
                              path.c_str());
  auto *library = new Library;
  library->prefix = file.substr(3, file.size() - 6) + "_";
  library->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library->handle) {
    delete library;
    return kiln_status_create(KILN_NOT_FOUND, "cannot load %s: %s",
                              path.c_str(), dlerror());
  }
  auto *manifest = static_cast<const char *>(
      dlsym(library->handle, (library->prefix + "manifest").c_str()));
  if (!manifest) {
    release(library);
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "%s has no %smanifest: not a library of "
                              "tensor-compile",
                              path.c_str(), library->prefix.c_str());
  }
  return kiln_executable_create(manifest, lookup, library, release, out);
}

/// A host buffer for input `input` of entry `entry`, filled with
/// reproducible pseudo-random values (--synthetic).
kiln_status_t synthetic(const kiln_executable_t *exe, int32_t entry,
                        int32_t input, kiln_buffer_t **out) {
  kiln_dtype_t dtype;
  int32_t rank;
  const int64_t *shape;
  kiln_entry_arg(exe, entry, 0, input, &dtype, &rank, &shape);
  for (int32_t d = 0; d < rank; ++d)
    if (shape[d] < 0)
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "--synthetic: input %d has an extent known "
                                "only at call time; give it with --input",
                                input);
  kiln_device_t host = {KILN_DEVICE_CPU, 0};
  if (kiln_status_t s = kiln_buffer_create(host, dtype, rank, shape, out))
    return s;
  void *data = kiln_buffer_data(*out);
  uint64_t state = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(input + 1);
  auto next = [&state] { // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (state * 0x2545f4914f6cdd1dull) >> 11; // 53 bits
  };
  int64_t n = kiln_buffer_element_count(*out);
  for (int64_t i = 0; i < n; ++i) {
    double u = static_cast<double>(next()) / 9007199254740992.0; // [0, 1)
    int64_t k = static_cast<int64_t>(u * 10);
    switch (dtype) {
    case KILN_F32:
      static_cast<float *>(data)[i] = static_cast<float>(2 * u - 1);
      break;
    case KILN_F64:
      static_cast<double *>(data)[i] = 2 * u - 1;
      break;
    case KILN_I1:
      static_cast<uint8_t *>(data)[i] = k & 1;
      break;
    case KILN_I32:
      static_cast<int32_t *>(data)[i] = static_cast<int32_t>(k);
      break;
    case KILN_I64:
      static_cast<int64_t *>(data)[i] = k;
      break;
    case KILN_I8:
    case KILN_UI8:
      static_cast<uint8_t *>(data)[i] = static_cast<uint8_t>(k);
      break;
    case KILN_I16:
    case KILN_UI16:
      static_cast<uint16_t *>(data)[i] = static_cast<uint16_t>(k);
      break;
    case KILN_UI32:
      static_cast<uint32_t *>(data)[i] = static_cast<uint32_t>(k);
      break;
    case KILN_F16:
    case KILN_BF16: {
      // Values with 7 significant bits are exact in both 16-bit formats.
      float f = std::ldexp(std::floor((2 * u - 1) * 128), -7);
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      uint16_t half;
      if (dtype == KILN_BF16) {
        half = static_cast<uint16_t>(bits >> 16);
      } else {
        int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
        uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
        half = f == 0 ? sign
                      : static_cast<uint16_t>(sign | (exponent << 10) |
                                              ((bits >> 13) & 0x3ff));
      }
      static_cast<uint16_t *>(data)[i] = half;
      break;
    }
    }
  }
  return nullptr;
}

/// Splits `data` into the batches entry input `input` takes when its first
/// extent is k > 1 times the entry's and the other extents agree; otherwise
/// `batches` is just `data` (retained).
kiln_status_t batches(const kiln_executable_t *exe, int32_t entry,
                      int32_t input, kiln_buffer_t *data,
                      std::vector<kiln_buffer_t *> &batches) {
  int32_t rank;
  const int64_t *shape;
  kiln_entry_arg(exe, entry, 0, input, nullptr, &rank, &shape);
  const int64_t *have = kiln_buffer_shape(data);
  bool split = rank >= 1 && rank == kiln_buffer_rank(data) && shape[0] > 0 &&
               have[0] > shape[0] && have[0] % shape[0] == 0;
  for (int32_t d = 1; split && d < rank; ++d)
    split = shape[d] == have[d];
  if (!split) {
    kiln_buffer_retain(data);
    batches.push_back(data);
    return nullptr;
  }
  size_t bytes = kiln_buffer_byte_size(data) /
                 static_cast<size_t>(have[0] / shape[0]);
  kiln_device_t host = {KILN_DEVICE_CPU, 0};
  for (int64_t k = 0; k < have[0] / shape[0]; ++k) {
    kiln_buffer_t *batch = nullptr;
    if (kiln_status_t s = kiln_buffer_create(host, kiln_buffer_dtype(data),
                                             rank, shape, &batch))
      return s;
    std::memcpy(kiln_buffer_data(batch),
                static_cast<const char *>(kiln_buffer_host_data(data)) +
                    bytes * static_cast<size_t>(k),
                bytes);
    batches.push_back(batch);
  }
  return nullptr;
}

int parse(int argc, char **argv, Options &options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *name) -> const char * {
      if (arg == name && i + 1 < argc)
        return argv[++i];
      std::string prefix = std::string(name) + "=";
      if (arg.rfind(prefix, 0) == 0)
        return argv[i] + prefix.size();
      return nullptr;
    };
    if (const char *v = value("--entry"))
      options.entry = v;
    else if (const char *v = value("--input"))
      options.inputs.push_back(v);
    else if (const char *v = value("--repeat"))
      options.repeat = std::atoi(v);
    else if (const char *v = value("--load-variables"))
      options.loadVariables = v;
    else if (const char *v = value("--expect"))
      options.expect = v;
    else if (const char *v = value("--output-dir"))
      options.outputDir = v;
    else if (const char *v = value("--rtol"))
      options.rtol = std::atof(v);
    else if (const char *v = value("--atol"))
      options.atol = std::atof(v);
    else if (arg == "--synthetic")
      options.synthetic = true;
    else if (arg == "--print-scalars")
      options.printScalars = true;
    else if (arg == "--time")
      options.time = true;
    else if (arg.rfind("--", 0) == 0 || !options.library.empty())
      return usage();
    else
      options.library = arg;
  }
  if (options.library.empty() || options.repeat < 1 ||
      (options.synthetic && !options.inputs.empty()))
    return usage();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options options;
  if (int rc = parse(argc, argv, options))
    return rc;
  kiln_executable_t *exe = nullptr;
  if (kiln_status_t s = load(options.library, &exe))
    return fail(s, "cannot load " + options.library);
  int32_t index = -1;
  if (options.entry.empty()) {
    if (kiln_executable_entry_count(exe) == 2 &&
        kiln_executable_find_entry(exe, "kiln_init_variables") >= 0)
      index = 1 - kiln_executable_find_entry(exe, "kiln_init_variables");
    else if (kiln_executable_entry_count(exe) == 1)
      index = 0;
    if (index < 0) {
      std::fprintf(stderr, "kiln-replay: %s has several entries; choose one "
                           "with --entry\n",
                   options.library.c_str());
      return 1;
    }
    options.entry = kiln_executable_entry_name(exe, index);
  } else {
    index = kiln_executable_find_entry(exe, options.entry.c_str());
  }
  if (index < 0) {
    std::fprintf(stderr, "kiln-replay: %s has no entry '%s'\n",
                 options.library.c_str(), options.entry.c_str());
    return 1;
  }
  kiln_device_t device = kiln_entry_device(exe, index);
  kiln_device_t host = {KILN_DEVICE_CPU, 0};
  // inputs[i][k]: batch k of input i, on the entry's device.
  std::vector<std::vector<kiln_buffer_t *>> inputs;
  std::vector<kiln_buffer_t *> onHost;
  if (options.synthetic) {
    for (int32_t i = 0; i < kiln_entry_input_count(exe, index); ++i) {
      onHost.push_back(nullptr);
      if (kiln_status_t s = synthetic(exe, index, i, &onHost.back()))
        return fail(s, "input " + std::to_string(i));
    }
  }
  for (const std::string &path : options.inputs) {
    onHost.push_back(nullptr);
    if (kiln_status_t s = kiln_npy_read(path.c_str(), &onHost.back()))
      return fail(s, "--input " + path);
  }
  for (size_t i = 0; i < onHost.size(); ++i) {
    std::vector<kiln_buffer_t *> split;
    kiln_status_t s =
        batches(exe, index, static_cast<int32_t>(i), onHost[i], split);
    kiln_buffer_release(onHost[i]);
    inputs.emplace_back();
    for (kiln_buffer_t *batch : split) {
      kiln_buffer_t *onDevice = nullptr;
      if (!s)
        s = kiln_buffer_copy_to(batch, device, &onDevice);
      kiln_buffer_release(batch);
      if (onDevice)
        inputs.back().push_back(onDevice);
    }
    if (s)
      return fail(s, "input " + std::to_string(i));
  }
  kiln_variables_t *store = nullptr;
  if (kiln_status_t s = kiln_variables_create(&store))
    return fail(s, "variables");
  if (!options.loadVariables.empty())
    if (kiln_status_t s = kiln_variables_load(
            store, options.loadVariables.c_str(), exe))
      return fail(s, "--load-variables");
  if (kiln_status_t s = kiln_variables_initialize(store, exe))
    return fail(s, "initializing the variables");
  int32_t numOutputs = kiln_entry_output_count(exe, index);
  std::vector<kiln_buffer_t *> outputs(static_cast<size_t>(numOutputs));
  std::vector<double> seconds;
  std::vector<kiln_buffer_t *> args(inputs.size());
  for (int call = 0; call < options.repeat; ++call) {
    for (kiln_buffer_t *&b : outputs) {
      kiln_buffer_release(b);
      b = nullptr;
    }
    for (size_t i = 0; i < inputs.size(); ++i)
      args[i] = inputs[i][static_cast<size_t>(call) % inputs[i].size()];
    auto start = std::chrono::steady_clock::now();
    if (kiln_status_t s = kiln_executable_invoke_with_variables(
            exe, options.entry.c_str(), static_cast<int32_t>(args.size()),
            args.data(), numOutputs, outputs.data(), store))
      return fail(s, "call " + std::to_string(call + 1) + " of '" +
                         options.entry + "'");
    seconds.push_back(std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count());
    if (options.printScalars)
      for (int32_t i = 0; i < numOutputs; ++i) {
        if (kiln_buffer_element_count(outputs[i]) != 1)
          continue;
        kiln_buffer_t *got = nullptr;
        if (kiln_status_t s = kiln_buffer_copy_to(outputs[i], host, &got))
          return fail(s, "output " + std::to_string(i));
        std::printf("call %d: output %d: %.9g\n", call + 1, i,
                    kiln::tools::element(got, kiln_buffer_host_data(got), 0));
        kiln_buffer_release(got);
      }
  }
  if (options.time) {
    // The first call loads the kernels and fills the pools: not counted
    // unless it is the only one.
    std::vector<double> timed(seconds.size() > 1 ? seconds.begin() + 1
                                                 : seconds.begin(),
                              seconds.end());
    std::sort(timed.begin(), timed.end());
    std::printf("time: median %.6f ms, fastest %.6f ms over %zu calls "
                "(first call %.3f ms)\n",
                1e3 * timed[timed.size() / 2], 1e3 * timed.front(),
                timed.size(), 1e3 * seconds.front());
  }
  bool allOk = true;
  for (int32_t i = 0; i < numOutputs; ++i) {
    kiln_buffer_t *got = nullptr;
    if (kiln_status_t s = kiln_buffer_copy_to(outputs[i], host, &got))
      return fail(s, "output " + std::to_string(i));
    std::string name = "/" + std::to_string(i) + ".npy";
    if (!options.outputDir.empty())
      if (kiln_status_t s =
              kiln_npy_write((options.outputDir + name).c_str(), got))
        return fail(s, "output " + std::to_string(i));
    if (!options.expect.empty()) {
      kiln_buffer_t *want = nullptr;
      if (kiln_status_t s =
              kiln_npy_read((options.expect + name).c_str(), &want))
        return fail(s, "expected output " + std::to_string(i));
      allOk = compare(i, got, want, options) && allOk;
      kiln_buffer_release(want);
    }
    kiln_buffer_release(got);
  }
  for (kiln_buffer_t *b : outputs)
    kiln_buffer_release(b);
  for (std::vector<kiln_buffer_t *> &input : inputs)
    for (kiln_buffer_t *b : input)
      kiln_buffer_release(b);
  kiln_variables_destroy(store);
  kiln_executable_release(exe);
  return allOk ? 0 : 1;
}
