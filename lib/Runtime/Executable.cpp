//===- Executable.cpp - Kiln executables: loading and calls ---------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// An executable is a parsed manifest (see Manifest.cpp for the format) plus
// one function pointer per entry (two for an entry with dynamic extents: its
// code and its shape function). A call checks its arguments against the
// entry's signature before the compiled code sees them: compiled code trusts
// every pointer and extent it is given.
//
//===----------------------------------------------------------------------===//

#include "Device.h"
#include "Internal.h"

#include "kiln/Runtime/Manifest.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

using kiln::runtime::BindingSpec;
using kiln::runtime::EntrySpec;
using kiln::runtime::formatDevice;
using kiln::runtime::formatShape;
using kiln::runtime::kDynamicExtent;
using kiln::runtime::TensorSpec;
using kiln::runtime::VariableSpec;

namespace {

/// The compiled-code ABI of an entry point and of its shape function.
using EntryFn = int32_t (*)(void **, const int64_t *);
using ShapeFn = int32_t (*)(const int64_t *, int64_t *);

/// One entry point: its signature and its code.
struct Entry {
  EntrySpec spec;
  EntryFn fn = nullptr;
  ShapeFn shapeFn = nullptr;
  size_t numDynamicInputs = 0, numDynamicOutputs = 0;

  explicit Entry(EntrySpec spec) : spec(std::move(spec)) {
    auto countDynamic = [](const std::vector<TensorSpec> &args) {
      size_t n = 0;
      for (const TensorSpec &arg : args)
        n += static_cast<size_t>(
            std::count(arg.shape.begin(), arg.shape.end(), kDynamicExtent));
      return n;
    };
    numDynamicInputs = countDynamic(this->spec.inputs);
    numDynamicOutputs = countDynamic(this->spec.outputs);
  }

  /// Whether the code has a shape function (dynamic extents or checks).
  bool hasShapeFunction() const {
    return numDynamicInputs || numDynamicOutputs || !spec.checks.empty();
  }

  /// The device the entry runs on: the first one of its type unless
  /// kiln_executable_set_device chose another.
  kiln_device_t device() const { return {spec.device, ordinal}; }
  int32_t ordinal = 0;
};

/// Formats a declared shape for diagnostics: "[?, 3]".
std::string formatDeclared(const int64_t *shape, size_t rank) {
  std::string out = "[";
  for (size_t i = 0; i < rank; ++i)
    out += (i ? ", " : "") + (shape[i] == kDynamicExtent
                                  ? std::string("?")
                                  : std::to_string(shape[i]));
  return out + "]";
}

} // namespace

struct kiln_executable_s {
  std::atomic<int64_t> refs{1};
  std::vector<Entry> entries;
  std::vector<VariableSpec> declared;
  void *ctx = nullptr;
  void (*release)(void *) = nullptr;
};

/// Destroys an executable and hands its context back to its release
/// function.
static void destroy(kiln_executable_s *e) {
  if (e->release)
    e->release(e->ctx);
  delete e;
}

/// The entry at `index`, or NULL if `index` is out of range.
static const Entry *entryAt(const kiln_executable_t *e, int32_t index) {
  if (!e || index < 0 || static_cast<size_t>(index) >= e->entries.size())
    return nullptr;
  return &e->entries[static_cast<size_t>(index)];
}

/// kiln_symbol_lookup_fn over a dlopen handle.
static void *dlsymLookup(void *handle, const char *name) {
  return dlsym(handle, name);
}

/// Release function of a loaded library.
static void dlcloseRelease(void *handle) { dlclose(handle); }

/// Checks that buffer `b`, argument `what` of `entry` ("input #0",
/// "variable 'w'", made only if there is an error to report), is in the
/// memory of the entry's device: the one device check of a call, for
/// inputs, outputs and variables alike.
template <typename DescribeFn>
static kiln_status_t checkOnDevice(const Entry &entry, const kiln_buffer_t *b,
                                   DescribeFn what) {
  kiln_device_t device = kiln_buffer_device(b);
  if (kiln::runtime::sameDevice(device, entry.device()))
    return nullptr;
  return kiln_status_create(KILN_INVALID_ARGUMENT,
                            "entry '%s': %s is in %s memory, but the entry "
                            "runs on %s",
                            entry.spec.name.c_str(), what().c_str(),
                            formatDevice(device).c_str(),
                            formatDevice(entry.device()).c_str());
}

