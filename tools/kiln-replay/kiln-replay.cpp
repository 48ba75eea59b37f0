//===- kiln-replay.cpp - Run an ahead-of-time library, check its outputs --===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
//   kiln-replay libmodel.so [--entry NAME] [--input x.npy ...] [--repeat N]
//       [--load-variables ckpt.safetensors] [--expect DIR] [--rtol R]
//       [--atol A] [--output-dir DIR]
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
//===----------------------------------------------------------------------===//

#include "../common/Elements.h"
#include "kiln/Runtime/Runtime.h"

#include <dlfcn.h>

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
};

int usage() {
  std::fprintf(stderr,
               "usage: kiln-replay LIBRARY.so [--entry NAME] [--input X.npy]... "
               "[--repeat N] [--load-variables CKPT] [--expect DIR] "
               "[--rtol R] [--atol A] [--output-dir DIR]\n");
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
    else if (arg.rfind("--", 0) == 0 || !options.library.empty())
      return usage();
    else
      options.library = arg;
  }
  if (options.library.empty() || options.repeat < 1)
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
  std::vector<kiln_buffer_t *> inputs;
  for (const std::string &path : options.inputs) {
    kiln_buffer_t *onHost = nullptr, *onDevice = nullptr;
    if (kiln_status_t s = kiln_npy_read(path.c_str(), &onHost))
      return fail(s, "--input " + path);
    kiln_status_t s = kiln_buffer_copy_to(onHost, device, &onDevice);
    kiln_buffer_release(onHost);
    if (s)
      return fail(s, "--input " + path);
    inputs.push_back(onDevice);
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
  for (int call = 0; call < options.repeat; ++call) {
    for (kiln_buffer_t *&b : outputs) {
      kiln_buffer_release(b);
      b = nullptr;
    }
    if (kiln_status_t s = kiln_executable_invoke_with_variables(
            exe, options.entry.c_str(), static_cast<int32_t>(inputs.size()),
            inputs.data(), numOutputs, outputs.data(), store))
      return fail(s, "call " + std::to_string(call + 1) + " of '" +
                         options.entry + "'");
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
  for (kiln_buffer_t *b : inputs)
    kiln_buffer_release(b);
  kiln_variables_destroy(store);
  kiln_executable_release(exe);
  return allOk ? 0 : 1;
}
