//===- KilnPython.cpp - The kiln._kiln extension module -------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The one native module behind `import kiln`: conversions between Python
// values and the compiler's and runtime's, nothing more. It holds
//
//  - Tensor: an immutable runtime buffer, shown to NumPy without a copy
//    (read-only view; bfloat16 as float32) and made from NumPy arrays by
//    one copy;
//  - run_op: eager execution of one op through the compiler's Engine
//    (lib/Compiler: kernel cache, cache policy, module merging);
//  - ModuleBuilder: the compiler's IR builder for traces;
//  - attributes as typed values (Attributes, i32, f32, symbol, unit) and
//    types as (shape, dtype) pairs: no MLIR text crosses this layer;
//  - the variable store, executables and runtime settings.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/Aot.h"
#include "kiln/Compiler/Compiler.h"
#include "kiln/Compiler/Engine.h"
#include "kiln/Compiler/ModuleBuilder.h"
#include "kiln/Compiler/OpAttributes.h"
#include "kiln/Runtime/Manifest.h"
#include "kiln/Runtime/Runtime.h"

#include "kiln/Dialect/Kiln/KilnOps.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>
#include <mutex>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace mlir;

namespace {

/// A Kiln error as a Python exception: kiln/errors.py maps the code to the
/// exception class.
struct KilnError : std::exception {
  KilnError(kiln_status_code_t code, std::string message)
      : code(code), message(std::move(message)) {}
  const char *what() const noexcept override { return message.c_str(); }
  kiln_status_code_t code;
  std::string message;
};

/// Throws the status (and frees it) if it is an error.
void check(kiln_status_t status) {
  if (!status)
    return;
  KilnError error(kiln_status_code(status), kiln_status_message(status));
  kiln_status_free(status);
  throw error;
}

/// NumPy dtype <-> Kiln dtype.
kiln_dtype_t dtypeOf(const py::dtype &d) {
  char kind = d.kind();
  size_t size = d.itemsize();
  if (kind == 'f' && size == 4)
    return KILN_F32;
  if (kind == 'f' && size == 8)
    return KILN_F64;
  if (kind == 'f' && size == 2)
    return KILN_F16;
  if (kind == 'b' && size == 1)
    return KILN_I1;
  if (kind == 'i' && size == 4)
    return KILN_I32;
  if (kind == 'i' && size == 8)
    return KILN_I64;
  if (kind == 'i' && size == 1)
    return KILN_I8;
  if (kind == 'i' && size == 2)
    return KILN_I16;
  if (kind == 'u' && size == 1)
    return KILN_UI8;
  if (kind == 'u' && size == 2)
    return KILN_UI16;
  if (kind == 'u' && size == 4)
    return KILN_UI32;
  throw KilnError(KILN_INVALID_ARGUMENT,
                  "NumPy dtype " + std::string(py::str(d)) +
                      " has no Kiln equivalent (float16/32/64, bool, int8/16/"
                      "32/64, uint8/16/32)");
}

py::dtype numpyDtype(kiln_dtype_t t) {
  switch (t) {
  case KILN_F32:
    return py::dtype("float32");
  case KILN_F64:
    return py::dtype("float64");
  case KILN_F16:
    return py::dtype("float16");
  case KILN_I1:
    return py::dtype("bool");
  case KILN_I32:
    return py::dtype("int32");
  case KILN_I64:
    return py::dtype("int64");
  case KILN_I8:
    return py::dtype("int8");
  case KILN_I16:
    return py::dtype("int16");
  case KILN_UI8:
    return py::dtype("uint8");
  case KILN_UI16:
    return py::dtype("uint16");
  case KILN_UI32:
    return py::dtype("uint32");
  case KILN_BF16:
    // NumPy has no bfloat16 (TensorFlow and JAX register their own): a
    // bfloat16 value is shown as the float32 that holds it exactly.
    return py::dtype("float32");
  }
  throw KilnError(KILN_INTERNAL, "unknown Kiln dtype");
}

/// `d` rounded to the nearest bfloat16, ties to even, as the bits of the
/// result: through float32 rounded to odd, which makes the two roundings
/// one. NaN stays a (quiet) NaN.
uint16_t roundToBF16(double d) {
  float f = static_cast<float>(d);
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if (std::isnan(d))
    return static_cast<uint16_t>((u >> 16) | 0x40u);
  if (static_cast<double>(f) != d) {
    // Toward zero, then the last bit set: round to odd.
    if (std::fabs(static_cast<double>(f)) > std::fabs(d))
      --u;
    u |= 1u;
  }
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/// The Kiln dtype for NumPy data: `requested` ("bf16", or empty for the
/// array's own dtype) and the array itself, converted to the C-ordered
/// array whose bytes the runtime takes. bfloat16 is given as numbers (any
/// float, integer or bool dtype, read as float64) and each is rounded once
/// to the nearest bfloat16, ties to even, as TensorFlow's cast does.
std::pair<kiln_dtype_t, py::array> hostData(const py::array &input,
                                            const std::string &requested) {
  if (requested.empty()) {
    py::array array = py::array::ensure(
        input, py::array::c_style | py::array::forcecast);
    if (!array)
      throw KilnError(KILN_INVALID_ARGUMENT, "cannot read the value as an "
                                             "array");
    return {dtypeOf(array.dtype()), array};
  }
  if (requested != "bf16")
    throw KilnError(KILN_INVALID_ARGUMENT,
                    "a NumPy array becomes a tensor of its own dtype or "
                    "bfloat16, not " + requested);
  auto numbers = py::array_t<double, py::array::c_style |
                                         py::array::forcecast>::ensure(input);
  if (!numbers)
    throw KilnError(KILN_INVALID_ARGUMENT,
                    "cannot read the value as numbers for bfloat16");
  py::array_t<uint16_t> bits(std::vector<py::ssize_t>(
      numbers.shape(), numbers.shape() + numbers.ndim()));
  const double *from = numbers.data();
  uint16_t *to = bits.mutable_data();
  for (py::ssize_t i = 0, e = numbers.size(); i < e; ++i)
    to[i] = roundToBF16(from[i]);
  return {KILN_BF16, bits};
}

/// A host bfloat16 buffer's values as a new read-only float32 array.
py::array widenBF16(kiln_buffer_t *host,
                    const std::vector<py::ssize_t> &shape) {
  py::array_t<float> out(shape);
  const auto *from =
      static_cast<const uint16_t *>(kiln_buffer_host_data(host));
  float *to = out.mutable_data();
  for (py::ssize_t i = 0, e = out.size(); i < e; ++i) {
    uint32_t u = static_cast<uint32_t>(from[i]) << 16;
    std::memcpy(&to[i], &u, sizeof u);
  }
  py::detail::array_proxy(out.ptr())->flags &=
      ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return out;
}



/// An immutable tensor: one reference to a runtime buffer.
class Tensor {
public:
  explicit Tensor(kiln_buffer_t *buffer) : buffer(buffer) {}
  ~Tensor() {
    kiln_buffer_release(hostCopy);
    kiln_buffer_release(buffer);
  }
  Tensor(const Tensor &) = delete;
  Tensor &operator=(const Tensor &) = delete;

  static std::shared_ptr<Tensor> fromNumpy(const py::array &input,
                                           const std::string &dtypeName) {
    auto [dtype, array] = hostData(input, dtypeName);
    std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
    kiln_buffer_t *b = nullptr;
    check(kiln_buffer_create({KILN_DEVICE_CPU, 0}, dtype,
                             static_cast<int32_t>(shape.size()), shape.data(),
                             &b));
    if (size_t bytes = kiln_buffer_byte_size(b))
      std::memcpy(kiln_buffer_host_data(b), array.data(), bytes);
    return std::make_shared<Tensor>(b);
  }

  /// A read-only NumPy view of the buffer, keeping it alive. A buffer in
  /// a GPU's memory is copied to the host once (the tensor is immutable, so
  /// the copy stays valid) and the view shows the copy. bfloat16 values,
  /// which NumPy lacks, come as a new float32 array instead of a view.
  py::array numpy() const {
    kiln_buffer_t *host = buffer;
    if (kiln_buffer_device(buffer).type != KILN_DEVICE_CPU) {
      if (!hostCopy) {
        // The copy runs without the GIL: another thread may finish one
        // first, and then this one is dropped.
        kiln_buffer_t *copy = nullptr;
        kiln_status_t status;
        {
          py::gil_scoped_release release;
          status = kiln_buffer_copy_to(buffer, {KILN_DEVICE_CPU, 0}, &copy);
        }
        check(status);
        if (hostCopy)
          kiln_buffer_release(copy);
        else
          hostCopy = copy;
      }
      host = hostCopy;
    }
    if (kiln_buffer_dtype(host) == KILN_BF16)
      return widenBF16(host, this->shape());
    kiln_buffer_retain(host);
    py::capsule owner(host, [](void *p) {
      kiln_buffer_release(static_cast<kiln_buffer_t *>(p));
    });
    std::vector<py::ssize_t> shape = this->shape();
    py::array view(numpyDtype(kiln_buffer_dtype(host)), shape,
                   kiln_buffer_host_data(host), owner);
    py::detail::array_proxy(view.ptr())->flags &=
        ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return view;
  }

  std::vector<py::ssize_t> shape() const {
    const int64_t *dims = kiln_buffer_shape(buffer);
    return std::vector<py::ssize_t>(dims, dims + kiln_buffer_rank(buffer));
  }

  std::string dtype() const { return kiln_dtype_name(kiln_buffer_dtype(buffer)); }

  /// The type as Python sees it: (shape, dtype name).
  py::tuple type() const {
    const int64_t *dims = kiln_buffer_shape(buffer);
    py::tuple shape(kiln_buffer_rank(buffer));
    for (int32_t i = 0; i < kiln_buffer_rank(buffer); ++i)
      shape[i] = dims[i];
    return py::make_tuple(shape, dtype());
  }

  kiln_buffer_t *get() const { return buffer; }

  /// "cpu" or "cuda:N".
  std::string device() const { return deviceName(kiln_buffer_device(buffer)); }

  static std::string deviceName(kiln_device_t device) {
    if (device.type == KILN_DEVICE_CPU)
      return "cpu";
    return std::string(kiln_device_type_name(device.type)) + ":" +
           std::to_string(device.ordinal);
  }

  /// This tensor on `device` ("cpu", "cuda:N"): itself if it is there,
  /// else a copy.
  static std::shared_ptr<Tensor> to(const std::shared_ptr<Tensor> &t,
                                    const std::string &device) {
    kiln_device_t target = parseDevice(device);
    if (sameDevice(kiln_buffer_device(t->buffer), target))
      return t;
    kiln_buffer_t *copy = nullptr;
    {
      py::gil_scoped_release release;
      check(kiln_buffer_copy_to(t->buffer, target, &copy));
    }
    return std::make_shared<Tensor>(copy);
  }

  /// "cpu", "cuda" (cuda:0) or "cuda:N" as the runtime's device.
  static kiln_device_t parseDevice(const std::string &name) {
    size_t colon = name.find(':');
    std::string type = name.substr(0, colon);
    kiln_device_type_t parsed;
    check(kiln_device_type_parse(type.c_str(), &parsed));
    int32_t ordinal = 0;
    if (colon != std::string::npos) {
      std::string digits = name.substr(colon + 1);
      if (digits.empty() || digits.size() > 6 ||
          digits.find_first_not_of("0123456789") != std::string::npos)
        throw KilnError(KILN_INVALID_ARGUMENT,
                        "malformed device '" + name + "'");
      ordinal = std::stoi(digits);
    }
    return {parsed, ordinal};
  }

  static bool sameDevice(kiln_device_t a, kiln_device_t b) {
    return a.type == b.type && a.ordinal == b.ordinal;
  }

private:
  kiln_buffer_t *buffer;
  mutable kiln_buffer_t *hostCopy = nullptr; // numpy() of a device buffer
};

/// The process's compiler and eager kernel cache. Never destroyed: kernels
/// may still run on other threads at exit.
mlir::kiln::Engine &engine() {
  static auto *e = new mlir::kiln::Engine();
  return *e;
}

/// Python's description of a tensor type, (shape, dtype name) with None for
/// an extent known only at run time, as the compiler's.
mlir::kiln::TensorTypeSpec typeSpec(const py::handle &type) {
  auto pair = py::reinterpret_borrow<py::tuple>(type);
  if (pair.size() != 2)
    throw KilnError(KILN_INVALID_ARGUMENT,
                    "a tensor type is a (shape, dtype) pair");
  mlir::kiln::TensorTypeSpec spec;
  check(kiln_dtype_parse(py::str(pair[1]).cast<std::string>().c_str(),
                         &spec.dtype));
  for (py::handle d : py::reinterpret_borrow<py::sequence>(pair[0]))
    spec.shape.push_back(d.is_none() ? -1 : d.cast<int64_t>());
  return spec;
}

std::vector<mlir::kiln::TensorTypeSpec> typeSpecs(const py::sequence &types) {
  std::vector<mlir::kiln::TensorTypeSpec> specs;
  specs.reserve(types.size());
  for (py::handle t : types)
    specs.push_back(typeSpec(t));
  return specs;
}

py::tuple pythonType(const mlir::kiln::TensorTypeSpec &spec) {
  py::tuple shape(spec.shape.size());
  for (size_t i = 0; i < spec.shape.size(); ++i)
    shape[i] = spec.shape[i] < 0 ? py::object(py::none())
                                 : py::object(py::int_(spec.shape[i]));
  return py::make_tuple(shape, kiln_dtype_name(spec.dtype));
}

/// One attribute value from Python: an AttrValue made by the typed
/// constructors (i32, f32, symbol, unit), or a plain bool, int (i64), float
/// (f64), str, or a list/tuple of ints (array<i64>) or of strs.
mlir::kiln::AttrValue attrValue(const std::string &name, py::handle v) {
  using mlir::kiln::AttrValue;
  if (py::isinstance<AttrValue>(v))
    return v.cast<AttrValue>();
  if (py::isinstance<py::bool_>(v))
    return AttrValue::boolean(v.cast<bool>());
  if (py::isinstance<py::int_>(v))
    return AttrValue::i64(v.cast<int64_t>());
  if (py::isinstance<py::float_>(v))
    return AttrValue::f64(v.cast<double>());
  if (py::isinstance<py::str>(v))
    return AttrValue::string(v.cast<std::string>());
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    auto items = py::reinterpret_borrow<py::sequence>(v);
    bool allStr = items.size() > 0;
    for (py::handle item : items)
      allStr &= py::isinstance<py::str>(item);
    if (allStr)
      return AttrValue::stringArray(v.cast<std::vector<std::string>>());
    std::vector<int64_t> ints;
    for (py::handle item : items) {
      if (!py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item))
        throw KilnError(KILN_INVALID_ARGUMENT,
                        "attribute '" + name +
                            "': a list of ints or of strs, not " +
                            std::string(py::repr(v)));
      ints.push_back(item.cast<int64_t>());
    }
    return AttrValue::i64Array(std::move(ints));
  }
  throw KilnError(KILN_INVALID_ARGUMENT,
                  "attribute '" + name + "': no Kiln attribute for " +
                      std::string(py::repr(v)));
}

