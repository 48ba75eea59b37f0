"""kiln.random: random tensors from Kiln's counter-based generators.

As in TensorFlow, the numbers depend on a global seed (set_seed) and an
op-level seed: with a global seed set, the sequence of calls is
reproducible run to run; an explicit `seed` fixes the op's numbers too.
Without any seed the numbers differ from run to run.
"""

import builtins
import collections
import functools
import itertools
import os
import threading
import weakref

import numpy as np

from . import errors, math_ops, ops
from ._state import local as _state
from .module import Module
from .dtypes import as_dtype, float32, float64, int32, int64
from .core import attributes, bind1 as _run1, i32_array, tensor_type
from .tensor import Tensor, _OpenExtent, _static_extents, convert_to_tensor

_lock = threading.Lock()
_global_seed = None


# Eager ops' counts: unseeded ops so far, and the calls so far of each op
# seed (a seeded op gives the next numbers of its sequence on each call,
# TensorFlow's A1, A2, ...); set_seed starts both again. A trace keeps its
# own (_trace_counts).
_counts = (itertools.count(), collections.Counter())
# The run-time counters of compiled functions (see _call_count), which
# set_seed sets back to 0.
_function_counters = weakref.WeakSet()


# Inside _fixed_op_seeds, an op seed gives the same numbers on every call
# (Keras' seeded initializers: two initializers of one seed, or two calls
# of one, make the same weights).
_fixed = threading.local()


class _fixed_op_seeds:
    def __enter__(self):
        self.saved = getattr(_fixed, "on", False)
        _fixed.on = True

    def __exit__(self, *exc):
        _fixed.on = self.saved
        return False


def _trace_counts(trace):
    counts = getattr(trace, "random_counts", None)
    if counts is None:
        counts = trace.random_counts = (itertools.count(), collections.Counter())
    return counts


def set_seed(seed):
    """Sets the global seed and restarts the op counters (the eager ones,
    and the count compiled functions add to their seeds)."""
    global _global_seed, _counts
    with _lock:
        _global_seed = None if seed is None else int(seed)
        _counts = (itertools.count(), collections.Counter())
    from .variables import init_scope
    with init_scope():   # (eagerly, also when called inside a trace)
        for counter in list(_function_counters):
            counter.assign(convert_to_tensor(0, int64))


def _op_seed(seed):
    """The seed of one random op: the global seed mixed with the op's (its
    given seed and the how-manieth call of it, or the count of unseeded
    ops). A trace counts its own ops from the start, so each compiled
    function draws as a fresh run of the program would (TensorFlow's
    rule: two functions after set_seed give the same numbers)."""
    trace = _state.trace
    with _lock:
        counts = _counts if trace is None else _trace_counts(trace)
        n = next(counts[0])
        if _global_seed is None and seed is None:
            return int.from_bytes(os.urandom(7), "little")
        base = 87654321 if _global_seed is None else _global_seed
        if seed is None:
            op = n
        elif getattr(_fixed, "on", False):
            op = int(seed)
        else:
            k = counts[1][int(seed)]
            counts[1][int(seed)] += 1
            op = int(seed) + k * 0x94D049BB133111EB
        # Mix the two into one 63-bit seed.
        return (base * 0x9E3779B97F4A7C15 + op * 0xBF58476D1CE4E5B9) % (1 << 63)


def _random(op, shape, dtype, seed, params, seed_tensor=None):
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
    if seed_tensor is None:  # (stateless ops and generators bring their own)
        seed_tensor = convert_to_tensor(_op_seed(seed), int64)
        if _state.trace is not None:
            seed_tensor = seed_tensor + _call_count()
    operands = [seed_tensor] + ([] if holder is None else [holder])
    attrs = attributes(operandSegmentSizes=i32_array([1, len(operands) - 1]),
                       **{k: float(v) for k, v in params.items()})
    return _run1(op, operands, attrs, [tensor_type(target, dtype)])


