//===- Executable.cpp - Kiln executables: manifest, loading, invocation
//----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <sstream>

using kiln::runtime::formatShape;

namespace {

struct ArgSpec {
  kiln_dtype_t dtype;
  std::vector<int64_t> shape;
};

using EntryFn = int32_t (*)(void **);

struct Entry {
  std::string name;
  std::vector<ArgSpec> inputs, outputs;
  EntryFn fn = nullptr;
};

/// Parses the manifest text; see Runtime.h for the format.
kiln_status_t parseManifest(const char *text, std::vector<Entry> &entries) {
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  auto bad = [&](const char *why) {
    return kiln_status_create(KILN_DATA_LOSS,
                              "malformed kiln manifest, line %d ('%s'): %s",
                              lineNo, line.c_str(), why);
  };
  if (!std::getline(in, line) || (++lineNo, line != "kiln-manifest 1"))
    return bad("expected the header 'kiln-manifest 1'");
  Entry *current = nullptr;
  size_t inputsLeft = 0, outputsLeft = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.empty())
      continue;
    std::istringstream words(line);
    std::string keyword;
    words >> keyword;
    if (keyword == "entry") {
      if (current)
        return bad("'entry' before the previous entry's 'end'");
      Entry e;
      long long nIn = -1, nOut = -1;
      if (!(words >> e.name >> nIn >> nOut) || nIn < 0 || nOut < 0)
        return bad("expected 'entry NAME INPUTS OUTPUTS'");
      entries.push_back(std::move(e));
      current = &entries.back();
      inputsLeft = static_cast<size_t>(nIn);
      outputsLeft = static_cast<size_t>(nOut);
    } else if (keyword == "in" || keyword == "out") {
      if (!current)
        return bad("argument outside an entry");
      bool isInput = keyword == "in";
      if (isInput ? inputsLeft == 0 : outputsLeft == 0)
        return bad("more arguments than the entry declares");
      if (!isInput && inputsLeft != 0)
        return bad("output before all inputs");
      std::string dtypeName;
      long long rank = -1;
      if (!(words >> dtypeName >> rank) || rank < 0 || rank > KILN_MAX_RANK)
        return bad("expected 'in|out DTYPE RANK DIMS...'");
      ArgSpec spec;
      if (kiln_status_t s = kiln_dtype_parse(dtypeName.c_str(), &spec.dtype)) {
        kiln_status_free(s);
        return bad("unknown dtype");
      }
      for (long long i = 0; i < rank; ++i) {
        long long d = -1;
        if (!(words >> d) || d < 0)
          return bad("bad dimension");
        spec.shape.push_back(d);
      }
      std::string extra;
      if (words >> extra)
        return bad("trailing words");
      (isInput ? current->inputs : current->outputs).push_back(spec);
      (isInput ? inputsLeft : outputsLeft)--;
    } else if (keyword == "end") {
      if (!current || inputsLeft || outputsLeft)
        return bad("'end' does not close a complete entry");
      current = nullptr;
    } else {
      return bad("unknown keyword");
    }
  }
  if (current)
    return bad("missing 'end'");
  return nullptr;
}

} // namespace

struct kiln_executable_s {
  std::atomic<int64_t> refs{1};
  std::vector<Entry> entries;
  void *ctx = nullptr;
  void (*release)(void *) = nullptr;
};

static void destroy(kiln_executable_s *e) {
  if (e->release)
    e->release(e->ctx);
  delete e;
}

static void *dlsymLookup(void *handle, const char *name) {
  return dlsym(handle, name);
}

static void dlcloseRelease(void *handle) { dlclose(handle); }