std::shared_ptr<mlir::kiln::OpAttributes> opAttributes(const py::dict &d) {
  mlir::kiln::AttrList list;
  for (auto [k, v] : d) {
    std::string name = py::str(k);
    list.emplace_back(name, attrValue(name, v));
  }
  return std::make_shared<mlir::kiln::OpAttributes>(std::move(list));
}

/// The attributes of `value`: an Attributes object, or None for none.
/// (Taken as py::handle: pybind11 converting None to a pointer argument
/// raises and clears an AttributeError on every call.)
const mlir::kiln::OpAttributes &attributesOf(py::handle value) {
  static const mlir::kiln::OpAttributes none;
  if (value.is_none())
    return none;
  return value.cast<const mlir::kiln::OpAttributes &>();
}

/// The process's variable store (kiln.Variable values live here).
class VariableStore {
public:
  VariableStore() { check(kiln_variables_create(&store)); }
  ~VariableStore() { kiln_variables_destroy(store); }
  VariableStore(const VariableStore &) = delete;
  VariableStore &operator=(const VariableStore &) = delete;

  /// Gives variable `name` a copy of `value` (a new buffer: tensors read
  /// before keep the old value).
  void set(const std::string &name, const std::shared_ptr<Tensor> &value) {
    check(kiln_variables_set(store, name.c_str(), value->get()));
  }