def _call_count():
    """Inside @kiln.function: a count that grows each time the compiled
    code runs a random op (a hidden variable of the function, read and
    incremented there), so each call draws new numbers, as TensorFlow's
    stateful random ops do in a tf.function; the op seed still makes a
    seeded sequence reproducible run to run, and set_seed starts every
    function's count again."""
    from .variables import Variable, init_scope
    trace = _state.trace
    calls = getattr(trace, "random_calls", None)
    if calls is None:
        with init_scope():
            calls = Variable(convert_to_tensor(0, int64), name="kiln_random_calls",
                             trainable=False, _internal=True)
        trace.random_calls = calls
        _function_counters.add(calls)
    count = calls.read_value()
    calls.assign_add(convert_to_tensor(1, int64))
    # (A large odd step keeps the seeds of successive calls apart.)
    return count * convert_to_tensor(0x2545F4914F6CDD1D, int64)


def uniform(shape, minval=0, maxval=None, dtype=float32, seed=None, name=None):
    """Numbers uniform in [minval, maxval) (maxval 1 for floats by default;
    integer dtypes need maxval, as in TensorFlow)."""
    return _uniform(shape, minval, maxval, dtype, seed, None)


def _uniform(shape, minval, maxval, dtype, seed, seed_tensor):
    dtype = as_dtype(dtype)
    if dtype.is_integer:
        if maxval is None:
            raise errors.InvalidArgumentError(
                f"random.uniform: an integer dtype ({dtype.name}) needs maxval",
                errors.user_location())
        if any(isinstance(v, Tensor) and v._symbolic for v in (minval, maxval)):
            raise errors.UnimplementedError(
                "random.uniform: an integer dtype needs minval and maxval known while "
                "tracing", errors.user_location())
        minval, maxval = int(minval), int(maxval)
        if maxval <= minval:
            raise errors.InvalidArgumentError(
                f"random.uniform: need minval < maxval, got [{minval}, {maxval})",
                errors.user_location())
        if maxval - minval > 1 << 53 or builtins.abs(minval) > 1 << 53:
            raise errors.UnimplementedError(
                f"random.uniform: integer ranges beyond 2^53 ([{minval}, {maxval})) are "
                "not supported (the draw goes through float64)", errors.user_location())
        # floor(u * span) from a float64 uniform, kept below the span (u
        # close to 1 rounds up); the bias is below 2^-53 per value.
        span = float(int(maxval) - int(minval))
        u = _random("random_uniform", shape, float64, seed, {"minval": 0.0, "maxval": 1.0},
                    seed_tensor)
        k = ops.minimum(math_ops.floor(u * span), span - 1.0)
        return ops.cast(k + float(minval), dtype)
    return _random("random_uniform", shape, dtype, seed,
                   {"minval": minval, "maxval": 1.0 if maxval is None else maxval},
                   seed_tensor)


def normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    return _random("random_normal", shape, dtype, seed,
                   {"mean": mean, "stddev": stddev})


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None,
                     name=None):
    return _random("truncated_normal", shape, dtype, seed,
                   {"mean": mean, "stddev": stddev})


# --- Derived distributions ---------------------------------------------------

def _derived_seed(seed, k):
    """The k-th seed of an op that draws several streams from one `seed`
    (None stays None: each draw takes the next op seed)."""
    if seed is None:
        return None
    return (int(seed) * 0x9E3779B1 + 0x7F4A7C15 * (k + 1)) % (1 << 31)


def categorical(logits, num_samples, dtype=int64, seed=None, name=None):
    """num_samples class indices per row of logits [batch, classes], class
    c drawn with probability softmax(logits)[c] (tf.random.categorical):
    the largest of logits plus Gumbel noise, one draw per sample."""
    return _categorical(logits, num_samples, dtype, seed, None)


