//===- KilnOps.td - Kiln dialect operations -------------------*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_OPS_TD
#define KILN_OPS_TD

include "kiln/Dialect/Kiln/KilnBase.td"
include "kiln/Dialect/Kiln/KilnAttrs.td"
include "kiln/Dialect/Kiln/KilnInterfaces.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/LoopLikeInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Base classes
//===----------------------------------------------------------------------===//

class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, traits # [Kiln_BoundedExtents]>;

// Ops with a vector-Jacobian product rule (see KilnInterfaces.td).
defvar Kiln_Differentiable =
    DeclareOpInterfaceMethods<Kiln_DifferentiableOpInterface>;

// Result types compare as compatible (not equal): a result may be less
// refined than the inferred type (`?` where a size is known), which is what a
// dynamic batch dimension and the shape-refinement pass need.
defvar Kiln_CompatibleReturnTypes = [{
  bool $cppClass::isCompatibleReturnTypes(::mlir::TypeRange l,
                                          ::mlir::TypeRange r) {
    return ::mlir::kiln::areCompatibleReturnTypes(l, r);
  }
}];

// An op whose result types follow from its operands and attributes; the
// inferred types are also what the verifier checks.
class Kiln_InferOp<string mnemonic, list<Trait> traits = []>
    : Kiln_Op<mnemonic, traits # [Pure, InferTypeOpAdaptorWithIsCompatible]> {
  let extraClassDefinition = Kiln_CompatibleReturnTypes;
}

//===----------------------------------------------------------------------===//
// Constants and generators
//===----------------------------------------------------------------------===//

def Kiln_ConstantOp : Kiln_Op<"constant",
    [ConstantLike, Pure, InferTypeOpAdaptor]> {
  let summary = "A tensor constant";
  let description = [{
    Produces the tensor given by the `value` attribute; the result type is the
    attribute's type.

    ```mlir
    %c = kiln.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
  let builders = [OpBuilder<(ins "::mlir::ElementsAttr":$value), [{
    build($_builder, $_state, value.getType(), value);
  }]>];
}

def Kiln_IotaOp : Kiln_Op<"iota", [Pure]> {
  let summary = "Indices along one dimension";
  let description = [{
    Fills the result with the index of each element along `dimension`
    (0, 1, 2, ... repeated over the other dimensions). Open extents of the
    result are read from `like`, a tensor of the same rank whose elements
    are never read (a causal mask over sequences whose length is known only
    at run time).

    ```mlir
    %i = kiln.iota {dimension = 1 : i64} : tensor<2x3xi32>  // [[0,1,2],[0,1,2]]
    %j = kiln.iota like %x {dimension = 0 : i64} : tensor<?x?xi32>, tensor<?x?xf32>
    ```
  }];
  let arguments = (ins Optional<Kiln_Tensor>:$like, I64Attr:$dimension);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    (`like` $like^)? attr-dict `:` type($result) (`,` type($like)^)?
  }];
  let hasVerifier = 1;
}

class Kiln_RandomOp<string mnemonic, string what, dag params>
    : Kiln_Op<mnemonic, [Pure, AttrSizedOperandSegments]> {
  let summary = "Stateless random " # what;
  let arguments = !con((ins Optional<Kiln_I64Scalar>:$seed,
                            Optional<Kiln_Tensor>:$like,
                            OptionalAttr<I64Attr>:$static_seed), params);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    ($seed^)? (`like` $like^)? attr-dict `:` type($result) (`,` type($like)^)?
  }];
  let hasVerifier = 1;
}

def Kiln_RandomUniformOp : Kiln_RandomOp<"random_uniform",
    "numbers, uniform in [minval, maxval)",
    (ins DefaultValuedAttr<F64Attr, "0.0">:$minval,
         DefaultValuedAttr<F64Attr, "1.0">:$maxval)> {
  let description = [{
    Counter-based and stateless: element `i` is a function of the seed and `i`
    only, so the same seed gives the same numbers on every run and every
    backend. The seed is either the `static_seed` attribute or a rank-0 `i64`
    operand (for a seed that changes from step to step); exactly one is given.
    A result with extents known only at run time takes them from `like`, a
    tensor of the result's rank (only its extents are read; what
    `tf.random.uniform(tf.shape(x))` and dropout over an open batch build).
    Element `i` is the same whatever the extents: a row-major index.

    ```mlir
    %u = kiln.random_uniform {static_seed = 7 : i64, minval = -1.0 : f64}
        : tensor<3x4xf32>
    %v = kiln.random_uniform %seed : tensor<3x4xf32>
    %w = kiln.random_uniform %seed like %x : tensor<?x4xf32>, tensor<?x4xf32>
    ```
  }];
}

def Kiln_RandomNormalOp : Kiln_RandomOp<"random_normal",
    "numbers from a normal distribution",
    (ins DefaultValuedAttr<F64Attr, "0.0">:$mean,
         DefaultValuedAttr<F64Attr, "1.0">:$stddev)> {
  let description = [{
    Like `kiln.random_uniform`, with normally distributed numbers of the given
    `mean` and `stddev`.

    ```mlir
    %n = kiln.random_normal {static_seed = 1 : i64, stddev = 0.1 : f64}
        : tensor<16xf32>
    ```
  }];
}

def Kiln_TruncatedNormalOp : Kiln_RandomOp<"truncated_normal",
    "numbers from a normal distribution truncated at two standard deviations",
    (ins DefaultValuedAttr<F64Attr, "0.0">:$mean,
         DefaultValuedAttr<F64Attr, "1.0">:$stddev)> {
  let description = [{
    Like `kiln.random_normal`, but values more than two standard deviations
    from the mean are redrawn (as TensorFlow's `truncated_normal`).

    ```mlir
    %t = kiln.truncated_normal {static_seed = 3 : i64} : tensor<5x5xf32>
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Elementwise unary ops
//===----------------------------------------------------------------------===//

class Kiln_UnaryOp<string mnemonic, Type type, string formula,
                   list<Trait> traits = [], string example = "f32">
    : Kiln_Op<mnemonic, traits # [Pure, Elementwise, SameOperandsAndResultType,
                                  InferTypeOpInterface, Kiln_Differentiable,
                                  Kiln_OpenExtents]> {
  let summary = "Elementwise " # formula;
  let description = "Computes `" # formula # "` for every element; the "
      # "result has the operand's type.\n\n```mlir\n%y = kiln." # mnemonic
      # " %x : tensor<2x3x" # example # ">\n```\n";
  let arguments = (ins type:$operand);
  let results = (outs type:$result);
  let assemblyFormat = "$operand attr-dict `:` type($result)";
  let hasFolder = 1;
}

def Kiln_NegOp : Kiln_UnaryOp<"neg", Kiln_NumericTensor, "-x">;
def Kiln_AbsOp : Kiln_UnaryOp<"abs", Kiln_NumericTensor, "|x|">;
def Kiln_ExpOp : Kiln_UnaryOp<"exp", Kiln_FloatTensor, "e^x">;
def Kiln_LogOp : Kiln_UnaryOp<"log", Kiln_FloatTensor, "ln(x)">;
def Kiln_Log1pOp : Kiln_UnaryOp<"log1p", Kiln_FloatTensor, "ln(1 + x)">;
def Kiln_Expm1Op : Kiln_UnaryOp<"expm1", Kiln_FloatTensor,
                               "e^x - 1, accurate for x near 0">;
def Kiln_ErfOp : Kiln_UnaryOp<"erf", Kiln_FloatTensor,
                              "erf(x) = 2/sqrt(pi) * integral of exp(-t^2) over [0, x]">;
def Kiln_ErfcOp : Kiln_UnaryOp<"erfc", Kiln_FloatTensor,
                               "erfc(x) = 1 - erf(x), accurate where erf(x) is "
                               "near 1">;
def Kiln_SqrtOp : Kiln_UnaryOp<"sqrt", Kiln_FloatTensor, "sqrt(x)">;
def Kiln_RsqrtOp : Kiln_UnaryOp<"rsqrt", Kiln_FloatTensor, "1 / sqrt(x)">;
def Kiln_TanhOp : Kiln_UnaryOp<"tanh", Kiln_FloatTensor, "tanh(x)">;
def Kiln_SigmoidOp : Kiln_UnaryOp<"sigmoid", Kiln_FloatTensor,
                                  "1 / (1 + e^-x)">;
def Kiln_ReluOp : Kiln_UnaryOp<"relu", Kiln_NumericTensor, "max(x, 0)">;
def Kiln_SinOp : Kiln_UnaryOp<"sin", Kiln_FloatTensor, "sin(x)">;
def Kiln_CosOp : Kiln_UnaryOp<"cos", Kiln_FloatTensor, "cos(x)">;
def Kiln_TanOp : Kiln_UnaryOp<"tan", Kiln_FloatTensor, "tan(x)">;
def Kiln_AsinOp : Kiln_UnaryOp<"asin", Kiln_FloatTensor,
                               "asin(x) in [-pi/2, pi/2] (NaN outside [-1, 1])">;
def Kiln_AcosOp : Kiln_UnaryOp<"acos", Kiln_FloatTensor,
                               "acos(x) in [0, pi] (NaN outside [-1, 1])">;
def Kiln_AtanOp : Kiln_UnaryOp<"atan", Kiln_FloatTensor, "atan(x) in (-pi/2, pi/2)">;
def Kiln_SinhOp : Kiln_UnaryOp<"sinh", Kiln_FloatTensor, "sinh(x)">;
def Kiln_CoshOp : Kiln_UnaryOp<"cosh", Kiln_FloatTensor, "cosh(x)">;
def Kiln_AsinhOp : Kiln_UnaryOp<"asinh", Kiln_FloatTensor, "asinh(x)">;
def Kiln_AcoshOp : Kiln_UnaryOp<"acosh", Kiln_FloatTensor,
                                "acosh(x) (NaN below 1)">;
def Kiln_AtanhOp : Kiln_UnaryOp<"atanh", Kiln_FloatTensor,
                                "atanh(x) (NaN outside [-1, 1], infinite at +-1)">;
def Kiln_LgammaOp : Kiln_UnaryOp<"lgamma", Kiln_FloatTensor,
                                 "ln|Gamma(x)| (+inf at the poles 0, -1, -2, ... and "
                                 "at +-inf)">;
def Kiln_DigammaOp : Kiln_UnaryOp<"digamma", Kiln_FloatTensor,
                                  "psi(x), the derivative of ln|Gamma(x)| (NaN at the "
                                  "poles 0, -1, -2, ...)">;
def Kiln_ErfinvOp : Kiln_UnaryOp<"erfinv", Kiln_FloatTensor,
                                 "the inverse of erf on (-1, 1) (+-inf at +-1, NaN "
                                 "outside [-1, 1])">;

def Kiln_PolygammaOp
    : Kiln_Op<"polygamma", [Pure, Elementwise, SameOperandsAndResultType,
                            InferTypeOpInterface, Kiln_Differentiable,
                            Kiln_OpenExtents]> {
  let summary = "Elementwise polygamma function of a given order";
  let description = [{
    The `order`-th derivative of the digamma function, psi^(n)(x) =
    (-1)^(n+1) n! zeta(n + 1, x) (tf.math.polygamma with a known order;
    order 0 is digamma). Negative `x` are reflected through the derivatives
    of pi cot(pi x); at the poles 0, -1, -2, ... the result is +inf for odd
    orders and NaN for even ones (the two sides' limits differ).

    ```mlir
    %y = kiln.polygamma %x {order = 1 : i64} : tensor<4xf32>  // trigamma
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$operand, I64Attr:$order);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$operand attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Kiln_SignOp : Kiln_UnaryOp<"sign", Kiln_NumericTensor,
                               "sign(x) (-1, 0 or 1; NaN stays NaN)">;
def Kiln_FloorOp : Kiln_UnaryOp<"floor", Kiln_FloatTensor, "floor(x)">;
def Kiln_CeilOp : Kiln_UnaryOp<"ceil", Kiln_FloatTensor, "ceil(x)">;
def Kiln_SquareOp : Kiln_UnaryOp<"square", Kiln_NumericTensor, "x * x">;
def Kiln_ReciprocalOp : Kiln_UnaryOp<"reciprocal", Kiln_FloatTensor, "1 / x">;
def Kiln_LogicalNotOp : Kiln_UnaryOp<"logical_not", Kiln_BoolTensor, "not x", [], "i1">;
def Kiln_BitwiseNotOp : Kiln_UnaryOp<"bitwise_not", Kiln_IntTensor,
                                     "~x, every bit flipped (-x - 1)", [], "i32">;
def Kiln_StopGradientOp
    : Kiln_UnaryOp<"stop_gradient", Kiln_Tensor,
                   "x, whose gradient is zero (TF's tf.stop_gradient; it is "
                   "never folded away before kiln-autodiff)">;

def Kiln_KnownValueOp : Kiln_Op<"known_value",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface,
     Kiln_Differentiable, Kiln_OpenExtents]> {
  let summary = "A value already computed, standing in for its computation";
  let description = [{
    `%r = kiln.known_value %computed, %known` is `%known`, which whoever wrote
    the op promises equals `%computed`; gradients go to `%computed`, as if `%r`
    were `%computed`, and none to `%known`. `kiln-autodiff` differentiates it
    like that; the lowering takes `%known`, so once the gradient is built the
    ops that computed `%computed` have no other use and are removed (the
    pass also points the other uses of `%computed` that the op dominates,
    such as a `tanh` rule reading its op's result, at the known value): the
    gradient function reads the forward values it needs instead of
    recomputing them.

    The eager `GradientTape` passes the tensors its recorded ops computed as
    `%known` (their results are already in memory), which spares every eager
    gradient the second forward pass. If the promise is broken, the results
    use `%known`'s values and the derivatives of `%computed`'s ops.

    ```mlir
    %h = kiln.matmul %x, %w : tensor<256x784xf32>, tensor<784x128xf32>
        -> tensor<256x128xf32>
    %r = kiln.known_value %h, %h_saved : tensor<256x128xf32>,
        tensor<256x128xf32> -> tensor<256x128xf32>
    ```

    The three types have the same element type and compatible shapes (a
    `?` may stand where another has a size, as shape refinement leaves
    them).
  }];
  let arguments = (ins Kiln_Tensor:$computed, Kiln_Tensor:$known);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $computed `,` $known attr-dict `:` type($computed) `,` type($known) `->`
    type($result)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise binary ops with NumPy broadcasting
//===----------------------------------------------------------------------===//

class Kiln_BinaryOp<string mnemonic, Type type, string formula,
                    list<Trait> traits = [], string example = "f32">
    : Kiln_InferOp<mnemonic, traits # [Kiln_Differentiable, Kiln_OpenExtents]> {
  let summary = "Elementwise " # formula # " with broadcasting";
  let description = "Computes `" # formula # "` elementwise after "
      # "broadcasting both operands to a common shape with NumPy's rules "
      # "(shapes align at the right; an extent of 1 stretches). Both operands "
      # "have the same element type.\n\n```mlir\n%z = kiln." # mnemonic
      # " %x, %y : tensor<4x3x" # example # ">, tensor<3x" # example
      # "> -> tensor<4x3x" # example # ">\n```\n";
  let arguments = (ins type:$lhs, type:$rhs);
  let results = (outs type:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasFolder = 1;
  let extraClassDefinition = Kiln_CompatibleReturnTypes # [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> loc,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return ::mlir::kiln::inferBroadcastType(
          loc, {adaptor.getLhs().getType(), adaptor.getRhs().getType()},
          /*resultElement=*/nullptr, types);
    }
  }];
}

def Kiln_AddOp : Kiln_BinaryOp<"add", Kiln_NumericTensor, "x + y",
                               [Commutative]>;
def Kiln_SubOp : Kiln_BinaryOp<"sub", Kiln_NumericTensor, "x - y">;
def Kiln_MulOp : Kiln_BinaryOp<"mul", Kiln_NumericTensor, "x * y",
                               [Commutative]>;
def Kiln_DivOp : Kiln_BinaryOp<"div", Kiln_NumericTensor,
                               "x / y (integers: rounded toward zero, "
                               "defined for every input: x / 0 = 0 and "
                               "INT_MIN / -1 = INT_MIN, wrapping; Python's "
                               "integer // and % check the divisor first "
                               "with a kiln.assert)">;
def Kiln_RemOp : Kiln_BinaryOp<"rem", Kiln_NumericTensor,
                               "x - trunc(x / y) * y, the remainder of "
                               "kiln.div (floats: exact, C's fmod, NaN for "
                               "y = 0, x for infinite y; integers: defined "
                               "for every input, x rem 0 = x and INT_MIN "
                               "rem -1 = 0, so x = (x / y) * y + x rem y "
                               "always holds)">;
def Kiln_PowOp : Kiln_BinaryOp<"pow", Kiln_NumericTensor, "x ^ y">;
def Kiln_Atan2Op : Kiln_BinaryOp<"atan2", Kiln_FloatTensor,
                                "atan2(x, y): the angle of the point (y, x) in "
                                "[-pi, pi] (tf.math.atan2(y, x): the first "
                                "operand is the y coordinate)">;
def Kiln_MaximumOp : Kiln_BinaryOp<"maximum", Kiln_NumericTensor,
                                   "max(x, y) (NaN if either is NaN)",
                                   [Commutative]>;
def Kiln_MinimumOp : Kiln_BinaryOp<"minimum", Kiln_NumericTensor,
                                   "min(x, y) (NaN if either is NaN)",
                                   [Commutative]>;
def Kiln_LogicalAndOp : Kiln_BinaryOp<"logical_and", Kiln_BoolTensor,
                                      "x and y", [Commutative], "i1">;
def Kiln_LogicalOrOp : Kiln_BinaryOp<"logical_or", Kiln_BoolTensor, "x or y",
                                     [Commutative], "i1">;
def Kiln_BitwiseAndOp : Kiln_BinaryOp<"bitwise_and", Kiln_IntTensor,
                                      "x & y, the bits set in both",
                                      [Commutative], "i32">;
def Kiln_BitwiseOrOp : Kiln_BinaryOp<"bitwise_or", Kiln_IntTensor,
                                     "x | y, the bits set in either",
                                     [Commutative], "i32">;
def Kiln_BitwiseXorOp : Kiln_BinaryOp<"bitwise_xor", Kiln_IntTensor,
                                      "x ^ y, the bits set in exactly one",
                                      [Commutative], "i32">;
def Kiln_ShiftLeftOp : Kiln_BinaryOp<"shift_left", Kiln_IntTensor,
                                     "x << y: x times 2^y, wrapping; defined "
                                     "for every y: a shift amount outside "
                                     "[0, bit width) (negative included) "
                                     "gives 0, as StableHLO's shift_left", [],
                                     "i32">;
def Kiln_ShiftRightArithmeticOp
    : Kiln_BinaryOp<"shift_right_arithmetic", Kiln_IntTensor,
                    "x >> y filling with the sign bit (floor(x / 2^y)); "
                    "a shift amount outside [0, bit width) (negative "
                    "included) gives -1 for negative x and 0 otherwise, as "
                    "StableHLO's shift_right_arithmetic", [], "i32">;
def Kiln_ShiftRightLogicalOp
    : Kiln_BinaryOp<"shift_right_logical", Kiln_IntTensor,
                    "x >> y filling with zeros (x read as unsigned); a shift "
                    "amount outside [0, bit width) (negative included) gives "
                    "0, as StableHLO's shift_right_logical", [], "i32">;

def Kiln_CompareOp : Kiln_InferOp<"compare", [Kiln_OpenExtents]> {
  let summary = "Elementwise comparison with broadcasting, giving i1";
  let description = [{
    Compares two tensors of the same element type elementwise after NumPy
    broadcasting. The direction is one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`;
    comparisons with NaN are false except `ne`.

    ```mlir
    %m = kiln.compare lt, %x, %y : tensor<4xf32>, tensor<f32> -> tensor<4xi1>
    ```
  }];
  let arguments = (ins Kiln_CompareDirection:$direction, Kiln_ComputeTensor:$lhs,
                       Kiln_ComputeTensor:$rhs);
  let results = (outs Kiln_BoolTensor:$result);
  let assemblyFormat = [{
    $direction `,` $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->`
    type($result)
  }];
  let hasFolder = 1;
  let extraClassDefinition = Kiln_CompatibleReturnTypes # [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *context, std::optional<::mlir::Location> loc,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return ::mlir::kiln::inferBroadcastType(
          loc, {adaptor.getLhs().getType(), adaptor.getRhs().getType()},
          ::mlir::IntegerType::get(context, 1), types);
    }
  }];
}

