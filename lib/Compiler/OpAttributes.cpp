//===- OpAttributes.cpp - Op attributes as typed values -------------------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Compiler/OpAttributes.h"

#include "kiln/Dialect/Kiln/Dtypes.h"
#include "kiln/Dialect/Kiln/KilnOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::kiln;

static AttrValue make(AttrValue::Kind kind) {
  AttrValue a;
  a.kind = kind;
  return a;
}

AttrValue AttrValue::boolean(bool v) {
  AttrValue a = make(Kind::Bool);
  a.integer = v;
  return a;
}
AttrValue AttrValue::i32(int64_t v) {
  AttrValue a = make(Kind::I32);
  a.integer = v;
  return a;
}
AttrValue AttrValue::i64(int64_t v) {
  AttrValue a = make(Kind::I64);
  a.integer = v;
  return a;
}
AttrValue AttrValue::f32(double v) {
  AttrValue a = make(Kind::F32);
  a.real = v;
  return a;
}
AttrValue AttrValue::f64(double v) {
  AttrValue a = make(Kind::F64);
  a.real = v;
  return a;
}
AttrValue AttrValue::string(std::string v) {
  AttrValue a = make(Kind::String);
  a.text = std::move(v);
  return a;
}
AttrValue AttrValue::symbol(std::string name) {
  AttrValue a = make(Kind::Symbol);
  a.text = std::move(name);
  return a;
}
AttrValue AttrValue::i64Array(std::vector<int64_t> v) {
  AttrValue a = make(Kind::I64Array);
  a.integers = std::move(v);
  return a;
}
AttrValue AttrValue::i32Array(std::vector<int64_t> v) {
  AttrValue a = make(Kind::I32Array);
  a.integers = std::move(v);
  return a;
}
AttrValue AttrValue::stringArray(std::vector<std::string> v) {
  AttrValue a = make(Kind::StringArray);
  a.texts = std::move(v);
  return a;
}
AttrValue AttrValue::enumCase(std::string enumName, std::string caseName) {
  AttrValue a = make(Kind::Enum);
  a.enumName = std::move(enumName);
  a.text = std::move(caseName);
  return a;
}

static Attribute buildOne(Builder &b, const std::string &name,
                          const AttrValue &v, std::string &error) {
  using Kind = AttrValue::Kind;
  switch (v.kind) {
  case Kind::Unit:
    return b.getUnitAttr();
  case Kind::Bool:
    return b.getBoolAttr(v.integer != 0);
  case Kind::I32:
    if (v.integer < std::numeric_limits<int32_t>::min() ||
        v.integer > std::numeric_limits<int32_t>::max()) {
      error = "attribute '" + name + "': " + std::to_string(v.integer) +
              " does not fit in i32";
      return {};
    }
    return b.getI32IntegerAttr(static_cast<int32_t>(v.integer));
  case Kind::I64:
    return b.getI64IntegerAttr(v.integer);
  case Kind::F32:
    return b.getF32FloatAttr(static_cast<float>(v.real));
  case Kind::F64:
    return b.getF64FloatAttr(v.real);
  case Kind::String:
    return b.getStringAttr(v.text);
  case Kind::Symbol:
    if (v.text.empty()) {
      error = "attribute '" + name + "': an empty symbol name";
      return {};
    }
    return FlatSymbolRefAttr::get(b.getContext(), v.text);
  case Kind::I64Array:
    return b.getDenseI64ArrayAttr(v.integers);
  case Kind::I32Array: {
    SmallVector<int32_t> narrow;
    for (int64_t i : v.integers) {
      if (i < std::numeric_limits<int32_t>::min() ||
          i > std::numeric_limits<int32_t>::max()) {
        error = "attribute '" + name + "': " + std::to_string(i) +
                " does not fit in i32";
        return {};
      }
      narrow.push_back(static_cast<int32_t>(i));
    }
    return b.getDenseI32ArrayAttr(narrow);
  }
  case Kind::StringArray: {
    SmallVector<Attribute> texts;
    for (const std::string &t : v.texts)
      texts.push_back(b.getStringAttr(t));
    return b.getArrayAttr(texts);
  }
  case Kind::Enum:
    if (v.enumName == "compare_direction") {
      if (std::optional<CompareDirection> d = symbolizeCompareDirection(v.text))
        return b.getI32IntegerAttr(static_cast<int32_t>(*d));
    } else if (v.enumName == "collective_reduction") {
      if (std::optional<CollectiveReduction> r =
              symbolizeCollectiveReduction(v.text))
        return b.getI32IntegerAttr(static_cast<int32_t>(*r));
    } else if (v.enumName == "scatter_reduction") {
      if (std::optional<ScatterReduction> r = symbolizeScatterReduction(v.text))
        return b.getI32IntegerAttr(static_cast<int32_t>(*r));
    } else if (v.enumName == "padding") {
      if (std::optional<Padding> p = symbolizePadding(v.text))
        return PaddingAttr::get(b.getContext(), *p);
    } else {
      error = "attribute '" + name + "': no Kiln enum '" + v.enumName +
              "' (compare_direction, collective_reduction, scatter_reduction, "
              "padding)";
      return {};
    }
    error = "attribute '" + name + "': '" + v.text + "' is not a " +
            v.enumName + " case";
    return {};
  }
  error = "attribute '" + name + "': unknown kind";
  return {};
}