def _categorical(logits, num_samples, dtype, seed, seed_tensor):
    logits = convert_to_tensor(logits)
    if logits.ndim != 2 or not logits.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"random.categorical: logits must be a float matrix [batch, classes], got "
            f"{logits.dtype.name} {list(logits.shape)}", errors.user_location())
    batch = math_ops.shape(logits)[0] if logits.shape[0] is None else logits.shape[0]
    draw = logits.dtype if logits.dtype in (float32, float64) else float32
    u = _random("random_uniform", [batch, int(num_samples), logits.shape[1]], draw, seed,
                {"minval": 0.0, "maxval": 1.0}, seed_tensor)
    gumbel = -ops.log(-ops.log(u))
    scores = math_ops.expand_dims(ops.cast(logits, draw), 1) + gumbel
    return ops.cast(ops.argmax(scores, axis=-1), dtype)


def shuffle(value, seed=None, name=None):
    """value with its first dimension in a random order
    (tf.random.shuffle)."""
    value = convert_to_tensor(value)
    if value.ndim == 0:
        raise errors.InvalidArgumentError("random.shuffle: takes a tensor of rank >= 1",
                                          errors.user_location())
    n = math_ops.shape(value)[0] if value.shape[0] is None else value.shape[0]
    keys = _random("random_uniform", [n], float64, seed, {"minval": 0.0, "maxval": 1.0})
    return ops.gather(value, math_ops.argsort(keys))


def _params(shape, what, *params):
    """The output shape (shape + the parameters' broadcast shape) and the
    parameters broadcast to it."""
    params = [convert_to_tensor(p) for p in params]
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    shape = [int(d) for d in (shape if isinstance(shape, (list, tuple)) else [shape])]
    batch = np.broadcast_shapes(*[tuple(p.shape) for p in params])
    if None in batch:
        raise errors.UnimplementedError(
            f"{what}: the parameters' shape must be known while tracing",
            errors.user_location())
    full = shape + list(batch)
    return full, [math_ops.broadcast_to(p, full) for p in params]


_ROUNDS = 16   # rejection rounds: each accepts with probability > 0.9


def _stream(seed, seed_tensor, k):
    """The k-th (seed, seed tensor) of an op that draws several streams:
    from an op seed (stateful) or from a stateless op's seed tensor."""
    if seed_tensor is None:
        return {"seed": _derived_seed(seed, k), "seed_tensor": None}
    step = convert_to_tensor(0x9E3779B97F4A7C15 - (1 << 64), int64)
    return {"seed": None, "seed_tensor": seed_tensor + step * (k + 1)}


def gamma(shape, alpha, beta=None, dtype=float32, seed=None, name=None):
    """Gamma(alpha, rate beta) samples of shape `shape` + the parameters'
    broadcast shape (tf.random.gamma): Marsaglia and Tsang's method,
    alpha < 1 through alpha + 1 times U^(1/alpha). The rejection runs a
    fixed 16 rounds at once (each accepts with probability above 0.95;
    all 16 failing has probability below 1e-20). Differentiable in alpha
    (TensorFlow's implicit reparameterization: d sample / d alpha with the
    sample's CDF value held fixed, kiln.special.random_gamma_grad) and in
    beta (sample / beta)."""
    return _gamma(shape, alpha, beta, dtype, seed, None)


