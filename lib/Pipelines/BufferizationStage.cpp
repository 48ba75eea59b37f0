//===- BufferizationStage.cpp - Bufferization with the entry ABI ----------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "BufferizationStage.h"

#include "kiln/ABI/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"

using namespace mlir;

void mlir::kiln::addEntryBufferization(OpPassManager &pm) {
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  // New variable values go into the variables' buffers; eliminating empty
  // tensors again lets their producers write there directly.
  pm.addPass(createKilnMaterializeVariableUpdates());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  pm.addPass(createKilnDistinctResults());

  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createKilnDropVariableResults());

  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.hoistDynamicAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
}
