"""kiln.random: random tensors from Kiln's counter-based generators.

As in TensorFlow, the numbers depend on a global seed (set_seed) and an
op-level seed: with a global seed set, the sequence of calls is
reproducible run to run; an explicit `seed` fixes the op's numbers too.
Without any seed the numbers differ from run to run.
"""

import itertools
import os
import threading

import numpy as np

from ._state import local as _state
from .dtypes import as_dtype, float32, int64
from .core import attributes, bind1 as _run1, i32_array, tensor_type
from .tensor import Tensor, _OpenExtent, _static_extents, convert_to_tensor

_lock = threading.Lock()
_global_seed = None
_counter = itertools.count()


def set_seed(seed):
    """Sets the global seed and restarts the op counter."""
    global _global_seed, _counter
    with _lock:
        _global_seed = None if seed is None else int(seed)
        _counter = itertools.count()


def _op_seed(seed):
    with _lock:
        n = next(_counter)
        if _global_seed is None and seed is None:
            return int.from_bytes(os.urandom(7), "little")
        base = 87654321 if _global_seed is None else _global_seed
        op = n if seed is None else int(seed)
        # Mix the two into one 63-bit seed.
        return (base * 0x9E3779B97F4A7C15 + op * 0xBF58476D1CE4E5B9) % (1 << 63)


def _random(op, shape, dtype, seed, params):
    # The seed is an operand, not an attribute: one kernel per shape and
    # distribution serves every seed. Extents known only when the compiled
    # code runs (kiln.shape(x) of an open batch) come from a tensor that
    # has them.
    from .math_ops import _shape_holder
    dtype = as_dtype(dtype)
    what = f"random.{op.replace('random_', '')}"
    if isinstance(shape, np.ndarray):
        shape = shape.tolist()
    entries = _static_extents(shape, what, open_extents=True) \
        if isinstance(shape, (Tensor, list, tuple)) else [shape]
    holder = _shape_holder(entries, what)  # (None entries: its error)
    target = [None if isinstance(d, _OpenExtent) else int(d) for d in entries]
    seed_tensor = convert_to_tensor(_op_seed(seed), int64)
    if _state.trace is not None:
        seed_tensor = seed_tensor + _call_count()
    operands = [seed_tensor] + ([] if holder is None else [holder])
    attrs = attributes(operandSegmentSizes=i32_array([1, len(operands) - 1]),
                       **{k: float(v) for k, v in params.items()})
    return _run1(op, operands, attrs, [tensor_type(target, dtype)])


_calls = None  # kiln.Variable: counts random ops run by compiled code


def _call_count():
    """Inside @kiln.function: a count that grows each time the compiled
    code runs a random op (a hidden variable read and incremented there),
    so each call draws new numbers, as TensorFlow's stateful random ops do
    in a tf.function; the op seed still makes a seeded sequence
    reproducible run to run."""
    global _calls
    from .variables import Variable, init_scope
    if _calls is None:
        with init_scope():
            _calls = Variable(convert_to_tensor(0, int64), name="kiln_random_calls",
                              trainable=False)
    count = _calls.read_value()
    _calls.assign_add(convert_to_tensor(1, int64))
    # (A large odd step keeps the seeds of successive calls apart.)
    return count * convert_to_tensor(0x2545F4914F6CDD1D, int64)


def uniform(shape, minval=0.0, maxval=1.0, dtype=float32, seed=None, name=None):
    return _random("random_uniform", shape, dtype, seed,
                   {"minval": minval, "maxval": maxval})


def normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    return _random("random_normal", shape, dtype, seed,
                   {"mean": mean, "stddev": stddev})


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None,
                     name=None):
    return _random("truncated_normal", shape, dtype, seed,
                   {"mean": mean, "stddev": stddev})
