//===- KilnBase.td - Kiln dialect, enums and type constraints -*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_BASE_TD
#define KILN_BASE_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::mlir::kiln";
  let summary = "Tensor programs with value semantics, as users write them";
  let description = [{
    The `kiln` dialect holds tensor programs as they come from eager-style
    front ends (traced Python) or from hand-written MLIR: elementwise math with
    NumPy broadcasting, reductions, shape manipulation, linear algebra, the
    neural-network building blocks (convolution, pooling, softmax and
    cross-entropy, with the gradient ops that reverse-mode autodiff needs) and
    structured control flow.

    Every value is a builtin ranked tensor (`f32`, `f64`, `f16`, `bf16`, `i1`,
    `i32`, `i64` elements); ops have no side effects unless they say so. Result
    types follow from operand types and attributes: every op either infers its
    result type or verifies the one it is given, with a message that says which
    dimension or attribute is wrong. Shapes are static today; shape rules
    propagate unknown (`?`) extents so that a dynamic batch dimension can be
    added later.
  }];
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 1;
  // The attributes below are Kiln's contract with its passes and its ABI;
  // the dialect checks where they appear and what their values are.
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let discardableAttrs = (ins
    // On a module, after kiln-externalize-variables: each declared variable's
    // name and type.
    "::mlir::DictionaryAttr":$variables,
    // On a function: the variables it assigns, in the order of the extra
    // results that carry their new values.
    "::mlir::ArrayAttr":$assigned,
    // On a function argument: the variable the runtime binds to it.
    "::mlir::FlatSymbolRefAttr":$variable,
    // On an entry point: its signature for the runtime (#kiln.entry).
    "::mlir::kiln::EntryAttr":$entry,
    // On an entry point renamed by kiln-internal-symbol-names: the name its
    // C entry points take.
    "::mlir::StringAttr":$entry_name,
    // On a shape function: the entry point it belongs to.
    "::mlir::FlatSymbolRefAttr":$shape_function,
    // On a generated gradient function: what it differentiates.
    "::mlir::FlatSymbolRefAttr":$gradient_of,
    "::mlir::DenseI64ArrayAttr":$gradient_wrt,
    "::mlir::ArrayAttr":$gradient_variables,
    "::mlir::UnitAttr":$gradient_seeded,
    // (Built for a request with `known_inputs`.)
    "::mlir::UnitAttr":$gradient_known_inputs,
    // On a function of a module compiled for a GPU that is not an entry
    // (one its entries call): its buffers are GPU memory
    // (kiln-gpu-mark-functions).
    "::mlir::UnitAttr":$gpu_function
  );
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Kiln_FloatElement : AnyTypeOf<[F32, F64, F16, BF16], "floating-point">;
def Kiln_IntElement : AnyTypeOf<[I32, I64], "32/64-bit signless integer">;
def Kiln_NumericElement : AnyTypeOf<[Kiln_FloatElement, Kiln_IntElement],
                                    "floating-point or 32/64-bit integer">;
def Kiln_ComputeElement : AnyTypeOf<[Kiln_NumericElement, I1],
    "Kiln element that ops compute on (f32, f64, f16, bf16, i1, i32, i64)">;
// Storage types (tf.int8, int16, uint8, uint16, uint32): casts, constants,
// arguments, results, variables and the ops that only move elements take
// them; arithmetic reads them through a kiln.cast to i32 (i64 for ui32).
// The lowering erases signedness (ui8 becomes i8, a cast from or to it
// zero-extending or saturating at zero).
def Kiln_StorageElement : AnyTypeOf<[I8, I16, UI8, UI16, UI32],
                                    "8/16-bit or unsigned integer">;
def Kiln_Element : AnyTypeOf<[Kiln_ComputeElement, Kiln_StorageElement],
    "Kiln element (f32, f64, f16, bf16, i1, i32, i64, i8, i16, ui8, ui16, ui32)">;