def Kiln_SelectOp : Kiln_InferOp<"select", [Kiln_Differentiable,
                                             Kiln_OpenExtents]> {
  let summary = "Elementwise choice between two tensors (numpy.where)";
  let description = [{
    `result[i] = cond[i] ? on_true[i] : on_false[i]` after broadcasting all
    three operands to a common shape.

    ```mlir
    %r = kiln.select %c, %a, %b : tensor<4xi1>, tensor<4xf32>, tensor<f32>
        -> tensor<4xf32>
    ```
  }];
  let arguments = (ins Kiln_BoolTensor:$cond, Kiln_Tensor:$on_true,
                       Kiln_Tensor:$on_false);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $cond `,` $on_true `,` $on_false attr-dict `:` type($cond) `,`
    type($on_true) `,` type($on_false) `->` type($result)
  }];
  let hasFolder = 1;
}

def Kiln_CastOp : Kiln_Op<"cast", [Pure, Kiln_OpenExtents, SameOperandsAndResultShape,
                                   Kiln_Differentiable]> {
  let summary = "Elementwise conversion between element types";
  let description = [{
    Converts every element to the result's element type: floats round to
    nearest even, float to integer truncates toward zero and is defined for
    every input (NaN gives 0, values beyond the integer type's range,
    infinities included, saturate to its minimum or maximum: the same in
    folds, eager ops, compiled code and AOT libraries), anything to `i1`
    tests for nonzero (NaN is nonzero), `i1` to a number gives 0 or 1.

    Unsigned integers (`ui8`, `ui16`, `ui32`) zero-extend and convert to
    floats as unsigned values; a float to one saturates at 0 and at its
    maximum; between integers a narrower result keeps the low bits (`i32`
    -1 to `ui8` is 255, as in C and TensorFlow). The lowering erases
    signedness: it gives `ui8` tensors the type `i8` and records on each
    cast which side was unsigned in the `unsigned_input` / `unsigned_result`
    flags, which a cast may also carry from the start (then the flagged
    side is a signless i8, i16 or i32 read as unsigned).

    ```mlir
    %i = kiln.cast %x : tensor<4xf32> -> tensor<4xi32>
    %f = kiln.cast %pixels : tensor<28x28xui8> -> tensor<28x28xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, UnitAttr:$unsigned_input,
                       UnitAttr:$unsigned_result);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Kiln_BitcastOp : Kiln_Op<"bitcast", [Pure, Kiln_OpenExtents, Kiln_Differentiable]> {
  let summary = "The elements' bits read as another element type";
  let description = [{
    Reinterprets the bits of every element as the result's element type
    (tf.bitcast), little-endian where widths differ: to a narrower type each
    element becomes a new last dimension of `in / out` pieces, the lowest
    bits first (`f64 -> [..., 2] x i32`); to a wider type the operand's
    last dimension, which must be `out / in`, is joined, its first entry in
    the lowest bits. Bools (`i1`) have no bit layout and are refused. No
    gradient flows through it (as in TensorFlow).

    ```mlir
    %i = kiln.bitcast %x : tensor<4xf32> -> tensor<4xi32>
    %w = kiln.bitcast %d : tensor<3xf64> -> tensor<3x2xi32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class Kiln_ReduceOp<string mnemonic, Type type, string what>
    : Kiln_InferOp<mnemonic, [Kiln_Differentiable, Kiln_OpenExtents]> {
  let summary = what # " over a list of axes";
  let description = "Reduces `input` over the dimensions listed in `axes` "
      # "(negative axes count from the end; an empty list reduces nothing) "
      # "by taking the " # what # ". With `keepdims` the reduced dimensions "
      # "stay with extent 1.\n\n```mlir\n%r = kiln." # mnemonic
      # " %x {axes = array<i64: 1>} : tensor<2x3xf32> -> tensor<2xf32>\n```\n";
  let arguments = (ins type:$input, DenseI64ArrayAttr:$axes,
                       DefaultValuedAttr<BoolAttr, "false">:$keepdims);
  let results = (outs type:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
  let extraClassDefinition = Kiln_CompatibleReturnTypes # [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> loc,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return ::mlir::kiln::inferReduceType(loc, adaptor.getInput().getType(),
                                           adaptor.getAxes(),
                                           adaptor.getKeepdims(), types);
    }
  }];
}