  /// The current value, sharing the store's buffer.
  std::shared_ptr<Tensor> get(const std::string &name) {
    kiln_buffer_t *b = kiln_variables_find(store, name.c_str());
    if (!b)
      throw KilnError(KILN_NOT_FOUND, "no variable '" + name + "'");
    kiln_buffer_retain(b);
    return std::make_shared<Tensor>(b);
  }

  /// Before a call writes variable `name` in place: if the store's buffer
  /// is `value`'s and nothing but the store and `value` (a Tensor that the
  /// caller knows no one else holds) references it, returns true and copies
  /// nothing; otherwise sets the variable to a copy of `value` (tensors
  /// read before the call keep their values) and returns false.
  bool prepareUpdate(const std::string &name,
                     const std::shared_ptr<Tensor> &value) {
    kiln_buffer_t *current = kiln_variables_find(store, name.c_str());
    // Holders of the C++ Tensor: the Python object's holder and the
    // argument passed here.
    if (current && current == value->get() &&
        kiln_buffer_refcount(current) == 2 && value.use_count() <= 2)
      return true;
    set(name, value);
    return false;
  }

  bool contains(const std::string &name) {
    return kiln_variables_find(store, name.c_str()) != nullptr;
  }

  /// Moves variable `name` to `device` ("cpu" or "cuda:N"), where it stays;
  /// returns its value there.
  std::shared_ptr<Tensor> place(const std::string &name,
                                const std::string &device) {
    {
      py::gil_scoped_release release;
      check(kiln_variables_place(store, name.c_str(),
                                 Tensor::parseDevice(device)));
    }
    return get(name);
  }

