"""kiln.metrics: running means over a training epoch. The totals are
kiln.Variables, so a metric can be updated eagerly or inside
@kiln.function (where its update becomes part of the compiled step)."""

import numpy as np

from . import losses, math_ops, ops
from ._recording import record_subclass, recording_init
from .module import _snake
from ._targets import _labels, _match, _squeeze_last
from .dtypes import float32, int64
from .tensor import constant, convert_to_tensor
from .variables import Variable


def _count(t):
    n = 1
    for d in t.shape:
        n *= d
    return n


class Metric:
    """Base class: a running value kept in variables (update_state,
    result, reset_state). The arguments a metric is made with are noted,
    so a compiled model's metrics are written by model.save."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        record_subclass(cls)

    def __init__(self, name=None, dtype=None, **kwargs):
        # (Keras' dtype and other base arguments are accepted: Kiln's
        # metrics keep float32 totals.)
        self.name = name or type(self).__name__
        self.total = Variable(constant(0.0, float32), name=f"{self.name}/total",
                              trainable=False)
        self.count = Variable(constant(0.0, float32), name=f"{self.name}/count",
                              trainable=False)

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None,
                   aggregation=None, synchronization=None):
        """A state variable of a metric of one's own (Keras' add_weight):
        non-trainable, listed in `variables`, zeroed by reset_state."""
        from . import initializers
        from .dtypes import as_dtype
        dtype = as_dtype(dtype or float32)
        init = initializers.get(initializer if initializer is not None else "zeros")
        value = init(tuple(int(d) for d in (shape or ())), dtype)
        variable = Variable(convert_to_tensor(value, dtype),
                            name=f"{self.name}/{name or 'state'}", trainable=False)
        self.__dict__.setdefault("_own_state", []).append(variable)
        return variable

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        """Keras 3's spelling of add_weight."""
        return self.add_weight(name=name, shape=shape, initializer=initializer, dtype=dtype)

    @property
    def variables(self):
        return [self.total, self.count] + list(self.__dict__.get("_own_state", []))

    def reset_state(self):
        """Every state variable back to zeros (Keras' default)."""
        self.total.assign(constant(0.0, float32))
        self.count.assign(constant(0.0, float32))
        for v in self.__dict__.get("_own_state", []):
            v.assign(math_ops.zeros_like(v.value()))

    reset_states = reset_state

    def _add(self, total, count):
        self.total.assign_add(ops.cast(total, float32))
        self.count.assign_add(ops.cast(count, float32))

    def result(self):
        """The mean so far (0 before any update)."""
        return self.total.value() / ops.maximum(self.count.value(), 1e-30)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()


def _weighted(values, sample_weight):
    """(values, weights) as float32, a weight per sample of (batch, ...)
    values broadcast along their trailing dimensions, as Keras does; the
    weights are ones without sample_weight."""
    values = ops.cast(convert_to_tensor(values), float32)
    if sample_weight is None:
        return values, None
    w = ops.cast(convert_to_tensor(sample_weight), float32)
    while len(w.shape) < len(values.shape):
        w = math_ops.expand_dims(w, -1)
    return values, w + values * 0.0


class Mean(Metric):
    """The (weighted) mean of every value passed to update_state."""

    def update_state(self, values, sample_weight=None):
        values, w = _weighted(values, sample_weight)
        if w is None:
            self._add(ops.reduce_sum(values), constant(float(_count(values))))
        else:
            self._add(ops.reduce_sum(values * w), ops.reduce_sum(w))


