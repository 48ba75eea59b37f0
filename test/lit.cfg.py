# -*- Python -*-
# lit configuration for Kiln's FileCheck tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "KILN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "Inputs"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Kiln's tools first, then FileCheck/not/count from LLVM's tools directory.
llvm_config.with_environment("PATH", config.kiln_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
if config.sanitizers in ("ON", "1", "TRUE"):
    # libMLIR.so is not instrumented; leaks in it are not ours to report.
    # LLVM's BumpPtrAllocator poisons its slabs in Kiln's (instrumented)
    # copy of its inline code but not in Debian's libMLIR, which shares the
    # slabs: explicit poisoning would report false use-after-poison errors
    # (every other check stays on; scripts/test.sh sets the same).
    config.environment["ASAN_OPTIONS"] = os.environ.get(
        "ASAN_OPTIONS", "detect_leaks=0:allow_user_poisoning=0")
    config.available_features.add("asan")

# The CUDA toolkit found at configure time: GPU kernels can be assembled by
# ptxas (the GPU pipeline's format=bin), which checks the PTX Kiln writes.
if config.cuda_toolkit and os.path.exists(
        os.path.join(config.cuda_toolkit, "bin", "ptxas")):
    config.available_features.add("ptxas")

# Tests of memory safety in code MLIR's shared library runs (where the
# ASan build sees nothing: libMLIR.so is not instrumented) run the tool under
# valgrind's memcheck when it is installed, and plainly otherwise.
import shutil
if shutil.which("valgrind") and config.sanitizers not in ("ON", "1", "TRUE"):
    config.substitutions.append(
        ("%memcheck", "valgrind -q --error-exitcode=99 --leak-check=no"))
else:
    config.substitutions.append(("%memcheck", ""))

# The test double of the CUDA driver (test/unit/fake_cuda.c): GPU entries
# run against it without a GPU (kernels are checked and recorded, not run).
config.substitutions.append(("%fake_cuda", config.fake_cuda))

llvm_config.add_tool_substitutions(
    [ToolSubst("tensor-opt", unresolved="fatal")], [config.kiln_tools_dir]
)