def _gamma(shape, alpha, beta, dtype, seed, seed_tensor):
    dtype = as_dtype(dtype)
    work = dtype if dtype == float64 else float32
    full, (a, b) = _params(shape, "random.gamma",
                           ops.cast(convert_to_tensor(alpha), work),
                           ops.cast(convert_to_tensor(1.0 if beta is None else beta), work))
    alpha_full, beta_full = a, b
    a, b = ops.stop_gradient(a), ops.stop_gradient(b)
    boosted = ops.less(a, 1.0)
    a1 = ops.where(boosted, a + 1.0, a)
    d = a1 - 1.0 / 3.0
    c = 1.0 / ops.sqrt(9.0 * d)
    x = _random("random_normal", [_ROUNDS] + full, work, **_stream(seed, seed_tensor, 0),
                params={"mean": 0.0, "stddev": 1.0})
    u = _random("random_uniform", [_ROUNDS] + full, work, **_stream(seed, seed_tensor, 1),
                params={"minval": 0.0, "maxval": 1.0})
    v = (1.0 + c * x) ** 3
    positive = ops.greater(v, 0.0)
    safe_v = ops.where(positive, v, v * 0.0 + 1.0)
    accept = ops.logical_and(positive, ops.less(
        ops.log(u), 0.5 * x * x + d - d * safe_v + d * ops.log(safe_v)))
    sample, done = d * safe_v[0], accept[0]
    for r in range(1, _ROUNDS):
        sample = ops.where(ops.logical_and(accept[r], ops.logical_not(done)), d * safe_v[r],
                           sample)
        done = ops.logical_or(done, accept[r])
    boost = _random("random_uniform", full, work, **_stream(seed, seed_tensor, 2),
                    params={"minval": 0.0, "maxval": 1.0})
    sample = ops.where(boosted, sample * boost ** (1.0 / a), sample)
    # alpha <= 0 or NaN, beta <= 0: NaN, as TensorFlow gives.
    valid = ops.logical_and(ops.greater(a, 0.0), ops.greater(b, 0.0))
    if _gamma_alpha_gradient is not None:
        sample = _gamma_alpha_gradient(alpha_full, sample)
    return ops.cast(ops.where(valid, sample / beta_full,
                              ops.stop_gradient(sample) * float("nan")), dtype)


# The gradient of gamma samples in alpha: kiln.special sets it when it is
# imported (with the package) to its implicit reparameterization (the
# incomplete gamma function's derivatives need the library above this
# module: while loops and custom gradients).
_gamma_alpha_gradient = None


def poisson(shape, lam, dtype=float32, seed=None, name=None):
    """Poisson(lam) samples of shape `shape` + lam's shape
    (tf.random.poisson; float or integer dtype): below a rate of 12 by
    inversion over the first 50 values of the distribution (what lies
    beyond has probability below 1e-15), above it Hoermann's transformed
    rejection (PTRS) run a fixed 16 rounds (each accepts with probability
    above 0.85)."""
    return _poisson(shape, lam, dtype, seed, None)


def _poisson(shape, lam, dtype, seed, seed_tensor):
    dtype = as_dtype(dtype)
    full, (rate,) = _params(shape, "random.poisson",
                            ops.cast(convert_to_tensor(lam), float64))
    rate = ops.stop_gradient(rate)
    small = ops.less(rate, 12.0)
    # Inversion: the number of CDF steps below u.
    u = _random("random_uniform", full, float64, **_stream(seed, seed_tensor, 0),
                params={"minval": 0.0, "maxval": 1.0})
    low = ops.where(small, rate, rate * 0.0 + 1.0)
    term = ops.exp(-low)
    cdf, count = term, u * 0.0
    for k in range(1, 50):
        count = count + ops.cast(ops.greater(u, cdf), float64)
        term = term * low / float(k)
        cdf = cdf + term
    # PTRS for the large rates.
    high = ops.where(small, rate * 0.0 + 12.0, rate)
    s = ops.sqrt(high)
    log_rate = ops.log(high)
    b = 0.931 + 2.53 * s
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    uu = _random("random_uniform", [_ROUNDS] + full, float64, **_stream(seed, seed_tensor, 1),
                 params={"minval": 0.0, "maxval": 1.0}) - 0.5
    vv = _random("random_uniform", [_ROUNDS] + full, float64, **_stream(seed, seed_tensor, 2),
                 params={"minval": 0.0, "maxval": 1.0})
    us = 0.5 - ops.abs(uu)
    k = math_ops.floor((2.0 * a / us + b) * uu + high + 0.43)
    quick = ops.logical_and(ops.greater_equal(us, 0.07), ops.less_equal(vv, vr))
    rejected = ops.logical_or(ops.less(k, 0.0),
                              ops.logical_and(ops.less(us, 0.013), ops.greater(vv, us)))
    safe_k = ops.maximum(k, 0.0)
    bound = ops.log(vv) + ops.log(inv_alpha) - ops.log(a / (us * us) + b)
    exact = ops.less_equal(bound, -high + safe_k * log_rate - math_ops.lgamma(safe_k + 1.0))
    accept = ops.logical_or(quick, ops.logical_and(ops.logical_not(rejected), exact))
    big, done = safe_k[0], accept[0]
    for r in range(1, _ROUNDS):
        big = ops.where(ops.logical_and(accept[r], ops.logical_not(done)), safe_k[r], big)
        done = ops.logical_or(done, accept[r])
    sample = ops.where(small, count, big)
    sample = ops.where(ops.greater_equal(rate, 0.0), sample, sample * float("nan"))
    return ops.cast(sample, dtype)