def Kiln_Tensor : RankedTensorOf<[Kiln_Element]>;
def Kiln_ComputeTensor : RankedTensorOf<[Kiln_ComputeElement]>;
def Kiln_FloatTensor : RankedTensorOf<[Kiln_FloatElement]>;
def Kiln_IntTensor : RankedTensorOf<[Kiln_IntElement]>;
def Kiln_NumericTensor : RankedTensorOf<[Kiln_NumericElement]>;
def Kiln_BoolTensor : RankedTensorOf<[I1]>;

// Rank-0 tensors used by control flow; buildable, so assembly formats need
// not spell their types.
def Kiln_PredTensor : 0DTensorOf<[I1]>,
    BuildableType<"::mlir::RankedTensorType::get({}, $_builder.getI1Type())">;
def Kiln_I64Scalar : 0DTensorOf<[I64]>,
    BuildableType<"::mlir::RankedTensorType::get({}, $_builder.getI64Type())">;

//===----------------------------------------------------------------------===//
// Traits
//===----------------------------------------------------------------------===//

// Ops whose lowering (convert-kiln-to-linalg) takes operands and results with
// open (`?`) extents; every other op needs static shapes there.
def Kiln_OpenExtents : NativeOpTrait<"OpenExtents"> {
  let cppNamespace = "::mlir::kiln::OpTrait";
}

// Every Kiln op: its tensor operands and results hold at most 2^63 - 1 bytes
// (a larger static shape is refused by the verifier, before any pass
// computes a size that overflows).
def Kiln_BoundedExtents : NativeOpTrait<"BoundedExtents"> {
  let cppNamespace = "::mlir::kiln::OpTrait";
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Kiln_CompareDirection : I32EnumAttr<"CompareDirection",
    "comparison of two tensors, elementwise", [
      I32EnumAttrCase<"eq", 0>, I32EnumAttrCase<"ne", 1>,
      I32EnumAttrCase<"lt", 2>, I32EnumAttrCase<"le", 3>,
      I32EnumAttrCase<"gt", 4>, I32EnumAttrCase<"ge", 5>]> {
  let cppNamespace = "::mlir::kiln";
}

def Kiln_CollectiveReduction : I32EnumAttr<"CollectiveReduction",
    "how a collective combines the processes' tensors, elementwise", [
      I32EnumAttrCase<"sum", 0>, I32EnumAttrCase<"mean", 1>,
      I32EnumAttrCase<"max", 2>, I32EnumAttrCase<"min", 3>]> {
  let cppNamespace = "::mlir::kiln";
}

def Kiln_ScatterReduction : I32EnumAttr<"ScatterReduction",
    "how kiln.scatter_reduce combines an update with what a position holds", [
      I32EnumAttrCase<"max", 0>, I32EnumAttrCase<"min", 1>,
      I32EnumAttrCase<"prod", 2>]> {
  let cppNamespace = "::mlir::kiln";
}

def Kiln_PaddingKind : I32Enum<"Padding",
    "implicit padding of a sliding-window op (TensorFlow's rules)", [
      I32EnumCase<"VALID", 0>, I32EnumCase<"SAME", 1>]> {
  let cppNamespace = "::mlir::kiln";
}

// The values match the runtime's kiln_device_type_t.
def Kiln_DeviceKind : I32Enum<"Device",
    "the kind of device that code is compiled for", [
      I32EnumCase<"cpu", 0>, I32EnumCase<"cuda", 1>]> {
  let cppNamespace = "::mlir::kiln";
}

def Kiln_AccessKind : I32Enum<"Access",
    "how an entry point uses a variable it binds", [
      I32EnumCase<"read", 0>, I32EnumCase<"read_write", 1>]> {
  let cppNamespace = "::mlir::kiln";
}

def Kiln_PaddingAttr : EnumAttr<Kiln_Dialect, Kiln_PaddingKind, "padding"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // KILN_BASE_TD