class SparseCategoricalAccuracy(Metric):
    """How often argmax(y_pred) equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = convert_to_tensor(y_pred)
        labels = _labels(y_true)
        flat = ops.cast(ops.reshape(labels, (-1,)), int64)
        predicted = ops.argmax(ops.reshape(y_pred, (-1, y_pred.shape[-1])), axis=1)
        hits = ops.cast(ops.equal(predicted, flat), float32)
        if sample_weight is None:
            self._add(ops.reduce_sum(hits), constant(float(_count(flat))))
            return
        # (A weight per label: per example, or per entry as a Keras mask.)
        hits = ops.reshape(hits, labels.shape)
        hits, w = _weighted(hits, sample_weight)
        self._add(ops.reduce_sum(hits * w), ops.reduce_sum(w))


class MeanMetricWrapper(Mean):
    """The running mean of fn(y_true, y_pred) over every example."""

    def __init__(self, fn, name=None):
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self.fn(y_true, y_pred), sample_weight)


def _categorical_accuracy(y_true, y_pred):
    y_pred = convert_to_tensor(y_pred)
    return ops.cast(ops.equal(ops.argmax(y_pred, axis=-1 % len(y_pred.shape)),
                              ops.argmax(convert_to_tensor(y_true),
                                         axis=-1 % len(y_pred.shape))), float32)


def _binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true, y_pred = _match(y_true, y_pred)
    predicted = ops.cast(ops.greater(y_pred, threshold), y_pred.dtype)
    return ops.cast(ops.equal(predicted, y_true), float32)


def _squared_error(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return ops.square(y_pred - y_true)


def _absolute_error(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return ops.abs(y_pred - y_true)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax of the one-hot label."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(_categorical_accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals the 0/1 label."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(lambda t, p: _binary_accuracy(t, p, threshold), name)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(_absolute_error, name)


def _equal(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return ops.cast(ops.equal(y_true, y_pred), float32)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    def __init__(self, name="accuracy"):
        super().__init__(_equal, name)


class Sum(Metric):
    """The (weighted) sum of every value passed to update_state."""

    def update_state(self, values, sample_weight=None):
        values, w = _weighted(values, sample_weight)
        self._add(ops.reduce_sum(values if w is None else values * w), constant(0.0))

    def result(self):
        return self.total.value()


class RootMeanSquaredError(MeanMetricWrapper):
    """sqrt of the mean squared error over every example so far."""

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(_squared_error, name)

    def result(self):
        return ops.sqrt(super().result())


class MeanRelativeError(Mean):
    """The mean of |y_true - y_pred| / normalizer over every element (0
    where the normalizer is 0: divide_no_nan), as Keras'."""

    def __init__(self, normalizer, name=None, dtype=None):
        super().__init__(name or "mean_relative_error")
        self.normalizer = np.asarray(normalizer, np.float32)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _match(ops.cast(convert_to_tensor(y_true), float32),
                                ops.cast(convert_to_tensor(y_pred), float32))
        errors_ = math_ops.divide_no_nan(ops.abs(ops.subtract(y_true, y_pred)),
                                         constant(self.normalizer, y_pred.dtype))
        super().update_state(errors_, sample_weight)