extern "C" {

kiln_status_t kiln_executable_create(const char *manifest,
                                     kiln_symbol_lookup_fn lookup, void *ctx,
                                     void (*release_fn)(void *),
                                     kiln_executable_t **out) {
  *out = nullptr;
  auto *e = new (std::nothrow) kiln_executable_s();
  if (!e) {
    if (release_fn)
      release_fn(ctx);
    return kiln_status_create(KILN_OUT_OF_MEMORY, "out of memory");
  }
  e->ctx = ctx;
  e->release = release_fn;
  if (!manifest) {
    destroy(e);
    return kiln_status_create(KILN_DATA_LOSS, "no kiln manifest");
  }
  if (kiln_status_t s = parseManifest(manifest, e->entries)) {
    destroy(e);
    return s;
  }
  for (Entry &entry : e->entries) {
    std::string symbol = "kiln_entry_" + entry.name;
    entry.fn = reinterpret_cast<EntryFn>(lookup(ctx, symbol.c_str()));
    if (!entry.fn) {
      kiln_status_t status = kiln_status_create(
          KILN_NOT_FOUND,
          "the manifest declares entry '%s' but the code has no symbol %s",
          entry.name.c_str(), symbol.c_str());
      destroy(e); // owns `entry`: report first
      return status;
    }
  }
  *out = e;
  return nullptr;
}

kiln_status_t kiln_executable_load_library(const char *path,
                                           kiln_executable_t **out) {
  *out = nullptr;
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return kiln_status_create(KILN_NOT_FOUND, "cannot load %s: %s", path,
                              why ? why : "unknown error");
  }
  auto *manifest = static_cast<const char *>(dlsym(handle, "kiln_manifest"));
  if (!manifest) {
    dlclose(handle);
    return kiln_status_create(KILN_DATA_LOSS,
                              "%s is not a Kiln module: it has no "
                              "kiln_manifest symbol",
                              path);
  }
  return kiln_status_annotate(kiln_executable_create(manifest, dlsymLookup,
                                                     handle, dlcloseRelease,
                                                     out),
                              "%s", path);
}

void kiln_executable_retain(kiln_executable_t *e) {
  if (e)
    e->refs.fetch_add(1, std::memory_order_relaxed);
}

void kiln_executable_release(kiln_executable_t *e) {
  if (e && e->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    destroy(e);
}

int32_t kiln_executable_entry_count(const kiln_executable_t *e) {
  return static_cast<int32_t>(e->entries.size());
}

const char *kiln_executable_entry_name(const kiln_executable_t *e,
                                       int32_t index) {
  if (index < 0 || index >= static_cast<int32_t>(e->entries.size()))
    return nullptr;
  return e->entries[index].name.c_str();
}

int32_t kiln_executable_find_entry(const kiln_executable_t *e,
                                   const char *name) {
  for (size_t i = 0; i < e->entries.size(); ++i)
    if (e->entries[i].name == name)
      return static_cast<int32_t>(i);
  return -1;
}

int32_t kiln_entry_input_count(const kiln_executable_t *e, int32_t entry) {
  return static_cast<int32_t>(e->entries[entry].inputs.size());
}

int32_t kiln_entry_output_count(const kiln_executable_t *e, int32_t entry) {
  return static_cast<int32_t>(e->entries[entry].outputs.size());
}

void kiln_entry_arg(const kiln_executable_t *e, int32_t entry, int is_output,
                    int32_t index, kiln_dtype_t *dtype, int32_t *rank,
                    const int64_t **shape) {
  const ArgSpec &spec = is_output ? e->entries[entry].outputs[index]
                                  : e->entries[entry].inputs[index];
  *dtype = spec.dtype;
  *rank = static_cast<int32_t>(spec.shape.size());
  *shape = spec.shape.data();
}

/// Checks one argument against its declaration.
static kiln_status_t checkArg(const Entry &entry, const char *kind, int32_t i,
                              kiln_buffer_t *b, const ArgSpec &spec) {
  if (!b)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': %s #%d is NULL", entry.name.c_str(),
                              kind, i);
  int32_t rank = static_cast<int32_t>(spec.shape.size());
  if (kiln_buffer_dtype(b) != spec.dtype)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': %s #%d has dtype %s but %s is "
                              "expected",
                              entry.name.c_str(), kind, i,
                              kiln_dtype_name(kiln_buffer_dtype(b)),
                              kiln_dtype_name(spec.dtype));
  // std::equal, not memcmp: a rank-0 shape is an empty (null) array.
  bool same =
      kiln_buffer_rank(b) == rank &&
      std::equal(spec.shape.begin(), spec.shape.end(), kiln_buffer_shape(b));
  if (!same)
    return kiln_status_create(
        KILN_INVALID_ARGUMENT,
        "entry '%s': %s #%d has shape %s but %s is "
        "expected",
        entry.name.c_str(), kind, i,
        formatShape(kiln_buffer_shape(b), kiln_buffer_rank(b)).c_str(),
        formatShape(spec.shape.data(), rank).c_str());
  if (!kiln_buffer_host_data(b))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': %s #%d is not in host memory, but "
                              "this entry runs on the CPU",
                              entry.name.c_str(), kind, i);
  return nullptr;
}