  void save(const std::string &path, const std::vector<std::string> &names) {
    std::vector<const char *> raw;
    for (const std::string &n : names)
      raw.push_back(n.c_str());
    check(kiln_variables_save(store, path.c_str(),
                              static_cast<int32_t>(raw.size()), raw.data()));
  }

  void load(const std::string &path) {
    check(kiln_variables_load(store, path.c_str(), nullptr));
  }

  std::vector<std::string> names() {
    std::vector<std::string> out;
    for (int32_t i = 0; i < kiln_variables_count(store); ++i)
      out.push_back(kiln_variables_name(store, i));
    return out;
  }

  kiln_variables_t *raw() { return store; }

private:
  kiln_variables_t *store = nullptr;
};

/// A compiled module called from Python (traced functions, gradients).
class Executable {
public:
  explicit Executable(kiln_executable_t *exe) : exe(exe) {}
  ~Executable() { kiln_executable_release(exe); }
  Executable(const Executable &) = delete;
  Executable &operator=(const Executable &) = delete;

  std::vector<std::shared_ptr<Tensor>>
  invoke(const std::string &name,
         const std::vector<std::shared_ptr<Tensor>> &inputs,
         py::handle store) {
    llvm::SmallVector<kiln_buffer_t *, 8> in;
    for (const auto &t : inputs)
      in.push_back(t->get());
    std::vector<std::shared_ptr<Tensor>> tensors;
    for (kiln_buffer_t *b : run(name.c_str(), in, storeOf(store)))
      tensors.push_back(std::make_shared<Tensor>(b));
    return tensors;
  }

  /// The variable store of `store` (None for none: taken by hand, see
  /// attributesOf).
  static kiln_variables_t *storeOf(py::handle store) {
    return store.is_none() ? nullptr : store.cast<VariableStore &>().raw();
  }

  /// Runs entry `name` on `in` (inputs living on another device than the
  /// entry's are copied there for the call) with the GIL released; returns
  /// the new output buffers, owned by the caller.
  std::vector<kiln_buffer_t *> run(const char *name,
                                   llvm::SmallVectorImpl<kiln_buffer_t *> &in,
                                   kiln_variables_t *store) {
    int32_t index = kiln_executable_find_entry(exe, name);
    int32_t numOutputs = index >= 0 ? kiln_entry_output_count(exe, index) : 0;
    llvm::SmallVector<kiln_buffer_t *, 4> copies;
    kiln_status_t status = nullptr;
    if (index >= 0) {
      kiln_device_t device = kiln_entry_device(exe, index);
      for (kiln_buffer_t *&b : in) {
        if (Tensor::sameDevice(kiln_buffer_device(b), device))
          continue;
        kiln_buffer_t *copy = nullptr;
        if ((status = kiln_buffer_copy_to(b, device, &copy)))
          break;
        copies.push_back(copy);
        b = copy;
      }
    }
    std::vector<kiln_buffer_t *> out(static_cast<size_t>(numOutputs), nullptr);
    if (!status) {
      py::gil_scoped_release release;
      status = kiln_executable_invoke_with_variables(
          exe, name, static_cast<int32_t>(in.size()), in.data(), numOutputs,
          out.data(), store);
    }
    for (kiln_buffer_t *copy : copies)
      kiln_buffer_release(copy);
    check(status);
    return out;
  }

  /// The variables entry `name` assigns (store keys).
  std::vector<std::string> assigned(const std::string &name) {
    std::vector<std::string> out;
    int32_t index = kiln_executable_find_entry(exe, name.c_str());
    for (int32_t k = 0; index >= 0 && k < kiln_entry_variable_count(exe, index);
         ++k) {
      const char *var = nullptr;
      int writes = 0;
      kiln_entry_variable(exe, index, k, &var, &writes);
      if (writes)
        out.push_back(var);
    }
    return out;
  }

private:
  kiln_executable_t *exe;
};

/// The compiler's ModuleBuilder, errors as exceptions.
class ModuleBuilder {
public:
  ModuleBuilder() : builder(engine().getContext()) {}

  size_t function(const std::string &name, const py::sequence &argTypes,
                  bool isPrivate) {
    return get(builder.function(name, typeSpecs(argTypes), isPrivate, error));
  }
  size_t argument(size_t function, unsigned i) {
    return get(builder.argument(function, i, error));
  }
  std::vector<size_t> op(size_t function, const std::string &name,
                         const std::vector<size_t> &operands,
                         py::handle attributes, const py::sequence &resultTypes,
                         const std::string &file, unsigned line,
                         bool outermost) {
    return get(builder.op(function, name, operands, attributesOf(attributes),
                          typeSpecs(resultTypes), file, line, outermost,
                          error));
  }
  size_t constant(size_t function, const py::array &input,
                  const std::string &dtypeName) {
    auto [dtype, array] = hostData(input, dtypeName);
    mlir::kiln::TensorTypeSpec spec;
    spec.dtype = dtype;
    spec.shape.assign(array.shape(), array.shape() + array.ndim());
    llvm::ArrayRef<char> bytes(static_cast<const char *>(array.data()),
                               static_cast<size_t>(array.nbytes()));
    return get(builder.constant(function, spec, bytes, error));
  }
  void declareVariable(const std::string &name, const py::handle &type) {
    if (failed(builder.declareVariable(name, typeSpec(type), error)))
      fail();
  }
  std::pair<size_t, std::vector<size_t>>
  pushBlock(size_t function, const py::sequence &argTypes) {
    return get(builder.pushBlock(function, typeSpecs(argTypes), error));
  }
  void popBlock(size_t function, const std::vector<size_t> &values,
                const std::string &terminator) {
    if (failed(builder.popBlock(function, values, terminator, error)))
      fail();
  }
  void discardBlock(size_t function, size_t handle) {
    if (failed(builder.discardBlock(function, handle, error)))
      fail();
  }
  std::vector<size_t> regionOp(size_t function, const std::string &name,
                               const std::vector<size_t> &operands,
                               const std::vector<size_t> &blocks,
                               const py::sequence &resultTypes,
                               const std::string &file, unsigned line) {
    return get(builder.regionOp(function, name, operands, blocks,
                                typeSpecs(resultTypes), file, line, error));
  }
  std::pair<std::vector<size_t>, std::vector<bool>>
  outline(size_t function, size_t target, const std::vector<size_t> &sources,
          const std::string &name, bool knownValues,
          const std::vector<std::pair<size_t, size_t>> &recorded) {
    return get(builder.outline(function, target, sources, name, knownValues,
                               recorded, error));
  }
  size_t mark() const { return builder.mark(); }
  py::tuple type(size_t id) { return pythonType(get(builder.type(id, error))); }
  void finishFunction(size_t function, const std::vector<size_t> &results) {
    if (failed(builder.finishFunction(function, results, error)))
      fail();
  }
  std::string text() { return builder.text(); }
  std::shared_ptr<Executable> compile(const std::string &device) {
    OwningOpRef<ModuleOp> module = builder.takeModule(error);
    if (!module)
      fail();
    kiln_executable_t *exe = nullptr;
    check(engine().jit(*module, Tensor::parseDevice(device), &exe));
    return std::make_shared<Executable>(exe);
  }

private:
  template <typename T> T get(FailureOr<T> result) {
    if (failed(result))
      fail();
    return std::move(*result);
  }
  [[noreturn]] void fail() {
    std::string message = std::move(error);
    error.clear();
    throw KilnError(KILN_INVALID_ARGUMENT, message);
  }
  mlir::kiln::ModuleBuilder builder;
  std::string error;
};