def _top_k_hits(labels, y_pred, k):
    """in_top_k of integer labels against predictions, flattened to [n]
    and [n, classes] as Keras does (float labels cast to integers)."""
    y_pred = convert_to_tensor(y_pred)
    labels = ops.reshape(ops.cast(_labels(labels), int64), (-1,))
    scores = ops.reshape(y_pred, (-1, y_pred.shape[-1]))
    return ops.cast(math_ops.in_top_k(labels, scores, k), float32)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the k largest predictions."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(lambda t, p: _top_k_hits(t, p, k), name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the k largest
    predictions."""

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(lambda t, p: _top_k_hits(
            ops.argmax(convert_to_tensor(t), axis=-1 % len(convert_to_tensor(t).shape)), p, k),
            name)


def _loss_metric(class_name, fn, default_name, doc, options=()):
    """A MeanMetricWrapper class over the per-example loss `fn`, taking
    the keyword `options` fn takes (from_logits, ...)."""
    def __init__(self, name=default_name, **given):
        unknown = sorted(set(given) - set(options))
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword arguments {unknown}")
        MeanMetricWrapper.__init__(self, lambda t, p: fn(t, p, **given), name)
    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc})


BinaryCrossentropy = _loss_metric(
    "BinaryCrossentropy", losses.binary_crossentropy, "binary_crossentropy",
    "The mean binary cross-entropy (from_logits, label_smoothing).",
    ("from_logits", "label_smoothing"))
CategoricalCrossentropy = _loss_metric(
    "CategoricalCrossentropy", losses.categorical_crossentropy, "categorical_crossentropy",
    "The mean categorical cross-entropy (from_logits, label_smoothing).",
    ("from_logits", "label_smoothing"))
SparseCategoricalCrossentropy = _loss_metric(
    "SparseCategoricalCrossentropy", losses.sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy",
    "The mean sparse categorical cross-entropy (from_logits).", ("from_logits",))
KLDivergence = _loss_metric(
    "KLDivergence", losses.kl_divergence, "kl_divergence",
    "The mean KL divergence.", ())
Poisson = _loss_metric(
    "Poisson", losses.poisson, "poisson",
    "The mean Poisson loss.", ())
LogCoshError = _loss_metric(
    "LogCoshError", losses.log_cosh, "logcosh",
    "The mean log-cosh error.", ())
Hinge = _loss_metric(
    "Hinge", losses.hinge, "hinge",
    "The mean hinge loss.", ())
SquaredHinge = _loss_metric(
    "SquaredHinge", losses.squared_hinge, "squared_hinge",
    "The mean squared hinge loss.", ())
CategoricalHinge = _loss_metric(
    "CategoricalHinge", losses.categorical_hinge, "categorical_hinge",
    "The mean categorical hinge loss.", ())
MeanAbsolutePercentageError = _loss_metric(
    "MeanAbsolutePercentageError", losses.mean_absolute_percentage_error,
    "mean_absolute_percentage_error",
    "The mean absolute percentage error.", ())
MeanSquaredLogarithmicError = _loss_metric(
    "MeanSquaredLogarithmicError", losses.mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error",
    "The mean squared logarithmic error.", ())


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine of the angle between targets and predictions (the
    metric is +1 for aligned vectors, the loss -1)."""

    def __init__(self, name="cosine_similarity", axis=-1):
        super().__init__(lambda t, p: -losses.cosine_similarity(t, p, axis=axis), name)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Keras 3's Pearson correlation along `axis`: the mean product of the
    two centred values, each divided by its standard deviation plus 1e-7."""
    y_true, y_pred = _match(y_true, y_pred)
    t = y_true - ops.reduce_mean(y_true, axis=axis, keepdims=True)
    p = y_pred - ops.reduce_mean(y_pred, axis=axis, keepdims=True)
    t = t / (math_ops.reduce_std(t, axis=axis, keepdims=True) + 1e-7)
    p = p / (math_ops.reduce_std(p, axis=axis, keepdims=True) + 1e-7)
    return ops.reduce_mean(t * p, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Keras 3's concordance correlation along `axis`: 2 cov(t, p) /
    (var t + var p + (mean t - mean p)^2), variances of the population,
    1e-7 added to the denominator."""
    y_true, y_pred = _match(y_true, y_pred)
    t_mean = ops.reduce_mean(y_true, axis=axis, keepdims=True)
    p_mean = ops.reduce_mean(y_pred, axis=axis, keepdims=True)
    norm = math_ops.reduce_variance(y_true, axis=axis, keepdims=True) + \
        math_ops.reduce_variance(y_pred, axis=axis, keepdims=True) + ops.square(t_mean - p_mean)
    return ops.reduce_mean(2.0 * (y_true - t_mean) * (y_pred - p_mean) / (norm + 1e-7),
                           axis=axis)


class PearsonCorrelation(MeanMetricWrapper):
    """The running mean of pearson_correlation over the rows (Keras 3)."""

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(lambda t, p: pearson_correlation(t, p, axis=axis), name)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """The running mean of concordance_correlation over the rows (Keras 3)."""

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(lambda t, p: concordance_correlation(t, p, axis=axis), name)
        self.axis = axis