# --- Stateless ops: the numbers are a function of `seed` alone ------------

def _stateless_seed(seed, what):
    """A shape [2] integer seed as the generators' int64 seed operand."""
    seed = convert_to_tensor(seed)
    if tuple(seed.shape) != (2,) or not seed.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{what}: seed must be a shape [2] integer tensor, got {seed.dtype.name} "
            f"{list(seed.shape)}", errors.user_location())
    seed = ops.cast(seed, int64)
    return seed[0] * 0x5851F42D4C957F2D + seed[1] * 0x14057B7EF767814F + 0x2545F491


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=float32, name=None):
    return _uniform(shape, minval, maxval, dtype, None,
                    _stateless_seed(seed, "random.stateless_uniform"))


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=float32, name=None):
    return _random("random_normal", shape, dtype, None, {"mean": mean, "stddev": stddev},
                   _stateless_seed(seed, "random.stateless_normal"))


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=float32,
                               name=None):
    return _random("truncated_normal", shape, dtype, None, {"mean": mean, "stddev": stddev},
                   _stateless_seed(seed, "random.stateless_truncated_normal"))


def stateless_categorical(logits, num_samples, seed, dtype=int64, name=None):
    return _categorical(logits, num_samples, dtype, None,
                        _stateless_seed(seed, "random.stateless_categorical"))


def stateless_gamma(shape, seed, alpha, beta=None, dtype=float32, name=None):
    """random.gamma's samples as a function of a shape [2] seed alone
    (tf.random.stateless_gamma)."""
    return _gamma(shape, alpha, beta, dtype, None,
                  _stateless_seed(seed, "random.stateless_gamma"))


def stateless_poisson(shape, seed, lam, dtype=int32, name=None):
    """random.poisson's samples as a function of a shape [2] seed alone
    (tf.random.stateless_poisson; int32 by default, as TensorFlow)."""
    return _poisson(shape, lam, dtype, None, _stateless_seed(seed, "random.stateless_poisson"))


# --- Generators ---------------------------------------------------------------

class Generator(Module):
    """tf.random.Generator: a random stream with its own state (a
    kiln.Variable counter advanced by every draw, eagerly and in compiled
    code; a Module, so a checkpoint of an object holding it saves the
    state and a restored generator goes on where it stopped)."""

    def __init__(self, seed=None, name=None):
        from .variables import Variable, init_scope
        super().__init__(name=name)
        key = int.from_bytes(os.urandom(7), "little") if seed is None else int(seed)
        self._key = (key * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 62)
        with init_scope(), self.name_scope:
            self.state = Variable(convert_to_tensor(0, int64), name="state",
                                  trainable=False)

    @classmethod
    def from_seed(cls, seed, alg=None):
        return cls(seed)

    @classmethod
    def from_non_deterministic_state(cls, alg=None):
        return cls(None)

    def _next(self):
        count = self.state.read_value()
        self.state.assign_add(convert_to_tensor(1, int64))
        return convert_to_tensor(self._key, int64) + count * convert_to_tensor(
            0x2545F4914F6CDD1D, int64)

    def uniform(self, shape, minval=0, maxval=None, dtype=float32, name=None):
        return _uniform(shape, minval, maxval, dtype, None, self._next())

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=float32, name=None):
        return _random("random_normal", shape, dtype, None,
                       {"mean": mean, "stddev": stddev}, self._next())

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=float32, name=None):
        return _random("truncated_normal", shape, dtype, None,
                       {"mean": mean, "stddev": stddev}, self._next())

    def make_seeds(self, count=1):
        """[2, count] int64 seeds for the stateless ops."""
        return _uniform([2, int(count)], 0, 1 << 31, int64, None, self._next())

    def split(self, count=1):
        """count new generators with streams of their own, derived from this
        one's key and how many it has split off before (no value is read,
        so it works while tracing too)."""
        children = []
        for _ in range(int(count)):
            self._splits = getattr(self, "_splits", 0) + 1
            child = Generator(0)
            child._key = (self._key * 0xD1342543DE82EF95 + self._splits * 0x9E3779B97F4A7C15
                          + 1) % (1 << 62)
            children.append(child)
        return children