/// Checks one argument against its declaration (`shape`, if given, is the
/// declared shape with the dynamic extents filled in).
static kiln_status_t checkArg(const Entry &entry, const char *kind, int32_t i,
                              const kiln_buffer_t *b, const TensorSpec &spec,
                              const int64_t *shape = nullptr) {
  if (!b)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': %s #%d is NULL",
                              entry.spec.name.c_str(), kind, i);
  int32_t rank = static_cast<int32_t>(spec.shape.size());
  if (kiln_buffer_dtype(b) != spec.dtype)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': %s #%d has dtype %s but %s is "
                              "expected",
                              entry.spec.name.c_str(), kind, i,
                              kiln_dtype_name(kiln_buffer_dtype(b)),
                              kiln_dtype_name(spec.dtype));
  // std::equal, not memcmp: a rank-0 spec has an empty (null) shape.
  const int64_t *expected = shape ? shape : spec.shape.data();
  bool same = kiln_buffer_rank(b) == rank &&
              std::equal(expected, expected + rank, kiln_buffer_shape(b),
                         [](int64_t want, int64_t have) {
                           return want == kDynamicExtent || want == have;
                         });
  if (!same)
    return kiln_status_create(
        KILN_INVALID_ARGUMENT,
        "entry '%s': %s #%d has shape %s but %s is "
        "expected",
        entry.spec.name.c_str(), kind, i,
        formatShape(kiln_buffer_shape(b), kiln_buffer_rank(b)).c_str(),
        formatDeclared(expected, static_cast<size_t>(rank)).c_str());
  return checkOnDevice(entry, b, [&] {
    return kind + (" #" + std::to_string(i));
  });
}

/// Whether the contents of two buffers overlap (only buffers on the same
/// device can).
static bool overlap(kiln_buffer_t *a, kiln_buffer_t *b) {
  if (!kiln::runtime::sameDevice(kiln_buffer_device(a), kiln_buffer_device(b)))
    return false;
  auto a0 = reinterpret_cast<uintptr_t>(kiln_buffer_data(a));
  auto b0 = reinterpret_cast<uintptr_t>(kiln_buffer_data(b));
  size_t aBytes = kiln_buffer_byte_size(a), bBytes = kiln_buffer_byte_size(b);
  if (!a0 || !b0 || !aBytes || !bBytes)
    return false;
  return a0 < b0 + bBytes && b0 < a0 + aBytes;
}

