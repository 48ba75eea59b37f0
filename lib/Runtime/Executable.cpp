//===- Executable.cpp - Kiln executables: manifest, loading, calls --------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// An executable is a parsed manifest plus one function pointer per entry
// (two for an entry with dynamic extents: its code and its shape function).
// The manifest (version 3) is line-based, words separated by one space:
//
//   kiln-manifest 3
//   variable NAME DTYPE RANK D0 D1 ...   (the module's variables)
//   entry NAME NUM_INPUTS NUM_OUTPUTS NUM_VARIABLES
//   in DTYPE RANK D0 D1 ...      (NUM_INPUTS of these; an extent may be ?)
//   out DTYPE RANK D0 D1 ...     (then NUM_OUTPUTS of these; likewise)
//   var NAME r|rw DTYPE RANK D0 D1 ...  (then NUM_VARIABLES of these)
//   check MESSAGE                (any number: the shape function's checks)
//   end
//
// with any number of entries. Version 2 (no '?' and no 'check') and version
// 1 (no variables: no 'variable' or 'var' lines, and 'entry NAME NUM_INPUTS
// NUM_OUTPUTS') are read too. Parsing is strict -- unknown keywords, extra
// words or spaces, blank lines and bad numbers are all rejected -- so that a
// corrupt module, or one from a newer compiler, is caught at load time and
// not mid-call.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

using kiln::runtime::formatShape;

namespace {

/// The declared dtype and shape of one argument.
struct ArgSpec {
  kiln_dtype_t dtype = KILN_F32;
  std::vector<int64_t> shape;
};

/// The compiled-code ABI of an entry point and of its shape function.
using EntryFn = int32_t (*)(void **, const int64_t *);
using ShapeFn = int32_t (*)(const int64_t *, int64_t *);

/// How a dynamic extent is stored in an ArgSpec (and shown by
/// kiln_entry_arg).
constexpr int64_t kDynamicExtent = -1;

/// A variable an entry binds.
struct VarSpec {
  std::string name;
  bool writes = false;
  ArgSpec spec;
};

/// One entry point: its signature and its code.
struct Entry {
  std::string name;
  std::vector<ArgSpec> inputs, outputs;
  std::vector<VarSpec> variables;
  /// The messages of the shape function's checks, by status - 1.
  std::vector<std::string> checks;
  EntryFn fn = nullptr;
  ShapeFn shapeFn = nullptr;
  size_t numDynamicInputs = 0, numDynamicOutputs = 0;