FailureOr<DictionaryAttr> mlir::kiln::buildAttributes(MLIRContext &context,
                                                      const AttrList &attrs,
                                                      std::string &error) {
  if (attrs.empty())
    return DictionaryAttr();
  Builder b(&context);
  SmallVector<NamedAttribute> named;
  llvm::StringSet<> seen;
  for (const auto &[name, value] : attrs) {
    if (name.empty()) {
      error = "an attribute without a name";
      return failure();
    }
    if (!seen.insert(name).second) {
      error = "attribute '" + name + "' is given twice";
      return failure();
    }
    Attribute attr = buildOne(b, name, value, error);
    if (!attr)
      return failure();
    named.push_back(b.getNamedAttr(name, attr));
  }
  return b.getDictionaryAttr(named);
}

static void appendInt(std::string &key, int64_t v) {
  char bytes[sizeof v];
  std::memcpy(bytes, &v, sizeof v);
  key.append(bytes, sizeof v);
}

static void appendText(std::string &key, const std::string &text) {
  appendInt(key, static_cast<int64_t>(text.size()));
  key += text;
}

void mlir::kiln::appendAttributeKey(std::string &key, const AttrList &attrs) {
  appendInt(key, static_cast<int64_t>(attrs.size()));
  for (const auto &[name, v] : attrs) {
    appendText(key, name);
    key += static_cast<char>(v.kind);
    switch (v.kind) {
    case AttrValue::Kind::Unit:
      break;
    case AttrValue::Kind::Bool:
    case AttrValue::Kind::I32:
    case AttrValue::Kind::I64:
      appendInt(key, v.integer);
      break;
    case AttrValue::Kind::F32:
    case AttrValue::Kind::F64: {
      int64_t bits;
      std::memcpy(&bits, &v.real, sizeof bits);
      appendInt(key, bits);
      break;
    }
    case AttrValue::Kind::String:
    case AttrValue::Kind::Symbol:
      appendText(key, v.text);
      break;
    case AttrValue::Kind::I64Array:
    case AttrValue::Kind::I32Array:
      appendInt(key, static_cast<int64_t>(v.integers.size()));
      for (int64_t i : v.integers)
        appendInt(key, i);
      break;
    case AttrValue::Kind::StringArray:
      appendInt(key, static_cast<int64_t>(v.texts.size()));
      for (const std::string &t : v.texts)
        appendText(key, t);
      break;
    case AttrValue::Kind::Enum:
      appendText(key, v.enumName);
      appendText(key, v.text);
      break;
    }
  }
}

OpAttributes::OpAttributes(AttrList list) : attrs(std::move(list)) {
  appendAttributeKey(encoded, attrs);
}

FailureOr<RankedTensorType>
mlir::kiln::buildTensorType(MLIRContext &context, const TensorTypeSpec &spec,
                            std::string &error) {
  SmallVector<int64_t> shape;
  for (int64_t d : spec.shape) {
    if (d < -1) {
      error = "a tensor extent of " + std::to_string(d) +
              " (extents are >= 0, or -1 for one known only at run time)";
      return failure();
    }
    shape.push_back(d == -1 ? ShapedType::kDynamic : d);
  }
  Type element = getElementType(&context, spec.dtype);
  if (!element) {
    error = "dtype " + std::to_string(static_cast<int>(spec.dtype)) +
            " is not a Kiln element type";
    return failure();
  }
  return RankedTensorType::get(shape, element);
}

FailureOr<TensorTypeSpec> mlir::kiln::tensorTypeSpec(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return failure();
  std::optional<kiln_dtype_t> dtype = getDtype(tensor.getElementType());
  if (!dtype)
    return failure();
  TensorTypeSpec spec;
  spec.dtype = *dtype;
  for (int64_t d : tensor.getShape())
    spec.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  return spec;
}

void mlir::kiln::appendTypeKey(std::string &key, const TensorTypeSpec &spec) {
  key += static_cast<char>(spec.dtype);
  appendInt(key, static_cast<int64_t>(spec.shape.size()));
  for (int64_t d : spec.shape)
    appendInt(key, d);
}
