//===- FunctionBuilder.h - Building Kiln functions op by op -----*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// What front ends (the Python binding, eager kernels, tracing) use to build
// Kiln IR without writing MLIR text: ops are named ("matmul"), attributes
// are given as an MLIR attribute dictionary, and result types are inferred
// by the op's own InferTypeOpInterface -- the same shape rules and error
// messages as the verifier.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_FUNCTIONBUILDER_H
#define KILN_COMPILER_FUNCTIONBUILDER_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::kiln {

/// Builds one public function `name(args...) -> results` in a new module.
class FunctionBuilder {
public:
  FunctionBuilder(MLIRContext &context, llvm::StringRef name,
                  llvm::ArrayRef<Type> argumentTypes);

  /// Builds another function `name` into `other`'s module (which then holds
  /// both); `finishFunction` ends it, `other.finish` ends the module.
  FunctionBuilder(FunctionBuilder &other, llvm::StringRef name,
                  llvm::ArrayRef<Type> argumentTypes);

  /// Starts a block of a region op that is not created yet (a branch of a
  /// kiln.cond, a loop body): ops added from now on go into it, and may use
  /// values defined outside. Returns the block; its arguments have
  /// `argumentTypes`.
  Block *pushBlock(llvm::ArrayRef<Type> argumentTypes);

  /// Ends the innermost pushed block with `kiln.<terminator> values`
  /// (`yield`, or `condition` for a kiln.while condition: the predicate,
  /// then the block's arguments); ops go to the enclosing block again.
  void popBlock(llvm::ArrayRef<Value> values,
                llvm::StringRef terminator = "yield");

  /// Drops a popped block that no op will take (a loop body traced only to
  /// learn its types, or one whose tracing failed): its ops are erased now.
  void discardBlock(Block *block);

  /// Whether `block` is a popped block no op has taken yet (compares the
  /// pointer only: safe for a block that no longer exists).
  bool holdsBlock(Block *block) const;

  /// While `outermost` is set, ops go to the function body (where the
  /// outermost pushed block's op will be), e.g. a variable read hoisted out
  /// of a loop body so that a gradient can be taken with respect to it.
  void setOutermost(bool outermost);

  /// Appends an op with regions whose single blocks were built with
  /// pushBlock/popBlock (in region order). Result types are inferred when
  /// the op can, else taken from `resultTypes`.
  FailureOr<SmallVector<Value>>
  addRegionOp(llvm::StringRef op, llvm::ArrayRef<Value> operands,
              DictionaryAttr attributes, llvm::ArrayRef<Block *> blocks,
              llvm::ArrayRef<Type> resultTypes, Location loc,
              std::string &error);

  /// Copies the computation of `target` from `sources` into a new private
  /// function `name(sources..., captures...) -> target` of the same module:
  /// the ops `target` depends on (with their regions), stopping at the
  /// sources; other values they use (computed before, or arguments, and the
  /// variable reads, whose values are those the computation read even if
  /// the variable is assigned before the gradient is requested) become the
  /// trailing arguments, returned in `captures`. `reached[i]` says
  /// whether the target depends on source i. This is how a gradient tape
  /// inside a traced function becomes a kiln.grad request. With
  /// `knownValues`, each floating-point result of a copied op that another
  /// copied op reads, and the target, is also captured, as the known
  /// operand of a kiln.known_value after the copy (what a request with
  /// `known_inputs` differentiates through: a tape inside another one).
  /// Values for which `unrecorded` holds are captured as they are instead
  /// of copied (what a tape did not record is a constant to it).
  LogicalResult outline(Value target, llvm::ArrayRef<Value> sources,
                        llvm::StringRef name, SmallVectorImpl<Value> &captures,
                        SmallVectorImpl<bool> &reached, std::string &error,
                        bool knownValues = false,
                        llvm::function_ref<bool(Value)> unrecorded = nullptr);

  /// Ends this function with `results` (no verification yet).
  void finishFunction(llvm::ArrayRef<Value> results);

  /// Makes the function private (a helper of the module's entry points,
  /// such as a custom gradient's forward and backward functions).
  void setPrivate();

  /// Argument `i` of the function.
  Value argument(unsigned i);

  /// Appends `kiln.<op>` (or any registered op with a dotted name) with
  /// `operands` and `attributes`. Result types are inferred when the op
  /// implements InferTypeOpInterface (then `resultTypes` must be empty or
  /// agree), otherwise taken from `resultTypes`. Returns the results, or
  /// failure with a message naming the op in `error`.
  FailureOr<SmallVector<Value>> addOp(llvm::StringRef op,
                                      llvm::ArrayRef<Value> operands,
                                      DictionaryAttr attributes,
                                      llvm::ArrayRef<Type> resultTypes,
                                      Location loc, std::string &error);

  /// Ends the function with `results` and verifies the module; on failure
  /// returns null and the diagnostics in `error`. Only for the builder that
  /// created the module.
  OwningOpRef<ModuleOp> finish(llvm::ArrayRef<Value> results,
                               std::string &error);

  /// Verifies and hands over the module (every function already ended
  /// with finishFunction); null and the diagnostics in `error` on failure.
  /// Only for the builder that created the module.
  OwningOpRef<ModuleOp> takeModule(std::string &error);

  /// The module being built (owned by the first builder).
  ModuleOp getModule() { return module; }

  MLIRContext &getContext() { return context; }

private:
  /// Adds function `name` to the module and moves the insertion point into
  /// its body.
  void startFunction(llvm::StringRef name, llvm::ArrayRef<Type> argumentTypes);

  /// Creates the op of `state` and verifies it; on failure erases it and
  /// reports `diagnostics` (what the verifier said) in `error`.
  FailureOr<SmallVector<Value>> createVerified(OperationState &state,
                                               llvm::StringRef fullName,
                                               const std::string &diagnostics,
                                               std::string &error);

  MLIRContext &context;
  OwningOpRef<ModuleOp> ownedModule; // the first builder owns the module
  ModuleOp module;
  OpBuilder builder;
  Block *body = nullptr;
  /// Regions of ops not created yet, and where ops went before each.
  std::vector<std::unique_ptr<Region>> detached;
  std::vector<OpBuilder::InsertPoint> enclosing;
  /// The function body, then each block being built inside it.
  std::vector<Block *> blockStack;
  std::optional<OpBuilder::InsertPoint> suspended;
};

} // namespace mlir::kiln

#endif // KILN_COMPILER_FUNCTIONBUILDER_H