class _Confusion(Metric):
    """Counts of true/false positives/negatives at one or more thresholds
    (y_pred > threshold is a positive prediction), in variables, so they
    update inside compiled steps too."""

    # Counts per threshold ([thresholds]); per threshold and label
    # ([thresholds, labels]) for a multi-label AUC.
    _labels_apart = False
    # Keras' class_id (only that column counts) and top_k (only each
    # row's k largest predictions can be positive).
    class_id = None
    top_k = None

    def __init__(self, thresholds, name, labels=None):
        self.name = name
        self.thresholds = np.asarray(thresholds, np.float64).reshape(-1)
        self._shape = (len(self.thresholds),) + (() if labels is None else (int(labels),))
        self.tp = None
        if not self._labels_apart or labels is not None:
            self._make_counts()

    def _make_counts(self):
        make = lambda what: Variable(constant(np.zeros(self._shape, np.float32)),
                                     name=f"{self.name}/{what}", trainable=False)
        self.tp, self.fp, self.tn, self.fn = (make(w) for w in ("tp", "fp", "tn", "fn"))

    @property
    def variables(self):
        return [] if self.tp is None else [self.tp, self.fp, self.tn, self.fn]

    def reset_state(self):
        for v in self.variables:
            v.assign(constant(np.zeros(self._shape, np.float32)))

    reset_states = reset_state

    def _scores(self, y_pred):
        return y_pred

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(convert_to_tensor(y_pred), float32)
        labels = ops.cast(_labels(y_true), float32)
        if self.top_k is not None:
            _, best = math_ops.top_k(y_pred, int(self.top_k))
            chosen = ops.reduce_sum(ops.one_hot(best, y_pred.shape[-1], dtype=float32),
                                    axis=-2)
            y_pred = ops.where(ops.greater(chosen, 0.0), y_pred,
                               y_pred * 0.0 + float("-inf"))
        if self.class_id is not None:
            k = int(self.class_id)
            if y_pred.shape[-1] is not None and not 0 <= k < y_pred.shape[-1]:
                raise ValueError(f"{self.name}: class_id {k} is outside the "
                                 f"{y_pred.shape[-1]} classes")
            y_pred, labels = y_pred[..., k], ops.reshape(labels, y_pred.shape)[..., k]
        w = None
        if sample_weight is not None:
            # (a weight per example, broadcast over its predictions, as Keras)
            w = ops.cast(convert_to_tensor(sample_weight), float32)
            while w.ndim < y_pred.ndim:
                w = math_ops.expand_dims(w, -1)
            w = w + y_pred * 0.0
        y_pred = self._scores(y_pred)
        if self._labels_apart:
            if y_pred.ndim != 2 or tuple(labels.shape) != tuple(y_pred.shape):
                raise ValueError(f"{self.name}: a multi-label AUC takes labels and scores "
                                 f"of one shape [batch, labels], got {list(labels.shape)} "
                                 f"and {list(y_pred.shape)}")
            if self.tp is None:
                self._shape = (len(self.thresholds), y_pred.shape[-1])
                self._make_counts()
            flat = lambda t: ops.reshape(t, (-1, 1, y_pred.shape[-1]))  # [rows, 1, labels]
            at = constant(self.thresholds.astype(np.float32).reshape(1, -1, 1))
        else:
            flat = lambda t: ops.reshape(t, (-1, 1))                     # [entries, 1]
            at = constant(self.thresholds.astype(np.float32).reshape(1, -1))
        y_pred, labels = flat(y_pred), flat(labels)
        w = 1.0 if w is None else flat(w)
        positive = ops.greater(labels, 0.5)
        predicted = ops.greater(y_pred, at)
        count = lambda a, b: ops.reduce_sum(
            ops.cast(ops.logical_and(a, b), float32) * w, axis=0)
        negative, rejected = ops.logical_not(positive), ops.logical_not(predicted)
        self.tp.assign_add(count(positive, predicted))
        self.fp.assign_add(count(negative, predicted))
        self.tn.assign_add(count(negative, rejected))
        self.fn.assign_add(count(positive, rejected))


def _ratio(a, b):
    """a / b, 0 where b is 0 (Keras' divide_no_nan)."""
    return ops.where(ops.greater(b, 0.0), a / ops.maximum(b, 1e-30), 0.0)


def _class_and_top_k(metric, top_k, class_id):
    if top_k is not None and int(top_k) <= 0:
        raise ValueError(f"{metric.name}: top_k must be positive, got {top_k}")
    metric.top_k, metric.class_id = top_k, class_id


class Precision(_Confusion):
    """tp / (tp + fp) at `thresholds` (0.5 by default, or no threshold
    with top_k; a list gives one value per threshold); top_k: only each
    row's k largest predictions count; class_id: only that column."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        default = float("-inf") if top_k is not None else 0.5
        super().__init__(default if thresholds is None else thresholds, name)
        _class_and_top_k(self, top_k, class_id)

    def result(self):
        r = _ratio(self.tp.value(), self.tp.value() + self.fp.value())
        return ops.reshape(r, ()) if len(self.thresholds) == 1 else r


class Recall(_Confusion):
    """tp / (tp + fn) at `thresholds` (0.5 by default; top_k and class_id as
    Precision's)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall",
                 dtype=None):
        default = float("-inf") if top_k is not None else 0.5
        super().__init__(default if thresholds is None else thresholds, name)
        _class_and_top_k(self, top_k, class_id)

    def result(self):
        r = _ratio(self.tp.value(), self.tp.value() + self.fn.value())
        return ops.reshape(r, ()) if len(self.thresholds) == 1 else r