def Kiln_ReduceSumOp : Kiln_ReduceOp<"reduce_sum", Kiln_NumericTensor, "sum">;
def Kiln_ReduceMeanOp : Kiln_ReduceOp<"reduce_mean", Kiln_FloatTensor, "mean">;
def Kiln_ReduceMaxOp : Kiln_ReduceOp<"reduce_max", Kiln_NumericTensor,
                                     "maximum">;
def Kiln_ReduceMinOp : Kiln_ReduceOp<"reduce_min", Kiln_NumericTensor,
                                     "minimum">;
def Kiln_ReduceProdOp : Kiln_ReduceOp<"reduce_prod", Kiln_NumericTensor,
                                      "product">;

class Kiln_ArgReduceOp<string mnemonic, string what>
    : Kiln_InferOp<mnemonic, [Kiln_OpenExtents]> {
  let summary = "Index of the " # what # " along one axis";
  let description = "Returns, as `i64`, the index of the " # what
      # " along `axis`; that dimension disappears from the result. Ties "
      # "resolve to the smallest index (as NumPy).\n\n```mlir\n%i = kiln."
      # mnemonic # " %x {axis = 1 : i64} : tensor<2x3xf32> -> tensor<2xi64>\n"
      # "```\n";
  let arguments = (ins Kiln_NumericTensor:$input, I64Attr:$axis);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Kiln_ArgMaxOp : Kiln_ArgReduceOp<"argmax", "largest element">;
def Kiln_ArgMinOp : Kiln_ArgReduceOp<"argmin", "smallest element">;

def Kiln_SortOp : Kiln_InferOp<"sort", [Kiln_Differentiable,
                                        Kiln_OpenExtents]> {
  let summary = "Sorts along the last axis, with the permutation";
  let description = [{
    Sorts every row (the last dimension) of `input`, ascending or, with
    `descending`, descending, and returns the sorted values and, as `i32`,
    the position in the row each value came from. The sort is stable: equal
    values keep their order (in both directions), so the indices are
    deterministic. NaN compares greater than every number, as in NumPy:
    last when ascending, first when descending. `tf.sort`, `tf.argsort`
    and `tf.math.top_k` are built on it (other axes by a transpose).

    ```mlir
    %v, %i = kiln.sort %x {descending} : tensor<4x5xf32> -> tensor<4x5xf32>, tensor<4x5xi32>
    ```

    On the CPU the rows are sorted by the runtime (`kiln_sort_*`, a merge
    sort); the GPU target does not compile it yet (a compile error at the
    op's location).
  }];
  let arguments = (ins RankedTensorOf<[F32, F64, I32, I64]>:$input,
                       UnitAttr:$descending);
  let results = (outs RankedTensorOf<[F32, F64, I32, I64]>:$values,
                      RankedTensorOf<[I32]>:$indices);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($values) `,` type($indices)
  }];
}

//===----------------------------------------------------------------------===//
// Shape manipulation
//===----------------------------------------------------------------------===//

def Kiln_ReshapeOp : Kiln_Op<"reshape", [Pure, Kiln_Differentiable]> {
  let summary = "Same elements, row-major, in a new shape";
  let description = [{
    Reinterprets the elements (in row-major order) with the result's shape;
    the number of elements must not change. One open (`?`) extent of the
    result is the element count over its other extents; a result with more
    takes them from `like`, a tensor of the result's rank (only its extents
    are read): what the gradient of a reshape of a tensor with several open
    extents uses. Without `like`, several open extents keep their values
    where the shapes split into groups that each hold one open extent on
    both sides (or none) and static extents of the same product:
    `tensor<?x?x4x2xf32>` to `tensor<?x?x8xf32>`. Counts known only at run
    time are checked then.

    ```mlir
    %r = kiln.reshape %x : tensor<2x3xf32> -> tensor<6xf32>
    %m = kiln.reshape %y : tensor<?x?x4x2xf32> -> tensor<?x?x8xf32>
    %b = kiln.reshape %g like %x : tensor<?xf32>, tensor<2x?x?xf32> -> tensor<2x?x?xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Optional<Kiln_Tensor>:$like);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $input (`like` $like^)? attr-dict `:` type($input) (`,` type($like)^)? `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$input,
                                 "::llvm::ArrayRef<int64_t>":$shape)>,
                  OpBuilder<(ins "::mlir::Type":$type, "::mlir::Value":$input),
                  [{ build($_builder, $_state, type, input, ::mlir::Value()); }]>];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_TransposeOp : Kiln_InferOp<"transpose", [Kiln_Differentiable,
                                                 Kiln_OpenExtents]> {
  let summary = "Permutes the dimensions";
  let description = [{
    `result.shape[i] = input.shape[permutation[i]]`.

    ```mlir
    %t = kiln.transpose %x {permutation = array<i64: 1, 0>}
        : tensor<2x3xf32> -> tensor<3x2xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
}

def Kiln_BroadcastToOp : Kiln_Op<"broadcast_to", [Pure, Kiln_Differentiable]> {
  let summary = "Broadcasts to a given shape (numpy.broadcast_to)";
  let description = [{
    Stretches extents of 1 and adds leading dimensions so that the input takes
    the result's shape, as NumPy broadcasting does. A result with extents
    known only at run time takes them from `like`, a tensor of the result's
    rank (only its extents are read): what the gradient of a reduction over
    a dynamic batch uses.

    ```mlir
    %b = kiln.broadcast_to %x : tensor<3xf32> -> tensor<2x3xf32>
    %d = kiln.broadcast_to %s like %y : tensor<f32>, tensor<?x3xf32> -> tensor<?x3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Optional<Kiln_Tensor>:$like);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $input (`like` $like^)? attr-dict `:` type($input) (`,` type($like)^)? `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$input,
                                 "::llvm::ArrayRef<int64_t>":$shape)>];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_ExpandDimsOp : Kiln_InferOp<"expand_dims", [Kiln_Differentiable]> {
  let summary = "Inserts a dimension of extent 1";
  let description = [{
    Inserts a new dimension of size 1 at position `axis` of the result
    (`-rank-1 <= axis <= rank`).

    ```mlir
    %e = kiln.expand_dims %x {axis = 0 : i64} : tensor<3xf32> -> tensor<1x3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, I64Attr:$axis);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasCanonicalizer = 1;
}