/// "1 input" / "2 inputs".
static std::string plural(size_t n, const char *noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

//===----------------------------------------------------------------------===//
// A call, step by step
//===----------------------------------------------------------------------===//
//
// kiln_executable_invoke_with_variables runs these steps in order; each
// checks one thing and reports the first problem. Nothing is allocated
// before every argument has been checked, and whatever a failed call
// allocated is given back (Call::releaseAllocated).

namespace {

/// A vector whose first N elements live inline: a call of a small entry
/// allocates nothing for its bookkeeping (eager ops are such calls).
template <typename T, size_t N> class InlineVector {
public:
  void push_back(const T &value) {
    if (heap.empty() && count < N) {
      local[count++] = value;
      return;
    }
    if (heap.empty())
      heap.assign(local, local + count);
    heap.push_back(value);
    ++count;
  }
  void resize(size_t size) {
    while (count < size)
      push_back(T());
    if (heap.empty())
      count = size;
    else
      heap.resize(count = size);
  }
  T *data() { return heap.empty() ? local : heap.data(); }
  const T *data() const { return heap.empty() ? local : heap.data(); }
  size_t size() const { return count; }
  bool empty() const { return count == 0; }
  T &operator[](size_t i) { return data()[i]; }
  const T &operator[](size_t i) const { return data()[i]; }
  T *begin() { return data(); }
  T *end() { return data() + count; }
  void clear() {
    heap.clear();
    count = 0;
  }

private:
  T local[N] = {};
  std::vector<T> heap;
  size_t count = 0;
};

/// The arguments of one call and what its steps work out.
struct Call {
  const Entry *entry = nullptr;
  int32_t numInputs = 0, numOutputs = 0;
  kiln_buffer_t *const *inputs = nullptr;
  kiln_buffer_t **outputs = nullptr;
  kiln_variables_t *store = nullptr;
  /// The open extents, the inputs' then the outputs': the entry's second
  /// argument.
  InlineVector<int64_t, 16> dims;
  /// Each output's shape with its open extents filled in (only for an
  /// entry with a shape function).
  /// (All outputs' extents in one run, output i's from outputStart[i].)
  InlineVector<int64_t, 16> outputExtents;
  InlineVector<size_t, 8> outputStart;
  /// The store's buffers of the variables the entry binds, in its order.
  InlineVector<kiln_buffer_t *, 8> bound;
  /// The outputs this call allocated, to give back if it fails.
  InlineVector<int32_t, 8> allocated;

  /// The name of the entry, for messages.
  const char *name() const { return entry->spec.name.c_str(); }

  /// The shape output `i` must have.
  const int64_t *outputShape(int32_t i) const {
    auto k = static_cast<size_t>(i);
    return entry->shapeFn ? outputExtents.data() + outputStart[k]
                          : entry->spec.outputs[k].shape.data();
  }

  /// Releases the outputs this call allocated and resets them to NULL.
  void releaseAllocated() {
    for (int32_t i : allocated) {
      kiln_buffer_release(outputs[i]);
      outputs[i] = nullptr;
    }
    allocated.clear();
  }
};

} // namespace

/// Finds entry `name` of `e` (KILN_NOT_FOUND listing the entries) and
/// checks that its device can run here (KILN_UNAVAILABLE).
static kiln_status_t resolveEntry(const kiln_executable_t *e, const char *name,
                                  Call &call) {
  if (!e || !name)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_executable_invoke: %s is NULL",
                              e ? "the entry name" : "the executable");
  int32_t index = kiln_executable_find_entry(e, name);
  if (index < 0) {
    std::string names;
    for (const Entry &entry : e->entries)
      names += (names.empty() ? "" : ", ") + entry.spec.name;
    return kiln_status_create(KILN_NOT_FOUND,
                              "no entry named '%s' (entries: %s)", name,
                              names.empty() ? "none" : names.c_str());
  }
  call.entry = &e->entries[static_cast<size_t>(index)];
  return kiln::runtime::checkEntryDevice(e, index);
}

kiln_status_t kiln::runtime::checkEntryDevice(const kiln_executable_t *e,
                                              int32_t index) {
  const Entry &entry = e->entries[static_cast<size_t>(index)];
  if (kiln_status_t s = kiln_device_check(entry.device()))
    return kiln_status_annotate(
        s, "entry '%s' was compiled for %s, which this runtime cannot run",
        entry.spec.name.c_str(), kiln_device_type_name(entry.spec.device));
  return nullptr;
}

/// Checks the argument counts and every input's dtype, shape (open extents
/// take any size) and device.
static kiln_status_t checkInputs(const Call &call) {
  const EntrySpec &spec = call.entry->spec;
  if (call.numInputs < 0 ||
      static_cast<size_t>(call.numInputs) != spec.inputs.size())
    return kiln_status_create(
        KILN_INVALID_ARGUMENT, "entry '%s' takes %s, got %d", call.name(),
        plural(spec.inputs.size(), "input").c_str(), call.numInputs);
  if (call.numOutputs < 0 ||
      static_cast<size_t>(call.numOutputs) != spec.outputs.size())
    return kiln_status_create(
        KILN_INVALID_ARGUMENT, "entry '%s' returns %s, got room for %d",
        call.name(), plural(spec.outputs.size(), "output").c_str(),
        call.numOutputs);
  bool noInputs = call.numInputs && !call.inputs;
  if (noInputs || (call.numOutputs && !call.outputs))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': the %s array is NULL", call.name(),
                              noInputs ? "inputs" : "outputs");
  for (int32_t i = 0; i < call.numInputs; ++i)
    if (kiln_status_t s = checkArg(*call.entry, "input", i, call.inputs[i],
                                   spec.inputs[static_cast<size_t>(i)]))
      return s;
  return nullptr;
}