  /// Whether the code has a shape function (dynamic extents or checks).
  bool hasShapeFunction() const {
    return numDynamicInputs || numDynamicOutputs || !checks.empty();
  }
};

/// The newest manifest version this runtime reads (it reads 1 and 2 too).
constexpr uint64_t kManifestVersion = 3;
/// Upper bound on the arguments of one entry: far above any real entry,
/// low enough that counts fit int32_t with room to spare.
constexpr uint64_t kMaxArgs = 1 << 20;

/// Formats a declared shape for diagnostics: "[?, 3]".
std::string formatDeclared(const int64_t *shape, size_t rank) {
  std::string out = "[";
  for (size_t i = 0; i < rank; ++i)
    out += (i ? ", " : "") + (shape[i] == kDynamicExtent
                                  ? std::string("?")
                                  : std::to_string(shape[i]));
  return out + "]";
}

/// Parses a decimal number made of digits only (no sign, no spaces) that is
/// at most `max`.
bool parseNumber(const std::string &word, uint64_t max, uint64_t *out) {
  if (word.empty() || word.size() > 20)
    return false;
  uint64_t value = 0;
  for (char c : word) {
    if (c < '0' || c > '9')
      return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

/// Whether `name` is a C identifier, so that kiln_entry_NAME is a symbol.
bool isIdentifier(const std::string &name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
  });
}

/// Splits a line at single spaces; an empty word marks extra spaces.
std::vector<std::string> splitWords(const std::string &line) {
  std::vector<std::string> words;
  size_t start = 0;
  while (true) {
    size_t space = line.find(' ', start);
    words.push_back(line.substr(start, space - start));
    if (space == std::string::npos)
      return words;
    start = space + 1;
  }
}

/// Parses "DTYPE RANK D0 D1 ..." starting at words[first] into `spec`
/// (`?` extents, stored as kDynamicExtent, if `allowDynamic`); returns an
/// explanation on failure.
std::string parseSpec(const std::vector<std::string> &words, size_t first,
                      ArgSpec &spec, bool allowDynamic = false) {
  uint64_t rank = 0;
  if (words.size() < first + 2 ||
      !parseNumber(words[first + 1], KILN_MAX_RANK, &rank))
    return "expected 'DTYPE RANK D0 D1 ...' with a rank of at most " +
           std::to_string(KILN_MAX_RANK);
  if (kiln_status_t s = kiln_dtype_parse(words[first].c_str(), &spec.dtype)) {
    kiln_status_free(s);
    return "unknown dtype '" + words[first] + "'";
  }
  if (words.size() != first + 2 + rank)
    return "rank " + std::to_string(rank) + " but " +
           std::to_string(words.size() - first - 2) + " extents";
  std::vector<int64_t> known; // the extents with ? as 0, to check them
  for (size_t i = first + 2; i < words.size(); ++i) {
    uint64_t extent = 0;
    if (allowDynamic && words[i] == "?") {
      spec.shape.push_back(kDynamicExtent);
      known.push_back(0);
      continue;
    }
    if (!parseNumber(words[i], INT64_MAX, &extent))
      return "extent '" + words[i] + "' is not a non-negative integer" +
             (allowDynamic ? " or ?" : "");
    spec.shape.push_back(static_cast<int64_t>(extent));
    known.push_back(static_cast<int64_t>(extent));
  }
  int64_t elements;
  size_t bytes;
  if (kiln_status_t s = kiln::runtime::checkShape(
          static_cast<int32_t>(rank), known.data(),
          kiln_dtype_size(spec.dtype), &elements, &bytes)) {
    std::string why = kiln_status_message(s);
    kiln_status_free(s);
    return why;
  }
  return "";
}

/// Parses the manifest text (see the file comment) into `entries` and the
/// module's `declared` variables.
kiln_status_t parseManifest(const char *text, std::vector<Entry> &entries,
                            std::vector<VarSpec> &declared) {
  std::string line;
  int lineNo = 0;
  auto bad = [&](const std::string &why) {
    std::string shown = line.size() > 80 ? line.substr(0, 77) + "..." : line;
    return kiln_status_create(KILN_DATA_LOSS,
                              "malformed kiln manifest, line %d ('%s'): %s",
                              lineNo, shown.c_str(), why.c_str());
  };

  Entry *current = nullptr;
  size_t inputsLeft = 0, outputsLeft = 0, variablesLeft = 0;
  uint64_t version = 0;
  const char *at = text;
  while (*at) {
    const char *newline = std::strchr(at, '\n');
    size_t length =
        newline ? static_cast<size_t>(newline - at) : std::strlen(at);
    line.assign(at, length);
    at += length + (newline ? 1 : 0);
    ++lineNo;
    std::vector<std::string> words = splitWords(line);
    if (std::any_of(words.begin(), words.end(),
                    [](const std::string &w) { return w.empty(); }))
      return bad(line.empty() ? "blank line" : "extra spaces");
    const std::string &keyword = words[0];

    if (lineNo == 1) {
      if (words.size() != 2 || keyword != "kiln-manifest" ||
          !parseNumber(words[1], UINT32_MAX, &version))
        return bad("expected the header 'kiln-manifest N'");
      if (version < 1 || version > kManifestVersion)
        return kiln_status_create(
            KILN_UNIMPLEMENTED,
            "kiln manifest version %llu is not supported: this runtime "
            "reads versions 1 to %llu (is the module from a newer compiler?)",
            static_cast<unsigned long long>(version),
            static_cast<unsigned long long>(kManifestVersion));
      continue;
    }

    if (keyword == "variable" && version >= 2) {
      if (current)
        return bad("'variable' inside an entry");
      if (words.size() < 2 || !isIdentifier(words[1]))
        return bad("expected 'variable NAME DTYPE RANK D0 D1 ...' with a C "
                   "identifier as name");
      for (const VarSpec &other : declared)
        if (other.name == words[1])
          return bad("duplicate variable '" + words[1] + "'");
      VarSpec var;
      var.name = words[1];
      var.writes = true;
      std::string why = parseSpec(words, 2, var.spec);
      if (!why.empty())
        return bad(why);
      declared.push_back(std::move(var));
    } else if (keyword == "entry") {
      if (current)
        return bad("'entry' before the previous entry's 'end'");
      uint64_t numInputs = 0, numOutputs = 0, numVariables = 0;
      size_t expected = version >= 2 ? 5 : 4;
      if (words.size() != expected ||
          !parseNumber(words[2], kMaxArgs, &numInputs) ||
          !parseNumber(words[3], kMaxArgs, &numOutputs) ||
          (version >= 2 && !parseNumber(words[4], kMaxArgs, &numVariables)))
        return bad(version >= 2 ? "expected 'entry NAME NUM_INPUTS "
                                  "NUM_OUTPUTS NUM_VARIABLES'"
                                : "expected 'entry NAME NUM_INPUTS "
                                  "NUM_OUTPUTS'");
      if (!isIdentifier(words[1]))
        return bad("entry name '" + words[1] + "' is not a C identifier");
      for (const Entry &other : entries)
        if (other.name == words[1])
          return bad("duplicate entry '" + words[1] + "'");
      entries.emplace_back();
      current = &entries.back();
      current->name = words[1];
      inputsLeft = static_cast<size_t>(numInputs);
      outputsLeft = static_cast<size_t>(numOutputs);
      variablesLeft = static_cast<size_t>(numVariables);
    } else if (keyword == "var" && version >= 2) {
      if (!current)
        return bad("'var' outside an entry");
      if (inputsLeft || outputsLeft)
        return bad("variable before all inputs and outputs");
      if (variablesLeft == 0)
        return bad("more variables than the entry declares");
      if (words.size() < 3 || (words[2] != "r" && words[2] != "rw"))
        return bad("expected 'var NAME r|rw DTYPE RANK D0 D1 ...'");
      VarSpec var;
      var.name = words[1];
      var.writes = words[2] == "rw";
      std::string why = parseSpec(words, 3, var.spec);
      if (!why.empty())
        return bad(why);
      const VarSpec *decl = nullptr;
      for (const VarSpec &d : declared)
        if (d.name == var.name)
          decl = &d;
      if (!decl)
        return bad("variable '" + var.name + "' is not declared");
      if (decl->spec.dtype != var.spec.dtype ||
          decl->spec.shape != var.spec.shape)
        return bad("variable '" + var.name +
                   "' does not match its declaration");
      for (const VarSpec &other : current->variables)
        if (other.name == var.name)
          return bad("variable '" + var.name + "' listed twice");
      current->variables.push_back(std::move(var));
      --variablesLeft;
    } else if (keyword == "in" || keyword == "out") {
      if (!current)
        return bad("'" + keyword + "' outside an entry");
      bool isInput = keyword == "in";
      if (isInput && !current->outputs.empty())
        return bad("input after an output");
      if (isInput && inputsLeft == 0)
        return bad("more inputs than the entry declares");
      if (!isInput && inputsLeft != 0)
        return bad("output before all inputs");
      if (!isInput && outputsLeft == 0)
        return bad("more outputs than the entry declares");
      ArgSpec spec;
      std::string why = parseSpec(words, 1, spec, version >= 3);
      if (!why.empty())
        return bad(why);
      size_t dynamic = static_cast<size_t>(
          std::count(spec.shape.begin(), spec.shape.end(), kDynamicExtent));
      (isInput ? current->numDynamicInputs : current->numDynamicOutputs) +=
          dynamic;
      (isInput ? current->inputs : current->outputs).push_back(std::move(spec));
      (isInput ? inputsLeft : outputsLeft)--;
    } else if (keyword == "check" && version >= 3) {
      if (!current)
        return bad("'check' outside an entry");
      if (inputsLeft || outputsLeft || variablesLeft)
        return bad("'check' before all inputs, outputs and variables");
      if (words.size() < 2)
        return bad("expected 'check MESSAGE'");
      current->checks.push_back(line.substr(6));
    } else if (keyword == "end") {
      if (!current)
        return bad("'end' outside an entry");
      if (words.size() != 1)
        return bad("extra words after 'end'");
      if (inputsLeft || outputsLeft || variablesLeft)
        return bad("'end' does not close a complete entry: " +
                   std::to_string(inputsLeft) + " inputs, " +
                   std::to_string(outputsLeft) + " outputs and " +
                   std::to_string(variablesLeft) +
                   " variables are missing");
      current = nullptr;
    } else {
      return bad("unknown keyword '" + keyword + "'");
    }
  }
  if (lineNo == 0)
    return kiln_status_create(KILN_DATA_LOSS, "the kiln manifest is empty");
  if (current)
    return bad("missing 'end' of entry '" + current->name + "'");
  return nullptr;
}

} // namespace