def _spread_thresholds(num_thresholds, what):
    """Keras' thresholds: num_thresholds from just below 0 to just above 1."""
    if num_thresholds < 2:
        raise ValueError(f"{what} needs num_thresholds >= 2")
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [-1e-7] + inner + [1.0 + 1e-7]


class AUC(_Confusion):
    """The area under the ROC curve (trapezoids) or the precision-recall
    curve (curve="PR": Davis and Goadrich's interpolation, Keras' default
    for PR), from confusion counts at `num_thresholds` thresholds spread
    over [0, 1], as Keras' AUC; summation_method "minoring" or "majoring"
    sums rectangles under or over the curve instead (PR: precision over
    recall)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"AUC: summation_method must be 'interpolation', 'minoring' or "
                             f"'majoring', got {summation_method!r}")
        self.summation_method = summation_method
        self.curve, self.multi_label, self.from_logits = curve, bool(multi_label), from_logits
        self.label_weights = None if label_weights is None else \
            np.asarray(label_weights, np.float32)
        if self.label_weights is not None and not self.multi_label:
            raise ValueError("AUC: label_weights need multi_label=True")
        self._labels_apart = self.multi_label
        spread = _spread_thresholds(num_thresholds, "AUC") if thresholds is None else \
            [-1e-7] + sorted(float(t) for t in thresholds) + [1.0 + 1e-7]
        super().__init__(spread, name, num_labels if self.multi_label else None)

    def _scores(self, y_pred):
        return ops.sigmoid(y_pred) if self.from_logits else y_pred

    def result(self):
        if self.tp is None:
            return constant(0.0)
        tp, fp, tn, fn = (v.value() for v in self.variables)
        if self.curve == "PR" and self.summation_method == "interpolation":
            area = self._pr_area(tp, fp, fn)
        elif self.curve == "PR":
            area = self._riemann_area(_ratio(tp, tp + fn), _ratio(tp, tp + fp))
        else:
            area = self._riemann_area(_ratio(fp, fp + tn), _ratio(tp, tp + fn))
        if not self.multi_label:
            return area
        # (the labels' areas averaged, or weighted by label_weights)
        if self.label_weights is None:
            return ops.reduce_mean(area)
        weights = constant(self.label_weights)
        return ops.reduce_sum(area * weights) / float(self.label_weights.sum())

    def _riemann_area(self, x, y):
        """The area under y(x) between neighbouring thresholds (ascending
        thresholds: x descends): trapezoids, or rectangles of the lower
        ('minoring') or higher ('majoring') neighbour, as Keras sums."""
        n = len(self.thresholds)
        width = x[: n - 1] - x[1:]
        if self.summation_method == "minoring":
            height = ops.minimum(y[: n - 1], y[1:])
        elif self.summation_method == "majoring":
            height = ops.maximum(y[: n - 1], y[1:])
        else:
            height = (y[: n - 1] + y[1:]) * 0.5
        return ops.reduce_sum(width * height, axis=0)

    def _pr_area(self, tp, fp, fn):
        """Precision interpolated between thresholds as the ratio of the
        linear changes of tp and of the positive predictions (Keras'
        interpolate_pr_auc)."""
        n = len(self.thresholds)
        dtp = tp[: n - 1] - tp[1:]
        p = tp + fp
        dp = p[: n - 1] - p[1:]
        slope = _ratio(dtp, ops.maximum(dp, 0.0))
        intercept = tp[1:] - slope * p[1:]
        both = ops.logical_and(ops.greater(p[: n - 1], 0.0), ops.greater(p[1:], 0.0))
        ratio = ops.where(both, _ratio(p[: n - 1], ops.maximum(p[1:], 0.0)),
                          p[1:] * 0.0 + 1.0)
        safe = ops.where(ops.greater(ratio, 0.0), ratio, ratio * 0.0 + 1.0)
        increment = _ratio(slope * (dtp + intercept * ops.log(safe)),
                           ops.maximum(tp[1:] + fn[1:], 0.0))
        return ops.reduce_sum(increment, axis=0)


class _AtConstraint(_Confusion):
    """The best value of one rate among the thresholds where another meets
    a target (Keras' SensitivityAtSpecificity family)."""

    def __init__(self, target, num_thresholds, name, class_id=None):
        if not 0.0 <= float(target) <= 1.0:
            raise ValueError(f"{type(self).__name__}: the target must be in [0, 1], got "
                             f"{target}")
        self.target = float(target)
        super().__init__(_spread_thresholds(num_thresholds, type(self).__name__), name)
        self.class_id = class_id

    def _rates(self):
        tp, fp, tn, fn = (v.value() for v in self.variables)
        return {"sensitivity": _ratio(tp, tp + fn), "recall": _ratio(tp, tp + fn),
                "specificity": _ratio(tn, tn + fp), "precision": _ratio(tp, tp + fp)}

    def result(self):
        rates = self._rates()
        constrained, dependent = rates[self._constrained], rates[self._dependent]
        feasible = ops.greater_equal(constrained, self.target)
        return ops.reduce_max(ops.where(feasible, dependent, dependent * 0.0))


class SensitivityAtSpecificity(_AtConstraint):
    """The largest sensitivity where the specificity is at least
    `specificity`."""
    _constrained, _dependent = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None,
                 name="sensitivity_at_specificity", dtype=None):
        super().__init__(specificity, num_thresholds, name, class_id)