/// Runs the entry's shape function, if it has one: the inputs' open
/// extents go in, it checks that they fit together (KILN_INVALID_ARGUMENT
/// with the failed check's message if not) and gives the outputs' open
/// extents, which fill in call.outputShapes.
static kiln_status_t runShapeFunction(Call &call) {
  const Entry &entry = *call.entry;
  if (!entry.shapeFn)
    return nullptr;
  for (int32_t i = 0; i < call.numInputs; ++i) {
    const std::vector<int64_t> &declared =
        entry.spec.inputs[static_cast<size_t>(i)].shape;
    for (size_t d = 0; d < declared.size(); ++d)
      if (declared[d] == kDynamicExtent)
        call.dims.push_back(kiln_buffer_shape(call.inputs[i])[d]);
  }
  call.dims.resize(entry.numDynamicInputs + entry.numDynamicOutputs);
  int32_t check = entry.shapeFn(call.dims.data(),
                                call.dims.data() + entry.numDynamicInputs);
  if (check != 0) {
    const std::vector<std::string> &checks = entry.spec.checks;
    const char *why = check > 0 && static_cast<size_t>(check) <= checks.size()
                          ? checks[static_cast<size_t>(check - 1)].c_str()
                          : "a shape check failed";
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': the input shapes do not fit "
                              "together: %s",
                              call.name(), why);
  }
  size_t next = entry.numDynamicInputs;
  for (const TensorSpec &spec : entry.spec.outputs) {
    call.outputStart.push_back(call.outputExtents.size());
    for (int64_t extent : spec.shape) {
      if (extent == kDynamicExtent) {
        extent = call.dims[next++];
        if (extent < 0)
          return kiln_status_create(KILN_INVALID_ARGUMENT,
                                    "entry '%s': the inputs give output #%zu "
                                    "a negative extent",
                                    call.name(), call.outputStart.size() - 1);
      }
      call.outputExtents.push_back(extent);
    }
  }
  return nullptr;
}

