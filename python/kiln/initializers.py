"""kiln.initializers: initial values of layer weights, as in Keras.

Random initializers draw through kiln.random, so they are deterministic
under kiln.random.set_seed (each draw takes the next op seed); a seeded one
gives the same values on every call, as Keras'."""

import math

from . import random as _random
from .tensor import ones as _ones, zeros as _zeros


def _fans(shape):
    """(fan_in, fan_out) of a dense [in, out] or conv [kh, kw, in, out]
    kernel."""
    if len(shape) < 2:
        size = shape[0] if shape else 1
        return size, size
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """A seeded initializer gives the same values on every call (Keras'
    rule: two models built with one seeded initializer start alike)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None:
            def fixed(self, *args, _call=call, **kw):
                with _random._fixed_op_seeds():
                    return _call(self, *args, **kw)
            fixed.__doc__ = call.__doc__
            cls.__call__ = fixed

    def __call__(self, shape, dtype=None):
        raise NotImplementedError


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return _zeros(shape, dtype or "float32")


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return _ones(shape, dtype or "float32")


class GlorotUniform(Initializer):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out))."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(tuple(shape))
        limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
        return _random.uniform(shape, -limit, limit, dtype or "float32",
                               seed=self.seed)


class HeNormal(Initializer):
    """Truncated normal with stddev sqrt(2 / fan_in)."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, _ = _fans(tuple(shape))
        # 0.8796... is the stddev of a unit normal truncated at 2 sigma.
        stddev = math.sqrt(2.0 / max(1, fan_in)) / 0.87962566103423978
        return _random.truncated_normal(shape, 0.0, stddev, dtype or "float32",
                                        seed=self.seed)


class RandomUniform(Initializer):
    """Uniform in [minval, maxval] (Keras' "uniform": [-0.05, 0.05])."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return _random.uniform(shape, self.minval, self.maxval, dtype or "float32",
                               seed=self.seed)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _random.normal(shape, self.mean, self.stddev, dtype or "float32",
                              seed=self.seed)


class GlorotNormal(Initializer):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out))."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(tuple(shape))
        stddev = math.sqrt(2.0 / max(1, fan_in + fan_out)) / 0.87962566103423978
        return _random.truncated_normal(shape, 0.0, stddev, dtype or "float32",
                                        seed=self.seed)


class HeUniform(Initializer):
    """Uniform in [-limit, limit], limit = sqrt(6 / fan_in)."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, _ = _fans(tuple(shape))
        limit = math.sqrt(6.0 / max(1, fan_in))
        return _random.uniform(shape, -limit, limit, dtype or "float32",
                               seed=self.seed)


_BY_NAME = {"zeros": Zeros, "ones": Ones, "glorot_uniform": GlorotUniform,
            "glorot_normal": GlorotNormal, "he_normal": HeNormal,
            "he_uniform": HeUniform, "uniform": RandomUniform,
            "random_uniform": RandomUniform, "normal": RandomNormal,
            "random_normal": RandomNormal}


def get(identifier):
    """An initializer from a name, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]()
        except KeyError:
            raise ValueError(f"unknown initializer {identifier!r}; known: "
                             f"{', '.join(sorted(_BY_NAME))}") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"cannot use {identifier!r} as an initializer")


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times `gain`: the Q of a QR decomposition
    of a normal draw (signs fixed by R's diagonal), as Keras' Orthogonal."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = float(gain), seed

    def __call__(self, shape, dtype=None):
        import numpy as np
        from .tensor import constant
        shape = tuple(int(d) for d in shape)
        rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
        cols = shape[-1]
        draw = _random.normal((max(rows, cols), min(rows, cols)), dtype="float64",
                              seed=self.seed).numpy()
        q, r = np.linalg.qr(draw)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return constant((self.gain * q[:rows, :cols]).reshape(shape),
                        dtype or "float32")


_BY_NAME["orthogonal"] = Orthogonal


class Identity(Initializer):
    """gain times the identity matrix (2-D shapes; rectangular ones get
    ones on the main diagonal), as Keras' Identity."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        import numpy as np
        from .tensor import constant
        shape = tuple(int(d) for d in shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer: needs a 2-D shape, got {shape}")
        return constant(self.gain * np.eye(*shape), dtype or "float32")


_BY_NAME["identity"] = Identity


class Constant(Initializer):
    """Every element `value`."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        import numpy as np
        from .dtypes import as_dtype
        from .tensor import constant
        dtype = as_dtype(dtype or "float32")
        shape = tuple(int(d) for d in shape)
        value = np.asarray(self.value, dtype.as_numpy_dtype)
        if value.size == int(np.prod(shape)) and value.shape != shape and value.ndim:
            value = value.reshape(shape)   # (tf.constant_initializer's list of all values)
        return constant(np.broadcast_to(value, shape).copy(), dtype)


class TruncatedNormal(Initializer):
    """Normal draws, redrawn beyond two standard deviations."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _random.truncated_normal(shape, self.mean, self.stddev, dtype or "float32",
                                        seed=self.seed)


class VarianceScaling(Initializer):
    """Keras' VarianceScaling: variance scale / n, n the fan in, fan out or
    their mean (`mode`), drawn from a truncated normal (its stddev
    corrected for the truncation), a normal or a uniform distribution."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal",
                 seed=None):
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode {mode!r} is not fan_in, fan_out "
                             "or fan_avg")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"VarianceScaling: distribution {distribution!r} is not "
                             "truncated_normal, untruncated_normal or uniform")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        dtype = dtype or "float32"
        if self.distribution == "truncated_normal":
            return _random.truncated_normal(shape, 0.0, math.sqrt(variance) / 0.87962566103423978,
                                            dtype, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return _random.normal(shape, 0.0, math.sqrt(variance), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * variance)
        return _random.uniform(shape, -limit, limit, dtype, seed=self.seed)


def LecunNormal(seed=None):
    return VarianceScaling(1.0, "fan_in", "truncated_normal", seed)


def LecunUniform(seed=None):
    return VarianceScaling(1.0, "fan_in", "uniform", seed)


_BY_NAME.update({"constant": Constant, "truncated_normal": TruncatedNormal,
                 "variance_scaling": VarianceScaling, "lecun_normal": LecunNormal,
                 "lecun_uniform": LecunUniform})
