"""kiln.optimizers.schedules: learning rates as functions of the step.

A schedule is called with the optimizer's step count (an int64 scalar
tensor: the number of updates applied before this one) and computes the
rate with Kiln ops, so inside a compiled training step the rate follows the
step counter on every call, as Keras' schedules do in a tf.function.
"""

import math


from . import math_ops, ops
from .dtypes import float32
from .tensor import constant, convert_to_tensor


def _init_config(obj, *classes, renamed=None):
    """Keras' get_config of `obj`: the arguments of its class's __init__
    (and of `classes`') that it keeps as attributes of the same name (or
    of the name `renamed` maps the argument to), as plain Python values."""
    import inspect
    config = {}
    for cls in (type(obj),) + classes:
        for name in inspect.signature(cls.__init__).parameters:
            attr = (renamed or {}).get(name, name)
            if name in config or name in ("self", "args", "kwargs") or not hasattr(obj, attr):
                continue
            value = getattr(obj, attr)
            if hasattr(value, "numpy"):
                value = value.numpy().item()
            elif isinstance(value, LearningRateSchedule):
                value = {"class_name": type(value).__name__, "config": value.get_config()}
            config[name] = value
    return config


class LearningRateSchedule:
    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        """The schedule's arguments (Keras')."""
        return _init_config(self, renamed={"end_learning_rate": "end"})

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _step(self, step):
        return ops.cast(convert_to_tensor(step), float32)


class _RateDecay(LearningRateSchedule):
    """A decay by decay_rate over periods of decay_steps (whole periods
    with staircase=True)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate,
                 staircase=False, name=None):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.decay_rate = float(decay_steps), float(decay_rate)
        self.staircase = staircase

    def _periods(self, step):
        p = self._step(step) / self.decay_steps
        return ops.floordiv(p, 1.0) if self.staircase else p


class ExponentialDecay(_RateDecay):
    """initial * decay_rate ** (step / decay_steps) (the exponent floored
    with staircase=True)."""

    def __call__(self, step):
        return self.initial_learning_rate * ops.pow(constant(self.decay_rate),
                                                    self._periods(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] up to boundaries[0] (inclusive), values[1] up to
    boundaries[1], ..., values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay needs one value more than "
                             f"boundaries, got {len(boundaries)} boundaries and "
                             f"{len(values)} values")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"boundaries must increase, got {list(boundaries)}")
        self.boundaries = [float(b) for b in boundaries]
        self.values = [float(v) for v in values]

    def __call__(self, step):
        s = self._step(step)
        rate = constant(self.values[-1])
        for boundary, value in reversed(list(zip(self.boundaries, self.values))):
            rate = ops.where(ops.less_equal(s, boundary), value, rate)
        return rate


class CosineDecay(LearningRateSchedule):
    """initial * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) /
    decay_steps)) + alpha). With warmup_target (Keras 3's warmup): first a
    line from initial to warmup_target over warmup_steps, then the cosine
    decay from warmup_target over decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None,
                 warmup_target=None, warmup_steps=0):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        if warmup_steps < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be >= 0, got {warmup_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.alpha = float(decay_steps), float(alpha)
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = float(warmup_steps)

    def _decayed(self, done_steps, peak):
        done = done_steps / self.decay_steps
        cosine = 0.5 * (1.0 + ops.cos(done * math.pi))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decayed(ops.minimum(self._step(step), self.decay_steps),
                                 self.initial_learning_rate)
        step = ops.minimum(self._step(step), self.decay_steps + self.warmup_steps)
        if not self.warmup_steps:   # (no warmup: the decay starts from the target)
            return self._decayed(step, self.warmup_target)
        warm = self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) \
            * (step / self.warmup_steps)
        return ops.where(ops.less(step, self.warmup_steps), warm,
                         self._decayed(step - self.warmup_steps, self.warmup_target))


class InverseTimeDecay(_RateDecay):
    """initial / (1 + decay_rate * step / decay_steps) (the ratio floored
    with staircase=True)."""

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._periods(step))


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov and Hutter): the
    cosine runs over first_decay_steps, then over periods t_mul times
    longer, each restart's peak m_mul times the last; alpha the floor as a
    fraction of the initial rate."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name=None):
        if first_decay_steps <= 0:
            raise ValueError(f"first_decay_steps must be positive, got {first_decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.first_decay_steps = float(first_decay_steps)
        self.t_mul, self.m_mul, self.alpha = float(t_mul), float(m_mul), float(alpha)

    def __call__(self, step):
        done = self._step(step) / self.first_decay_steps
        if self.t_mul == 1.0:
            restarts = ops.floordiv(done, 1.0)
            done = done - restarts
        else:
            # the restart i_restart with sum_{k<i} t_mul^k <= done
            restarts = ops.floordiv(ops.log(1.0 - done * (1.0 - self.t_mul)) /
                                    math.log(self.t_mul), 1.0)
            before = (1.0 - ops.pow(constant(self.t_mul), restarts)) / (1.0 - self.t_mul)
            done = (done - before) / ops.pow(constant(self.t_mul), restarts)
        peak = ops.pow(constant(self.m_mul), restarts)
        cosine = 0.5 * peak * (1.0 + ops.cos(done * math.pi))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ** power + end, the step
    capped at decay_steps (or, with cycle=True, decay_steps stretched to
    the next multiple past the step)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name=None):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.end = float(decay_steps), float(end_learning_rate)
        self.power, self.cycle = float(power), cycle

    def __call__(self, step):
        s = self._step(step)
        if self.cycle:
            multiple = ops.maximum(math_ops.ceil(s / self.decay_steps), 1.0)
            steps, done = self.decay_steps * multiple, s
        else:
            steps, done = constant(self.decay_steps), ops.minimum(s, self.decay_steps)
        fraction = 1.0 - done / steps
        return (self.initial_learning_rate - self.end) * \
            ops.pow(fraction, constant(self.power)) + self.end