struct kiln_executable_s {
  std::atomic<int64_t> refs{1};
  std::vector<Entry> entries;
  std::vector<VarSpec> declared;
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

/// Checks one argument against its declaration (`shape`, if given, is the
/// declared shape with the dynamic extents filled in).
static kiln_status_t checkArg(const Entry &entry, const char *kind, int32_t i,
                              const kiln_buffer_t *b, const ArgSpec &spec,
                              const int64_t *shape = nullptr) {
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
        entry.name.c_str(), kind, i,
        formatShape(kiln_buffer_shape(b), kiln_buffer_rank(b)).c_str(),
        formatDeclared(expected, static_cast<size_t>(rank)).c_str());
  if (!kiln::runtime::isHostBuffer(b))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s': %s #%d is not in host memory, but "
                              "this entry runs on the CPU",
                              entry.name.c_str(), kind, i);
  return nullptr;
}

/// Whether the contents of two host buffers overlap.
static bool overlap(kiln_buffer_t *a, kiln_buffer_t *b) {
  auto a0 = reinterpret_cast<uintptr_t>(kiln_buffer_host_data(a));
  auto b0 = reinterpret_cast<uintptr_t>(kiln_buffer_host_data(b));
  size_t aBytes = kiln_buffer_byte_size(a), bBytes = kiln_buffer_byte_size(b);
  if (!a0 || !b0 || !aBytes || !bBytes)
    return false;
  return a0 < b0 + bBytes && b0 < a0 + aBytes;
}

