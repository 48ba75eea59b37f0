//===- Variables.cpp - The variable store and safetensors checkpoints -----===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// A store maps names to host buffers. Checkpoints are safetensors files:
//
//   u64 (little endian)  N, the size of the header
//   N bytes              JSON: {"NAME": {"dtype": "F32", "shape": [2, 3],
//                                "data_offsets": [BEGIN, END]}, ...,
//                               "__metadata__": {"format": "kiln"}}
//                        padded with spaces to a multiple of 8
//   the data             each tensor's bytes at [BEGIN, END), row-major,
//                        little endian, no gaps
//
// Reading checks everything before the store changes, so a bad file never
// leaves a half-loaded model behind.
//
//===----------------------------------------------------------------------===//

#include "Device.h"
#include "Internal.h"

#include "kiln/Runtime/Manifest.h"

#define JSON_NOEXCEPTION
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

using kiln::runtime::formatShape;
using nlohmann::json;

struct kiln_variables_s {
  std::map<std::string, kiln_buffer_t *> buffers;
  ~kiln_variables_s() {
    for (auto &[name, buffer] : buffers)
      kiln_buffer_release(buffer);
  }
};

namespace {

/// The safetensors dtype names.
const char *safetensorsDtype(kiln_dtype_t dtype) {
  switch (dtype) {
  case KILN_F32:
    return "F32";
  case KILN_F64:
    return "F64";
  case KILN_F16:
    return "F16";
  case KILN_BF16:
    return "BF16";
  case KILN_I1:
    return "BOOL";
  case KILN_I32:
    return "I32";
  case KILN_I64:
    return "I64";
  case KILN_I8:
    return "I8";
  case KILN_I16:
    return "I16";
  case KILN_UI8:
    return "U8";
  case KILN_UI16:
    return "U16";
  case KILN_UI32:
    return "U32";
  }
  return nullptr;
}

bool parseSafetensorsDtype(const std::string &name, kiln_dtype_t *out) {
  for (kiln_dtype_t d : {KILN_F32, KILN_F64, KILN_F16, KILN_BF16, KILN_I1,
                         KILN_I32, KILN_I64, KILN_I8, KILN_I16, KILN_UI8,
                         KILN_UI16, KILN_UI32})
    if (name == safetensorsDtype(d)) {
      *out = d;
      return true;
    }
  return false;
}

/// Where an executable's variables live: on the device its entries run on
/// (a module is compiled for one target), the CPU if it has none.
kiln_device_t homeDevice(const kiln_executable_t *executable) {
  if (executable && kiln_executable_entry_count(executable) > 0)
    return kiln_entry_device(executable, 0);
  return {KILN_DEVICE_CPU, 0};
}

/// Replaces `*b` by a copy on `device` unless it is there already.
kiln_status_t moveTo(kiln_device_t device, kiln_buffer_t **b) {
  if (kiln::runtime::sameDevice(kiln_buffer_device(*b), device))
    return nullptr;
  kiln_buffer_t *moved = nullptr;
  if (kiln_status_t s = kiln_buffer_copy_to(*b, device, &moved))
    return s;
  kiln_buffer_release(*b);
  *b = moved;
  return nullptr;
}

kiln_status_t corrupt(const char *path, const std::string &why) {
  return kiln_status_create(KILN_DATA_LOSS,
                            "%s is not a valid safetensors checkpoint: %s",
                            path, why.c_str());
}

/// One tensor of a checkpoint, checked.
struct Record {
  std::string name;
  kiln_dtype_t dtype = KILN_F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

/// Parses and checks a safetensors header against a data section of
/// `dataSize` bytes.
kiln_status_t parseHeader(const char *path, const std::string &text,
                          uint64_t dataSize, std::vector<Record> &records) {
  json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded())
    return corrupt(path, "the header is not valid JSON");
  if (!header.is_object())
    return corrupt(path, "the header is not a JSON object");
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string &name = it.key();
    if (name == "__metadata__")
      continue;
    const json &entry = it.value();
    std::string where = "tensor '" + name + "'";
    if (!entry.is_object())
      return corrupt(path, where + " is not described by an object");
    auto dtype = entry.find("dtype");
    auto shape = entry.find("shape");
    auto offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string() || shape == entry.end() ||
        !shape->is_array() || offsets == entry.end() || !offsets->is_array() ||
        offsets->size() != 2)
      return corrupt(path, where +
                               " needs 'dtype' (a string), 'shape' (an array) "
                               "and 'data_offsets' ([begin, end])");
    Record r;
    r.name = name;
    if (!parseSafetensorsDtype(dtype->get<std::string>(), &r.dtype))
      return corrupt(path, where + " has dtype '" + dtype->get<std::string>() +
                               "', which Kiln does not read");
    for (const json &d : *shape) {
      if (!d.is_number_unsigned())
        return corrupt(path, where + " has an extent that is not a "
                                     "non-negative integer");
      uint64_t extent = d.get<uint64_t>();
      if (extent > static_cast<uint64_t>(INT64_MAX))
        return corrupt(path, where + " has an extent that is too large");
      r.shape.push_back(static_cast<int64_t>(extent));
    }
    if (r.shape.size() > KILN_MAX_RANK)
      return corrupt(path, where + " has rank " +
                               std::to_string(r.shape.size()) +
                               ", above Kiln's maximum of " +
                               std::to_string(KILN_MAX_RANK));
    int64_t elements;
    size_t bytes;
    if (kiln_status_t s = kiln::runtime::checkShape(
            static_cast<int32_t>(r.shape.size()), r.shape.data(),
            kiln_dtype_size(r.dtype), &elements, &bytes)) {
      std::string why = kiln_status_message(s);
      kiln_status_free(s);
      return corrupt(path, where + ": " + why);
    }
    const json &b = (*offsets)[0], &e = (*offsets)[1];
    if (!b.is_number_unsigned() || !e.is_number_unsigned())
      return corrupt(path, where + " has data offsets that are not "
                                   "non-negative integers");
    r.begin = b.get<uint64_t>();
    r.end = e.get<uint64_t>();
    if (r.begin > r.end || r.end > dataSize)
      return corrupt(path, where + " has data offsets [" +
                               std::to_string(r.begin) + ", " +
                               std::to_string(r.end) + ") outside the " +
                               std::to_string(dataSize) +
                               " bytes of data (truncated file?)");
    if (r.end - r.begin != bytes)
      return corrupt(path, where + " has " + std::to_string(r.end - r.begin) +
                               " bytes of data but its dtype and shape need " +
                               std::to_string(bytes));
    records.push_back(std::move(r));
  }
  // The data must be covered exactly: no overlaps, no gaps.
  std::vector<const Record *> order;
  for (const Record &r : records)
    order.push_back(&r);
  std::sort(order.begin(), order.end(), [](const Record *a, const Record *b) {
    return a->begin < b->begin || (a->begin == b->begin && a->end < b->end);
  });
  uint64_t at = 0;
  for (const Record *r : order) {
    if (r->begin < at)
      return corrupt(path, "the data of tensor '" + r->name +
                               "' overlaps another tensor's");
    if (r->begin > at)
      return corrupt(path, "bytes " + std::to_string(at) + " to " +
                               std::to_string(r->begin) +
                               " of the data belong to no tensor");
    at = r->end;
  }
  if (at != dataSize)
    return corrupt(path, std::to_string(dataSize - at) +
                             " bytes after the last tensor belong to no "
                             "tensor");
  return nullptr;
}