# --- Candidate samplers (sampled softmax, NCE) ------------------------------

_Candidates = collections.namedtuple(
    "CandidateSamples", ["sampled_candidates", "true_expected_count",
                         "sampled_expected_count"])


def _log_uniform_probability(k, range_max):
    """P(k) = ln((k + 2) / (k + 1)) / ln(range_max + 1) (float64 tensor or
    array k)."""
    scale = 1.0 / np.log(range_max + 1.0)
    if isinstance(k, Tensor):
        kf = ops.cast(k, float64)
        return (math_ops.log1p(1.0 / (kf + 1.0))) * scale
    return np.log1p(1.0 / (np.asarray(k, np.float64) + 1.0)) * scale


@functools.lru_cache(maxsize=64)
def _pool_size(distribution, num_sampled, range_max):
    """How many draws to make at once for `num_sampled` distinct classes:
    twice the number after which num_sampled distinct ones are expected,
    plus 64 (the count of distinct classes after n draws is concentrated
    within a few sqrt(n) of its mean)."""
    if distribution == "uniform":
        p = np.full(range_max, 1.0 / range_max)
    else:
        p = _log_uniform_probability(np.arange(range_max), range_max)
    lo, hi = num_sampled, max(num_sampled, 1)
    distinct = lambda n: float(np.sum(-np.expm1(n * np.log1p(-np.minimum(p, 1 - 1e-16)))))
    while distinct(hi) < num_sampled:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if distinct(mid) < num_sampled:
            lo = mid + 1
        else:
            hi = mid
    return 2 * lo + 64


def _candidate_sampler(distribution, true_classes, num_true, num_sampled, unique,
                       range_max, seed, what):
    true_classes = convert_to_tensor(true_classes)
    if not true_classes.dtype.is_integer or true_classes.ndim != 2 or \
            true_classes.shape[1] != int(num_true):
        raise errors.InvalidArgumentError(
            f"{what}: true_classes must be integers [batch, num_true={num_true}], got "
            f"{true_classes.dtype.name} {list(true_classes.shape)}", errors.user_location())
    num_sampled, range_max = int(num_sampled), int(range_max)
    if unique and num_sampled > range_max:
        raise errors.InvalidArgumentError(
            f"{what}: cannot draw {num_sampled} distinct classes out of {range_max}",
            errors.user_location())
    draws = _pool_size(distribution, num_sampled, range_max) if unique else num_sampled
    u = _random("random_uniform", [draws], float64, seed, {"minval": 0.0, "maxval": 1.0})
    if distribution == "uniform":
        k = math_ops.floor(u * float(range_max))
    else:   # (inverse CDF of the log-uniform distribution)
        k = math_ops.floor(ops.exp(u * float(np.log(range_max + 1.0)))) - 1.0
    k = ops.cast(ops.minimum(ops.maximum(k, 0.0), float(range_max - 1)), int64)

    def probability(c):
        if distribution == "uniform":
            return ops.cast(c, float64) * 0.0 + 1.0 / range_max
        return _log_uniform_probability(c, range_max)
    if not unique:
        sampled = k
        expected = lambda c: probability(c) * float(num_sampled)
    else:
        # The first num_sampled distinct draws in order; the number of
        # draws that took (TensorFlow's num_tries) sets the expected counts.
        first = _first_occurrences(k, draws)
        rank = math_ops.cumsum(ops.cast(first, int32)) - 1          # [draws]
        ops._check_at_run_time(
            ops.greater(rank[-1], num_sampled - 2),
            f"{what}: {draws} draws gave fewer than {num_sampled} distinct classes "
            "(the distribution is too concentrated for this many samples)")
        slot = ops.where(first, rank, rank * 0 - 1)                  # [draws]
        pick = ops.cast(ops.equal(math_ops.expand_dims(slot, 0),
                                  math_ops.expand_dims(math_ops._positions(
                                      np.zeros(num_sampled), 0), 1)), int64)
        sampled = ops.reduce_sum(pick * math_ops.expand_dims(k, 0), axis=1)
        # num_tries: the position of the num_sampled-th distinct draw, + 1.
        done = ops.logical_and(first, ops.equal(rank, num_sampled - 1))
        tries = ops.reduce_sum(ops.cast(done, float64) *
                               ops.cast(math_ops._positions(k, 0) + 1, float64))
        expected = lambda c: -math_ops.expm1(tries * math_ops.log1p(-probability(c)))
    true_classes = ops.cast(true_classes, int64)
    return _Candidates(ops.stop_gradient(sampled),
                       ops.stop_gradient(ops.cast(expected(true_classes), float32)),
                       ops.stop_gradient(ops.cast(expected(sampled), float32)))