/// "1 input" / "2 inputs".
static std::string plural(size_t n, const char *noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
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
  if (kiln_status_t s = parseManifest(manifest, e->entries, e->declared)) {
    destroy(e);
    return s;
  }
  for (Entry &entry : e->entries) {
    std::string symbol = "kiln_entry_" + entry.name;
    entry.fn = reinterpret_cast<EntryFn>(lookup(ctx, symbol.c_str()));
    if (entry.fn && entry.hasShapeFunction()) {
      symbol = "kiln_shape_" + entry.name;
      entry.shapeFn = reinterpret_cast<ShapeFn>(lookup(ctx, symbol.c_str()));
    }
    if (!entry.fn || (entry.hasShapeFunction() && !entry.shapeFn)) {
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
  return entry ? entry->name.c_str() : nullptr;
}

int32_t kiln_executable_find_entry(const kiln_executable_t *e,
                                   const char *name) {
  if (!name)
    return -1;
  for (size_t i = 0; i < e->entries.size(); ++i)
    if (e->entries[i].name == name)
      return static_cast<int32_t>(i);
  return -1;
}

int32_t kiln_entry_input_count(const kiln_executable_t *e, int32_t index) {
  const Entry *entry = entryAt(e, index);
  return entry ? static_cast<int32_t>(entry->inputs.size()) : -1;
}

int32_t kiln_entry_output_count(const kiln_executable_t *e, int32_t index) {
  const Entry *entry = entryAt(e, index);
  return entry ? static_cast<int32_t>(entry->outputs.size()) : -1;
}

void kiln_entry_arg(const kiln_executable_t *e, int32_t index, int is_output,
                    int32_t arg, kiln_dtype_t *dtype, int32_t *rank,
                    const int64_t **shape) {
  const Entry *entry = entryAt(e, index);
  const std::vector<ArgSpec> *args =
      entry ? (is_output ? &entry->outputs : &entry->inputs) : nullptr;
  const ArgSpec *spec =
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
  const VarSpec *var =
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
  return entry ? static_cast<int32_t>(entry->variables.size()) : -1;
}

void kiln_entry_variable(const kiln_executable_t *e, int32_t index,
                         int32_t var, const char **name, int *writes) {
  const Entry *entry = entryAt(e, index);
  const VarSpec *spec =
      entry && var >= 0 && static_cast<size_t>(var) < entry->variables.size()
          ? &entry->variables[static_cast<size_t>(var)]
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
  if (!e || !name)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_executable_invoke: %s is NULL",
                              e ? "the entry name" : "the executable");
  int32_t index = kiln_executable_find_entry(e, name);
  if (index < 0) {
    std::string names;
    for (const Entry &entry : e->entries)
      names += (names.empty() ? "" : ", ") + entry.name;
    return kiln_status_create(KILN_NOT_FOUND,
                              "no entry named '%s' (entries: %s)", name,
                              names.empty() ? "none" : names.c_str());
  }
  const Entry &entry = e->entries[static_cast<size_t>(index)];
  if (num_inputs < 0 || static_cast<size_t>(num_inputs) != entry.inputs.size())
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "entry '%s' takes %s, got %d", entry.name.c_str(),
                              plural(entry.inputs.size(), "input").c_str(),
                              num_inputs);
  if (num_outputs < 0 ||
      static_cast<size_t>(num_outputs) != entry.outputs.size())
    return kiln_status_create(
        KILN_INVALID_ARGUMENT, "entry '%s' returns %s, got room for %d",
        entry.name.c_str(), plural(entry.outputs.size(), "output").c_str(),
        num_outputs);
  if ((num_inputs && !inputs) || (num_outputs && !outputs))
    return kiln_status_create(
        KILN_INVALID_ARGUMENT, "entry '%s': the %s array is NULL",
        entry.name.c_str(), num_inputs && !inputs ? "inputs" : "outputs");
  for (int32_t i = 0; i < num_inputs; ++i)
    if (kiln_status_t s =
            checkArg(entry, "input", i, inputs[i], entry.inputs[i]))
      return s;

  // Dynamic extents: the inputs' go to the shape function, which checks
  // that they fit together and computes the outputs'. `dims` holds both,
  // inputs first: the entry's second argument.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> outShapes;
  if (entry.shapeFn) {
    dims.reserve(entry.numDynamicInputs + entry.numDynamicOutputs);
    for (int32_t i = 0; i < num_inputs; ++i) {
      const std::vector<int64_t> &declared = entry.inputs[i].shape;
      for (size_t d = 0; d < declared.size(); ++d)
        if (declared[d] == kDynamicExtent)
          dims.push_back(kiln_buffer_shape(inputs[i])[d]);
    }
    dims.resize(entry.numDynamicInputs + entry.numDynamicOutputs);
    int32_t check = entry.shapeFn(dims.data(), dims.data() + entry.numDynamicInputs);
    if (check != 0) {
      const char *why =
          check > 0 && static_cast<size_t>(check) <= entry.checks.size()
              ? entry.checks[static_cast<size_t>(check - 1)].c_str()
              : "a shape check failed";
      return kiln_status_create(KILN_INVALID_ARGUMENT,
                                "entry '%s': the input shapes do not fit "
                                "together: %s",
                                entry.name.c_str(), why);
    }
    size_t next = entry.numDynamicInputs;
    for (const ArgSpec &spec : entry.outputs) {
      outShapes.push_back(spec.shape);
      for (int64_t &extent : outShapes.back())
        if (extent == kDynamicExtent) {
          extent = dims[next++];
          if (extent < 0)
            return kiln_status_create(KILN_INVALID_ARGUMENT,
                                      "entry '%s': the inputs give output "
                                      "#%zu a negative extent",
                                      entry.name.c_str(),
                                      outShapes.size() - 1);
        }
    }
  }
  auto outputShape = [&](int32_t i) {
    return entry.shapeFn ? outShapes[static_cast<size_t>(i)].data()
                         : entry.outputs[static_cast<size_t>(i)].shape.data();
  };

  for (int32_t i = 0; i < num_outputs; ++i) {
    if (!outputs[i])
      continue;
    if (kiln_status_t s = checkArg(entry, "output", i, outputs[i],
                                   entry.outputs[i], outputShape(i)))
      return s;
    // Compiled code may write an output before it has read every input.
    for (int32_t j = 0; j < num_inputs; ++j)
      if (overlap(outputs[i], inputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': output #%d shares memory with "
                                  "input #%d; outputs may not alias inputs",
                                  entry.name.c_str(), i, j);
    for (int32_t j = 0; j < i; ++j)
      if (outputs[j] && overlap(outputs[i], outputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': output #%d shares memory with "
                                  "output #%d",
                                  entry.name.c_str(), i, j);
  }

  // Bind the variables by name.
  size_t numVariables = entry.variables.size();
  std::vector<kiln_buffer_t *> bound(numVariables, nullptr);
  if (numVariables && !store)
    return kiln_status_create(
        KILN_INVALID_ARGUMENT,
        "entry '%s' binds %s (first: '%s'); call it with a variable store "
        "(kiln_executable_invoke_with_variables)",
        entry.name.c_str(), plural(numVariables, "variable").c_str(),
        entry.variables[0].name.c_str());
  for (size_t k = 0; k < numVariables; ++k) {
    const VarSpec &var = entry.variables[k];
    kiln_buffer_t *b = kiln_variables_find(store, var.name.c_str());
    if (!b)
      return kiln_status_create(
          KILN_NOT_FOUND,
          "entry '%s' %s variable '%s', which is not in the store "
          "(initialize the variables or load a checkpoint first)",
          entry.name.c_str(), var.writes ? "assigns" : "reads",
          var.name.c_str());
    int32_t rank = static_cast<int32_t>(var.spec.shape.size());
    if (kiln_buffer_dtype(b) != var.spec.dtype ||
        kiln_buffer_rank(b) != rank ||
        !std::equal(var.spec.shape.begin(), var.spec.shape.end(),
                    kiln_buffer_shape(b)))
      return kiln_status_create(
          KILN_INVALID_ARGUMENT,
          "entry '%s': variable '%s' in the store is %s %s but the entry "
          "expects %s %s",
          entry.name.c_str(), var.name.c_str(),
          kiln_dtype_name(kiln_buffer_dtype(b)),
          formatShape(kiln_buffer_shape(b), kiln_buffer_rank(b)).c_str(),
          kiln_dtype_name(var.spec.dtype),
          formatShape(var.spec.shape.data(), rank).c_str());
    for (int32_t j = 0; j < num_inputs; ++j)
      if (overlap(b, inputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': input #%d shares memory with "
                                  "variable '%s'",
                                  entry.name.c_str(), j, var.name.c_str());
    for (int32_t j = 0; j < num_outputs; ++j)
      if (outputs[j] && overlap(b, outputs[j]))
        return kiln_status_create(KILN_INVALID_ARGUMENT,
                                  "entry '%s': output #%d shares memory with "
                                  "variable '%s'",
                                  entry.name.c_str(), j, var.name.c_str());
    bound[k] = b;
  }

  // Allocate the missing outputs; on failure, give them back.
  std::vector<int32_t> allocated;
  auto releaseAllocated = [&]() {
    for (int32_t i : allocated) {
      kiln_buffer_release(outputs[i]);
      outputs[i] = nullptr;
    }
  };
  for (int32_t i = 0; i < num_outputs; ++i) {
    if (outputs[i])
      continue;
    const ArgSpec &spec = entry.outputs[static_cast<size_t>(i)];
    if (kiln_status_t s =
            kiln_buffer_create({KILN_DEVICE_CPU, 0}, spec.dtype,
                               static_cast<int32_t>(spec.shape.size()),
                               outputShape(i), &outputs[i])) {
      releaseAllocated();
      return kiln_status_annotate(s, "entry '%s': output #%d",
                                  entry.name.c_str(), i);
    }
    allocated.push_back(i);
  }

  // The ABI: data pointers of the inputs, the outputs, the variables.
  constexpr size_t kStackArgs = 32;
  void *stackArgs[kStackArgs];
  std::vector<void *> heapArgs;
  size_t numArgs =
      static_cast<size_t>(num_inputs) + num_outputs + numVariables;
  void **args = stackArgs;
  if (numArgs > kStackArgs) {
    heapArgs.resize(numArgs);
    args = heapArgs.data();
  }
  for (int32_t i = 0; i < num_inputs; ++i)
    args[i] = kiln_buffer_host_data(inputs[i]);
  for (int32_t i = 0; i < num_outputs; ++i)
    args[num_inputs + i] = kiln_buffer_host_data(outputs[i]);
  for (size_t k = 0; k < numVariables; ++k)
    args[static_cast<size_t>(num_inputs + num_outputs) + k] =
        kiln_buffer_host_data(bound[k]);
  int32_t rc = entry.fn(args, dims.empty() ? nullptr : dims.data());
  if (rc != 0) {
    releaseAllocated();
    return kiln_status_create(KILN_INTERNAL, "entry '%s' failed with code %d",
                              entry.name.c_str(), rc);
  }
  return nullptr;
}

} // extern "C"
