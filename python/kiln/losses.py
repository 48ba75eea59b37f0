"""kiln.losses: Keras' losses.

A loss object's `call(y_true, y_pred)` gives one loss per example (the
elementwise losses are averaged over the last axis, as Keras does);
`loss(y_true, y_pred, sample_weight=None)` weights them and reduces them as
`reduction` says: "sum_over_batch_size" (the default: the sum divided by the
number of per-example losses), "sum", or "none". The functional forms
(`kiln.losses.mean_squared_error(y_true, y_pred)`, ...) return the
per-example losses.
"""

import math

from . import errors, math_ops, nn, ops
from .dtypes import int64
from ._targets import _labels, _match, _squeeze_last
from .tensor import Tensor, convert_to_tensor

_EPSILON = 1e-7  # Keras' backend epsilon
_REDUCTIONS = ("sum_over_batch_size", "sum", "none", "auto")


class Loss:
    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, "
                             f"got {reduction!r}")
        self.reduction = "sum_over_batch_size" if reduction == "auto" else reduction
        self.name = name or type(self).__name__

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = getattr(y_pred, "_keras_mask", None) if isinstance(y_pred, Tensor) else None
        losses = convert_to_tensor(self.call(y_true, y_pred))
        # (A loss function may mask entries itself: ignore_class.)
        own = getattr(losses, "_keras_mask", None)
        if own is not None:
            mask = own if mask is None or tuple(mask.shape) != tuple(own.shape) else \
                ops.logical_and(ops.cast(mask, own.dtype), own)
        if mask is not None and tuple(mask.shape) == tuple(losses.shape):
            # Keras: the entries a layer masked (padding steps of a
            # sequence output) weigh 0; with the mean, the others weigh
            # total / kept, so the mean is over the kept entries.
            weight = ops.cast(mask, losses.dtype)
            if self.reduction == "sum_over_batch_size":
                total = ops.cast(math_ops.size(losses), losses.dtype)
                weight = weight * (total / (ops.reduce_sum(weight) + _EPSILON))
            sample_weight = weight if sample_weight is None else \
                _weights_like(sample_weight, losses) * weight
        if sample_weight is not None:
            losses = losses * _weights_like(sample_weight, losses)
        if self.reduction == "none":
            return losses
        if self.reduction == "sum":
            return ops.reduce_sum(losses)
        return ops.reduce_mean(losses)

    def call(self, y_true, y_pred):
        raise NotImplementedError


def _weights_like(sample_weight, losses):
    """Per-example weights against per-example losses: a scalar, or one
    weight per example (a trailing 1 dropped, or extra dimensions for the
    losses' trailing ones)."""
    w = convert_to_tensor(sample_weight, losses.dtype)
    if len(w.shape) == len(losses.shape) + 1 and w.shape[-1] == 1:
        w = _squeeze_last(w)
    while 0 < len(w.shape) < len(losses.shape):
        w = math_ops.expand_dims(w, -1)
    return w


def _mean_last(x):
    """The mean over the last axis (of a rank >= 1 tensor)."""
    return ops.reduce_mean(x, axis=-1 % len(x.shape)) if x.shape else x


def _log_probabilities(y_pred):
    """Logits whose softmax is `y_pred` (probabilities), clipped away
    from 0 as Keras does."""
    p = ops.maximum(convert_to_tensor(y_pred), _EPSILON)
    return ops.log(p)


# --- per-example losses (the functional forms) ------------------------------

def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """-log p[label] per example. With ignore_class (Keras 3's: a padding
    or void label such as -1 or 255), those entries' losses are 0 and
    masked: a Loss averages over the others."""
    if axis not in (-1, len(convert_to_tensor(y_pred).shape) - 1):
        raise errors.UnimplementedError(
            f"sparse_categorical_crossentropy: the classes must be the last axis, got "
            f"axis={axis}", errors.user_location())
    logits = y_pred if from_logits else _log_probabilities(y_pred)
    labels = ops.cast(_labels(y_true), int64)
    if len(labels.shape) == len(convert_to_tensor(logits).shape) and \
            labels.shape[-1] == 1:  # (B, 1) labels, as Keras accepts
        labels = _squeeze_last(labels)
    if ignore_class is None:
        return nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    valid = ops.not_equal(labels, int(ignore_class))
    safe = ops.where(valid, labels, labels * 0)          # (a class that exists)
    losses = nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
    losses = ops.where(valid, losses, losses * 0.0)
    losses._keras_mask = valid
    return losses