/// Runs the module's initializer for the variables listed in `missing`
/// (buffers already created, zero-filled): the initializer assigns every
/// initialized variable, so the others get scratch buffers it may write.
kiln_status_t runInitializer(kiln_executable_t *executable,
                             const std::map<std::string, kiln_buffer_t *> &missing) {
  int32_t entry = kiln_executable_find_entry(executable, "kiln_init_variables");
  if (entry < 0)
    return nullptr; // nothing declares an initial value
  kiln_variables_s scratch;
  int32_t n = kiln_entry_variable_count(executable, entry);
  for (int32_t k = 0; k < n; ++k) {
    const char *name = nullptr;
    kiln_entry_variable(executable, entry, k, &name, nullptr);
    auto it = missing.find(name);
    kiln_buffer_t *b = nullptr;
    if (it != missing.end()) {
      b = it->second;
      kiln_buffer_retain(b);
    } else {
      for (int32_t v = 0; v < kiln_executable_variable_count(executable); ++v) {
        const char *declared = nullptr;
        kiln_dtype_t dtype;
        int32_t rank;
        const int64_t *shape;
        kiln_executable_variable(executable, v, &declared, &dtype, &rank,
                                 &shape);
        if (std::strcmp(declared, name) == 0) {
          if (kiln_status_t s = kiln_buffer_create(homeDevice(executable),
                                                   dtype, rank, shape, &b))
            return s;
          break;
        }
      }
    }
    if (b)
      scratch.buffers[name] = b;
  }
  return kiln_executable_invoke_with_variables(
      executable, "kiln_init_variables", 0, nullptr, 0, nullptr, &scratch);
}

} // namespace