kiln_status_t kiln_executable_invoke(kiln_executable_t *e, const char *name,
                                     int32_t num_inputs,
                                     kiln_buffer_t *const *inputs,
                                     int32_t num_outputs,
                                     kiln_buffer_t **outputs) {
  int32_t index = kiln_executable_find_entry(e, name);
  if (index < 0) {
    std::string names;
    for (const Entry &entry : e->entries)
      names += (names.empty() ? "" : ", ") + entry.name;
    return kiln_status_create(KILN_NOT_FOUND,
                              "no entry named '%s' (entries: %s)", name,
                              names.empty() ? "none" : names.c_str());
  }
  const Entry &entry = e->entries[index];
  if (num_inputs != static_cast<int32_t>(entry.inputs.size()))
    return kiln_status_create(
        KILN_INVALID_ARGUMENT, "entry '%s' takes %zu inputs, got %d",
        entry.name.c_str(), entry.inputs.size(), num_inputs);
  if (num_outputs != static_cast<int32_t>(entry.outputs.size()))
    return kiln_status_create(
        KILN_INVALID_ARGUMENT, "entry '%s' has %zu outputs, got room for %d",
        entry.name.c_str(), entry.outputs.size(), num_outputs);
  for (int32_t i = 0; i < num_inputs; ++i)
    if (kiln_status_t s =
            checkArg(entry, "input", i, inputs[i], entry.inputs[i]))
      return s;
  for (int32_t i = 0; i < num_outputs; ++i)
    if (outputs[i])
      if (kiln_status_t s =
              checkArg(entry, "output", i, outputs[i], entry.outputs[i]))
        return s;
  std::vector<kiln_buffer_t *> allocated;
  auto freeAllocated = [&]() {
    for (int32_t i = 0; i < num_outputs; ++i)
      for (kiln_buffer_t *b : allocated)
        if (outputs[i] == b)
          outputs[i] = nullptr;
    for (kiln_buffer_t *b : allocated)
      kiln_buffer_release(b);
  };
  for (int32_t i = 0; i < num_outputs; ++i) {
    if (outputs[i])
      continue;
    const ArgSpec &spec = entry.outputs[i];
    if (kiln_status_t s =
            kiln_buffer_create({KILN_DEVICE_CPU, 0}, spec.dtype,
                               static_cast<int32_t>(spec.shape.size()),
                               spec.shape.data(), &outputs[i])) {
      freeAllocated();
      return s;
    }
    allocated.push_back(outputs[i]);
  }
  std::vector<void *> args;
  args.reserve(num_inputs + num_outputs);
  for (int32_t i = 0; i < num_inputs; ++i)
    args.push_back(kiln_buffer_host_data(inputs[i]));
  for (int32_t i = 0; i < num_outputs; ++i)
    args.push_back(kiln_buffer_host_data(outputs[i]));
  int32_t rc = entry.fn(args.data());
  if (rc != 0) {
    freeAllocated();
    return kiln_status_create(KILN_INTERNAL, "entry '%s' failed with code %d",
                              entry.name.c_str(), rc);
  }
  return nullptr;
}

} // extern "C"