class SpecificityAtSensitivity(_AtConstraint):
    """The largest specificity where the sensitivity is at least
    `sensitivity`."""
    _constrained, _dependent = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None,
                 name="specificity_at_sensitivity", dtype=None):
        super().__init__(sensitivity, num_thresholds, name, class_id)


class PrecisionAtRecall(_AtConstraint):
    """The largest precision where the recall is at least `recall`."""
    _constrained, _dependent = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name="precision_at_recall",
                 dtype=None):
        super().__init__(recall, num_thresholds, name, class_id)


class RecallAtPrecision(_AtConstraint):
    """The largest recall where the precision is at least `precision`."""
    _constrained, _dependent = "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None,
                 name="recall_at_precision", dtype=None):
        super().__init__(precision, num_thresholds, name, class_id)



class _Count(_Confusion):
    """One of the confusion counts at `thresholds` (0.5 by default)."""
    _which = "tp"

    def __init__(self, thresholds=None, name=None):
        super().__init__(0.5 if thresholds is None else thresholds,
                         name or _snake(type(self).__name__))

    def result(self):
        r = getattr(self, self._which).value()
        return ops.reshape(r, ()) if len(self.thresholds) == 1 else r


class TruePositives(_Count):
    _which = "tp"


class FalsePositives(_Count):
    _which = "fp"


class TrueNegatives(_Count):
    _which = "tn"


class FalseNegatives(_Count):
    _which = "fn"


class _Accumulators(Metric):
    """A metric whose state is a few float32 vectors of one length (made
    by the first update, when the length is known)."""
    _names = ()

    def _make(self, names, length):
        self._names = list(names)
        self._length = int(length)
        for n in self._names:
            setattr(self, n, Variable(constant(np.zeros(self._length, np.float32)),
                                      name=f"{self.name}/{n}", trainable=False))

    @property
    def variables(self):
        return [getattr(self, n) for n in self._names]

    def reset_state(self):
        for v in self.variables:   # (none before the first update)
            v.assign(constant(np.zeros(self._length, np.float32)))

    reset_states = reset_state


