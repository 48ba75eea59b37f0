#!/usr/bin/env python3
"""Mutation testing: plants small bugs (sign flips, swapped comparisons,
off-by-one, dropped checks) in chosen C++ and Python functions one at a
time, rebuilds incrementally, runs the tests meant to catch each, and
reports which survived (docs/testing.md).

  /usr/bin/python3 scripts/mutate.py [--only python|cpp] [--list] [NAME...]

Each mutation names one exact text (it must occur once in its file, so the
list fails loudly when the code moves) and the tests to run. The source is
restored after each mutation, and the build after the last. A mutation
"survives" when its tests still pass: a gap in the suite. Exit status 1
when fewer than 90% are killed.
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KILN_BUILD_DIR", os.path.join(ROOT, "build"))
PY = "/usr/bin/python3"


def pytest(*selection):
    return [PY, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *selection]


def lit(*filters):
    return ["/usr/lib/llvm-22/bin/lit", "-q", os.path.join(BUILD, "test"),
            "--filter", "|".join(filters)]


def ctest(regex):
    return ["ctest", "--test-dir", BUILD, "-R", regex, "--output-on-failure"]


# name: (file, original text, mutated text, test command)
MUTATIONS = {
    # -- Python --------------------------------------------------------------
    "dense_bias_sign": (
        "python/kiln/layers.py",
        "            y = ops.matmul(x, self.kernel)\n        if self.bias is not None:\n"
        "            y = y + self.bias",
        "            y = ops.matmul(x, self.kernel)\n        if self.bias is not None:\n"
        "            y = y - self.bias",
        pytest("test/python/test_edge_cases.py")),
    "conv_bias_sign": (
        "python/kiln/layers.py",
        "        y = nn.conv2d(inputs, self.kernel, list(self.strides), self.padding)\n"
        "        if self.bias is not None:\n            y = y + self.bias",
        "        y = nn.conv2d(inputs, self.kernel, list(self.strides), self.padding)\n"
        "        if self.bias is not None:\n            y = y - self.bias",
        pytest("test/python/test_edge_cases.py")),
    "dense_rank3_order": (
        "python/kiln/layers.py",
        "            y = ops.reshape(y, (*lead, self.units))",
        "            y = ops.reshape(y, (self.units, *lead))",
        pytest("test/python/test_edge_cases.py")),
    "glorot_half_limit": (
        "python/kiln/initializers.py",
        "        limit = math.sqrt(6.0 / max(1, fan_in + fan_out))",
        "        limit = math.sqrt(6.0 / max(1, fan_in + fan_out)) / 2",
        pytest("test/python/test_edge_cases.py")),
    "top_k_ascending": (
        "python/kiln/math_ops.py",
        '    values, indices = _sort(x, -1, "DESCENDING", "top_k")',
        '    values, indices = _sort(x, -1, "ASCENDING", "top_k")',
        pytest("test/python/test_math_ops.py", "-k", "top_k")),
    "depthwise_pad_halves": (
        "python/kiln/nn.py",
        "        x = math_ops.pad(x, [[0, 0], [pads[0] // 2, pads[0] - pads[0] // 2],",
        "        x = math_ops.pad(x, [[0, 0], [pads[0] - pads[0] // 2, pads[0] // 2],",
        pytest("test/python/test_math_ops.py", "-k", "depthwise")),
    "reshape_guess": (
        "python/kiln/ops.py",
        "        if (known == 0 and total != 0) or (known and total % known):",
        "        if False:",
        pytest("test/python/test_edge_cases.py")),
    "nadam_schedule": (
        "python/kiln/optimizers.py",
        "        u_t = self.beta_1 * (1.0 - 0.5 * (constant(0.96, float32) ** t))",
        "        u_t = self.beta_1 * (1.0 - 0.5 * (constant(0.96, float32) ** (t + 1.0)))",
        pytest("test/python/test_optimizers.py", "-k", "nadam")),
    # -- C++ -----------------------------------------------------------------
    "maximum_tie_right": (
        "lib/Dialect/Kiln/KilnVJP.cpp",
        "BINARY_VJP(MaximumOp,\n           r.select(r.cmp(CompareDirection::ge, x, y), g, "
        "r.zerosLike(g)),\n           r.select(r.cmp(CompareDirection::ge, x, y), "
        "r.zerosLike(g), g))",
        "BINARY_VJP(MaximumOp,\n           r.select(r.cmp(CompareDirection::gt, x, y), g, "
        "r.zerosLike(g)),\n           r.select(r.cmp(CompareDirection::gt, x, y), "
        "r.zerosLike(g), g))",
        pytest("test/python/test_edge_cases.py", "-k", "ties")),
    "broadcast_ge": (
        "lib/Dialect/Kiln/ShapeUtils.cpp",
        "    } else if (!isStatic(b) || a == b) {",
        "    } else if (!isStatic(b) || a >= b) {",
        lit("Kiln/invalid.mlir")),
    "checkpoint_dtype": (
        "lib/Runtime/Variables.cpp",
        "        bool same = dtype == r.dtype &&",
        "        bool same = true &&",
        pytest("test/integration/test_variables.py", "-k", "checkpoint_errors")),
    "checkpoint_gap": (
        "lib/Runtime/Variables.cpp",
        "    if (r->begin > at)",
        "    if (false)",
        pytest("test/integration/test_variables.py", "-k", "checkpoint_errors")),
    "sort_unstable": (
        "lib/Runtime/Sort.cpp",
        "  return isNan(b) || a < b;",
        "  return isNan(b) || a <= b;",
        pytest("test/python/test_math_ops.py", "-k", "sort or top_k")),
    "cast_nan": (
        "lib/Conversion/KilnToLinalg/KilnToLinalg.cpp",
        "    return arith::SelectOp::create(b, loc, nan, intConstant(APInt(width, 0)),\n"
        "                                   result);",
        "    return result;",
        pytest("test/python/test_edge_cases.py", "-k", "casts")),
    "slice_vjp_offset": (
        "lib/Dialect/Kiln/KilnVJP.cpp",
        "    low[d] = start[d];\n    high[d] = size - start[d] - taken;",
        "    low[d] = 0;\n    high[d] = size - taken;",
        pytest("test/python/test_math_ops.py", "-k", "slice or steps or depthwise")),
    "idx_trailer": (
        "lib/Runtime/Idx.cpp",
        "    if (std::string damaged = streamError(f); !damaged.empty())",
        "    if (std::string damaged; !damaged.empty())",
        ctest("Idx")),
    "atomic_off": (
        "lib/ABI/EntryPoints.cpp",
        "    spec.atomic = checked && spec.device == KILN_DEVICE_CPU &&",
        "    spec.atomic = false && spec.device == KILN_DEVICE_CPU &&",
        pytest("test/python/test_edge_cases.py", "-k", "run_time_check")),
    "restore_skipped": (
        "lib/Runtime/Executable.cpp",
        "    if (status)\n      restoreAssigned(call, saved);",
        "    if (false)\n      restoreAssigned(call, saved);",
        pytest("test/python/test_edge_cases.py", "-k", "run_time_check")),
    "reshape_count_unchecked": (
        "lib/Conversion/KilnToLinalg/KilnToLinalg.cpp",
        "                    b.getIndexAttr(count),",
        "                    tensor::DimOp::create(b, loc, flat, 0).getResult(),",
        pytest("test/integration/test_tensor_run.py", "-k", "reshape_of_open")),
    "reshape_like_wrong_extent": (
        "lib/Conversion/KilnToLinalg/KilnToLinalg.cpp",
        "      Value extent = tensor::DimOp::create(b, loc, like, i);",
        "      Value extent = tensor::DimOp::create(b, loc, like, i ? i - 1 : 0);",
        pytest("test/integration/test_tensor_run.py", "-k", "two_open")),
    "unbroadcast_without_like": (
        "lib/Dialect/Kiln/KilnVJP.cpp",
        "    return reshape(reduced, type, operand);",
        "    return reshape(reduced, type);",
        pytest("test/integration/test_tensor_run.py", "-k", "broadcast_with_two_open")),
    "name_matmul_any_body": (
        "lib/Codegen/CPU/TileContractions.cpp",
        "      op.getNumDpsInits() != 1 || !kiln::matchMultiplyAdd(op))",
        "      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))",
        pytest("test/integration/test_ops.py", "-k", "elementwise_operands")),
    "keepdims_extents_from_count": (
        "lib/Conversion/KilnToLinalg/Reductions.cpp",
        "        type.getRank() == resultType.getRank() ? adaptor.getInput() : Value();",
        "        Value();",
        pytest("test/python/test_edge_cases.py", "-k", "keepdims")),
    "concat_empty_offset": (
        "lib/Conversion/KilnToLinalg/ShapeOps.cpp",
        "      offset += inputType.getDimSize(axis);",
        "      offset += inputType.getDimSize(axis) + 0 * 1;\n      offset += 0;",
        lit("zero-extents")),  # (an equivalent mutation: must survive)
}
EQUIVALENT = {"concat_empty_offset"}  # checks the tool: a no-op must survive


def build(kind):
    target = ["kiln-python"] if kind == "python" else []
    return subprocess.run(["ninja", "-C", BUILD, *target], capture_output=True,
                          text=True).returncode == 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--only", choices=["python", "cpp"])
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    chosen = [n for n in MUTATIONS if (not args.names or n in args.names)]
    if args.only:
        chosen = [n for n in chosen
                  if MUTATIONS[n][0].endswith(".py") == (args.only == "python")]
    if args.list:
        for n in chosen:
            print(n, MUTATIONS[n][0])
        return 0
    env = dict(os.environ, KILN_BUILD_DIR=BUILD, KILN_CACHE_DIR="off")
    killed, survived, kinds = [], [], set()
    for name in chosen:
        path, original, mutated, command = MUTATIONS[name]
        full = os.path.join(ROOT, path)
        with open(full) as f:
            source = f.read()
        if source.count(original) != 1:
            print(f"{name}: the text to mutate occurs {source.count(original)} times in "
                  f"{path}; update the list")
            return 2
        kind = "python" if path.endswith(".py") else "cpp"
        kinds.add(kind)
        start = time.monotonic()
        try:
            with open(full, "w") as f:
                f.write(source.replace(original, mutated))
            if not build(kind):
                outcome = "killed (does not build)"
            else:
                proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                                      text=True)
                outcome = "killed" if proc.returncode != 0 else "SURVIVED"
        finally:
            with open(full, "w") as f:
                f.write(source)
        (killed if outcome.startswith("killed") else survived).append(name)
        print(f"{name:24} {outcome:26} {time.monotonic() - start:6.1f} s  ({path})",
              flush=True)
    for kind in kinds:
        build(kind)  # back to the real code
    real = [n for n in survived if n not in EQUIVALENT]
    counted = [n for n in chosen if n not in EQUIVALENT]
    rate = 100.0 * (len(counted) - len(real)) / max(1, len(counted))
    print(f"killed {len(counted) - len(real)} of {len(counted)} ({rate:.0f}%); survived: "
          f"{', '.join(real) or 'none'}")
    for n in EQUIVALENT & set(chosen):
        if n in killed:
            print(f"{n}: an equivalent mutation was 'killed': the tests are flaky")
            return 1
    return 0 if rate >= 90 else 1


if __name__ == "__main__":
    sys.exit(main())
