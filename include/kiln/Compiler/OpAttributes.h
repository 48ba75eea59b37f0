//===- OpAttributes.h - Op attributes as typed values -----------*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// Front ends (the Python binding) describe an op's attributes and types as
// plain typed values -- an i64, an array of i64, a symbol name, a dtype and
// a shape -- never as MLIR text. This file turns them into MLIR attributes
// and types, and encodes them into the keys of the eager kernel cache.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_OPATTRIBUTES_H
#define KILN_COMPILER_OPATTRIBUTES_H

#include "kiln/Runtime/Runtime.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::kiln {

/// One attribute value. Which fields are meaningful depends on `kind`.
struct AttrValue {
  enum class Kind : uint8_t {
    Unit,        // a present flag (`{bounds_check}`)
    Bool,        // integer (0/1)
    I32,         // integer
    I64,         // integer
    F32,         // real
    F64,         // real
    String,      // text
    Symbol,      // text: a flat symbol reference (@text)
    I64Array,    // integers: array<i64: ...>
    I32Array,    // integers: array<i32: ...> (e.g. operandSegmentSizes)
    StringArray, // texts: [ "a", "b" ]
    Enum,        // enumName, text: a case of one of Kiln's enums
  };
  Kind kind = Kind::Unit;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  std::vector<int64_t> integers;
  std::vector<std::string> texts;
  std::string enumName;

  static AttrValue unit() { return {}; }
  static AttrValue boolean(bool v);
  static AttrValue i32(int64_t v);
  static AttrValue i64(int64_t v);
  static AttrValue f32(double v);
  static AttrValue f64(double v);
  static AttrValue string(std::string v);
  static AttrValue symbol(std::string name);
  static AttrValue i64Array(std::vector<int64_t> v);
  static AttrValue i32Array(std::vector<int64_t> v);
  static AttrValue stringArray(std::vector<std::string> v);
  /// A case of a Kiln enum attribute by name: "compare_direction" ("eq",
  /// "lt", ...), "collective_reduction" ("sum", "mean", "max", "min") or
  /// "padding" ("SAME", "VALID"). Unknown names fail when the attributes
  /// are built.
  static AttrValue enumCase(std::string enumName, std::string caseName);
};

/// Named attribute values in the order a front end gave them.
using AttrList = std::vector<std::pair<std::string, AttrValue>>;

/// An op's attributes with their cache-key encoding, computed once.
class OpAttributes {
public:
  OpAttributes() = default;
  explicit OpAttributes(AttrList attrs);
  const AttrList &list() const { return attrs; }
  /// appendAttributeKey of the list.
  const std::string &key() const { return encoded; }
  bool empty() const { return attrs.empty(); }

private:
  AttrList attrs;
  std::string encoded;
};

/// Builds the attribute dictionary of `attrs` (null for none). An i32 that
/// does not fit, or a name given twice, fails with a message in `error`.
FailureOr<DictionaryAttr> buildAttributes(MLIRContext &context,
                                          const AttrList &attrs,
                                          std::string &error);

/// Appends an unambiguous binary encoding of `attrs` to `key`.
void appendAttributeKey(std::string &key, const AttrList &attrs);

/// A ranked tensor type as plain values: an extent of -1 is open (`?`).
struct TensorTypeSpec {
  kiln_dtype_t dtype = KILN_F32;
  std::vector<int64_t> shape;
};

/// tensor<shape x dtype>; negative extents other than -1 fail.
FailureOr<RankedTensorType> buildTensorType(MLIRContext &context,
                                            const TensorTypeSpec &spec,
                                            std::string &error);

/// The spec of a ranked tensor type of a runtime dtype; failure otherwise.
FailureOr<TensorTypeSpec> tensorTypeSpec(Type type);

/// Appends an unambiguous binary encoding of `spec` to `key`.
void appendTypeKey(std::string &key, const TensorTypeSpec &spec);

} // namespace mlir::kiln

#endif // KILN_COMPILER_OPATTRIBUTES_H