class FBetaScore(_Accumulators):
    """Keras' F-beta score over classes: y_true and y_pred [batch,
    classes], predictions above `threshold` count as positive (without one,
    each row's largest); per class (average=None), "micro" (from the summed
    counts), "macro" (their mean) or "weighted" (by each class's number of
    true labels)."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score",
                 dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"FBetaScore: average {average!r} is not None, 'micro', "
                             "'macro' or 'weighted'")
        if not float(beta) > 0:
            raise ValueError(f"FBetaScore: beta must be > 0, got {beta}")
        self.name, self.average, self.beta, self.threshold = name, average, float(beta), threshold
        self._built = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(convert_to_tensor(y_pred), float32)
        y_true = ops.cast(convert_to_tensor(y_true), float32)
        if y_pred.ndim != 2 or tuple(y_true.shape) != tuple(y_pred.shape):
            raise ValueError(f"{self.name}: y_true and y_pred must both be [batch, classes], "
                             f"got {list(y_true.shape)} and {list(y_pred.shape)}")
        if self._built is None:
            self._make(["true_positives", "false_positives", "false_negatives",
                        "intermediate_weights"], y_pred.shape[-1])
            self._built = y_pred.shape[-1]
        if self.threshold is None:
            # (each row's largest, unless the row is all zeros: Keras' guard)
            top = ops.reduce_max(y_pred, axis=-1, keepdims=True)
            predicted = ops.cast(ops.logical_and(ops.greater_equal(y_pred, top),
                                                 ops.greater(ops.abs(y_pred), 1e-9)), float32)
        else:
            predicted = ops.cast(ops.greater(y_pred, float(self.threshold)), float32)
        w = 1.0 if sample_weight is None else ops.reshape(
            ops.cast(convert_to_tensor(sample_weight), float32), (-1, 1))
        total = lambda t: ops.reduce_sum(t * w, axis=0)
        self.true_positives.assign_add(total(predicted * y_true))
        self.false_positives.assign_add(total(predicted * (1.0 - y_true)))
        self.false_negatives.assign_add(total((1.0 - predicted) * y_true))
        self.intermediate_weights.assign_add(total(y_true))

    def result(self):
        if self._built is None:
            return constant(0.0)
        tp, fp, fn = (v.value() for v in (self.true_positives, self.false_positives,
                                          self.false_negatives))
        if self.average == "micro":
            tp, fp, fn = (ops.reduce_sum(t) for t in (tp, fp, fn))
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        b2 = self.beta * self.beta
        f = _ratio((1.0 + b2) * precision * recall, b2 * precision + recall)
        if self.average == "macro":
            return ops.reduce_mean(f)
        if self.average == "weighted":
            weights = self.intermediate_weights.value()
            return _ratio(ops.reduce_sum(f * weights), ops.reduce_sum(weights))
        return f


class F1Score(FBetaScore):
    """FBetaScore with beta 1."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average, 1.0, threshold, name, dtype)