/// Checks every output the caller provided: dtype, shape (as computed),
/// device, and that it shares no memory with an input or another output
/// (compiled code may write an output before it has read every input).
static kiln_status_t checkOutputs(const Call &call) {
  for (int32_t i = 0; i < call.numOutputs; ++i) {
    kiln_buffer_t *output = call.outputs[i];
    if (!output)
      continue;
    if (kiln_status_t s =
            checkArg(*call.entry, "output", i, output,
                     call.entry->spec.outputs[static_cast<size_t>(i)],
                     call.outputShape(i)))
      return s;
    for (int32_t j = 0; j < call.numInputs; ++j)
      if (overlap(output, call.inputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': output #%d shares memory with "
                                  "input #%d; outputs may not alias inputs",
                                  call.name(), i, j);
    for (int32_t j = 0; j < i; ++j)
      if (call.outputs[j] && overlap(output, call.outputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': output #%d shares memory with "
                                  "output #%d",
                                  call.name(), i, j);
  }
  return nullptr;
}

/// Looks up each variable the entry binds in the store (KILN_NOT_FOUND if
/// absent) and checks its dtype, shape and device and that it shares no
/// memory with an input or output; fills in call.bound.
static kiln_status_t bindVariables(Call &call) {
  const std::vector<BindingSpec> &variables = call.entry->spec.variables;
  if (!variables.empty() && !call.store)
    return kiln_status_create(
        KILN_INVALID_ARGUMENT,
        "entry '%s' binds %s (first: '%s'); call it with a variable store "
        "(kiln_executable_invoke_with_variables)",
        call.name(), plural(variables.size(), "variable").c_str(),
        variables[0].name.c_str());
  for (const BindingSpec &var : variables) {
    kiln_buffer_t *b = kiln_variables_find(call.store, var.name.c_str());
    if (!b)
      return kiln_status_create(
          KILN_NOT_FOUND,
          "entry '%s' %s variable '%s', which is not in the store "
          "(initialize the variables or load a checkpoint first)",
          call.name(), var.writes ? "assigns" : "reads", var.name.c_str());
    int32_t rank = static_cast<int32_t>(var.spec.shape.size());
    if (kiln_buffer_dtype(b) != var.spec.dtype || kiln_buffer_rank(b) != rank ||
        !std::equal(var.spec.shape.begin(), var.spec.shape.end(),
                    kiln_buffer_shape(b)))
      return kiln_status_create(
          KILN_INVALID_ARGUMENT,
          "entry '%s': variable '%s' in the store is %s %s but the entry "
          "expects %s %s",
          call.name(), var.name.c_str(), kiln_dtype_name(kiln_buffer_dtype(b)),
          formatShape(kiln_buffer_shape(b), kiln_buffer_rank(b)).c_str(),
          kiln_dtype_name(var.spec.dtype),
          formatShape(var.spec.shape.data(), rank).c_str());
    if (kiln_status_t s =
            checkOnDevice(*call.entry, b,
                          [&] { return "variable '" + var.name + "'"; }))
      return s;
    for (int32_t j = 0; j < call.numInputs; ++j)
      if (overlap(b, call.inputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': input #%d shares memory with "
                                  "variable '%s'",
                                  call.name(), j, var.name.c_str());
    for (int32_t j = 0; j < call.numOutputs; ++j)
      if (call.outputs[j] && overlap(b, call.outputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': output #%d shares memory with "
                                  "variable '%s'",
                                  call.name(), j, var.name.c_str());
    call.bound.push_back(b);
  }
  return nullptr;
}

/// Allocates each output the caller left NULL, on the entry's device, with
/// its (computed) shape; records it in call.allocated.
static kiln_status_t allocateOutputs(Call &call) {
  for (int32_t i = 0; i < call.numOutputs; ++i) {
    if (call.outputs[i])
      continue;
    const TensorSpec &spec = call.entry->spec.outputs[static_cast<size_t>(i)];
    if (kiln_status_t s =
            kiln_buffer_create(call.entry->device(), spec.dtype,
                               static_cast<int32_t>(spec.shape.size()),
                               call.outputShape(i), &call.outputs[i]))
      return kiln_status_annotate(s, "entry '%s': output #%d", call.name(), i);
    call.allocated.push_back(i);
  }
  return nullptr;
}

/// Copies of the variables `call` assigns (host entries: atomic entries
/// run on the CPU), in the order of its bindings (null for read-only ones).
static kiln_status_t saveAssigned(const Call &call,
                                  InlineVector<kiln_buffer_t *, 8> &saved) {
  const std::vector<BindingSpec> &variables = call.entry->spec.variables;
  for (size_t k = 0; k < call.bound.size(); ++k) {
    kiln_buffer_t *copy = nullptr;
    if (variables[k].writes) {
      kiln_buffer_t *b = call.bound[k];
      if (kiln_status_t s = kiln_buffer_create(
              kiln_buffer_device(b), kiln_buffer_dtype(b), kiln_buffer_rank(b),
              kiln_buffer_shape(b), &copy))
        return kiln_status_annotate(s, "entry '%s': saving variable '%s'",
                                    call.name(), variables[k].name.c_str());
      std::memcpy(kiln_buffer_host_data(copy), kiln_buffer_host_data(b),
                  kiln_buffer_byte_size(b));
    }
    saved.push_back(copy);
  }
  return nullptr;
}

/// Puts the variables saved by saveAssigned back.
static void restoreAssigned(const Call &call,
                            const InlineVector<kiln_buffer_t *, 8> &saved) {
  for (size_t k = 0; k < saved.size(); ++k)
    if (saved[k])
      std::memcpy(kiln_buffer_host_data(call.bound[k]),
                  kiln_buffer_host_data(saved[k]),
                  kiln_buffer_byte_size(call.bound[k]));
}

/// Calls the compiled code with the ABI's pointer array -- the
/// kiln_buffer_data of the inputs, the outputs and the variables, in the
/// memory of the entry's device -- and the open extents; a nonzero result
/// is KILN_INTERNAL.
static kiln_status_t callEntry(const Call &call) {
  constexpr size_t kStackArgs = 32; // no allocation for most calls
  void *stackArgs[kStackArgs];
  std::vector<void *> heapArgs;
  auto numInputs = static_cast<size_t>(call.numInputs);
  auto numOutputs = static_cast<size_t>(call.numOutputs);
  size_t numArgs = numInputs + numOutputs + call.bound.size();
  void **args = stackArgs;
  if (numArgs > kStackArgs) {
    heapArgs.resize(numArgs);
    args = heapArgs.data();
  }
  for (size_t i = 0; i < numInputs; ++i)
    args[i] = kiln_buffer_data(call.inputs[i]);
  for (size_t i = 0; i < numOutputs; ++i)
    args[numInputs + i] = kiln_buffer_data(call.outputs[i]);
  for (size_t k = 0; k < call.bound.size(); ++k)
    args[numInputs + numOutputs + k] = kiln_buffer_data(call.bound[k]);
  // A GPU entry is host code that launches kernels; what fails in a launch
  // is recorded on this thread (the generated code cannot return it).
  bool gpu = !kiln::runtime::deviceBackend(call.entry->spec.device)->hostMemory;
  if (gpu) {
    kiln_status_free(kiln::runtime::takeKernelError());
    kiln::runtime::setKernelDevice(call.entry->ordinal);
  }
  // Run-time checks of the compiled code (indices, integer division)
  // report here, from this thread and from the pool's workers.
  kiln::runtime::CheckSlot checks;
  kiln::runtime::CheckSlot *outerChecks = kiln::runtime::currentChecks();
  kiln::runtime::setCurrentChecks(&checks);
  int32_t rc =
      call.entry->fn(args, call.dims.empty() ? nullptr : call.dims.data());
  kiln::runtime::setCurrentChecks(outerChecks);
  if (gpu) {
    kiln::runtime::finishKernelCall();
    kiln::runtime::setKernelDevice(0);
    if (kiln_status_t s = kiln::runtime::takeKernelError())
      return kiln_status_annotate(s, "entry '%s'", call.name());
  }
  if (checks.failed.load(std::memory_order_acquire))
    return kiln_status_create(checks.code, "%s", checks.message.c_str());
  if (rc != 0)
    return kiln_status_create(KILN_INTERNAL, "entry '%s' failed with code %d",
                              call.name(), rc);
  return nullptr;
}

extern "C" {

kiln_status_t kiln_executable_create(const char *manifest,
                                     kiln_symbol_lookup_fn lookup, void *ctx,
                                     void (*release_fn)(void *),
                                     kiln_executable_t **out) {
  if (out)
    *out = nullptr;
  auto *e = new (std::nothrow) kiln_executable_s();
  if (!e) {
    if (release_fn)
      release_fn(ctx);
    return kiln_status_create(KILN_OUT_OF_MEMORY,
                              "out of memory for an executable");
  }
  e->ctx = ctx;
  e->release = release_fn;
  if (!out || !lookup) {
    destroy(e);
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_executable_create: %s is NULL",
                              out ? "lookup" : "out");
  }
  if (!manifest) {
    destroy(e);
    return kiln_status_create(KILN_DATA_LOSS, "no kiln manifest");
  }
  kiln::runtime::Manifest parsed;
  if (kiln_status_t s = kiln::runtime::parseManifest(manifest, parsed)) {
    destroy(e);
    return s;
  }
  e->declared = std::move(parsed.variables);
  e->entries.reserve(parsed.entries.size());
  for (EntrySpec &spec : parsed.entries)
    e->entries.emplace_back(std::move(spec));
  for (Entry &entry : e->entries) {
    std::string symbol = "kiln_entry_" + entry.spec.name;
    entry.fn = reinterpret_cast<EntryFn>(lookup(ctx, symbol.c_str()));
    if (entry.fn && entry.hasShapeFunction()) {
      symbol = "kiln_shape_" + entry.spec.name;
      entry.shapeFn = reinterpret_cast<ShapeFn>(lookup(ctx, symbol.c_str()));
    }
    if (!entry.fn || (entry.hasShapeFunction() && !entry.shapeFn)) {
      kiln_status_t status = kiln_status_create(
          KILN_NOT_FOUND,
          "the manifest declares entry '%s' but the code has no symbol %s",
          entry.spec.name.c_str(), symbol.c_str());
      destroy(e); // owns `entry`: report first
      return status;
    }
  }
  *out = e;
  return nullptr;
}

kiln_status_t kiln_executable_load_library(const char *path,
                                           kiln_executable_t **out) {
  if (!out || !path)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_executable_load_library: %s is NULL",
                              out ? "path" : "out");
  *out = nullptr;
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    struct stat info;
    bool exists = ::stat(path, &info) == 0;
    return kiln_status_create(exists ? KILN_INVALID_ARGUMENT : KILN_NOT_FOUND,
                              "cannot load %s: %s", path,
                              why ? why : "unknown error");
  }
  auto *manifest = static_cast<const char *>(dlsym(handle, "kiln_manifest"));
  if (!manifest) {
    dlclose(handle);
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "%s is not a Kiln module: it exports no "
                              "kiln_manifest",
                              path);
  }
  // On failure, create calls dlcloseRelease itself.
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
  const Entry *entry = entryAt(e, index);
  return entry ? entry->spec.name.c_str() : nullptr;
}

int32_t kiln_executable_find_entry(const kiln_executable_t *e,
                                   const char *name) {
  if (!name)
    return -1;
  for (size_t i = 0; i < e->entries.size(); ++i)
    if (e->entries[i].spec.name == name)
      return static_cast<int32_t>(i);
  return -1;
}

int32_t kiln_entry_input_count(const kiln_executable_t *e, int32_t index) {
  const Entry *entry = entryAt(e, index);
  return entry ? static_cast<int32_t>(entry->spec.inputs.size()) : -1;
}

int32_t kiln_entry_output_count(const kiln_executable_t *e, int32_t index) {
  const Entry *entry = entryAt(e, index);
  return entry ? static_cast<int32_t>(entry->spec.outputs.size()) : -1;
}

kiln_status_t kiln_executable_set_device(kiln_executable_t *e,
                                         kiln_device_t device) {
  if (!e)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_executable_set_device: the executable is "
                              "NULL");
  for (const Entry &entry : e->entries)
    if (entry.spec.device != device.type)
      return kiln_status_create(
          KILN_INVALID_ARGUMENT,
          "entry '%s' is compiled for %s; it cannot run on %s:%d",
          entry.spec.name.c_str(), kiln_device_type_name(entry.spec.device),
          kiln_device_type_name(device.type), device.ordinal);
  if (kiln_status_t s = kiln_device_check(device))
    return s;
  for (Entry &entry : e->entries)
    entry.ordinal = device.ordinal;
  return nullptr;
}

