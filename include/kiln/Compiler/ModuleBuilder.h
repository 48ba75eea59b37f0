//===- ModuleBuilder.h - Building traced modules by value ids ----*- C++ -*-===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//
//
// The IR builder behind tracing front ends: a module built function by
// function, where values are plain integer ids, attributes typed values
// (OpAttributes) and types TensorTypeSpecs -- nothing a front end hands over
// is MLIR text. A thin layer over FunctionBuilder (one per function, sharing
// one module); errors are messages, the builder stays usable after one.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_MODULEBUILDER_H
#define KILN_COMPILER_MODULEBUILDER_H

#include "kiln/Compiler/FunctionBuilder.h"
#include "kiln/Compiler/OpAttributes.h"
#include "llvm/ADT/DenseMap.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::kiln {

class ModuleBuilder {
public:
  explicit ModuleBuilder(MLIRContext &context) : context(context) {}

  /// Starts function `name` (the first one is the module's entry; later
  /// ones may be private helpers); returns its index.
  FailureOr<size_t> function(llvm::StringRef name,
                             llvm::ArrayRef<TensorTypeSpec> arguments,
                             bool isPrivate, std::string &error);

  FailureOr<size_t> argument(size_t function, unsigned i, std::string &error);

  /// Appends kiln.<name> (see FunctionBuilder::addOp) at `file`:`line`
  /// (unknown when `file` is empty); with `outermost`, into the function
  /// body rather than the innermost open block. Returns the results' ids.
  FailureOr<std::vector<size_t>>
  op(size_t function, llvm::StringRef name, llvm::ArrayRef<size_t> operands,
     const OpAttributes &attributes, llvm::ArrayRef<TensorTypeSpec> results,
     llvm::StringRef file, unsigned line, bool outermost, std::string &error);

  /// A kiln.constant of type `type` whose elements are `bytes` in the
  /// runtime's layout (row-major, one byte per bool).
  FailureOr<size_t> constant(size_t function, const TensorTypeSpec &type,
                             llvm::ArrayRef<char> bytes, std::string &error);

  /// Declares `kiln.variable @name : type` at the module's start (once; a
  /// second declaration with another type is an error).
  LogicalResult declareVariable(llvm::StringRef name,
                                const TensorTypeSpec &type,
                                std::string &error);

  /// See FunctionBuilder::pushBlock: the block's handle and argument ids.
  FailureOr<std::pair<size_t, std::vector<size_t>>>
  pushBlock(size_t function, llvm::ArrayRef<TensorTypeSpec> arguments,
            std::string &error);

  /// Ends the innermost block with kiln.yield or kiln.condition.
  LogicalResult popBlock(size_t function, llvm::ArrayRef<size_t> values,
                         llvm::StringRef terminator, std::string &error);

  LogicalResult discardBlock(size_t function, size_t handle,
                             std::string &error);

  /// Appends an op whose regions are the given popped blocks.
  FailureOr<std::vector<size_t>>
  regionOp(size_t function, llvm::StringRef name,
           llvm::ArrayRef<size_t> operands, llvm::ArrayRef<size_t> blocks,
           llvm::ArrayRef<TensorTypeSpec> results, llvm::StringRef file,
           unsigned line, std::string &error);

  /// See FunctionBuilder::outline: the captures' ids and reached flags.
  /// `recorded`, when not empty: the half-open ranges of ids (marks) during
  /// which a tape recorded; a value that first got its id outside them was
  /// computed while the tape was not recording, and is captured as it is.
  FailureOr<std::pair<std::vector<size_t>, std::vector<bool>>>
  outline(size_t function, size_t target, llvm::ArrayRef<size_t> sources,
          llvm::StringRef name, bool knownValues,
          llvm::ArrayRef<std::pair<size_t, size_t>> recorded,
          std::string &error);

  /// The id the next value will get: a position in the order in which
  /// values were made (what tapes note when they start and stop recording).
  size_t mark() const { return ids.size(); }

  /// How many live values have ids (values erased with a block are
  /// forgotten): what tests check the bookkeeping with.
  size_t liveValueCount() const { return firstId.size(); }

  /// The type of value `id`.
  FailureOr<TensorTypeSpec> type(size_t id, std::string &error);

  LogicalResult finishFunction(size_t function, llvm::ArrayRef<size_t> results,
                               std::string &error);

  /// The module's text so far (empty without a function).
  std::string text();

  /// Verifies and hands over the module (every function finished).
  OwningOpRef<ModuleOp> takeModule(std::string &error);

private:
  FunctionBuilder *at(size_t function, std::string &error);
  FailureOr<Value> value(size_t id, std::string &error);
  FailureOr<SmallVector<Value>> values(llvm::ArrayRef<size_t> ids,
                                       std::string &error);
  FailureOr<SmallVector<Type>> types(llvm::ArrayRef<TensorTypeSpec> specs,
                                     std::string &error);
  size_t add(Value v);
  std::vector<size_t> addAll(ValueRange values);
  /// Values defined in `block` (arguments and results, nested ones too).
  static void collectDefined(Block *block, SmallVectorImpl<Value> &out);
  /// Drops erased values from `firstId` (their storage may be reused).
  void forget(llvm::ArrayRef<Value> erased);
  Location locationOf(llvm::StringRef file, unsigned line);

  MLIRContext &context;
  std::vector<std::unique_ptr<FunctionBuilder>> functions;
  std::vector<Value> ids;
  /// The first id each live value got (a value may get several).
  llvm::DenseMap<Value, size_t> firstId;
  std::vector<Block *> blocks;
};

} // namespace mlir::kiln

#endif // KILN_COMPILER_MODULEBUILDER_H