extern "C" {

kiln_status_t kiln_variables_create(kiln_variables_t **out) {
  if (!out)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_variables_create: out is NULL");
  *out = new (std::nothrow) kiln_variables_s();
  if (!*out)
    return kiln_status_create(KILN_OUT_OF_MEMORY,
                              "out of memory for a variable store");
  return nullptr;
}

void kiln_variables_destroy(kiln_variables_t *variables) { delete variables; }

int32_t kiln_variables_count(const kiln_variables_t *variables) {
  return variables ? static_cast<int32_t>(variables->buffers.size()) : 0;
}

const char *kiln_variables_name(const kiln_variables_t *variables,
                                int32_t index) {
  if (!variables || index < 0 ||
      static_cast<size_t>(index) >= variables->buffers.size())
    return nullptr;
  auto it = variables->buffers.begin();
  std::advance(it, index);
  return it->first.c_str();
}

kiln_buffer_t *kiln_variables_find(const kiln_variables_t *variables,
                                   const char *name) {
  if (!variables || !name)
    return nullptr;
  auto it = variables->buffers.find(name);
  return it == variables->buffers.end() ? nullptr : it->second;
}

kiln_status_t kiln_variables_set(kiln_variables_t *variables, const char *name,
                                 const kiln_buffer_t *value) {
  if (!variables || !value)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_variables_set: %s is NULL",
                              variables ? "the value" : "the store");
  if (!name || !kiln::runtime::isIdentifier(name))
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "variable name '%s' is not a C identifier",
                              name ? name : "(null)");
  // A variable keeps its device; a new one lives where the value is.
  kiln_buffer_t *current = kiln_variables_find(variables, name);
  kiln_device_t device = current ? kiln_buffer_device(current)
                                 : kiln_buffer_device(value);
  kiln_buffer_t *copy = nullptr;
  if (kiln_status_t s = kiln_buffer_copy_to(value, device, &copy))
    return kiln_status_annotate(s, "variable '%s'", name);
  kiln_buffer_t *&slot = variables->buffers[name];
  kiln_buffer_release(slot);
  slot = copy;
  return nullptr;
}

kiln_status_t kiln_variables_place(kiln_variables_t *variables,
                                   const char *name, kiln_device_t device) {
  if (!variables || !name)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_variables_place: %s is NULL",
                              variables ? "the name" : "the store");
  auto it = variables->buffers.find(name);
  if (it == variables->buffers.end())
    return kiln_status_create(KILN_NOT_FOUND, "no variable '%s' in the store",
                              name);
  if (kiln_status_t s = moveTo(device, &it->second))
    return kiln_status_annotate(s, "variable '%s'", name);
  return nullptr;
}

kiln_status_t kiln_variables_initialize(kiln_variables_t *variables,
                                        kiln_executable_t *executable) {
  if (!variables || !executable)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_variables_initialize: %s is NULL",
                              variables ? "the executable" : "the store");
  std::map<std::string, kiln_buffer_t *> missing;
  auto releaseMissing = [&]() {
    for (auto &[name, b] : missing)
      kiln_buffer_release(b);
  };
  for (int32_t v = 0; v < kiln_executable_variable_count(executable); ++v) {
    const char *name = nullptr;
    kiln_dtype_t dtype;
    int32_t rank;
    const int64_t *shape;
    kiln_executable_variable(executable, v, &name, &dtype, &rank, &shape);
    if (variables->buffers.count(name))
      continue;
    kiln_buffer_t *b = nullptr;
    if (kiln_status_t s = kiln_buffer_create_zeroed(homeDevice(executable),
                                                    dtype, rank, shape, &b)) {
      releaseMissing();
      return kiln_status_annotate(s, "variable '%s'", name);
    }
    missing[name] = b;
  }
  if (missing.empty())
    return nullptr;
  if (kiln_status_t s = runInitializer(executable, missing)) {
    releaseMissing();
    return kiln_status_annotate(s, "initializing variables");
  }
  for (auto &[name, b] : missing)
    variables->buffers[name] = b; // the store takes the reference
  return nullptr;
}