kiln_device_t kiln_entry_device(const kiln_executable_t *e, int32_t index) {
  const Entry *entry = entryAt(e, index);
  return entry ? entry->device() : kiln_device_t{KILN_DEVICE_CPU, -1};
}

void kiln_entry_arg(const kiln_executable_t *e, int32_t index, int is_output,
                    int32_t arg, kiln_dtype_t *dtype, int32_t *rank,
                    const int64_t **shape) {
  const Entry *entry = entryAt(e, index);
  const std::vector<TensorSpec> *args =
      entry ? (is_output ? &entry->spec.outputs : &entry->spec.inputs)
            : nullptr;
  const TensorSpec *spec =
      args && arg >= 0 && static_cast<size_t>(arg) < args->size()
          ? &(*args)[static_cast<size_t>(arg)]
          : nullptr;
  if (dtype)
    *dtype = spec ? spec->dtype : KILN_F32;
  if (rank)
    *rank = spec ? static_cast<int32_t>(spec->shape.size()) : -1;
  if (shape)
    *shape = spec ? spec->shape.data() : nullptr;
}

int32_t kiln_executable_variable_count(const kiln_executable_t *e) {
  return e ? static_cast<int32_t>(e->declared.size()) : 0;
}

void kiln_executable_variable(const kiln_executable_t *e, int32_t index,
                              const char **name, kiln_dtype_t *dtype,
                              int32_t *rank, const int64_t **shape) {
  const VariableSpec *var =
      e && index >= 0 && static_cast<size_t>(index) < e->declared.size()
          ? &e->declared[static_cast<size_t>(index)]
          : nullptr;
  if (name)
    *name = var ? var->name.c_str() : nullptr;
  if (dtype)
    *dtype = var ? var->spec.dtype : KILN_F32;
  if (rank)
    *rank = var ? static_cast<int32_t>(var->spec.shape.size()) : -1;
  if (shape)
    *shape = var ? var->spec.shape.data() : nullptr;
}