def Kiln_SqueezeOp : Kiln_InferOp<"squeeze", [Kiln_Differentiable]> {
  let summary = "Removes dimensions of extent 1";
  let description = [{
    Removes the listed dimensions, each of which must have extent 1; an empty
    list removes every dimension of extent 1.

    ```mlir
    %s = kiln.squeeze %x {axes = array<i64: 0>} : tensor<1x3xf32> -> tensor<3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasCanonicalizer = 1;
}

def Kiln_DimOp : Kiln_Op<"dim", [Pure, Kiln_OpenExtents]> {
  let summary = "One extent of a tensor, as an i64 scalar (tf.shape(x)[axis])";
  let description = [{
    The extent of dimension `axis` (`0 <= axis < rank`) of `input`, whether
    it is known at compile time or only at run time: what `tf.shape(x)[i]`
    gives inside a function whose arguments have open extents. Only the
    extents are read, never the elements. A static extent folds to a
    constant.

    ```mlir
    %n = kiln.dim %x {axis = 0 : i64} : tensor<?x784xf32> -> tensor<i64>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, I64Attr:$axis);
  let results = (outs Kiln_I64Scalar:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Kiln_ConcatOp : Kiln_InferOp<"concat", [Kiln_Differentiable,
    Kiln_OpenExtents]> {
  let summary = "Joins tensors along an existing axis";
  let description = [{
    All operands have the same rank and element type and agree in every
    dimension except `axis`. Any dimension may have open extents: the
    others are checked equal when the code runs, and along `axis` the
    result's extent is the operands' sum (`tf.concat([real, fake], 0)` of
    two batches known only at run time).

    ```mlir
    %c = kiln.concat %a, %b {axis = 0 : i64}
        : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$inputs, I64Attr:$axis);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $inputs attr-dict `:` functional-type($inputs, $result)
  }];
  let hasFolder = 1;
}

def Kiln_SplitOp : Kiln_InferOp<"split", [Kiln_Differentiable,
    Kiln_OpenExtents]> {
  let summary = "Cuts a tensor along an axis into pieces as long as others";
  let description = [{
    The inverse of `kiln.concat` where extents along `axis` may be known
    only at run time: result `i` holds the next `dim(like[i], axis)`
    elements of `input` along `axis` (and all of its other dimensions),
    starting where result `i - 1` ended. Result `i` has the input's type
    with the extent of `like[i]` along `axis`; only that extent of each
    `like` operand is read, never its elements. The pieces must cover the
    input exactly: the verifier checks static extents, the compiled code
    open ones. `kiln-autodiff` uses it for the cotangent of a concatenation
    along an open axis.

    ```mlir
    %a, %b = kiln.split %g like %x, %y {axis = 0 : i64}
        : tensor<?x4xf32> like tensor<?x4xf32>, tensor<2x4xf32>
        -> tensor<?x4xf32>, tensor<2x4xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, Variadic<Kiln_Tensor>:$like,
                       I64Attr:$axis);
  let results = (outs Variadic<Kiln_Tensor>:$results);
  let assemblyFormat = [{
    $input `like` $like attr-dict `:` type($input) `like` type($like) `->`
    type($results)
  }];
}

def Kiln_SliceOp : Kiln_InferOp<"slice", [Kiln_Differentiable, Kiln_OpenExtents]> {
  let summary = "A strided rectangular part of a tensor";
  let description = [{
    Takes, in every dimension `d`, the elements `start[d], start[d] +
    stride[d], ...` below `limit[d]` (`0 <= start <= limit <= size`,
    `stride >= 1`). A limit of -1 takes the whole dimension (with start 0
    and stride 1): the only way a dimension of open extent is sliced, so
    `x[:, 0]` of a batch known only at run time is
    `limit = array<i64: -1, 1>`.

    ```mlir
    %s = kiln.slice %x {start = array<i64: 0, 1>, limit = array<i64: 2, 3>,
                        stride = array<i64: 1, 1>}
        : tensor<4x3xf32> -> tensor<2x2xf32>
    %c = kiln.slice %y {start = array<i64: 0, 2>, limit = array<i64: -1, 3>,
                        stride = array<i64: 1, 1>}
        : tensor<?x3xf32> -> tensor<?x1xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$start,
                       DenseI64ArrayAttr:$limit, DenseI64ArrayAttr:$stride);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
}

def Kiln_PadOp : Kiln_InferOp<"pad", [Kiln_Differentiable, Kiln_OpenExtents]> {
  let summary = "Pads with a constant value";
  let description = [{
    Adds `low[d]` elements before and `high[d]` after dimension `d`, filled
    with `value` (converted to the element type). A dimension of open extent
    is not padded.

    ```mlir
    %p = kiln.pad %x {low = array<i64: 1, 0>, high = array<i64: 0, 2>}
        : tensor<2x3xf32> -> tensor<3x5xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$low,
                       DenseI64ArrayAttr:$high,
                       DefaultValuedAttr<F64Attr, "0.0">:$value);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
}

def Kiln_GatherOp : Kiln_InferOp<"gather", [Kiln_Differentiable]> {
  let summary = "Takes slices along an axis at integer indices (numpy.take)";
  let description = [{
    `result[a..., i..., b...] = params[a..., indices[i...], b...]`, where
    `a...` are the dimensions before `axis`. The result shape is
    `params.shape[:axis] + indices.shape + params.shape[axis+1:]`. Indices out
    of range produce zeros; with `bounds_check` (what a user's gather or
    index asks for: TensorFlow's InvalidArgumentError) the compiled code
    also reports the first one, with the op's location, and the call
    returns that error (`kiln_check_failed` in the runtime; CPU code).

    ```mlir
    %g = kiln.gather %table, %ids {axis = 0 : i64}
        : tensor<10x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
    %c = kiln.gather %table, %ids {axis = 0 : i64, bounds_check}
        : tensor<10x4xf32>, tensor<3xi32> -> tensor<3x4xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$params, Kiln_IntTensor:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$axis,
                       UnitAttr:$bounds_check);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $params `,` $indices attr-dict `:` type($params) `,` type($indices) `->`
    type($result)
  }];
}

def Kiln_ScatterAddOp : Kiln_InferOp<"scatter_add", [Kiln_Differentiable]> {
  let summary = "Adds slices into a tensor at integer indices (gather's adjoint)";
  let description = [{
    Starts from `base` and, for every index position `i...`, adds
    `updates[a..., i..., b...]` to `result[a..., indices[i...], b...]`;
    repeated indices accumulate, out-of-range indices are dropped. `updates`
    has the shape a `kiln.gather` of `base` with these indices would have.

    ```mlir
    %s = kiln.scatter_add %zeros, %ids, %rows {axis = 0 : i64}
        : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$base, Kiln_IntTensor:$indices,
                       Kiln_NumericTensor:$updates,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $base `,` $indices `,` $updates attr-dict `:` type($base) `,`
    type($indices) `,` type($updates) `->` type($result)
  }];
}

def Kiln_ScatterReduceOp : Kiln_InferOp<"scatter_reduce",
    [Kiln_Differentiable]> {
  let summary = "Combines slices into a tensor at integer indices by max, min or product";
  let description = [{
    `kiln.scatter_add` with another combination: starts from `base` and, for
    every index position `i...`, sets `result[a..., indices[i...], b...]` to
    the maximum, minimum or product of what it holds and
    `updates[a..., i..., b...]`; out-of-range indices are dropped. Floating
    point max and min propagate NaN. The segment reductions
    (`tf.math.unsorted_segment_max/min/prod`) start from a base filled with
    the reduction's identity.

    The gradient of max and min goes to the base and updates that equal the
    result, split evenly among ties (as `kiln.reduce_max` does); that of
    prod is the product of the position's other factors (exact when one of
    them is zero).

    ```mlir
    %m = kiln.scatter_reduce max, %lowest, %ids, %rows {axis = 0 : i64}
        : tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<10x4xf32>
    ```
  }];
  let arguments = (ins Kiln_ScatterReduction:$reduction,
                       Kiln_NumericTensor:$base, Kiln_IntTensor:$indices,
                       Kiln_NumericTensor:$updates,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $reduction `,` $base `,` $indices `,` $updates attr-dict `:` type($base)
    `,` type($indices) `,` type($updates) `->` type($result)
  }];
}

def Kiln_OneHotOp : Kiln_Op<"one_hot", [Pure, Kiln_OpenExtents]> {
  let summary = "One-hot encoding of integer indices";
  let description = [{
    Adds a dimension of extent `depth` at `axis` (default: last) that holds
    `on_value` at the position given by the index and `off_value` elsewhere;
    an index outside `[0, depth)` gives a row of `off_value`.

    ```mlir
    %h = kiln.one_hot %labels {depth = 10 : i64}
        : tensor<32xi32> -> tensor<32x10xf32>
    ```
  }];
  let arguments = (ins Kiln_IntTensor:$indices, I64Attr:$depth,
                       DefaultValuedAttr<I64Attr, "-1">:$axis,
                       DefaultValuedAttr<F64Attr, "1.0">:$on_value,
                       DefaultValuedAttr<F64Attr, "0.0">:$off_value);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = "$indices attr-dict `:` type($indices) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Kiln_MatmulOp : Kiln_InferOp<"matmul", [Kiln_Differentiable,
                                             Kiln_OpenExtents]> {
  let summary = "Matrix product of two rank-2 tensors";
  let description = [{
    `result = op(lhs) x op(rhs)` where `op` transposes when `transpose_lhs` /
    `transpose_rhs` is set (so gradients need no explicit transposes).

    ```mlir
    %c = kiln.matmul %a, %b : tensor<4x8xf32>, tensor<8x2xf32> -> tensor<4x2xf32>
    %d = kiln.matmul %a, %e {transpose_rhs = true}
        : tensor<4x8xf32>, tensor<2x8xf32> -> tensor<4x2xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs,
                       DefaultValuedAttr<BoolAttr, "false">:$transpose_lhs,
                       DefaultValuedAttr<BoolAttr, "false">:$transpose_rhs);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
}

def Kiln_BatchMatmulOp : Kiln_InferOp<"batch_matmul", [Kiln_Differentiable,
                                                        Kiln_OpenExtents]> {
  let summary = "Batched matrix product with broadcast batch dimensions";
  let description = [{
    As `numpy.matmul` for operands of rank >= 2: the last two dimensions
    multiply as matrices, the leading (batch) dimensions broadcast (a
    static 1 does; open extents must agree, checked when the code runs).

    ```mlir
    %c = kiln.batch_matmul %a, %b
        : tensor<5x4x8xf32>, tensor<8x2xf32> -> tensor<5x4x2xf32>
    ```
  }];
  let arguments = (ins Kiln_NumericTensor:$lhs, Kiln_NumericTensor:$rhs);
  let results = (outs Kiln_NumericTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
}

//===----------------------------------------------------------------------===//
// Neural-network ops
//===----------------------------------------------------------------------===//

defvar Kiln_WindowAttrs = (ins
    DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
    DefaultValuedAttr<Kiln_PaddingAttr, "::mlir::kiln::Padding::VALID">:$padding);

def Kiln_Conv2DOp : Kiln_InferOp<"conv2d", [Kiln_Differentiable]> {
  let summary = "2-D convolution, NHWC input and HWIO filter";
  let description = [{
    `result[n, y, x, o] = sum_{i, j, c} input[n, y*sh + i*dh - pad_top,
    x*sw + j*dw - pad_left, c] * filter[i, j, c, o]`, with `strides = [sh, sw]`,
    `dilations = [dh, dw]` and TensorFlow's `SAME`/`VALID` padding rules
    (`SAME`: output size `ceil(in / stride)`, the odd padding element at the
    bottom/right).

    ```mlir
    %y = kiln.conv2d %x, %w {padding = #kiln.padding<SAME>,
                             strides = array<i64: 2, 2>}
        : tensor<1x28x28x1xf32>, tensor<3x3x1x16xf32> -> tensor<1x14x14x16xf32>
    ```
  }];
  let arguments = !con((ins Kiln_FloatTensor:$input, Kiln_FloatTensor:$filter,
      DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations),
      Kiln_WindowAttrs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $filter attr-dict `:` type($input) `,` type($filter) `->`
    type($result)
  }];
}

def Kiln_Conv2DBackpropInputOp : Kiln_Op<"conv2d_backprop_input", [Pure, Kiln_Differentiable]> {
  let summary = "Gradient of conv2d with respect to its input";
  let description = [{
    Given the filter and the gradient of a `kiln.conv2d` result, computes the
    gradient with respect to the convolution's input, whose shape is the
    result type. Attributes mean what they mean on `kiln.conv2d`.

    ```mlir
    %dx = kiln.conv2d_backprop_input %w, %dy {padding = #kiln.padding<SAME>}
        : tensor<3x3x1x16xf32>, tensor<1x28x28x16xf32> -> tensor<1x28x28x1xf32>
    ```
  }];
  let arguments = !con((ins Kiln_FloatTensor:$filter,
      Kiln_FloatTensor:$out_backprop,
      DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations),
      Kiln_WindowAttrs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $filter `,` $out_backprop attr-dict `:` type($filter) `,`
    type($out_backprop) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_Conv2DBackpropFilterOp : Kiln_Op<"conv2d_backprop_filter", [Pure, Kiln_Differentiable]> {
  let summary = "Gradient of conv2d with respect to its filter";
  let description = [{
    Given the convolution's input and the gradient of a `kiln.conv2d` result,
    computes the gradient with respect to the filter, whose shape is the result
    type.

    ```mlir
    %dw = kiln.conv2d_backprop_filter %x, %dy {padding = #kiln.padding<SAME>}
        : tensor<1x28x28x1xf32>, tensor<1x28x28x16xf32> -> tensor<3x3x1x16xf32>
    ```
  }];
  let arguments = !con((ins Kiln_FloatTensor:$input,
      Kiln_FloatTensor:$out_backprop,
      DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations),
      Kiln_WindowAttrs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $out_backprop attr-dict `:` type($input) `,`
    type($out_backprop) `->` type($result)
  }];
  let hasVerifier = 1;
}

class Kiln_PoolOp<string mnemonic, string what>
    : Kiln_InferOp<mnemonic, [Kiln_Differentiable]> {
  let summary = "2-D " # what # " pooling over an NHWC tensor";
  let description = "Takes the " # what # " over each `window` (height, "
      # "width) placed every `strides` elements, per batch and channel, with "
      # "TensorFlow's SAME/VALID padding; padded positions do not count"
      # ".\n\n```mlir\n%p = kiln." # mnemonic
      # " %x {window = array<i64: 2, 2>, strides = array<i64: 2, 2>}\n"
      # "    : tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>\n```\n";
  let arguments = !con((ins Kiln_FloatTensor:$input,
                            DenseI64ArrayAttr:$window), Kiln_WindowAttrs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Kiln_MaxPool2DOp : Kiln_PoolOp<"max_pool2d", "maximum">;
def Kiln_AvgPool2DOp : Kiln_PoolOp<"avg_pool2d", "average">;

def Kiln_MaxPool2DGradOp : Kiln_InferOp<"max_pool2d_grad", [Kiln_Differentiable]> {
  let summary = "Gradient of max_pool2d with respect to its input";
  let description = [{
    Routes each element of `out_backprop` to the position of the maximum in its
    window of `input` (the first one in row-major order when several are
    equal) and sums what arrives at each position. The result has the input's
    type.

    ```mlir
    %dx = kiln.max_pool2d_grad %x, %dy {window = array<i64: 2, 2>,
                                        strides = array<i64: 2, 2>}
        : tensor<1x4x4x3xf32>, tensor<1x2x2x3xf32> -> tensor<1x4x4x3xf32>
    ```
  }];
  let arguments = !con((ins Kiln_FloatTensor:$input,
                            Kiln_FloatTensor:$out_backprop,
                            DenseI64ArrayAttr:$window), Kiln_WindowAttrs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $out_backprop attr-dict `:` type($input) `,`
    type($out_backprop) `->` type($result)
  }];
}

def Kiln_MaxPool2DSelectOp : Kiln_InferOp<"max_pool2d_select", [Kiln_Differentiable]> {
  let summary = "Picks, per pooling window, the element at the input's maximum";
  let description = [{
    For each window of `input` (as `kiln.max_pool2d` places them), takes the
    element of `source` (shaped like `input`) at the position of the window's
    maximum in `input` (the first one in row-major order when several are
    equal). The result has the pooled shape. This is the adjoint of
    `kiln.max_pool2d_grad` with respect to `out_backprop`, so max pooling
    has second-order gradients.

    ```mlir
    %s = kiln.max_pool2d_select %x, %g {window = array<i64: 2, 2>,
                                        strides = array<i64: 2, 2>}
        : tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32> -> tensor<1x2x2x3xf32>
    ```
  }];
  let arguments = !con((ins Kiln_FloatTensor:$input,
                            Kiln_FloatTensor:$source,
                            DenseI64ArrayAttr:$window), Kiln_WindowAttrs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $source attr-dict `:` type($input) `,` type($source) `->`
    type($result)
  }];
}

def Kiln_AvgPool2DGradOp : Kiln_Op<"avg_pool2d_grad", [Pure, Kiln_Differentiable]> {
  let summary = "Gradient of avg_pool2d with respect to its input";
  let description = [{
    Spreads each element of `out_backprop` evenly over the (unpadded)
    positions of its window. The result type is the pooled input's type.

    ```mlir
    %dx = kiln.avg_pool2d_grad %dy {window = array<i64: 2, 2>,
                                    strides = array<i64: 2, 2>}
        : tensor<1x2x2x3xf32> -> tensor<1x4x4x3xf32>
    ```
  }];
  let arguments = !con((ins Kiln_FloatTensor:$out_backprop,
                            DenseI64ArrayAttr:$window), Kiln_WindowAttrs);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $out_backprop attr-dict `:` type($out_backprop) `->` type($result)
  }];
  let hasVerifier = 1;
}

class Kiln_SoftmaxLikeOp<string mnemonic, string formula>
    : Kiln_InferOp<mnemonic, [Kiln_Differentiable, Kiln_OpenExtents]> {
  let summary = formula # " along one axis";
  let description = "Computes `" # formula # "` along `axis` (default: the "
      # "last), subtracting the maximum first so that large inputs do not "
      # "overflow.\n\n```mlir\n%p = kiln." # mnemonic
      # " %logits : tensor<32x10xf32> -> tensor<32x10xf32>\n```\n";
  let arguments = (ins Kiln_FloatTensor:$input,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let extraClassDefinition = Kiln_CompatibleReturnTypes # [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> loc,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      auto type = ::llvm::cast<::mlir::RankedTensorType>(
          adaptor.getInput().getType());
      if (::mlir::failed(::mlir::kiln::checkAxis(loc, adaptor.getAxis(),
                                                 type.getRank())))
        return ::mlir::failure();
      types.push_back(type);
      return ::mlir::success();
    }
  }];
}

def Kiln_SoftmaxOp : Kiln_SoftmaxLikeOp<"softmax", "exp(x) / sum(exp(x))">;
def Kiln_LogSoftmaxOp : Kiln_SoftmaxLikeOp<"log_softmax",
                                           "x - log(sum(exp(x)))">;

def Kiln_SoftmaxCrossEntropyOp
    : Kiln_InferOp<"softmax_cross_entropy", [Kiln_Differentiable,
                                             Kiln_OpenExtents]> {
  let summary = "Softmax cross-entropy of logits against dense labels";
  let description = [{
    Per example, `-sum_c labels[..., c] * log_softmax(logits)[..., c]` over the
    last (class) dimension, computed with log-sum-exp. `labels` has the shape
    of `logits` (a probability distribution per example); the result drops the
    class dimension.

    ```mlir
    %l = kiln.softmax_cross_entropy %logits, %labels
        : tensor<32x10xf32>, tensor<32x10xf32> -> tensor<32xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$logits, Kiln_FloatTensor:$labels);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels) `->`
    type($result)
  }];
}

def Kiln_SparseSoftmaxCrossEntropyOp
    : Kiln_InferOp<"sparse_softmax_cross_entropy", [Kiln_Differentiable,
                                                    Kiln_OpenExtents]> {
  let summary = "Softmax cross-entropy of logits against integer class labels";
  let description = [{
    Per example, `-log_softmax(logits)[..., labels[...]]`: `labels` has the
    shape of `logits` without its last (class) dimension and holds class
    indices. A label outside `[0, classes)` gives NaN for that example; with
    `bounds_check` the compiled code also reports the first such label with
    the op's location and the call returns InvalidArgumentError (CPU code),
    as TensorFlow does.

    ```mlir
    %l = kiln.sparse_softmax_cross_entropy %logits, %labels
        : tensor<32x10xf32>, tensor<32xi32> -> tensor<32xf32>
    ```
  }];
  let arguments = (ins Kiln_FloatTensor:$logits, Kiln_IntTensor:$labels,
                       UnitAttr:$bounds_check);
  let results = (outs Kiln_FloatTensor:$result);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels) `->`
    type($result)
  }];
}

//===----------------------------------------------------------------------===//
// Control flow
//===----------------------------------------------------------------------===//

def Kiln_CondOp : Kiln_Op<"cond", [RecursiveMemoryEffects, NoRegionArguments,
    Kiln_OpenExtents,
    DeclareOpInterfaceMethods<RegionBranchOpInterface,
        ["getEntrySuccessorRegions", "getRegionInvocationBounds",
         "areTypesCompatible"]>]> {
  let summary = "Runs one of two regions depending on a boolean";
  let description = [{
    Syntax:

    ```
    operation ::= `kiln.cond` $pred (`->` `(` type($results)^ `)`)? $then_region
                  `else` $else_region attr-dict
    ```

    Runs `then` if the rank-0 `i1` predicate is true, otherwise `else`. Each
    region ends in `kiln.yield` with values of the op's result types. Values
    from above are visible inside both regions.

    ```mlir
    %r = kiln.cond %p -> (tensor<f32>) {
      kiln.yield %a : tensor<f32>
    } else {
      %n = kiln.neg %a : tensor<f32>
      kiln.yield %n : tensor<f32>
    }
    ```
  }];
  let arguments = (ins Kiln_PredTensor:$pred);
  let results = (outs Variadic<Kiln_Tensor>:$results);
  let regions = (region SizedRegion<1>:$then_region,
                        SizedRegion<1>:$else_region);
  // Written by hand (KilnOps.cpp), in the form the description gives,
  // because ODS's generated parser keeps a finished region outside the
  // operation state while it parses the next: when that fails, the first
  // region is freed with its values still used by a forward reference
  // above (a use-after-free found by the .mlir fuzzer).
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

def Kiln_WhileOp : Kiln_Op<"while", [RecursiveMemoryEffects,
    InferTypeOpAdaptor, Kiln_OpenExtents,
    DeclareOpInterfaceMethods<RegionBranchOpInterface,
        ["getEntrySuccessorOperands", "areTypesCompatible"]>,
    DeclareOpInterfaceMethods<LoopLikeOpInterface>]> {
  let summary = "Loop while a condition holds, carrying values";
  let description = [{
    Syntax:

    ```
    operation ::= `kiln.while` (`(` $init_args^ `:` type($init_args) `)`)? attr-dict
                  `cond` $cond_region `do` $body_region
    ```

    The loop-carried values start as `init_args`. Each iteration runs the `cond`
    region on the current values; it ends in `kiln.condition` with a rank-0
    `i1` predicate and the values it passes on (normally its arguments). If
    the predicate is true, `do` runs on them and yields the next ones;
    otherwise the loop ends and they are the results. Both regions take the
    loop-carried values as block arguments.

    ```mlir
    %r = kiln.while (%x0 : tensor<f32>) cond {
    ^bb0(%x: tensor<f32>):
      %p = kiln.compare lt, %x, %limit : tensor<f32>, tensor<f32> -> tensor<i1>
      kiln.condition(%p) %x : tensor<f32>
    } do {
    ^bb0(%x: tensor<f32>):
      %y = kiln.add %x, %x : tensor<f32>, tensor<f32> -> tensor<f32>
      kiln.yield %y : tensor<f32>
    }
    ```
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$init_args);
  let results = (outs Variadic<Kiln_Tensor>:$results);
  let regions = (region SizedRegion<1>:$cond_region,
                        SizedRegion<1>:$body_region);
  // Written by hand (KilnOps.cpp) like kiln.cond's.
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location>,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return ::mlir::kiln::inferLoopTypes(adaptor.getInitArgs().getTypes(),
                                          *adaptor.getRegions().back(), types);
    }
  }];
}

def Kiln_ForOp : Kiln_Op<"for", [RecursiveMemoryEffects, InferTypeOpAdaptor,
    Kiln_OpenExtents,
    DeclareOpInterfaceMethods<RegionBranchOpInterface,
        ["getEntrySuccessorOperands", "areTypesCompatible"]>,
    DeclareOpInterfaceMethods<LoopLikeOpInterface>]> {
  let summary = "Counted loop over an integer range, carrying values";
  let description = [{
    Runs the body for `i = lower, lower + step, ...` while `i < upper`
    (`step` must be positive). The body's block arguments are the counter (a
    rank-0 `i64` tensor) and the loop-carried values, which start as `init_args`;
    it yields the next loop-carried values. The results are the values after
    the last iteration (the `init_args` if there is none). Bounds are tensors, so a
    trip count may be computed at run time.

    ```mlir
    %sum = kiln.for %lb to %ub step %one iter_args(%z : tensor<f32>) do {
    ^bb0(%i: tensor<i64>, %acc: tensor<f32>):
      %f = kiln.cast %i : tensor<i64> -> tensor<f32>
      %n = kiln.add %acc, %f : tensor<f32>, tensor<f32> -> tensor<f32>
      kiln.yield %n : tensor<f32>
    }
    ```
  }];
  let arguments = (ins Kiln_I64Scalar:$lower, Kiln_I64Scalar:$upper,
                       Kiln_I64Scalar:$step, Variadic<Kiln_Tensor>:$init_args);
  let results = (outs Variadic<Kiln_Tensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $lower `to` $upper `step` $step (`iter_args` `(` $init_args^ `:`
    type($init_args) `)`)? attr-dict `do` $body
  }];
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location>,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return ::mlir::kiln::inferLoopTypes(adaptor.getInitArgs().getTypes(),
                                          *adaptor.getRegions().back(), types);
    }
  }];
}

def Kiln_ConditionOp : Kiln_Op<"condition", [Pure, Terminator,
    Kiln_OpenExtents, HasParent<"WhileOp">,
    DeclareOpInterfaceMethods<RegionBranchTerminatorOpInterface>]> {
  let summary = "Ends the condition of a kiln.while";
  let description = [{
    Terminates the `cond` region of `kiln.while`: the loop goes on with the
    `do` region if the rank-0 `i1` predicate is true and ends otherwise. The
    values that follow, one per loop-carried value, are passed on to the
    `do` region or become the loop's results. A condition normally passes
    its arguments on unchanged (that is what the Python front end builds);
    naming them makes the flow of values explicit for MLIR's control-flow
    interfaces, and lets dataflow passes replace one by a value known to be
    equal, such as a constant.

    ```mlir
    kiln.condition(%p) %x, %n : tensor<f32>, tensor<i64>
    ```
  }];
  let arguments = (ins Kiln_PredTensor:$pred, Variadic<Kiln_Tensor>:$args);
  let assemblyFormat = "`(` $pred `)` attr-dict ($args^ `:` type($args))?";
}

def Kiln_YieldOp : Kiln_Op<"yield", [Pure, Terminator,
    Kiln_OpenExtents, ParentOneOf<["CondOp", "WhileOp", "ForOp"]>,
    DeclareOpInterfaceMethods<RegionBranchTerminatorOpInterface>]> {
  let summary = "Ends a region of a Kiln control-flow op, passing values out";
  let description = [{
    Terminates the branches of `kiln.cond` (whose results the values are)
    and the bodies of `kiln.while` and `kiln.for` (the next loop-carried
    values). The condition of a `kiln.while` ends in `kiln.condition`.

    ```mlir
    kiln.yield %a, %b : tensor<f32>, tensor<4xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
  let builders = [OpBuilder<(ins), [{ /* no values */ }]>];
}

//===----------------------------------------------------------------------===//
// Variables
//===----------------------------------------------------------------------===//

def Kiln_VariableOp : Kiln_Op<"variable", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "Declares a named variable: state that lives across calls";
  let description = [{
    A variable is a named tensor of a fixed type (static shape) whose storage
    belongs to the runtime's variable store, not to the compiled code:
    functions read it with `kiln.read_variable` and replace its value with
    `kiln.assign_variable`; `kiln-externalize-variables` turns both into
    buffers the runtime binds at call time, updated in place. The optional
    initial value (a dense constant of the variable's type, or a splat) is
    what the store's initialization gives it.

    ```mlir
    kiln.variable @w : tensor<784x128xf32>
    kiln.variable @b : tensor<128xf32> = dense<0.0>
    kiln.variable @step : tensor<i64> = dense<0>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type,
                       OptionalAttr<ElementsAttr>:$initial_value);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
}

def Kiln_ReadVariableOp : Kiln_Op<"read_variable", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead]>]> {
  let summary = "The current value of a variable";
  let description = [{
    Reads variable `@name`; the result type is the variable's type. A read
    after a `kiln.assign_variable` of the same variable sees the assigned
    value.

    ```mlir
    %w = kiln.read_variable @w : tensor<784x128xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$variable);
  let results = (outs Kiln_Tensor:$value);
  let assemblyFormat = "$variable attr-dict `:` type($value)";
}

def Kiln_AssignVariableOp : Kiln_Op<"assign_variable", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemWrite]>]> {
  let summary = "Replaces the value of a variable";
  let description = [{
    Gives variable `@name` the value `value`, which has the variable's type.
    The new value is what later reads see, in this call and in later calls.

    ```mlir
    kiln.assign_variable @w, %w1 : tensor<784x128xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$variable, Kiln_Tensor:$value);
  let assemblyFormat = "$variable `,` $value attr-dict `:` type($value)";
}

def Kiln_AssertOp : Kiln_Op<"assert", [MemoryEffects<[MemWrite]>]> {
  let summary = "A check of values made when the code runs (tf.debugging.Assert)";
  let description = [{
    Where `condition` (a rank-0 bool) is false when the code runs, the call
    returns InvalidArgumentError with `message`, prefixed by the op's
    location (CPU code: the runtime's `kiln_check_failed`; the code itself
    goes on). Integer division by zero is reported this way.

    ```mlir
    kiln.assert %ok, "integer division by zero" : tensor<i1>
    ```
  }];
  let arguments = (ins Kiln_BoolTensor:$condition, StrAttr:$message);
  let assemblyFormat = "$condition `,` $message attr-dict `:` type($condition)";
  let hasVerifier = 1;
}

def Kiln_SummaryScalarOp : Kiln_Op<"summary_scalar", [MemoryEffects<[MemWrite]>]> {
  let summary = "Appends a scalar summary to a writer's file when the code runs";
  let description = [{
    Appends the row `step,tag,value,wall time` to the CSV file `path` (what
    `kiln.summary.create_file_writer` writes) each time the compiled code
    runs, in program order (once per iteration in a loop). `value` and
    `step` are rank-0 tensors.

    ```mlir
    kiln.summary_scalar "loss" = %l at %step to "logs/scalars.csv" : tensor<f32>, tensor<i64>
    ```
  }];
  let arguments = (ins Kiln_ComputeTensor:$value, Kiln_IntTensor:$step, StrAttr:$tag,
                       StrAttr:$path);
  let assemblyFormat = [{
    $tag `=` $value `at` $step `to` $path attr-dict `:` type($value) `,` type($step)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Custom gradients
//===----------------------------------------------------------------------===//

def Kiln_CustomVjpOp : Kiln_Op<"custom_vjp", [
    Pure, Kiln_Differentiable, Kiln_OpenExtents,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "A computation with a gradient of its own (tf.custom_gradient)";
  let description = [{
    Computes `@forward(inputs)`. Reverse-mode differentiation does not look
    inside `@forward`: the cotangents of the inputs are
    `@backward(inputs, results, result cotangents)`, one per input with its
    type (zeros stand in for result cotangents nothing asked for). Once
    every gradient is taken, `kiln-autodiff{inline}` (the tensor
    pipeline's) inlines `@forward` in its place and `@backward` where the
    gradients call it; otherwise the lowering calls `@forward`. Its
    extents may be open. Used for numerically better or clipped
    gradients, and for computations with no derivative of their own.

    ```mlir
    %y = kiln.custom_vjp @fwd, @bwd(%x) : (tensor<3xf32>) -> tensor<3xf32>
    ```
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$inputs,
                       FlatSymbolRefAttr:$forward, FlatSymbolRefAttr:$backward);
  let results = (outs Variadic<Kiln_Tensor>:$results);
  let assemblyFormat = [{
    $forward `,` $backward `(` $inputs `)` attr-dict `:` functional-type($inputs, $results)
  }];
}

//===----------------------------------------------------------------------===//
// Printing
//===----------------------------------------------------------------------===//

def Kiln_PrintOp : Kiln_Op<"print", [MemoryEffects<[MemWrite]>, Kiln_OpenExtents]> {
  let summary = "Prints text and tensors when the code runs (tf.print)";
  let description = [{
    Writes `texts[0]`, the first input, `texts[1]`, the second input, ...,
    `texts[n]` to `stream` (1: standard output, 2: standard error) when the
    compiled code runs, in program order with the other effects. A tensor
    prints as TensorFlow's `tf.print` prints it: nested brackets, elements
    separated by spaces, at most `summarize` elements at each end of a
    dimension with `...` between (-1: all).

    ```mlir
    kiln.print ["loss: ", "\0A"] %l : tensor<f32> {stream = 2 : i64}
    ```
  }];
  let arguments = (ins Variadic<Kiln_ComputeTensor>:$inputs, StrArrayAttr:$texts,
                       DefaultValuedAttr<I64Attr, "2">:$stream,
                       DefaultValuedAttr<I64Attr, "3">:$summarize);
  let assemblyFormat = "$texts ($inputs^ `:` type($inputs))? attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Collectives (data parallelism over processes)
//===----------------------------------------------------------------------===//

def Kiln_CollectiveTensor : RankedTensorOf<[F32, F64, I32, I64]>;

// A collective is not Pure: every process of its group must run the same
// collectives in the same order, so none may be removed, merged or moved
// past another (unknown memory effects keep them in place).
class Kiln_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : Kiln_Op<mnemonic, traits # [Kiln_OpenExtents]> {
  code collectiveDescription = [{

    Collectives run over a named group of processes: `"world"` (the
    default) is every process of the job (`mpirun -np N`); other groups are
    defined at run time (`kiln_group_define`, `kiln.distribute.new_group`).
    Every process of the group must run the same collectives, in the same
    order, on tensors of the same type; a mismatch is an error on every
    process, not a hang, and so is a process that never arrives (after
    `KILN_COLLECTIVE_TIMEOUT` seconds). In a single process (no MPI job)
    the group is that process alone. The runtime carries them out with
    MPI, loaded when the first one runs.
  }];
}

def Kiln_AllReduceOp : Kiln_CollectiveOp<"all_reduce", [Kiln_Differentiable,
    InferTypeOpAdaptorWithIsCompatible]> {
  let summary = "Combines a tensor across the processes of a group";
  let description = [{
    Every process of the group gets the elementwise sum, mean, maximum or
    minimum of the group's `input`s (a mean of integers is refused). For a
    fixed number of processes the result is the same from run to run.

    ```mlir
    %g = kiln.all_reduce mean, %grad : tensor<784x128xf32>
    %m = kiln.all_reduce max, %x {group = "rows"} : tensor<4xi64>
    ```
  }] # collectiveDescription;
  let arguments = (ins Kiln_CollectiveReduction:$reduction,
                       Kiln_CollectiveTensor:$input,
                       DefaultValuedStrAttr<StrAttr, "world">:$group);
  let results = (outs Kiln_CollectiveTensor:$result);
  let assemblyFormat = [{
    $reduction `,` $input attr-dict `:` type($input)
  }];
  let extraClassDefinition = Kiln_CompatibleReturnTypes;
}

def Kiln_AllReduceStartOp : Kiln_CollectiveOp<"all_reduce_start", [
    InferTypeOpAdaptorWithIsCompatible]> {
  let summary = "Starts an all-reduce that runs while the step goes on";
  let description = [{
    The first half of a `kiln.all_reduce` split in two by
    `kiln-overlap-collectives`: the all-reduce starts here and runs on the
    runtime's communication thread while the code after this op computes
    (the rest of the backward pass, as Horovod and PyTorch DDP overlap
    gradient all-reduces with it). `pending` holds the result only once
    its one user, the matching `kiln.all_reduce_done`, has run; nothing
    else may read it.

    ```mlir
    %p = kiln.all_reduce_start mean, %grad : tensor<784x128xf32>
    // ... more of the backward pass ...
    %g = kiln.all_reduce_done %p : tensor<784x128xf32>
    ```
  }] # collectiveDescription;
  let arguments = (ins Kiln_CollectiveReduction:$reduction,
                       Kiln_CollectiveTensor:$input,
                       DefaultValuedStrAttr<StrAttr, "world">:$group);
  let results = (outs Kiln_CollectiveTensor:$pending);
  let assemblyFormat = [{
    $reduction `,` $input attr-dict `:` type($input)
  }];
  let extraClassDefinition = Kiln_CompatibleReturnTypes;
  let hasVerifier = 1;
}

def Kiln_AllReduceDoneOp : Kiln_CollectiveOp<"all_reduce_done", [
    AllTypesMatch<["pending", "result"]>]> {
  let summary = "Waits for an all-reduce started by kiln.all_reduce_start";
  let description = [{
    Waits until the all-reduce that `pending`'s `kiln.all_reduce_start`
    began has finished, and gives its result. It is in the same block as
    its start, after it, and is the start's only user.

    ```mlir
    %g = kiln.all_reduce_done %p : tensor<784x128xf32>
    ```
  }];
  let arguments = (ins Kiln_CollectiveTensor:$pending);
  let results = (outs Kiln_CollectiveTensor:$result);
  let assemblyFormat = [{ $pending attr-dict `:` type($pending) }];
  let hasVerifier = 1;
}

def Kiln_BroadcastFromOp : Kiln_CollectiveOp<"broadcast_from", [
    Kiln_Differentiable, InferTypeOpAdaptorWithIsCompatible]> {
  let summary = "Every process gets one process's tensor";
  let description = [{
    Every process of the group gets the `input` of the process whose rank
    in the group is `root` (what `broadcast_variables` uses so that every
    process starts from the same weights).

    ```mlir
    %w0 = kiln.broadcast_from %w {root = 0 : i64} : tensor<128xf32>
    ```
  }] # collectiveDescription;
  let arguments = (ins Kiln_CollectiveTensor:$input,
                       DefaultValuedAttr<I64Attr, "0">:$root,
                       DefaultValuedStrAttr<StrAttr, "world">:$group);
  let results = (outs Kiln_CollectiveTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` type($input)
  }];
  let extraClassDefinition = Kiln_CompatibleReturnTypes;
}

def Kiln_AllGatherOp : Kiln_CollectiveOp<"all_gather", [Kiln_Differentiable]> {
  let summary = "The group's tensors, joined along an axis, on every process";
  let description = [{
    Every process gets the `input`s of the group, in rank order, joined
    along `axis`: the result's extent there is the group's size times the
    input's. It is written open (`?`) or, when the group's size is known,
    fixed (checked when the op runs).

    ```mlir
    %all = kiln.all_gather %x {axis = 0 : i64} : tensor<8x3xf32> -> tensor<?x3xf32>
    ```
  }] # collectiveDescription;
  let arguments = (ins Kiln_CollectiveTensor:$input,
                       DefaultValuedAttr<I64Attr, "0">:$axis,
                       DefaultValuedStrAttr<StrAttr, "world">:$group);
  let results = (outs Kiln_CollectiveTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_ReduceScatterOp : Kiln_CollectiveOp<"reduce_scatter", [
    Kiln_Differentiable]> {
  let summary = "Combines across the group; each process keeps one part";
  let description = [{
    The elementwise sum, mean, maximum or minimum of the group's `input`s,
    split along `axis` into as many equal parts as the group has
    processes: the process of rank `r` gets part `r`. The input's extent
    there must be a multiple of the group's size (checked when the op
    runs); the result's is written open (`?`) or fixed.

    ```mlir
    %part = kiln.reduce_scatter sum, %g {axis = 0 : i64} : tensor<8x3xf32> -> tensor<?x3xf32>
    ```
  }] # collectiveDescription;
  let arguments = (ins Kiln_CollectiveReduction:$reduction,
                       Kiln_CollectiveTensor:$input,
                       DefaultValuedAttr<I64Attr, "0">:$axis,
                       DefaultValuedStrAttr<StrAttr, "world">:$group);
  let results = (outs Kiln_CollectiveTensor:$result);
  let assemblyFormat = [{
    $reduction `,` $input attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kiln_GroupRankOp : Kiln_CollectiveOp<"group_rank"> {
  let summary = "This process's rank in a group";
  let description = [{
    The rank (0 to size - 1) of this process in the group, as an `i64`
    scalar: `hvd.rank()`, `jax.lax.axis_index`.

    ```mlir
    %r = kiln.group_rank : tensor<i64>
    ```
  }] # collectiveDescription;
  let arguments = (ins DefaultValuedStrAttr<StrAttr, "world">:$group);
  let results = (outs Kiln_I64Scalar:$result);
  let assemblyFormat = [{ attr-dict `:` type($result) }];
  let hasVerifier = 1;
}

def Kiln_GroupSizeOp : Kiln_CollectiveOp<"group_size"> {
  let summary = "The number of processes in a group";
  let description = [{
    The number of processes in the group, as an `i64` scalar: `hvd.size()`,
    `num_replicas_in_sync`.

    ```mlir
    %n = kiln.group_size : tensor<i64>
    ```
  }] # collectiveDescription;
  let arguments = (ins DefaultValuedStrAttr<StrAttr, "world">:$group);
  let results = (outs Kiln_I64Scalar:$result);
  let assemblyFormat = [{ attr-dict `:` type($result) }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Optimizer updates
//===----------------------------------------------------------------------===//

def Kiln_ApplyGradientDescentOp : Kiln_Op<"apply_gradient_descent", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "One step of gradient descent on a variable";
  let description = [{
    `@variable -= learning_rate * grad`. `kiln-expand-optimizers` turns it
    into reads and assigns; the learning rate is a rank-0 tensor of the
    variable's element type, so schedules may compute it.

    ```mlir
    kiln.apply_gradient_descent @w, %gw, %lr : tensor<784x128xf32>, tensor<f32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$variable, Kiln_FloatTensor:$grad,
                       Kiln_FloatTensor:$learning_rate);
  let assemblyFormat = [{
    $variable `,` $grad `,` $learning_rate attr-dict `:` type($grad) `,`
    type($learning_rate)
  }];
}

def Kiln_ApplyMomentumOp : Kiln_Op<"apply_momentum", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "One step of gradient descent with momentum on a variable";
  let description = [{
    With the slot variable `@<variable>_momentum` (same type, zeros; declared
    by `kiln-expand-optimizers` if absent):

        velocity = momentum * velocity - learning_rate * grad
        variable += velocity                       (nesterov = false)
        variable += momentum * velocity - learning_rate * grad  (nesterov)

    as Keras' SGD(momentum=...) does.

    ```mlir
    kiln.apply_momentum @w, %gw, %lr {momentum = 0.9 : f64}
        : tensor<784x128xf32>, tensor<f32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$variable, Kiln_FloatTensor:$grad,
                       Kiln_FloatTensor:$learning_rate,
                       DefaultValuedAttr<F64Attr, "0.9">:$momentum,
                       UnitAttr:$nesterov);
  let assemblyFormat = [{
    $variable `,` $grad `,` $learning_rate attr-dict `:` type($grad) `,`
    type($learning_rate)
  }];
}

def Kiln_ApplyAdamOp : Kiln_Op<"apply_adam", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "One Adam step on a variable, bias-corrected";
  let description = [{
    With the slot variables `@<variable>_adam_m` and `@<variable>_adam_v`
    (same type, zeros; declared by `kiln-expand-optimizers` if absent) and
    `step`, the 1-based number of this step (an i64 scalar, typically a
    step-counter variable incremented once per training step):

        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad^2
        variable -= learning_rate * sqrt(1 - beta2^step) / (1 - beta1^step)
                    * m / (sqrt(v) + epsilon)

    which is Keras' and TensorFlow's formulation (epsilon applied to the
    uncorrected second moment). A `weight_decay` (AdamW) first shrinks the
    variable, decoupled from the gradient, as Keras' AdamW does:

        variable -= learning_rate * weight_decay * variable

    ```mlir
    kiln.apply_adam @w, %gw, %lr, %step {beta1 = 0.9 : f64}
        : tensor<784x128xf32>, tensor<f32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$variable, Kiln_FloatTensor:$grad,
                       Kiln_FloatTensor:$learning_rate, Kiln_I64Scalar:$step,
                       DefaultValuedAttr<F64Attr, "0.9">:$beta1,
                       DefaultValuedAttr<F64Attr, "0.999">:$beta2,
                       DefaultValuedAttr<F64Attr, "1e-7">:$epsilon,
                       DefaultValuedAttr<F64Attr, "0.0">:$weight_decay);
  let assemblyFormat = [{
    $variable `,` $grad `,` $learning_rate `,` $step attr-dict `:`
    type($grad) `,` type($learning_rate)
  }];
}

// An optimizer update named after the variable it changes; slot variables
// are `@<variable><suffix>` of the variable's type (declared by
// kiln-expand-optimizers, with the initial value its description gives,
// when absent).
class Kiln_ApplyOp<string mnemonic, string what, dag attrs,
                   bit hasStep = 0> : Kiln_Op<mnemonic, [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "One " # what # " step on a variable";
  let arguments = !con((ins FlatSymbolRefAttr:$variable, Kiln_FloatTensor:$grad,
                            Kiln_FloatTensor:$learning_rate),
                       !if(hasStep, (ins Kiln_I64Scalar:$step), (ins)), attrs);
  let assemblyFormat = !if(hasStep, [{
    $variable `,` $grad `,` $learning_rate `,` $step attr-dict `:`
    type($grad) `,` type($learning_rate)
  }], [{
    $variable `,` $grad `,` $learning_rate attr-dict `:` type($grad) `,`
    type($learning_rate)
  }]);
  let extraClassDefinition = [{
    ::mlir::LogicalResult
    $cppClass::verifySymbolUses(::mlir::SymbolTableCollection &tables) {
      return ::mlir::kiln::verifyOptimizerUpdate(
          *this, getVariableAttr(), getGrad(), getLearningRate(), tables);
    }
  }];
}

def Kiln_ApplyRmspropOp : Kiln_ApplyOp<"apply_rmsprop", "RMSprop",
    (ins DefaultValuedAttr<F64Attr, "0.9">:$rho,
         DefaultValuedAttr<F64Attr, "0.0">:$momentum,
         DefaultValuedAttr<F64Attr, "1e-7">:$epsilon, UnitAttr:$centered)> {
  let description = [{
    Keras' RMSprop, with the slots `@<variable>_rms` (zeros), and
    `@<variable>_rms_momentum` if momentum > 0, `@<variable>_rms_mg` if
    centered:

        rms = rho * rms + (1 - rho) * grad^2
        mg = rho * mg + (1 - rho) * grad                     (centered)
        increment = learning_rate * grad / sqrt(rms - mg^2 + epsilon)
                    (mg^2 only when centered)
        mom = momentum * mom + increment; variable -= mom    (momentum > 0)
        variable -= increment                                (otherwise)

    ```mlir
    kiln.apply_rmsprop @w, %gw, %lr {rho = 0.9 : f64}
        : tensor<784x128xf32>, tensor<f32>
    ```
  }];
}

def Kiln_ApplyAdagradOp : Kiln_ApplyOp<"apply_adagrad", "Adagrad",
    (ins DefaultValuedAttr<F64Attr, "1e-7">:$epsilon,
         DefaultValuedAttr<F64Attr, "0.1">:$initial_accumulator_value)> {
  let description = [{
    Keras' Adagrad, with the slot `@<variable>_adagrad` (filled with
    initial_accumulator_value):

        accumulator += grad^2
        variable -= learning_rate * grad / sqrt(accumulator + epsilon)

    ```mlir
    kiln.apply_adagrad @w, %gw, %lr : tensor<10xf32>, tensor<f32>
    ```
  }];
}

def Kiln_ApplyAdadeltaOp : Kiln_ApplyOp<"apply_adadelta", "Adadelta",
    (ins DefaultValuedAttr<F64Attr, "0.95">:$rho,
         DefaultValuedAttr<F64Attr, "1e-7">:$epsilon)> {
  let description = [{
    Keras' Adadelta, with the slots `@<variable>_adadelta_g` (the running
    mean of squared gradients) and `@<variable>_adadelta_d` (of squared
    updates), zeros:

        g2 = rho * g2 + (1 - rho) * grad^2
        delta = sqrt(d2 + epsilon) / sqrt(g2 + epsilon) * grad
        d2 = rho * d2 + (1 - rho) * delta^2
        variable -= learning_rate * delta

    ```mlir
    kiln.apply_adadelta @w, %gw, %lr : tensor<10xf32>, tensor<f32>
    ```
  }];
}

def Kiln_ApplyAdamaxOp : Kiln_ApplyOp<"apply_adamax", "Adamax",
    (ins DefaultValuedAttr<F64Attr, "0.9">:$beta1,
         DefaultValuedAttr<F64Attr, "0.999">:$beta2,
         DefaultValuedAttr<F64Attr, "1e-7">:$epsilon), /*hasStep=*/1> {
  let description = [{
    Keras' Adamax (Adam with the infinity norm), with the slots
    `@<variable>_adamax_m` and `@<variable>_adamax_u` (zeros) and `step`, the
    1-based number of this step:

        m = beta1 * m + (1 - beta1) * grad
        u = max(beta2 * u, |grad|)
        variable -= learning_rate * m / ((1 - beta1^step) * (u + epsilon))

    ```mlir
    kiln.apply_adamax @w, %gw, %lr, %step : tensor<10xf32>, tensor<f32>
    ```
  }];
}

def Kiln_ApplyNadamOp : Kiln_ApplyOp<"apply_nadam", "Nadam",
    (ins DefaultValuedAttr<F64Attr, "0.9">:$beta1,
         DefaultValuedAttr<F64Attr, "0.999">:$beta2,
         DefaultValuedAttr<F64Attr, "1e-7">:$epsilon), /*hasStep=*/1> {
  let description = [{
    Keras' Nadam (Adam with Nesterov momentum and Dozat's momentum
    schedule), with the slots `@<variable>_nadam_m` and `@<variable>_nadam_v`
    (zeros), `step` (t, the 1-based number of this step) and `u_product`,
    the product u_1 * ... * u_t of the schedule, which is optimizer-wide
    state the caller keeps (it is the same for every variable of a step):

        u_t = beta1 * (1 - 0.5 * 0.96^t),  u_t1 = beta1 * (1 - 0.5 * 0.96^(t+1))
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad^2
        m_hat = u_t1 * m / (1 - u_product * u_t1)
                + (1 - u_t) * grad / (1 - u_product)
        v_hat = v / (1 - beta2^t)
        variable -= learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    ```mlir
    kiln.apply_nadam @w, %gw, %lr, %step, %u : tensor<10xf32>, tensor<f32>, tensor<f32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$variable, Kiln_FloatTensor:$grad,
                       Kiln_FloatTensor:$learning_rate, Kiln_I64Scalar:$step,
                       Kiln_FloatTensor:$u_product,
                       DefaultValuedAttr<F64Attr, "0.9">:$beta1,
                       DefaultValuedAttr<F64Attr, "0.999">:$beta2,
                       DefaultValuedAttr<F64Attr, "1e-7">:$epsilon);
  let assemblyFormat = [{
    $variable `,` $grad `,` $learning_rate `,` $step `,` $u_product attr-dict
    `:` type($grad) `,` type($learning_rate) `,` type($u_product)
  }];
  let hasVerifier = 1;
}

def Kiln_ApplyLionOp : Kiln_ApplyOp<"apply_lion", "Lion",
    (ins DefaultValuedAttr<F64Attr, "0.9">:$beta1,
         DefaultValuedAttr<F64Attr, "0.99">:$beta2,
         DefaultValuedAttr<F64Attr, "0.0">:$weight_decay)> {
  let description = [{
    Keras' Lion (Chen et al., "Symbolic Discovery of Optimization
    Algorithms"), with the slot `@<variable>_lion_m` (zeros); weight decay
    decoupled, as AdamW's:

        variable -= learning_rate * weight_decay * variable
        variable -= learning_rate * sign(beta1 * m + (1 - beta1) * grad)
        m = beta2 * m + (1 - beta2) * grad

    ```mlir
    kiln.apply_lion @w, %gw, %lr {beta2 = 0.98 : f64} : tensor<10xf32>, tensor<f32>
    ```
  }];
}

def Kiln_ApplyFtrlOp : Kiln_ApplyOp<"apply_ftrl", "FTRL-proximal",
    (ins DefaultValuedAttr<F64Attr, "-0.5">:$learning_rate_power,
         DefaultValuedAttr<F64Attr, "0.1">:$initial_accumulator_value,
         DefaultValuedAttr<F64Attr, "0.0">:$l1,
         DefaultValuedAttr<F64Attr, "0.0">:$l2,
         DefaultValuedAttr<F64Attr, "0.0">:$l2_shrinkage,
         DefaultValuedAttr<F64Attr, "0.0">:$beta)> {
  let description = [{
    Keras' Ftrl (McMahan et al.'s FTRL-proximal), with the slots
    `@<variable>_ftrl_accumulator` (filled with initial_accumulator_value)
    and `@<variable>_ftrl_linear` (zeros); p = -learning_rate_power:

        shrunk = grad + 2 * l2_shrinkage * variable
        new_accumulator = accumulator + grad^2
        linear += shrunk - (new_accumulator^p - accumulator^p)
                           / learning_rate * variable
        quadratic = new_accumulator^p / learning_rate
                    + 2 * (l2 + beta / (2 * learning_rate))
        variable = (clip(linear, -l1, l1) - linear) / quadratic
        accumulator = new_accumulator

    ```mlir
    kiln.apply_ftrl @w, %gw, %lr {l1 = 0.01 : f64} : tensor<10xf32>, tensor<f32>
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Tapes (loop state saved for reverse mode)
//===----------------------------------------------------------------------===//

def Kiln_TapeNewOp : Kiln_Op<"tape_new", [Pure, Kiln_OpenExtents]> {
  let summary = "A zero-filled tape of rows, sized at run time";
  let description = [{
    Creates a tape: a tensor whose leading dimension (`?`) holds `size` rows
    of the static row shape that follows it. `kiln-autodiff` uses tapes to
    save the carried values of every loop iteration for the reverse pass; the
    row count is a run-time value because a `kiln.while` or a `kiln.for` with
    computed bounds only knows its trip count when it runs. The tape always
    has at least one row (a `size` below 1 gives one), so a read is never out
    of bounds. Every row starts as zeros. Rows with open extents (a loop
    carrying a batch known only at run time) take them from `like`, a
    tensor of the row type (the loop's initial value).

    ```mlir
    %t = kiln.tape_new %n : tensor<?x3xf32>
    %b = kiln.tape_new %n like %h0 : tensor<?x?x3xf32>, tensor<?x3xf32>
    ```
  }];
  let arguments = (ins Kiln_I64Scalar:$size, Optional<Kiln_Tensor>:$like);
  let results = (outs Kiln_Tensor:$tape);
  let assemblyFormat = [{
    $size (`like` $like^)? attr-dict `:` type($tape) (`,` type($like)^)?
  }];
  let hasVerifier = 1;
}

def Kiln_TapeWriteOp : Kiln_Op<"tape_write", [Pure, Kiln_OpenExtents,
    AllTypesMatch<["tape", "result"]>]> {
  let summary = "Replaces one row of a tape";
  let description = [{
    Returns `tape` with row `index` replaced by `value`, whose type is the
    tape's row type. A write at an index outside the tape changes nothing.
    After bufferization the write happens in place when the old tape is not
    used again, which is how a loop fills its tape.

    ```mlir
    %t1 = kiln.tape_write %t0[%i], %v : tensor<?x3xf32>, tensor<3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$tape, Kiln_I64Scalar:$index,
                       Kiln_Tensor:$value);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $tape `[` $index `]` `,` $value attr-dict `:` type($tape) `,` type($value)
  }];
  let hasVerifier = 1;
}

def Kiln_TapeReadOp : Kiln_Op<"tape_read", [Pure, Kiln_OpenExtents]> {
  let summary = "Reads one row of a tape";
  let description = [{
    Returns row `index` of `tape`. An index outside the tape is clamped to
    the first or last row.

    ```mlir
    %v = kiln.tape_read %t[%i] : tensor<?x3xf32> -> tensor<3xf32>
    ```
  }];
  let arguments = (ins Kiln_Tensor:$tape, Kiln_I64Scalar:$index);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $tape `[` $index `]` attr-dict `:` type($tape) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Gradient requests
//===----------------------------------------------------------------------===//

class Kiln_GradRequestOp<string mnemonic> : Kiln_Op<mnemonic, [
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let arguments = (ins FlatSymbolRefAttr:$callee, Variadic<Kiln_Tensor>:$args,
                       Variadic<Kiln_FloatTensor>:$seeds,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{}">:$wrt,
                       OptionalAttr<FlatSymbolRefArrayAttr>:$wrt_variables,
                       UnitAttr:$wrt_all_variables, UnitAttr:$known_inputs);
  let assemblyFormat = [{
    $callee `(` $args `)` (`seeds` `(` $seeds^ `:` type($seeds) `)`)?
    attr-dict `:` functional-type($args, $results)
  }];
}

def Kiln_GradOp : Kiln_GradRequestOp<"grad"> {
  let summary = "Gradient of a function with respect to some of its arguments";
  let description = [{
    The gradient of `@callee` at `args` with respect to the arguments listed
    in `wrt` (their positions), one result per listed argument with that
    argument's type, then with respect to the variables listed in
    `wrt_variables` (or, with `wrt_all_variables`, every floating-point
    variable the callee reads, in declaration order), one result per
    variable with its type: a variable's value enters the function through
    its reads, so its gradient sums the cotangents of all of them. Reverse mode: the function's result is a rank-0 float
    (the gradient of the scalar), or `seeds` give one cotangent per result of
    the function (the vector-Jacobian product). Only floating-point
    arguments can be differentiated. `kiln-autodiff` replaces the request by
    a call of a generated gradient function; requests inside generated
    functions give higher-order gradients.

    With `known_inputs`, the generated gradient function takes each
    `kiln.known_value` of the callee as its known operand once the gradient
    is built: a gradient of that gradient goes to the known operand (a
    forward value saved by whoever called), not back through the ops that
    computed it. That is how the eager tape records a gradient on the tapes
    around it: TensorFlow's backward ops read the saved forward tensors, so
    an outer tape differentiates through them, and gives a partial
    derivative with respect to one of them. Without it, a gradient of the
    gradient recomputes the known values from the callee's arguments.

    ```mlir
    %gx, %gy = kiln.grad @f(%x, %y) {wrt = array<i64: 0, 1>}
        : (tensor<f32>, tensor<f32>) -> (tensor<f32>, tensor<f32>)
    %gw = kiln.grad @layer(%x, %w) seeds(%dy : tensor<4x2xf32>)
        {wrt = array<i64: 1>} : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
    %gv = kiln.grad @loss(%x) {wrt_variables = [@w]}
        : (tensor<4x3xf32>) -> tensor<3x2xf32>
    ```
  }];
  let results = (outs Variadic<Kiln_Tensor>:$results);
}

def Kiln_ValueAndGradOp : Kiln_GradRequestOp<"value_and_grad"> {
  let summary = "The results of a function and its gradient, computed together";
  let description = [{
    Like `kiln.grad`, but the results are the function's results followed by
    the gradients; the forward computation is done once and shared.

    ```mlir
    %loss, %gw = kiln.value_and_grad @loss(%x, %w) {wrt = array<i64: 1>}
        : (tensor<4x3xf32>, tensor<3x2xf32>) -> (tensor<f32>, tensor<3x2xf32>)
    ```
  }];
  let results = (outs Variadic<Kiln_Tensor>:$results);
}

#endif // KILN_OPS_TD
