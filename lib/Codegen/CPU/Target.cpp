//===- Target.cpp - What Kiln knows about the CPU it compiles for ---------===//
//
// Part of the Kiln project.
//
//===----------------------------------------------------------------------===//

#include "kiln/Codegen/CPU/Target.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <memory>
#include <mutex>

using namespace llvm;

int64_t mlir::kiln::getCpuVectorBits(StringRef cpu) {
  if (cpu == "host" || cpu == "native") {
    StringMap<bool> features = sys::getHostCPUFeatures();
    if (features.lookup("avx512f"))
      return 512;
    if (features.lookup("avx2") || features.lookup("avx"))
      return 256;
    return 128;
  }
  // A named CPU: ask LLVM's description of it (the native target's).
  static std::once_flag once;
  std::call_once(once, [] {
    InitializeNativeTarget();
    InitializeNativeTargetAsmPrinter();
  });
  Triple triple(sys::getDefaultTargetTriple());
  std::string error;
  const Target *target = TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return 128;
  std::unique_ptr<MCSubtargetInfo> info(
      target->createMCSubtargetInfo(triple, cpu, ""));
  if (!info || !info->isCPUStringValid(cpu))
    return 128;
  if (info->checkFeatures("+avx512f"))
    return 512;
  if (info->checkFeatures("+avx2") || info->checkFeatures("+avx"))
    return 256;
  return 128;
}