int32_t kiln_entry_variable_count(const kiln_executable_t *e, int32_t index) {
  const Entry *entry = entryAt(e, index);
  return entry ? static_cast<int32_t>(entry->spec.variables.size()) : -1;
}

void kiln_entry_variable(const kiln_executable_t *e, int32_t index, int32_t var,
                         const char **name, int *writes) {
  const Entry *entry = entryAt(e, index);
  const BindingSpec *spec =
      entry && var >= 0 &&
              static_cast<size_t>(var) < entry->spec.variables.size()
          ? &entry->spec.variables[static_cast<size_t>(var)]
          : nullptr;
  if (name)
    *name = spec ? spec->name.c_str() : nullptr;
  if (writes)
    *writes = spec && spec->writes ? 1 : 0;
}

kiln_status_t kiln_executable_invoke(kiln_executable_t *e, const char *name,
                                     int32_t num_inputs,
                                     kiln_buffer_t *const *inputs,
                                     int32_t num_outputs,
                                     kiln_buffer_t **outputs) {
  return kiln_executable_invoke_with_variables(e, name, num_inputs, inputs,
                                               num_outputs, outputs, nullptr);
}

kiln_status_t kiln_executable_invoke_with_variables(
    kiln_executable_t *e, const char *name, int32_t num_inputs,
    kiln_buffer_t *const *inputs, int32_t num_outputs, kiln_buffer_t **outputs,
    kiln_variables_t *store) {
  Call call;
  call.numInputs = num_inputs;
  call.numOutputs = num_outputs;
  call.inputs = inputs;
  call.outputs = outputs;
  call.store = store;
  kiln_status_t status = resolveEntry(e, name, call);
  if (!status)
    status = checkInputs(call);
  if (!status)
    status = runShapeFunction(call);
  if (!status)
    status = checkOutputs(call);
  if (!status)
    status = bindVariables(call);
  if (!status)
    status = allocateOutputs(call);
  // An atomic entry (its code checks values at run time) updates its
  // variables all or not at all: the ones it assigns are copied first and
  // put back if the call fails.
  InlineVector<kiln_buffer_t *, 8> saved;
  if (!status && call.entry->spec.atomic)
    status = saveAssigned(call, saved);
  if (!status) {
    status = callEntry(call);
    if (status)
      restoreAssigned(call, saved);
  }
  for (kiln_buffer_t *copy : saved)
    if (copy)
      kiln_buffer_release(copy);
  if (status)
    call.releaseAllocated();
  return status;
}

} // extern "C"