def _classes_last(y_true, y_pred, axis, what):
    """y_true and y_pred with their class axis `axis` moved last."""
    rank = y_pred.ndim
    if not -rank <= int(axis) < rank:
        raise ValueError(f"{what}: axis {axis} is out of range for predictions of rank {rank}")
    axis = int(axis) % rank
    if axis == rank - 1:
        return y_true, y_pred
    perm = [d for d in range(rank) if d != axis] + [axis]
    return ops.transpose(y_true, perm), ops.transpose(y_pred, perm)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0,
                             axis=-1):
    """-sum(y_true * log softmax) over the class axis `axis` (the last by
    default), from logits or probabilities."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, y_pred.dtype)
    y_true, y_pred = _classes_last(y_true, y_pred, axis, "categorical_crossentropy")
    if label_smoothing:
        classes = y_pred.shape[-1]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    logits = y_pred if from_logits else _log_probabilities(y_pred)
    return nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """-(y log p + (1 - y) log(1 - p)), averaged over the last axis; from
    logits computed stably, from probabilities clipped to [eps, 1 - eps] as
    Keras does."""
    y_true, y_pred = _match(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return _mean_last(nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred))
    p = math_ops.clip_by_value(y_pred, _EPSILON, 1.0 - _EPSILON)
    bce = y_true * ops.log(p + _EPSILON) + (1.0 - y_true) * ops.log(1.0 - p + _EPSILON)
    return _mean_last(-bce)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return _mean_last(ops.square(y_pred - y_true))


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return _mean_last(ops.abs(y_pred - y_true))


def huber(y_true, y_pred, delta=1.0):
    """0.5 e^2 where |e| <= delta, else delta (|e| - delta / 2)."""
    y_true, y_pred = _match(y_true, y_pred)
    error = ops.abs(y_pred - y_true)
    quadratic = 0.5 * ops.square(error)
    linear = float(delta) * (error - 0.5 * float(delta))
    return _mean_last(ops.where(error <= float(delta), quadratic, linear))


def _signed(y_true):
    """0/1 labels as -1/1 (Keras' hinge losses take either)."""
    return ops.where(ops.equal(y_true, 0.0), -1.0, y_true)


def hinge(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return _mean_last(ops.maximum(1.0 - _signed(y_true) * y_pred, 0.0))


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return _mean_last(ops.square(ops.maximum(1.0 - _signed(y_true) * y_pred, 0.0)))


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y) p) - sum(y p) + 1, 0) over the classes."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, y_pred.dtype)
    axis = len(y_pred.shape) - 1
    positive = ops.reduce_sum(y_true * y_pred, axis=axis)
    negative = ops.reduce_max((1.0 - y_true) * y_pred, axis=axis)
    return ops.maximum(negative - positive + 1.0, 0.0)


def kl_divergence(y_true, y_pred):
    """sum(y log(y / p)) over the last axis, both clipped to [eps, 1]."""
    y_true, y_pred = _match(y_true, y_pred)
    y = math_ops.clip_by_value(y_true, _EPSILON, 1.0)
    p = math_ops.clip_by_value(y_pred, _EPSILON, 1.0)
    terms = y * ops.log(y / p)
    return ops.reduce_sum(terms, axis=len(terms.shape) - 1) if terms.shape else terms


def log_cosh(y_true, y_pred):
    """log(cosh(p - y)), computed as x + softplus(-2x) - log 2."""
    y_true, y_pred = _match(y_true, y_pred)
    x = y_pred - y_true
    return _mean_last(x + math_ops.softplus(-2.0 * x) - math.log(2.0))


def mean_squared_logarithmic_error(y_true, y_pred):
    """(log(p + 1) - log(y + 1))^2, both clipped at eps first."""
    y_true, y_pred = _match(y_true, y_pred)
    first = ops.log(ops.maximum(y_pred, _EPSILON) + 1.0)
    second = ops.log(ops.maximum(y_true, _EPSILON) + 1.0)
    return _mean_last(ops.square(first - second))


def mean_absolute_percentage_error(y_true, y_pred):
    """100 |y - p| / max(|y|, eps)."""
    y_true, y_pred = _match(y_true, y_pred)
    return 100.0 * _mean_last(ops.abs(y_true - y_pred) / ops.maximum(ops.abs(y_true), _EPSILON))


def poisson(y_true, y_pred):
    """p - y log(p + eps)."""
    y_true, y_pred = _match(y_true, y_pred)
    return _mean_last(y_pred - y_true * ops.log(y_pred + _EPSILON))