/// NativeError, and kiln.Tensor (the Python class eager results are
/// wrapped in), set when the module and kiln.core are loaded.
PyObject *nativeError = nullptr;
PyTypeObject *pythonTensorType = nullptr;
PyObject *implName = nullptr; // "_impl"

void setNativeError(const KilnError &e) {
  py::object code = py::int_(static_cast<int>(e.code));
  PyErr_SetObject(nativeError, py::make_tuple(code, py::str(e.message)).ptr());
}

/// A new kiln.Tensor holding `impl` (what Tensor(impl) does, without
/// running Python code).
py::object wrapTensor(py::object impl) {
  PyObject *obj = pythonTensorType->tp_alloc(pythonTensorType, 0);
  if (!obj)
    throw py::error_already_set();
  py::object wrapped = py::reinterpret_steal<py::object>(obj);
  if (PyObject_SetAttr(obj, implName, impl.ptr()) != 0)
    throw py::error_already_set();
  return wrapped;
}

PyTypeObject *nativeTensorType = nullptr; // _kiln.Tensor

/// The native tensor of a _kiln.Tensor object: read from pybind11's
/// instance directly for the exact type (no type-table lookup per call),
/// else through a checked cast.
Tensor &nativeTensor(PyObject *obj) {
  if (Py_TYPE(obj) == nativeTensorType) {
    auto *inst = reinterpret_cast<py::detail::instance *>(obj);
    if (inst->simple_layout && inst->simple_value_holder[0])
      return *static_cast<Tensor *>(inst->simple_value_holder[0]);
  }
  return py::handle(obj).cast<Tensor &>();
}

/// The buffer of eager kiln.Tensor `item` (input #`i` of `fn`); NULL with a
/// TypeError naming it for anything else. The buffer lives as long as
/// `item` does.
kiln_buffer_t *bufferOf(PyObject *item, Py_ssize_t i, const char *fn) {
  PyObject *impl = nullptr;
  if (Py_TYPE(item) == pythonTensorType ||
      PyObject_TypeCheck(item, pythonTensorType))
    impl = PyObject_GetAttr(item, implName);
  if (impl && (Py_TYPE(impl) == nativeTensorType ||
               PyObject_TypeCheck(impl, nativeTensorType))) {
    kiln_buffer_t *b = nativeTensor(impl).get();
    Py_DECREF(impl); // (item keeps it)
    return b;
  }
  Py_XDECREF(impl);
  PyErr_Clear();
  PyErr_Format(PyExc_TypeError,
               "%s(): input #%zd is not an eager kiln.Tensor (got %s)", fn, i,
               Py_TYPE(item)->tp_name);
  return nullptr;
}

/// The buffers of the kiln.Tensors in sequence `inputs` (of `fn`), or
/// false with a Python error set.
bool buffersOf(PyObject *inputs, const char *fn,
               llvm::SmallVectorImpl<kiln_buffer_t *> &in) {
  std::string what = std::string(fn) + "(): inputs must be a sequence";
  py::object seq =
      py::reinterpret_steal<py::object>(PySequence_Fast(inputs, what.c_str()));
  if (!seq)
    return false;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(seq.ptr());
  PyObject **items = PySequence_Fast_ITEMS(seq.ptr());
  for (Py_ssize_t i = 0; i < count; ++i) {
    // (The caller's sequence holds each tensor, which holds its buffer.)
    kiln_buffer_t *b = bufferOf(items[i], i, fn);
    if (!b)
      return false;
    in.push_back(b);
  }
  return true;
}

/// New kiln.Tensors owning `buffers`, as a new list reference.
PyObject *wrapAll(const std::vector<kiln_buffer_t *> &buffers) {
  py::list outputs(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i)
    outputs[i] = wrapTensor(py::cast(std::make_shared<Tensor>(buffers[i])));
  return outputs.release().ptr();
}