def _first_occurrences(k, n):
    """Whether each of the n values k is the first of its value in order:
    a comparison of all pairs for small n, a stable sort beyond (the pairs
    grow as n^2)."""
    order_ = convert_to_tensor(np.arange(n, dtype=np.int32))
    if n <= 2048:
        earlier = ops.less(math_ops.expand_dims(order_, 0), math_ops.expand_dims(order_, 1))
        return ops.logical_not(math_ops.reduce_any(ops.logical_and(
            ops.equal(math_ops.expand_dims(k, 1), math_ops.expand_dims(k, 0)), earlier),
            axis=1))
    # Sorted stably, the first of each run of equal values is its earliest
    # draw; the marks go back to draw order through the inverse permutation.
    order = math_ops.argsort(k, stable=True)
    ranked = ops.gather(k, order)
    previous = ops.concat([ranked[:1] - 1, ranked[:-1]], axis=0)
    leads = ops.not_equal(ranked, previous)
    return ops.gather(leads, math_ops.argsort(order, stable=True))


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """num_sampled classes from the log-uniform (Zipfian) distribution over
    [0, range_max), P(k) = ln((k+2)/(k+1)) / ln(range_max+1) — classes
    sorted by falling frequency — and the expected number of times each
    true and each sampled class is drawn (tf.random.log_uniform_candidate_
    sampler). With `unique`, the first num_sampled distinct draws, the
    expected counts 1 - (1 - P)^tries for the tries that took."""
    return _candidate_sampler("log_uniform", true_classes, num_true, num_sampled, unique,
                              range_max, seed, "log_uniform_candidate_sampler")


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """As log_uniform_candidate_sampler with every class equally likely
    (tf.random.uniform_candidate_sampler)."""
    return _candidate_sampler("uniform", true_classes, num_true, num_sampled, unique,
                              range_max, seed, "uniform_candidate_sampler")


_global_generator = None


def get_global_generator():
    """The generator random ops of tf.random.get_global_generator's kind
    draw from: made on first use from the global seed
    (kiln.random.set_seed) when one is set, else from a fresh state."""
    global _global_generator
    if _global_generator is None:
        _global_generator = Generator.from_seed(_global_seed) if _global_seed is not None \
            else Generator.from_non_deterministic_state()
    return _global_generator


def set_global_generator(generator):
    """Makes `generator` the one get_global_generator returns."""
    global _global_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"set_global_generator takes a kiln.random.Generator, got "
                        f"{type(generator).__name__}")
    _global_generator = generator