def cosine_similarity(y_true, y_pred, axis=-1):
    """-cos(angle) between the rows (Keras' loss form: -1 for aligned
    vectors; a zero vector gives 0)."""
    y_true, y_pred = _match(y_true, y_pred)
    a = math_ops.l2_normalize(y_true, axis=axis)
    b = math_ops.l2_normalize(y_pred, axis=axis)
    return -ops.reduce_sum(a * b, axis=axis % len(a.shape))


mse = mean_squared_error
mae = mean_absolute_error
msle = mean_squared_logarithmic_error
mape = mean_absolute_percentage_error
kld = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


# --- loss objects ------------------------------------------------------------------

class _Wrapper(Loss):
    """A Loss computing `fn(y_true, y_pred, **options)` per example."""

    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, **options):
        super().__init__(reduction, name)
        self.options = options

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.options)


class SparseCategoricalCrossentropy(_Wrapper):
    """Integer labels against logits (from_logits=True) or probabilities."""
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name=None):
        options = {"from_logits": from_logits}
        if ignore_class is not None:
            options["ignore_class"] = int(ignore_class)
        super().__init__(reduction, name, **options)
        self.from_logits, self.ignore_class = from_logits, ignore_class


class CategoricalCrossentropy(_Wrapper):
    """One-hot (or soft) labels against logits or probabilities."""
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits,
                         label_smoothing=float(label_smoothing), axis=int(axis))
        self.from_logits = from_logits


class BinaryCrossentropy(_Wrapper):
    """0/1 labels against logits (from_logits=True) or probabilities."""
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits,
                         label_smoothing=float(label_smoothing))
        self.from_logits = from_logits


class MeanSquaredError(_Wrapper):
    fn = staticmethod(mean_squared_error)


class MeanAbsoluteError(_Wrapper):
    fn = staticmethod(mean_absolute_error)


class Huber(_Wrapper):
    """0.5 e^2 where |e| <= delta, else delta (|e| - delta / 2)."""
    fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, delta=float(delta))
        self.delta = float(delta)


class Hinge(_Wrapper):
    fn = staticmethod(hinge)


class SquaredHinge(_Wrapper):
    fn = staticmethod(squared_hinge)


class CategoricalHinge(_Wrapper):
    fn = staticmethod(categorical_hinge)


class KLDivergence(_Wrapper):
    fn = staticmethod(kl_divergence)


class LogCosh(_Wrapper):
    fn = staticmethod(log_cosh)


class MeanSquaredLogarithmicError(_Wrapper):
    fn = staticmethod(mean_squared_logarithmic_error)


class MeanAbsolutePercentageError(_Wrapper):
    fn = staticmethod(mean_absolute_percentage_error)


class Poisson(_Wrapper):
    fn = staticmethod(poisson)


class CosineSimilarity(_Wrapper):
    fn = staticmethod(cosine_similarity)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, axis=int(axis))


MSE = MeanSquaredError
MAE = MeanAbsoluteError
MSLE = MeanSquaredLogarithmicError
MAPE = MeanAbsolutePercentageError


def _probabilities_bce(y_true, y_pred):
    """Keras' elementwise binary cross-entropy of probabilities (clipped)."""
    p = math_ops.clip_by_value(y_pred, _EPSILON, 1.0 - _EPSILON)
    return -(y_true * ops.log(p + _EPSILON) + (1.0 - y_true) * ops.log(1.0 - p + _EPSILON))


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy times (1 - p_t)^gamma, p_t the probability of
    the true class (Lin et al.'s focal loss, Keras 3's form; with class
    balancing also alpha for positives and 1 - alpha for negatives),
    averaged over `axis`."""
    y_true, y_pred = _match(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    bce = _probabilities_bce(y_true, y_pred)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = ops.pow(1.0 - p_t, float(gamma)) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.reduce_mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy with each class's term times alpha (1 -
    p)^gamma (Keras 3's categorical focal loss), summed over `axis`."""
    y_pred = convert_to_tensor(y_pred)
    y_true = ops.cast(convert_to_tensor(y_true), y_pred.dtype)
    if label_smoothing:
        classes = float(y_pred.shape[axis])
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    if from_logits:
        y_pred = nn.softmax(y_pred, axis=axis)
    p = y_pred / ops.reduce_sum(y_pred, axis=axis, keepdims=True)
    p = math_ops.clip_by_value(p, _EPSILON, 1.0 - _EPSILON)
    focal = alpha * ops.pow(1.0 - p, float(gamma)) * (-y_true * ops.log(p))
    return ops.reduce_sum(focal, axis=axis)


