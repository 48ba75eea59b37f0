//===- KilnInterfaces.td - Kiln op interfaces -----------------*- tablegen -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_INTERFACES_TD
#define KILN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Kiln_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::mlir::kiln";
  let description = [{
    An op that knows its own vector-Jacobian product (VJP): given the
    cotangents of its results, it builds, with Kiln ops, the cotangents of its
    operands. Reverse-mode autodiff (`kiln-autodiff`) is driven entirely by
    these rules, so every front end gets the same gradients.

    Only floating-point values carry cotangents: integer and boolean operands
    (indices, labels, predicates) get none, by rule. A rule returns a null
    value for an operand without a gradient.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the cotangents of the operands at the builder's insertion
        point. `resultGrads` has one entry per result; an entry is null when
        that result has no cotangent (it does not influence the output).
        Fills `operandGrads` with one entry per operand (null: no gradient).
        Fails with a diagnostic when the op cannot be differentiated in this
        configuration.
      }],
      "::llvm::LogicalResult", "buildVJP",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ValueRange":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // KILN_INTERFACES_TD
