"""kiln.nn: neural-network ops."""

from .core import attributes, bind1 as _run1, enum_case, unit
from .tensor import convert_to_tensor


def relu(features, name=None):
    return _run1("relu", [convert_to_tensor(features)])


def softmax(logits, axis=-1, name=None):
    return _run1("softmax", [convert_to_tensor(logits)], attributes(axis=int(axis)))


def log_softmax(logits, axis=-1, name=None):
    return _run1("log_softmax", [convert_to_tensor(logits)],
                 attributes(axis=int(axis)))


_CHECKED = attributes(bounds_check=unit())


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Per example, -log_softmax(logits)[label]. A label outside the classes
    is TensorFlow's InvalidArgumentError naming the line, eagerly and in
    compiled code (checked where the code runs)."""
    return _run1("sparse_softmax_cross_entropy",
                 [convert_to_tensor(logits), convert_to_tensor(labels)],
                 _CHECKED)


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None):
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels, dtype=logits.dtype)
    return _run1("softmax_cross_entropy", [logits, labels])


def _window(value, name):
    if isinstance(value, int):
        return [value, value]
    value = list(value)
    if len(value) == 4:  # TensorFlow's NHWC form [1, h, w, 1]
        value = value[1:3]
    if len(value) != 2:
        raise ValueError(f"{name} must be an int, [h, w] or [1, h, w, 1]")
    return [int(v) for v in value]


def _padding(padding):
    padding = padding.upper()
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    return enum_case("padding", padding)


def conv2d(input, filters, strides=1, padding="VALID", dilations=1, name=None):
    s, d = _window(strides, "strides"), _window(dilations, "dilations")
    x = convert_to_tensor(input)
    return _run1("conv2d", [x, convert_to_tensor(filters, x.dtype)],
                 attributes(strides=s, dilations=d, padding=_padding(padding)))


def _pool(op):
    def apply(input, ksize, strides, padding="VALID", name=None):
        k, s = _window(ksize, "ksize"), _window(strides, "strides")
        return _run1(op, [convert_to_tensor(input)],
                     attributes(window=k, strides=s, padding=_padding(padding)))
    apply.__name__ = op
    return apply


max_pool2d = _pool("max_pool2d")
avg_pool2d = _pool("avg_pool2d")