/// Runs `body` (a raw CPython function's work), turning C++ exceptions
/// into Python errors.
template <typename Body> PyObject *guarded(const char *fn, Body body) {
  try {
    return body();
  } catch (const KilnError &e) {
    setNativeError(e);
  } catch (py::error_already_set &e) {
    e.restore();
  } catch (const py::cast_error &) {
    PyErr_Format(PyExc_TypeError, "%s(): an argument has the wrong type", fn);
  } catch (const std::exception &e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

/// eager(op, inputs, attributes, results, device): runs one op on
/// kiln.Tensor inputs and returns a list of kiln.Tensors -- the eager
/// dispatch of kiln.core.bind in one native call (raw CPython fast call:
/// no pybind11 argument conversion, no Python wrapping code).
PyObject *eager(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
  return guarded("eager", [&]() -> PyObject * {
    if (nargs != 5) {
      PyErr_SetString(PyExc_TypeError,
                      "eager(op, inputs, attributes, results, device)");
      return nullptr;
    }
    if (!pythonTensorType) {
      PyErr_SetString(PyExc_RuntimeError, "kiln.Tensor is not registered");
      return nullptr;
    }
    Py_ssize_t opSize = 0;
    const char *op = PyUnicode_AsUTF8AndSize(args[0], &opSize);
    llvm::SmallVector<kiln_buffer_t *, 4> in;
    if (!op || !buffersOf(args[1], "eager", in))
      return nullptr;
    const mlir::kiln::OpAttributes &attrs = attributesOf(args[2]);
    std::vector<mlir::kiln::TensorTypeSpec> results;
    if (PyObject_Length(args[3]) > 0)
      results = typeSpecs(py::reinterpret_borrow<py::sequence>(args[3]));
    const char *device = PyUnicode_AsUTF8(args[4]);
    if (!device)
      return nullptr;
    kiln_device_t where = std::strcmp(device, "cpu") == 0
                              ? kiln_device_t{KILN_DEVICE_CPU, 0}
                              : Tensor::parseDevice(device);
    std::vector<kiln_buffer_t *> out;
    kiln_status_t status;
    {
      py::gil_scoped_release release;
      status = engine().run(llvm::StringRef(op, static_cast<size_t>(opSize)),
                            in, attrs, results, where, out);
    }
    check(status);
    return wrapAll(out);
  });
}

PyMethodDef eagerMethod = {
    "eager", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(eager)),
    METH_FASTCALL,
    "eager(op, inputs, attributes, results, device) -> [kiln.Tensor]: one "
    "eager op on kiln.Tensors."};

/// user_location(): "file:line" of the innermost Python frame whose file is
/// not Kiln's, or None -- errors.user_location without a Python loop (every
/// op recorded by a gradient tape asks). Which files are Kiln's is asked of
/// the registered classifier once per file name.
PyObject *locationClassifier = nullptr;
std::unordered_map<PyObject *, bool> *kilnFiles = nullptr;

PyObject *userLocation(PyObject *, PyObject *const *, Py_ssize_t nargs) {
  if (nargs != 0) {
    PyErr_SetString(PyExc_TypeError, "user_location() takes no arguments");
    return nullptr;
  }
  if (!locationClassifier) {
    PyErr_SetString(PyExc_RuntimeError, "no location classifier registered");
    return nullptr;
  }
  PyFrameObject *frame = PyEval_GetFrame(); // (borrowed)
  Py_XINCREF(frame);
  while (frame) {
    PyCodeObject *code = PyFrame_GetCode(frame);
    PyObject *filename = code->co_filename;
    auto it = kilnFiles->find(filename);
    bool inside;
    if (it != kilnFiles->end()) {
      inside = it->second;
    } else {
      PyObject *answer =
          PyObject_CallOneArg(locationClassifier, filename);
      if (!answer) {
        Py_DECREF(code);
        Py_DECREF(frame);
        return nullptr;
      }
      inside = PyObject_IsTrue(answer) == 1;
      Py_DECREF(answer);
      Py_INCREF(filename); // (a key: kept alive, so never reused)
      kilnFiles->emplace(filename, inside);
    }
    if (!inside) {
      PyObject *out = PyUnicode_FromFormat("%U:%d", filename,
                                           PyFrame_GetLineNumber(frame));
      Py_DECREF(code);
      Py_DECREF(frame);
      return out;
    }
    Py_DECREF(code);
    PyFrameObject *back = PyFrame_GetBack(frame);
    Py_DECREF(frame);
    frame = back;
  }
  Py_RETURN_NONE;
}

PyMethodDef userLocationMethod = {
    "user_location",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(userLocation)),
    METH_FASTCALL, "user_location() -> 'file:line' of the user's frame, or None"};

/// call(executable, name, inputs, variables): Executable.invoke for
/// kiln.Tensor inputs, returning kiln.Tensors (a raw fast call, as eager).
PyObject *callExecutable(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
  return guarded("call", [&]() -> PyObject * {
    if (nargs != 4) {
      PyErr_SetString(PyExc_TypeError,
                      "call(executable, name, inputs, variables)");
      return nullptr;
    }
    Executable &exe = py::handle(args[0]).cast<Executable &>();
    const char *name = PyUnicode_AsUTF8(args[1]);
    llvm::SmallVector<kiln_buffer_t *, 8> in;
    if (!name || !buffersOf(args[2], "call", in))
      return nullptr;
    return wrapAll(exe.run(name, in, Executable::storeOf(args[3])));
  });
}

PyMethodDef callMethod = {
    "call",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(callExecutable)),
    METH_FASTCALL,
    "call(executable, name, inputs, variables) -> [kiln.Tensor]"};

} // namespace