class R2Score(_Accumulators):
    """The coefficient of determination 1 - SS_res / SS_tot per output,
    averaged ("uniform_average"), weighted by the outputs' variances
    ("variance_weighted") or per output (None); num_regressors adjusts it
    (Keras' R2Score)."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0,
                 name="r2_score", dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted"):
            raise ValueError(f"R2Score: class_aggregation {class_aggregation!r} is not "
                             "None, 'uniform_average' or 'variance_weighted'")
        self.name, self.class_aggregation = name, class_aggregation
        self.num_regressors = int(num_regressors)
        self._built = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _match(y_true, y_pred)
        y_true, y_pred = ops.cast(y_true, float32), ops.cast(y_pred, float32)
        if y_pred.ndim == 1:
            y_true, y_pred = (ops.reshape(t, (-1, 1)) for t in (y_true, y_pred))
        if self._built is None:
            self._make(["squared_sum", "sum", "residual", "count", "rows"], y_pred.shape[-1])
            self._built = y_pred.shape[-1]
        w = math_ops.ones_like(y_true) if sample_weight is None else \
            ops.reshape(ops.cast(convert_to_tensor(sample_weight), float32), (-1, 1)) + \
            y_true * 0.0
        self.sum.assign_add(ops.reduce_sum(y_true * w, axis=0))
        self.squared_sum.assign_add(ops.reduce_sum(y_true * y_true * w, axis=0))
        self.residual.assign_add(ops.reduce_sum((y_true - y_pred) ** 2 * w, axis=0))
        self.count.assign_add(ops.reduce_sum(w, axis=0))
        self.rows.assign_add(ops.reduce_sum(y_true * 0.0 + 1.0, axis=0))

    def result(self):
        if self._built is None:
            return constant(0.0)
        n = self.count.value()
        mean = _ratio(self.sum.value(), n)
        total = self.squared_sum.value() - self.sum.value() * mean
        raw = 1.0 - _ratio(self.residual.value(), total)
        raw = ops.where(ops.greater(total, 0.0), raw, raw * 0.0)
        if self.class_aggregation == "uniform_average":
            score = ops.reduce_mean(raw)
        elif self.class_aggregation == "variance_weighted":
            score = _ratio(ops.reduce_sum(raw * total), ops.reduce_sum(total))
        else:
            score = raw
        if self.num_regressors:
            # (Keras: the unweighted number of rows; with too few of them for
            # the regressors the score is left unadjusted)
            samples = ops.reduce_max(self.rows.value())
            spare = samples - float(self.num_regressors) - 1.0
            adjusted = 1.0 - (1.0 - score) * (samples - 1.0) / ops.maximum(spare, 1.0)
            score = ops.where(ops.greater(spare, 0.0), adjusted, score)
        return score


class _IoUBase(Metric):
    """A confusion matrix of integer classes (rows true, columns
    predicted), accumulated; IoU = tp / (tp + fp + fn) per class."""

    def __init__(self, num_classes, target_class_ids=None, name=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        self.name = name or _snake(type(self).__name__)
        self.num_classes = int(num_classes)
        self.target_class_ids = list(range(self.num_classes)) if target_class_ids is None \
            else [int(i) for i in target_class_ids]
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.total_cm = Variable(constant(np.zeros((self.num_classes,) * 2, np.float32)),
                                 name=f"{self.name}/total_confusion_matrix", trainable=False)

    @property
    def variables(self):
        return [self.total_cm]

    def reset_state(self):
        self.total_cm.assign(constant(np.zeros((self.num_classes,) * 2, np.float32)))

    reset_states = reset_state

    def _classes(self, y_true, y_pred):
        y_true, y_pred = convert_to_tensor(y_true), convert_to_tensor(y_pred)
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        return (ops.cast(ops.reshape(y_true, (-1,)), int64),
                ops.cast(ops.reshape(y_pred, (-1,)), int64))

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = self._classes(y_true, y_pred)
        w = math_ops.ones_like(ops.cast(t, float32)) if sample_weight is None else \
            ops.reshape(ops.cast(convert_to_tensor(sample_weight), float32), (-1,))
        if self.ignore_class is not None:
            w = ops.where(ops.equal(t, int(self.ignore_class)), w * 0.0, w)
        rows = ops.one_hot(t, self.num_classes, dtype=float32) * ops.reshape(w, (-1, 1))
        cols = ops.one_hot(p, self.num_classes, dtype=float32)
        self.total_cm.assign_add(ops.matmul(rows, cols, transpose_a=True))

    def _ious(self):
        cm = self.total_cm.value()
        tp = ops.reduce_sum(cm * constant(np.eye(self.num_classes, dtype=np.float32)), axis=1)
        union = ops.reduce_sum(cm, axis=0) + ops.reduce_sum(cm, axis=1) - tp
        picked = constant(np.asarray(self.target_class_ids, np.int32))
        tp, union = ops.gather(tp, picked), ops.gather(union, picked)
        return _ratio(tp, union), ops.greater(union, 0.0)

    def result(self):
        iou, present = self._ious()
        # (the mean over the target classes that occur)
        return _ratio(ops.reduce_sum(iou), ops.reduce_sum(ops.cast(present, float32)))


class IoU(_IoUBase):
    """The mean IoU over `target_class_ids` (Keras' IoU): integer labels
    and predicted classes."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, target_class_ids, name, ignore_class, sparse_y_true,
                         sparse_y_pred, axis)


class MeanIoU(_IoUBase):
    """The mean IoU over all classes (Keras' MeanIoU)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, None, name, ignore_class, sparse_y_true,
                         sparse_y_pred, axis)


class OneHotIoU(_IoUBase):
    """IoU of one-hot labels and scores (each row's argmax)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name, ignore_class, False,
                         sparse_y_pred, axis)


class OneHotMeanIoU(_IoUBase):
    """MeanIoU of one-hot labels and scores (each row's argmax)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, None, name, ignore_class, False, sparse_y_pred, axis)


class BinaryIoU(_IoUBase):
    """IoU of binary labels and probabilities thresholded at `threshold`,
    over target_class_ids (0, 1) by default (Keras' BinaryIoU)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name)
        self.threshold = float(threshold)

    def _classes(self, y_true, y_pred):
        t = ops.cast(ops.greater(ops.cast(convert_to_tensor(y_true), float32), 0.5), int64)
        p = ops.cast(ops.greater_equal(ops.cast(convert_to_tensor(y_pred), float32),
                                       self.threshold), int64)
        return ops.reshape(t, (-1,)), ops.reshape(p, (-1,))


Metric.__init__ = recording_init(Metric.__init__)
