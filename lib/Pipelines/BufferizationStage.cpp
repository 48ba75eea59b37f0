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
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::kiln::addEntryBufferization(OpPassManager &pm) {
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  // New variable values go into the variables' buffers; eliminating empty
  // tensors again lets their producers write there directly.
  pm.addPass(createKilnMaterializeVariableUpdates());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  // Parallel tiles that read the old value of what they overwrite read it
  // from the loop's own output (no copy of a variable around the loop).
  pm.addPass(createKilnSharedOutReads());
  pm.addPass(createKilnDistinctResults());

  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // Loops over tiles written in place carry their buffer unchanged, and
  // leave copies of a view onto itself: with the carried buffers folded
  // away and equal views recognized, the copies fold and the loops' results
  // are the buffers themselves, which the ABI passes below expect.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createKilnDropVariableResults());

  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.hoistDynamicAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
}