PYBIND11_MODULE(_kiln, m) {
  m.doc() = "Kiln's native module: tensors, eager kernels, the compiler";

  static py::exception<KilnError> error(m, "NativeError");
  nativeError = error.ptr();
  implName = PyUnicode_InternFromString("_impl");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const KilnError &e) {
      setNativeError(e);
    }
  });
  m.add_object("eager", py::reinterpret_steal<py::object>(PyCFunction_NewEx(
                            &eagerMethod, nullptr, m.attr("__name__").ptr())));
  m.add_object("call", py::reinterpret_steal<py::object>(PyCFunction_NewEx(
                           &callMethod, nullptr, m.attr("__name__").ptr())));
  m.add_object("user_location",
               py::reinterpret_steal<py::object>(PyCFunction_NewEx(
                   &userLocationMethod, nullptr, m.attr("__name__").ptr())));
  m.def(
      "register_location_classifier",
      [](py::function classify) {
        Py_INCREF(classify.ptr()); // (held for the life of the process)
        locationClassifier = classify.ptr();
        if (!kilnFiles)
          kilnFiles = new std::unordered_map<PyObject *, bool>();
      },
      "classify(filename) -> whether the file is part of Kiln (asked once "
      "per file by user_location).");
  m.def(
      "register_tensor_type",
      [](py::type type) {
        Py_INCREF(type.ptr()); // (held for the life of the process)
        pythonTensorType = reinterpret_cast<PyTypeObject *>(type.ptr());
      },
      "Makes `type` (kiln.Tensor) what eager() returns.");

  py::class_<Tensor, std::shared_ptr<Tensor>> tensorClass(m, "Tensor");
  nativeTensorType = reinterpret_cast<PyTypeObject *>(tensorClass.ptr());
  tensorClass
      .def_static("from_numpy", &Tensor::fromNumpy, py::arg("array"),
                  py::arg("dtype") = "")
      .def("numpy", &Tensor::numpy)
      .def_property_readonly("shape",
                             [](const Tensor &t) {
                               py::tuple shape(t.shape().size());
                               for (size_t i = 0; i < t.shape().size(); ++i)
                                 shape[i] = t.shape()[i];
                               return shape;
                             })
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", &Tensor::device)
      .def_static("to", &Tensor::to, py::arg("tensor"), py::arg("device"))
      .def_property_readonly("type", &Tensor::type);

  // Typed attribute values (plain Python values cover the rest).
  using mlir::kiln::AttrValue;
  py::class_<AttrValue>(m, "AttrValue")
      .def("__repr__", [](const AttrValue &v) {
        return "<kiln attribute value of kind " +
               std::to_string(static_cast<int>(v.kind)) + ">";
      });
  m.def("i32", &AttrValue::i32, "An i32 attribute.");
  m.def("f32", &AttrValue::f32, "An f32 attribute.");
  m.def("symbol", &AttrValue::symbol, "A symbol reference attribute (@name).");
  m.def("unit", &AttrValue::unit, "A unit attribute (a present flag).");
  m.def("i32_array", &AttrValue::i32Array, "An array<i32: ...> attribute.");
  py::class_<mlir::kiln::OpAttributes,
             std::shared_ptr<mlir::kiln::OpAttributes>>(m, "Attributes")
      .def(py::init(&opAttributes), py::arg("values"),
           "An op's attributes from a dict of typed values.")
      .def("__len__",
           [](const mlir::kiln::OpAttributes &a) { return a.list().size(); })
      // Equal attributes are one key (gradient tapes key compiled
      // gradients by the ops they recorded).
      .def("__eq__",
           [](const mlir::kiln::OpAttributes &a, py::object other) {
             return py::isinstance<mlir::kiln::OpAttributes>(other) &&
                    a.key() == other.cast<const mlir::kiln::OpAttributes &>()
                                   .key();
           })
      .def("__hash__", [](const mlir::kiln::OpAttributes &a) {
        return static_cast<py::ssize_t>(std::hash<std::string>()(a.key()));
      });
  m.def("enum_case", &AttrValue::enumCase, py::arg("enum"), py::arg("case"),
        "A case of a Kiln enum attribute (compare_direction, collective_reduction, "
        "scatter_reduction, padding).");

  m.def(
      "run_op",
      [](const std::string &op,
         const std::vector<std::shared_ptr<Tensor>> &inputs,
         py::handle attributes, const py::sequence &results,
         const std::string &device) {
        std::vector<kiln_buffer_t *> in;
        in.reserve(inputs.size());
        for (const auto &t : inputs)
          in.push_back(t->get());
        const mlir::kiln::OpAttributes &attrs = attributesOf(attributes);
        std::vector<mlir::kiln::TensorTypeSpec> resultTypes =
            typeSpecs(results);
        kiln_device_t where = device == "cpu"
                                  ? kiln_device_t{KILN_DEVICE_CPU, 0}
                                  : Tensor::parseDevice(device);
        std::vector<kiln_buffer_t *> out;
        kiln_status_t status;
        {
          py::gil_scoped_release release;
          status = engine().run(op, in, attrs, resultTypes, where, out);
        }
        check(status);
        std::vector<std::shared_ptr<Tensor>> tensors;
        tensors.reserve(out.size());
        for (kiln_buffer_t *b : out)
          tensors.push_back(std::make_shared<Tensor>(b));
        return tensors;
      },
      py::arg("op"), py::arg("inputs"), py::arg("attributes") = py::none(),
      py::arg("results") = py::tuple(), py::arg("device") = "cpu");
  m.def("read_idx",
        [](const std::string &path, const std::string &dtype) {
          kiln_dtype_t type;
          check(kiln_dtype_parse(dtype.c_str(), &type));
          kiln_buffer_t *buffer = nullptr;
          {
            py::gil_scoped_release release;
            check(kiln_idx_read(path.c_str(), type, -1, &buffer));
          }
          return std::make_shared<Tensor>(buffer);
        },
        py::arg("path"), py::arg("dtype"),
        "Reads an idx (.gz) file with the runtime's reader.");
  m.def("merge_modules",
        [](const std::vector<std::string> &texts,
           const std::vector<std::string> &names,
           const std::map<std::string, std::string> &renames) {
          std::string merged;
          check(engine().mergeModules(texts, names, renames, merged));
          return merged;
        },
        py::arg("texts"), py::arg("names"), py::arg("renames"));
  m.def("compile_library",
        [](const std::string &text, const std::string &outDir,
           const std::string &name, const std::string &targetCpu) {
          kiln_status_t status;
          {
            py::gil_scoped_release release;
            status = engine().compileLibrary(text, outDir, name, targetCpu);
          }
          check(status);
        },
        py::arg("text"), py::arg("out_dir"), py::arg("name"),
        py::arg("target_cpu") = "native");
  m.def(
      "compile_module",
      [](const std::string &text, const std::string &filename,
         const std::string &device) {
        kiln_status_t status = nullptr;
        OwningOpRef<ModuleOp> module =
            engine().getCompiler().parse(text, filename, &status);
        check(status);
        kiln_executable_t *exe = nullptr;
        check(engine().jit(*module, Tensor::parseDevice(device), &exe));
        return std::make_shared<Executable>(exe);
      },
      py::arg("text"), py::arg("filename"), py::arg("device") = "cpu",
      "Compiles a Kiln module's text (a saved model) into an Executable.");
  m.def("run_passes", [](const std::string &text, const std::string &pipeline) {
          std::string out;
          check(engine().runPasses(text, pipeline, out));
          return out;
        },
        py::arg("text"), py::arg("pipeline"));
  py::class_<Executable, std::shared_ptr<Executable>>(m, "Executable")
      .def("invoke", &Executable::invoke, py::arg("name"), py::arg("inputs"),
           py::arg("variables") = py::none())
      .def("assigned", &Executable::assigned);

  py::class_<ModuleBuilder>(m, "ModuleBuilder")
      .def(py::init<>())
      .def("function", &ModuleBuilder::function, py::arg("name"),
           py::arg("argument_types"), py::arg("private") = false)
      .def("argument", &ModuleBuilder::argument)
      .def("op", &ModuleBuilder::op, py::arg("function"), py::arg("name"),
           py::arg("operands"), py::arg("attributes") = py::none(),
           py::arg("result_types") = py::tuple(), py::arg("file") = "",
           py::arg("line") = 0, py::arg("outermost") = false)
      .def("constant", &ModuleBuilder::constant, py::arg("function"),
           py::arg("array"), py::arg("dtype") = "")
      .def("declare_variable", &ModuleBuilder::declareVariable)
      .def("push_block", &ModuleBuilder::pushBlock)
      .def("discard_block", &ModuleBuilder::discardBlock)
      .def("outline", &ModuleBuilder::outline, py::arg("function"),
           py::arg("target"), py::arg("sources"), py::arg("name"),
           py::arg("known_values") = false,
           py::arg("recorded") = std::vector<std::pair<size_t, size_t>>())
      .def("mark", &ModuleBuilder::mark)
      .def("pop_block", &ModuleBuilder::popBlock, py::arg("function"),
           py::arg("values"), py::arg("terminator") = "yield")
      .def("region_op", &ModuleBuilder::regionOp, py::arg("function"),
           py::arg("name"), py::arg("operands"), py::arg("blocks"),
           py::arg("result_types") = py::tuple(), py::arg("file") = "",
           py::arg("line") = 0)
      .def("type", &ModuleBuilder::type)
      .def("finish_function", &ModuleBuilder::finishFunction)
      .def("text", &ModuleBuilder::text)
      .def("compile", &ModuleBuilder::compile, py::arg("device") = "cpu");

  py::class_<VariableStore>(m, "VariableStore")
      .def(py::init<>())
      .def("set", &VariableStore::set)
      .def("prepare_update", &VariableStore::prepareUpdate)
      .def("get", &VariableStore::get)
      .def("__contains__", &VariableStore::contains)
      .def("place", &VariableStore::place)
      .def("save", &VariableStore::save)
      .def("load", &VariableStore::load)
      .def("names", &VariableStore::names);

  // The runtime's rule for entry, variable and library names.
  m.def("is_identifier", [](const std::string &name) {
    return ::kiln::runtime::isIdentifier(name);
  });
  // The runtime's thread pool (kiln_num_threads, kiln_set_num_threads).
  m.def(
      "gpu_status",
      [](int ordinal) -> py::object {
        // None if cuda:ORDINAL can be used, else why not.
        kiln_status_t status =
            kiln_device_check(kiln_device_t{KILN_DEVICE_CUDA, ordinal});
        if (!status)
          return py::none();
        std::string message = kiln_status_message(status);
        kiln_status_free(status);
        return py::str(message);
      },
      py::arg("ordinal"));
  m.def("gpu_count", [] { return kiln_device_count(KILN_DEVICE_CUDA); });
  m.def("set_allow_tf32", [](bool enabled) { engine().setAllowTf32(enabled); });
  m.def("allow_tf32", [] { return engine().allowTf32(); });
  m.def("num_threads", [] { return kiln_num_threads(); });
  m.def("set_num_threads", [](int count) {
    if (kiln_status_t status = kiln_set_num_threads(count)) {
      std::string message = kiln_status_message(status);
      kiln_status_free(status);
      throw py::value_error(message);
    }
  });
  // Collectives over MPI (kiln_collectives_init, kiln_group_info,
  // kiln_group_define): kiln.distribute.
  m.def("collectives_init", [] { check(kiln_collectives_init()); });
  m.def(
      "group_info",
      [](const std::string &name) {
        int32_t rank = 0, size = 0;
        check(kiln_group_info(name.c_str(), &rank, &size));
        return py::make_tuple(rank, size);
      },
      py::arg("name"));
  m.def(
      "group_define",
      [](const std::string &name, const std::vector<int32_t> &ranks) {
        check(kiln_group_define(name.c_str(), ranks.data(),
                                static_cast<int32_t>(ranks.size())));
      },
      py::arg("name"), py::arg("ranks"));
  // The counters of a device's buffer pool (kiln_device_memory_stats).
  m.def("pool_stats", [](const std::string &device) {
    kiln_pool_stats_t stats;
    check(kiln_device_memory_stats(Tensor::parseDevice(device), &stats));
    py::dict out;
    out["allocations"] = stats.allocations;
    out["reuses"] = stats.reuses;
    out["bytes_cached"] = stats.bytes_cached;
    out["bytes_in_use"] = stats.bytes_in_use;
    return out;
  }, py::arg("device") = "cpu");
  m.def("kernels_compiled", [] { return engine().kernelsCompiled(); });
  m.def("kernel_cache_hits", [] { return engine().cacheHits(); });
  m.def("modules_compiled", [] { return engine().modulesCompiled(); });
  m.def("kernels_loaded_from_disk",
        [] { return engine().loadedFromDisk(); });
}
