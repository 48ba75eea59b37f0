"""kiln.activations (tf.keras.activations): activation functions by name,
what layers' `activation=` strings resolve to."""

from . import nn, ops
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

_BY_NAME = {"relu": relu, "softmax": softmax, "sigmoid": sigmoid,
            "tanh": tanh, "linear": linear, "relu6": relu6, "elu": elu,
            "selu": selu, "swish": swish, "silu": silu, "softplus": softplus,
            "softsign": softsign, "leaky_relu": leaky_relu, "gelu": gelu,
            "log_softmax": log_softmax, "exponential": exponential}


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