kiln_status_t kiln_variables_save(const kiln_variables_t *variables,
                                  const char *path, int32_t num_names,
                                  const char *const *names) {
  if (!variables || !path || (num_names > 0 && !names) || num_names < 0)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_variables_save: invalid arguments");
  std::map<std::string, kiln_buffer_t *> chosen;
  if (num_names == 0) {
    chosen = variables->buffers;
  } else {
    for (int32_t i = 0; i < num_names; ++i) {
      kiln_buffer_t *b = kiln_variables_find(variables, names[i]);
      if (!b)
        return kiln_status_create(KILN_NOT_FOUND,
                                  "cannot save %s: no variable '%s' in the "
                                  "store",
                                  path, names[i] ? names[i] : "(null)");
      chosen[names[i]] = b;
    }
  }
  // Variables in a device's memory are written from copies in host memory.
  std::vector<kiln_buffer_t *> copies;
  auto releaseCopies = [&]() {
    for (kiln_buffer_t *b : copies)
      kiln_buffer_release(b);
  };
  for (auto &[name, b] : chosen) {
    if (kiln::runtime::isHostBuffer(b))
      continue;
    kiln_buffer_t *host = nullptr;
    if (kiln_status_t s =
            kiln_buffer_copy_to(b, kiln_device_t{KILN_DEVICE_CPU, 0}, &host)) {
      releaseCopies();
      return kiln_status_annotate(s, "cannot save %s: variable '%s'", path,
                                  name.c_str());
    }
    copies.push_back(host);
    b = host;
  }
  json header = json::object();
  std::vector<std::pair<const void *, size_t>> pieces;
  uint64_t offset = 0;
  for (auto &[name, b] : chosen) {
    size_t bytes = kiln_buffer_byte_size(b);
    json shape = json::array();
    for (int32_t d = 0; d < kiln_buffer_rank(b); ++d)
      shape.push_back(kiln_buffer_shape(b)[d]);
    header[name] = {{"dtype", safetensorsDtype(kiln_buffer_dtype(b))},
                    {"shape", shape},
                    {"data_offsets", {offset, offset + bytes}}};
    pieces.push_back({kiln_buffer_host_data(b), bytes});
    offset += bytes;
  }
  header["__metadata__"] = {{"format", "kiln"}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char size[8];
  for (int i = 0; i < 8; ++i)
    size[i] = static_cast<unsigned char>(
        (static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xff);
  pieces.insert(pieces.begin(), {{size, 8}, {text.data(), text.size()}});
  kiln_status_t status =
      kiln::runtime::writeFileAtomically(path, pieces.data(), pieces.size());
  releaseCopies();
  return status;
}

kiln_status_t kiln_variables_load(kiln_variables_t *variables, const char *path,
                                  const kiln_executable_t *declared) {
  if (!variables || !path)
    return kiln_status_create(KILN_INVALID_ARGUMENT,
                              "kiln_variables_load: %s is NULL",
                              variables ? "path" : "the store");
  FILE *f = std::fopen(path, "rb");
  if (!f)
    return kiln_status_create(errno == ENOENT ? KILN_NOT_FOUND : KILN_IO_ERROR,
                              "cannot open checkpoint %s: %s", path,
                              std::strerror(errno));
  struct stat info;
  if (::fstat(fileno(f), &info) != 0) {
    std::fclose(f);
    return kiln_status_create(KILN_IO_ERROR, "cannot read %s: %s", path,
                              std::strerror(errno));
  }
  auto fileSize = static_cast<uint64_t>(info.st_size);
  auto fail = [&](kiln_status_t s) {
    std::fclose(f);
    return s;
  };
  unsigned char sizeBytes[8];
  // A read that fails is an I/O error (the device's message), not a
  // damaged file.
  auto unreadable = [&](const std::string &what) {
    if (std::ferror(f))
      return fail(kiln_status_create(KILN_IO_ERROR, "cannot read %s: %s", path,
                                     std::strerror(errno)));
    return fail(corrupt(path, what));
  };
  if (fileSize < 8)
    return fail(corrupt(path, "it is shorter than the 8-byte header size"));
  if (std::fread(sizeBytes, 1, 8, f) != 8)
    return unreadable("it is shorter than the 8-byte header size");
  uint64_t headerSize = 0;
  for (int i = 0; i < 8; ++i)
    headerSize |= static_cast<uint64_t>(sizeBytes[i]) << (8 * i);
  constexpr uint64_t kMaxHeader = 100u << 20;
  if (headerSize > fileSize - 8 || headerSize > kMaxHeader)
    return fail(corrupt(path, "the header size " + std::to_string(headerSize) +
                                  " exceeds the file (" +
                                  std::to_string(fileSize) +
                                  " bytes; truncated?)"));
  std::string text(static_cast<size_t>(headerSize), '\0');
  if (headerSize && std::fread(&text[0], 1, text.size(), f) != text.size())
    return unreadable("the header is truncated");
  uint64_t dataSize = fileSize - 8 - headerSize;
  std::vector<Record> records;
  if (kiln_status_t s = parseHeader(path, text, dataSize, records))
    return fail(s);
  // Check against the declared variables before touching the store.
  if (declared) {
    for (const Record &r : records) {
      for (int32_t v = 0; v < kiln_executable_variable_count(declared); ++v) {
        const char *name = nullptr;
        kiln_dtype_t dtype;
        int32_t rank;
        const int64_t *shape;
        kiln_executable_variable(declared, v, &name, &dtype, &rank, &shape);
        if (r.name != name)
          continue;
        bool same = dtype == r.dtype &&
                    rank == static_cast<int32_t>(r.shape.size()) &&
                    std::equal(r.shape.begin(), r.shape.end(), shape);
        if (!same)
          return fail(kiln_status_create(
              KILN_INVALID_ARGUMENT,
              "checkpoint %s: variable '%s' is %s %s in the file but the "
              "module declares %s %s",
              path, name, kiln_dtype_name(r.dtype),
              formatShape(r.shape.data(),
                          static_cast<int32_t>(r.shape.size()))
                  .c_str(),
              kiln_dtype_name(dtype), formatShape(shape, rank).c_str()));
      }
    }
  }
  // Read every tensor into new buffers, then swap them in.
  std::map<std::string, kiln_buffer_t *> loaded;
  auto releaseLoaded = [&]() {
    for (auto &[name, b] : loaded)
      kiln_buffer_release(b);
  };
  for (const Record &r : records) {
    kiln_buffer_t *b = nullptr;
    if (kiln_status_t s = kiln_buffer_create(
            {KILN_DEVICE_CPU, 0}, r.dtype, static_cast<int32_t>(r.shape.size()),
            r.shape.data(), &b)) {
      releaseLoaded();
      return fail(kiln_status_annotate(s, "checkpoint %s: tensor '%s'", path,
                                       r.name.c_str()));
    }
    loaded[r.name] = b;
    size_t bytes = static_cast<size_t>(r.end - r.begin);
    if (bytes &&
        (std::fseek(f, static_cast<long>(8 + headerSize + r.begin), SEEK_SET) !=
             0 ||
         std::fread(kiln_buffer_host_data(b), 1, bytes, f) != bytes)) {
      releaseLoaded();
      return unreadable("cannot read the data of tensor '" + r.name +
                        "' (truncated?)");
    }
  }
  std::fclose(f);
  // Each variable where it lives already, else where the module runs.
  for (auto &[name, b] : loaded) {
    kiln_buffer_t *current = kiln_variables_find(variables, name.c_str());
    kiln_device_t device =
        current ? kiln_buffer_device(current) : homeDevice(declared);
    if (kiln_status_t s = moveTo(device, &b)) {
      releaseLoaded();
      return kiln_status_annotate(s, "checkpoint %s: variable '%s'", path,
                                  name.c_str());
    }
  }
  for (auto &[name, b] : loaded) {
    kiln_buffer_t *&slot = variables->buffers[name];
    kiln_buffer_release(slot);
    slot = b;
  }
  return nullptr;
}

} // extern "C"
