"""kiln.activations (tf.keras.activations): activation functions by name,
what layers' `activation=` strings resolve to."""

from . import math_ops, nn, ops
from .tensor import convert_to_tensor


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """max(x, 0); with Keras' options, Keras' formula: x where x >
    threshold (else 0), clipped to [0, max_value] when max_value is given,
    minus alpha * max(threshold - x, 0)."""
    x = convert_to_tensor(x)
    if alpha == 0.0 and max_value is None and threshold == 0.0:
        return nn.relu(x)
    dtype = x.dtype
    zero = convert_to_tensor(0.0, dtype)
    t = convert_to_tensor(threshold, dtype)
    out = ops.where(ops.greater(x, t), x, zero) if threshold != 0.0 else nn.relu(x)
    if max_value is not None:
        out = ops.minimum(ops.maximum(out, zero), convert_to_tensor(max_value, dtype))
    if alpha != 0.0:
        out = ops.subtract(out, ops.multiply(convert_to_tensor(alpha, dtype),
                                             nn.relu(ops.subtract(t, x))))
    return out


def softmax(x, axis=-1):
    return nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return nn.log_softmax(x, axis=axis)


def linear(x):
    return convert_to_tensor(x)


def leaky_relu(x, negative_slope=0.2):
    return nn.leaky_relu(x, alpha=negative_slope)


sigmoid = ops.sigmoid
tanh = ops.tanh
exponential = ops.exp
relu6 = nn.relu6
elu = nn.elu
selu = nn.selu
silu = swish = nn.silu
softplus = nn.softplus
softsign = nn.softsign
gelu = nn.gelu

def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: relu6(x + 3) / 6."""
    return nn.relu6(convert_to_tensor(x) + 3.0) / 6.0


def hard_silu(x):
    """x * hard_sigmoid(x) (MobileNetV3's hard swish)."""
    x = convert_to_tensor(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def mish(x):
    """x * tanh(softplus(x)) (Misra, 2019)."""
    x = convert_to_tensor(x)
    return x * ops.tanh(nn.softplus(x))


def log_sigmoid(x):
    return math_ops.log_sigmoid(x)


def celu(x, alpha=1.0):
    """max(x, 0) + min(alpha (exp(x / alpha) - 1), 0) (Barron, 2017)."""
    x = convert_to_tensor(x)
    # (expm1 of min(x, 0): no overflow, so no inf * 0 in the gradient)
    return nn.relu(x) + alpha * math_ops.expm1(ops.minimum(x, 0.0) / alpha)


def glu(x, axis=-1):
    """The gated linear unit: a * sigmoid(b) of x split in halves a, b
    along `axis`."""
    a, b = math_ops.split(convert_to_tensor(x), 2, axis=axis)
    return a * ops.sigmoid(b)


def hard_tanh(x):
    """x clipped to [-1, 1]."""
    return math_ops.clip_by_value(convert_to_tensor(x), -1.0, 1.0)


def tanh_shrink(x):
    x = convert_to_tensor(x)
    return x - ops.tanh(x)


def soft_shrink(x, threshold=0.5):
    """x moved `threshold` towards 0, 0 within it."""
    x = convert_to_tensor(x)
    return ops.where(ops.greater(x, threshold), x - threshold,
                     ops.where(ops.less(x, -threshold), x + threshold, x * 0.0))


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    x = convert_to_tensor(x)
    return ops.where(ops.greater(ops.abs(x), threshold), x, x * 0.0)


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2, a smooth relu (Barron, 2021)."""
    x = convert_to_tensor(x)
    return (x + ops.sqrt(x * x + float(b))) * 0.5


def sparsemax(x, axis=-1):
    """The Euclidean projection of x onto the probability simplex along
    `axis` (Martins and Astudillo, 2016): max(x - tau, 0) with tau making the
    entries sum to 1, so many come out exactly 0."""
    x = convert_to_tensor(x)
    axis = axis % x.ndim
    if axis != x.ndim - 1:
        moved = list(range(x.ndim))
        moved[axis], moved[-1] = moved[-1], moved[axis]
        return ops.transpose(sparsemax(ops.transpose(x, moved)), moved)
    n = x.shape[-1]
    z = math_ops.sort(x, axis=-1, direction="DESCENDING")
    k = convert_to_tensor(list(range(1, n + 1)), x.dtype)
    total = math_ops.cumsum(z, axis=-1)
    inside = ops.greater(1.0 + k * z, total)                  # (a prefix of the sorted)
    count = ops.reduce_sum(ops.cast(inside, x.dtype), axis=-1, keepdims=True)
    kept = ops.reduce_sum(ops.where(inside, z, z * 0.0), axis=-1, keepdims=True)
    tau = (kept - 1.0) / count
    return nn.relu(x - tau)


_BY_NAME = {"relu": relu, "softmax": softmax, "sigmoid": sigmoid,
            "tanh": tanh, "linear": linear, "relu6": relu6, "elu": elu,
            "selu": selu, "swish": swish, "silu": silu, "softplus": softplus,
            "softsign": softsign, "leaky_relu": leaky_relu, "gelu": gelu,
            "log_softmax": log_softmax, "exponential": exponential,
            "hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu, "hard_swish": hard_swish,
            "mish": mish, "log_sigmoid": log_sigmoid, "celu": celu, "glu": glu,
            "hard_tanh": hard_tanh, "tanh_shrink": tanh_shrink, "soft_shrink": soft_shrink,
            "hard_shrink": hard_shrink, "squareplus": squareplus, "sparsemax": sparsemax}


def get(identifier):
    """The function for a name ("relu"), a callable itself, or `linear` for
    None (as Keras); an unknown name is a ValueError listing the known."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    try:
        return _BY_NAME[identifier]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {identifier!r}; known: "
                         f"{', '.join(sorted(_BY_NAME))}") from None


def serialize(activation):
    """The name of a known activation function (Keras' serialize)."""
    for name, function in _BY_NAME.items():
        if function is activation:
            return name
    raise ValueError(f"{activation!r} is not a known activation")