def dice(y_true, y_pred, axis=None):
    """1 - 2 |y_true . y_pred| / (|y_true| + |y_pred|) over `axis` (all
    entries by default), Keras 3's Dice loss."""
    y_pred = convert_to_tensor(y_pred)
    y_true = ops.cast(convert_to_tensor(y_true), y_pred.dtype)
    inter = ops.reduce_sum(y_true * y_pred, axis=axis)
    total = ops.reduce_sum(y_true, axis=axis) + ops.reduce_sum(y_pred, axis=axis)
    return 1.0 - 2.0 * inter / (total + _EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Keras 3's Tversky loss: 1 - tp / (tp + alpha * sum((1 - y_pred) y_true)
    + beta * sum(y_pred (1 - y_true))) over `axis` (all entries by default)."""
    y_pred = convert_to_tensor(y_pred)
    y_true = ops.cast(convert_to_tensor(y_true), y_pred.dtype)
    tp = ops.reduce_sum(y_true * y_pred, axis=axis)
    missed = ops.reduce_sum((1.0 - y_pred) * y_true, axis=axis)
    extra = ops.reduce_sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - tp / (tp + alpha * missed + beta * extra + _EPSILON)


def ctc(y_true, y_pred):
    """Keras 3's CTC loss per sequence: labels [batch, max_label] padded
    with 0 (the blank; each length is the count of the others), logits
    [batch, frames, classes], every frame used."""
    from .ctc import ctc_loss
    y_true, y_pred = convert_to_tensor(y_true), convert_to_tensor(y_pred)
    if y_true.ndim != 2 or y_pred.ndim != 3:
        raise ValueError(f"CTC: labels [batch, length] and logits [batch, frames, "
                         f"classes] expected, got {list(y_true.shape)} and "
                         f"{list(y_pred.shape)}")
    lengths = ops.reduce_sum(ops.cast(ops.not_equal(y_true, 0), "int32"), axis=-1)
    frames = lengths * 0 + y_pred.shape[1]
    return ctc_loss(y_true, y_pred, lengths, frames, logits_time_major=False, blank_index=0)


class BinaryFocalCrossentropy(_Wrapper):
    """Keras 3's binary focal cross-entropy."""
    fn = staticmethod(binary_focal_crossentropy)

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, apply_class_balancing=apply_class_balancing,
                         alpha=float(alpha), gamma=float(gamma), from_logits=from_logits,
                         label_smoothing=float(label_smoothing), axis=axis)


class CategoricalFocalCrossentropy(_Wrapper):
    """Keras 3's categorical focal cross-entropy."""
    fn = staticmethod(categorical_focal_crossentropy)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, alpha=float(alpha), gamma=float(gamma),
                         from_logits=from_logits, label_smoothing=float(label_smoothing),
                         axis=axis)


class Dice(_Wrapper):
    """Keras 3's Dice loss (over every entry unless `axis`)."""
    fn = staticmethod(dice)

    def __init__(self, reduction="sum_over_batch_size", name=None, axis=None):
        super().__init__(reduction, name, axis=axis)


class Tversky(_Wrapper):
    """Keras 3's Tversky loss."""
    fn = staticmethod(tversky)

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name=None,
                 axis=None):
        super().__init__(reduction, name, alpha=float(alpha), beta=float(beta), axis=axis)


class CTC(_Wrapper):
    """Connectionist temporal classification (Keras 3's CTC)."""
    fn = staticmethod(ctc)


class _FunctionLoss(Loss):
    """A function of (y_true, y_pred) giving per-example losses."""

    def __init__(self, fn):
        super().__init__(name=getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber, "hinge": Hinge,
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence, "kld": KLDivergence,
    "log_cosh": LogCosh, "logcosh": LogCosh,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "poisson": Poisson, "cosine_similarity": CosineSimilarity,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "dice": Dice, "tversky": Tversky,
}


class Reduction:
    """tf.keras.losses.Reduction's names (Keras 2), the strings a Loss's
    `reduction` takes ("auto" is sum_over_batch_size, the default)."""
    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)


def get(identifier):
    """A Loss from a Keras name, a Loss, or a function of (y_true, y_pred)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]()
        except KeyError:
            raise ValueError(f"unknown loss {identifier!r}; known: "
                             f"{', '.join(sorted(_BY_NAME))}") from None
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise TypeError(f"cannot use {identifier!r} as a loss")
