"""The Keras training loop: Model.compile, fit, evaluate, predict,
train_on_batch/test_on_batch, summary and weights, with Keras' arguments,
defaults and printed progress.

A training step (forward, loss, gradient, optimizer update, metric
updates) is one @kiln.function: the whole step runs as one call of native
code, traced once per batch shape (so at most twice an epoch: full batches
and the last one).
"""

import inspect
import math
import numbers
import threading
import warnings

import numpy as np

from . import callbacks as callbacks_module
from . import errors, losses, metrics as metrics_module, mixed_precision, optimizers, random
from .dtypes import float32, float64
from .ops import cast, reshape
from .data import Dataset
from .gradients import GradientTape
from .ragged import RaggedTensor, RowsUnknownError
from .tensor import Tensor, TensorSpec, convert_to_tensor
from .tracing import function


History = callbacks_module.History
_Bar = callbacks_module._Bar


def _metric_for(identifier, loss):
    """A Metric object for a name (Keras' "accuracy" picks the accuracy that
    fits the loss), a Metric, or a function of (y_true, y_pred)."""
    if isinstance(identifier, metrics_module.Metric):
        return identifier
    if callable(identifier):
        return metrics_module.MeanMetricWrapper(identifier,
                                                getattr(identifier, "__name__", None))
    if identifier in ("accuracy", "acc"):
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            return metrics_module.SparseCategoricalAccuracy(name=identifier)
        if isinstance(loss, (losses.CategoricalCrossentropy, losses.CategoricalHinge)):
            return metrics_module.CategoricalAccuracy(name=identifier)
        return metrics_module.BinaryAccuracy(name=identifier)
    table = {
        "sparse_categorical_accuracy": metrics_module.SparseCategoricalAccuracy,
        "categorical_accuracy": metrics_module.CategoricalAccuracy,
        "binary_accuracy": metrics_module.BinaryAccuracy,
        "mse": metrics_module.MeanSquaredError,
        "mean_squared_error": metrics_module.MeanSquaredError,
        "mae": metrics_module.MeanAbsoluteError,
        "mean_absolute_error": metrics_module.MeanAbsoluteError,
        "precision": metrics_module.Precision,
        "recall": metrics_module.Recall,
        "auc": metrics_module.AUC,
        "root_mean_squared_error": metrics_module.RootMeanSquaredError,
        "top_k_categorical_accuracy": metrics_module.TopKCategoricalAccuracy,
        "sparse_top_k_categorical_accuracy": metrics_module.SparseTopKCategoricalAccuracy,
        "binary_crossentropy": metrics_module.BinaryCrossentropy,
        "categorical_crossentropy": metrics_module.CategoricalCrossentropy,
        "sparse_categorical_crossentropy": metrics_module.SparseCategoricalCrossentropy,
        "kl_divergence": metrics_module.KLDivergence,
        "kld": metrics_module.KLDivergence,
        "poisson": metrics_module.Poisson,
        "logcosh": metrics_module.LogCoshError,
        "log_cosh": metrics_module.LogCoshError,
        "hinge": metrics_module.Hinge,
        "squared_hinge": metrics_module.SquaredHinge,
        "categorical_hinge": metrics_module.CategoricalHinge,
        "mape": metrics_module.MeanAbsolutePercentageError,
        "mean_absolute_percentage_error": metrics_module.MeanAbsolutePercentageError,
        "msle": metrics_module.MeanSquaredLogarithmicError,
        "mean_squared_logarithmic_error": metrics_module.MeanSquaredLogarithmicError,
        "cosine_similarity": metrics_module.CosineSimilarity,
        "pearson_correlation": metrics_module.PearsonCorrelation,
        "concordance_correlation": metrics_module.ConcordanceCorrelation,
    }
    cls = getattr(metrics_module, identifier, None) if isinstance(identifier, str) else None
    if identifier not in table and isinstance(cls, type) and \
            issubclass(cls, metrics_module.Metric):
        return cls()   # (a class name, "AUC": the class with its default name, as Keras)
    try:
        return table[identifier](name=identifier)
    except KeyError:
        raise ValueError(f"unknown metric {identifier!r}; known: "
                         f"{', '.join(sorted(table) + ['accuracy', 'acc'])}") from None


def _output_names(model):
    """The names of a functional model's outputs (its dict's keys, or the
    layers that make them, as Keras names them); None for one output."""
    outputs = getattr(model, "_functional_outputs", None)
    if isinstance(outputs, dict):
        return list(outputs)
    if isinstance(outputs, (list, tuple)) and len(outputs) > 1:
        return [t._layer.name if getattr(t, "_layer", None) is not None else f"output_{i}"
                for i, t in enumerate(outputs)]
    return None


def _per_output(value, names, what):
    """A list with one entry per output from a list (in order) or a dict
    keyed by output name."""
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} names {sorted(unknown)}, not outputs of the "
                             f"model ({names})")
        return [value.get(n) for n in names]
    if len(value) != len(names):
        raise ValueError(f"compile: {len(value)} {what} for {len(names)} outputs ({names})")
    return list(value)


def compile(model, optimizer="rmsprop", loss=None, metrics=None,
            run_eagerly=False, loss_weights=None, weighted_metrics=None):
    # (No loss: a model trained by its add_loss terms, or by a train_step
    # of its own, as Keras allows.)
    names = _output_names(model) if loss is not None else None
    if names is None and (isinstance(loss, (list, tuple, dict)) or loss_weights is not None):
        if not (isinstance(loss, (list, tuple)) and len(loss) == 1):
            raise ValueError("compile: a list or dict of losses (or loss_weights) needs a "
                             "model with several outputs")
    output_losses = None   # (the model is changed only once every check passed)
    if names is not None:
        # Keras' rule: one loss for every output, or one per output (a list
        # in output order or a dict by output name; None: no loss for it),
        # weighted by loss_weights; the loss is their weighted sum.
        given = _per_output(loss, names, "losses") if isinstance(loss, (list, tuple, dict)) \
            else [loss] * len(names)
        weights = [1.0] * len(names) if loss_weights is None else \
            [1.0 if w is None else float(w)
             for w in _per_output(loss_weights, names, "loss_weights")]
        output_losses = [(None if l is None else losses.get(l), w)
                         for l, w in zip(given, weights)]
        output_metrics = _metrics_per_output(metrics, names, output_losses)
        output_weighted = _metrics_per_output(weighted_metrics, names, output_losses,
                                              "weighted_metrics")
    elif isinstance(loss, (list, tuple)):
        loss = loss[0]
    single_loss = losses.get(loss) if output_losses is None and loss is not None else None
    plain = [_metric_for(m, single_loss) for m in (metrics or [])] \
        if output_losses is None else output_metrics
    weighted = [_metric_for(m, single_loss) for m in (weighted_metrics or [])] \
        if output_losses is None else output_weighted
    taken = {m.name for m in plain}
    for m in weighted:
        if any(m is other for other in plain):
            raise ValueError(f"compile: the metric object {m.name!r} is in both metrics and "
                             "weighted_metrics (give each list its own object)")
        # Keras' names: "weighted_" only where the unweighted metric has
        # the name ("<output>_weighted_<name>" with several outputs).
        name = m.name
        if name in taken:
            if output_losses is None:
                name = f"weighted_{name}"
            else:
                output = names[m._output_index]
                name = f"{output}_weighted_{name[len(output) + 1:]}"
        if name in taken:
            raise ValueError(f"compile: two metrics named {name!r}")
        taken.add(name)
        m.name, m._weighted = name, True
    model._output_losses = output_losses
    # (what model.save writes when it can: names, Loss objects' settings)
    listed = lambda given: dict(given) if isinstance(given, dict) else list(given or [])  # noqa: E731
    model._compile_arguments = (optimizer, loss, listed(metrics), listed(weighted_metrics))
    model._loss_weights = None if loss_weights is None else \
        (dict(loss_weights) if isinstance(loss_weights, dict) else list(loss_weights))
    model.optimizer = optimizers.get(optimizer)
    if mixed_precision.policy_of(getattr(model, "_dtype_policy", None)).name == \
            "mixed_float16" and not optimizers.wraps(
                model.optimizer, mixed_precision.LossScaleOptimizer):
        # Keras does the same: float16 gradients need loss scaling.
        model.optimizer = mixed_precision.LossScaleOptimizer(model.optimizer)
    model.loss = single_loss if model._output_losses is None else \
        (lambda y, pred, sample_weight=None: _sum_of_output_losses(model, y, pred,
                                                                  sample_weight))
    model.compiled_metrics = _CompiledMetrics(model, plain + weighted)
    model.compiled_loss = _CompiledLoss(model)
    model._loss_tracker = metrics_module.Mean(name="loss")
    # (Several outputs: each one's weighted loss logged as "<name>_loss", as Keras.)
    model._output_trackers = [] if names is None else \
        [(f"{n}_loss", metrics_module.Mean(name=f"{n}_loss"))
         for n, (l, _) in zip(names, model._output_losses) if l is not None]
    model._output_terms = None
    model.run_eagerly = bool(run_eagerly)
    model._train_function = model._test_function = None
    model.stop_training = False


def _metrics_per_output(metrics, names, output_losses, what="metrics"):
    """Several outputs' metrics, Keras' ways: a dict by output name or a
    list with an entry (a metric or a list of them) per output; a flat list
    of names applies each to every output (Keras 2). Each is named
    "<output>_<metric>" and remembers its output."""
    if not metrics:
        return []
    if isinstance(metrics, dict):
        per_output = _per_output(metrics, names, what)
    elif all(isinstance(m, (list, tuple)) or m is None for m in metrics):
        per_output = _per_output(list(metrics), names, what)
    elif all(isinstance(m, str) for m in metrics):
        per_output = [list(metrics)] * len(names)
    else:
        raise ValueError(f"compile: with several outputs give {what} as a dict by output "
                         "name or a list per output (a metric object measures one output)")
    out = []
    for index, (name, given) in enumerate(zip(names, per_output)):
        if given is None:
            continue
        for identifier in given if isinstance(given, (list, tuple)) else [given]:
            loss = output_losses[index][0]
            metric = _metric_for(identifier, loss)
            if not metric.name.startswith(f"{name}_"):   # (not twice after a reload)
                metric.name = f"{name}_{metric.name}"
            metric._output_index = index
            out.append(metric)
    return out


def _sum_of_output_losses(model, y, pred, sample_weight=None):
    """Several outputs: the weighted sum of each output's loss on its
    targets (y a list in output order, or a dict by output name)."""
    names = _output_names(model)
    targets = [y[n] for n in names] if isinstance(y, dict) else list(y)
    outputs = [pred[n] for n in names] if isinstance(pred, dict) else list(pred)
    if isinstance(sample_weight, dict):
        unknown = set(sample_weight) - set(names)
        if unknown:
            raise ValueError(f"sample_weight names {sorted(unknown)}, not outputs of the "
                             f"model ({names})")
        weights = [sample_weight.get(n) for n in names]
    elif isinstance(sample_weight, (list, tuple)):
        weights = list(sample_weight)
    else:
        weights = [sample_weight] * len(names)
    total, terms = None, []
    for (loss, weight), target, output, w in zip(model._output_losses, targets, outputs,
                                                weights):
        if loss is None:
            continue
        term = loss(target, output) if w is None else loss(target, output, sample_weight=w)
        if term.dtype not in (float32, float64):    # (16-bit losses sum in float32)
            term = cast(term, float32)
        term = term * weight
        terms.append(term)
        if total is not None and total.dtype != term.dtype:
            total, term = cast(total, float64), cast(term, float64)
        total = term if total is None else total + term
    model._output_terms = terms     # (for the per-output logs of this step)
    return total


def _require_compiled(model, what, y=None):
    if getattr(model, "optimizer", None) is None or \
            getattr(model, "_loss_tracker", None) is None:
        raise RuntimeError(f"call model.compile(optimizer, loss) before model.{what}")
    if y is not None and _several(y) and getattr(model, "_output_losses", None) is None:
        raise ValueError(f"{what}: the model has one output, but y holds "
                         f"{len(y)} targets (a list or dict)")


def _total_loss(model, y, pred, weights=None):
    """The compiled loss (each example's weighted by `weights`, fit's
    sample_weight and class_weight) plus the model's losses (regularizers,
    add_loss), in float32 (float64 if a term is): under a mixed policy the
    terms come in several dtypes, and a 16-bit loss would be scaled and
    reported with 16-bit precision."""
    extra = list(getattr(model, "losses", []) or [])
    if model.loss is None:
        if not extra:
            raise ValueError(f"{model.name} has no loss: give compile a loss, add terms "
                             "with add_loss, or write a train_step of its own")
        compiled = []
    else:
        if y is None:
            raise ValueError(f"{model.name}: the compiled loss needs targets (y is "
                             "missing)")
        compiled = [model.loss(y, pred) if weights is None else
                    model.loss(y, pred, sample_weight=weights)]
    return _summed(compiled + extra)


def _track_loss(model, loss, x):
    """The epoch's loss is the mean over examples, as Keras reports it: each
    batch's mean loss weighted by its size."""
    first = _first_leaf(x)
    model._loss_tracker.update_state(loss, sample_weight=float(first.shape[0]))
    terms = getattr(model, "_output_terms", None)
    if terms:
        for (_, tracker), term in zip(model._output_trackers, terms):
            tracker.update_state(term, sample_weight=float(first.shape[0]))
        model._output_terms = None


def _first_leaf(x):
    """The first tensor of x (several inputs: a list or dict of them)."""
    if isinstance(x, dict):
        return _first_leaf(next(iter(x.values())))
    if isinstance(x, (list, tuple)):
        return _first_leaf(x[0])
    return x


def _several(x):
    """Whether x holds several inputs (a dict, or a list or tuple of
    arrays or tensors) rather than one array written as nested lists."""
    return isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) > 0 and
                                   all(isinstance(v, (Tensor, np.ndarray, dict, RaggedTensor))
                                       for v in x))


def _inputs_structure(x, fn):
    """fn over each input of x, keeping a list/tuple/dict of several."""
    if isinstance(x, dict):
        return {k: _inputs_structure(v, fn) for k, v in x.items()}
    if _several(x):
        return [_inputs_structure(v, fn) for v in x]
    return fn(x)


def _update_metrics(model, y, pred, weights=None):
    """The compiled metrics (none without targets); a Keras mask on the output (a padded
    sequence's) weighs the entries of the metrics that take weights, as
    Keras does; the weighted metrics (compile's weighted_metrics) take the
    examples' weights too (sample_weight and class_weight)."""
    if y is None:
        return
    names = _output_names(model) if getattr(model, "_output_losses", None) else None
    if names is not None:     # (several outputs: each metric measures its own)
        targets = [y[n] for n in names] if isinstance(y, dict) else list(y)
        outputs = [pred[n] for n in names] if isinstance(pred, dict) else list(pred)
        if isinstance(weights, dict):
            per_output = [weights.get(n) for n in names]
        elif isinstance(weights, (list, tuple)):
            per_output = list(weights)
        else:
            per_output = [weights] * len(names)
        for m in model.compiled_metrics:
            w = per_output[m._output_index] if getattr(m, "_weighted", False) else None
            if w is None:
                m.update_state(targets[m._output_index], outputs[m._output_index])
            else:
                m.update_state(targets[m._output_index], outputs[m._output_index],
                               sample_weight=w)
        return
    mask = getattr(pred, "_keras_mask", None) if isinstance(pred, Tensor) else None
    for m in model.compiled_metrics:
        w = weights if getattr(m, "_weighted", False) else None
        if mask is not None and isinstance(m, (metrics_module.MeanMetricWrapper,
                                               metrics_module.SparseCategoricalAccuracy)):
            if w is not None:  # (each example's weight on each of its entries)
                w = convert_to_tensor(w)
                if len(w.shape) < len(mask.shape):
                    w = reshape(w, [-1] + [1] * (len(mask.shape) - len(w.shape)))
                w = cast(mask, w.dtype) * w
            else:
                w = mask
        if w is None:
            m.update_state(y, pred)
        else:
            m.update_state(y, pred, sample_weight=w)


def _forward(model, x, training):
    """model(x) in a step: a Sequential model whose first layers run on the
    host (text preprocessing) got x through them already (_model_inputs)."""
    if getattr(model, "_host_prefix", None) and model._host_prefix():
        threads = model.__dict__.setdefault("_skip_host", set())
        me = threading.get_ident()
        threads.add(me)
        try:
            return model(x, training=training)
        finally:
            threads.discard(me)
    return model(x, training=training)


def _model_inputs(model, x):
    """A batch's inputs for a step: through the model's host layers first,
    eagerly (strings become numbers there)."""
    if getattr(model, "_host_prefix", None) and model._host_prefix():
        if isinstance(x, _Inputs):
            x = x.arrays
        x = _inputs_structure(x, _step_input)
        if "_build_input_shape" not in model.__dict__ and isinstance(x, Tensor):
            # (what model.save writes: the strings the model takes)
            model._build_input_shape, model._build_input_dtype = tuple(x.shape), x.dtype.name
        return model._run_host_prefix(x)
    return x


def _train(model, x, y, weights):
    """The built-in step: forward, the loss, the update, the metrics."""
    optimizer = model.optimizer
    with GradientTape() as tape:
        pred = _forward(model, x, True)
        loss = _total_loss(model, y, pred, weights)
        scaled = optimizer._scale_loss(loss)
    variables = model.trainable_variables
    grads = optimizer._unscale_gradients(tape.gradient(scaled, variables))
    optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
    _track_loss(model, loss, x)
    _update_metrics(model, y, pred, weights)
    return loss


def _make_train_function(model):
    def step(x, y, weights=None):
        return _train(model, x, y, weights)
    return _compiled(model, step)


def _compiled(model, step):
    """The step compiled (unless run_eagerly). RaggedTensor inputs trace
    with their rows as tensors (one trace per batch size); a model that
    needs their row lengths while tracing (a recurrent layer pads the
    rows to the longest) runs such batches eagerly, as Keras'
    run_eagerly, after one warning."""
    if model.run_eagerly:
        return step
    compiled = function(step, autograph=False)
    compiled._retrace_advice = (
        "The training loop compiles its step once per batch shape: batches of many "
        "shapes (sequences of many lengths) each compile again; pad them to a few "
        "lengths (Dataset.padded_batch, bucket_by_sequence_length, "
        "keras.utils.pad_sequences).")

    def run(x, *rest):
        if model.__dict__.get("_ragged_eager"):
            leaves = _leaf_list(x.arrays if isinstance(x, _Inputs) else x)
            if any(isinstance(leaf, RaggedTensor) for leaf in leaves):
                return step(x, *rest)
        try:
            return compiled(x, *rest)
        except RowsUnknownError as e:
            model.__dict__["_ragged_eager"] = True
            warnings.warn(f"the model needs the row lengths of its RaggedTensor input while "
                          f"compiling ({e}); its steps on ragged batches run eagerly: pad "
                          "the inputs (to_tensor, padded_batch) for compiled steps",
                          stacklevel=4)
            return step(x, *rest)
    return run


def _make_test_function(model):
    def step(x, y, weights=None):
        pred = _forward(model, x, False)
        _track_loss(model, _total_loss(model, y, pred, weights), x)
        _update_metrics(model, y, pred, weights)
        return pred
    return _compiled(model, step)


# --- Keras' pieces for a train_step of one's own -------------------------------

class _CompiledMetrics(list):
    """compile's metrics (a list of them), with Keras 2's MetricsContainer
    methods a custom train_step calls: update_state(y, y_pred,
    sample_weight) (the weights go to the weighted metrics), reset_state."""

    def __init__(self, model, metrics):
        super().__init__(metrics)
        self._model = model

    @property
    def metrics(self):
        return list(self)

    def update_state(self, y_true, y_pred, sample_weight=None):
        _update_metrics(self._model, y_true, y_pred, sample_weight)

    def reset_state(self):
        for m in self:
            m.reset_state()

    reset_states = reset_state


class _CompiledLoss:
    """Keras 2's model.compiled_loss(y, y_pred, sample_weight=None,
    regularization_losses=None): the compiled loss plus the given
    regularization terms; the "loss" metric takes it."""

    def __init__(self, model):
        self._model = model

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        model = self._model
        terms = []
        if model.loss is not None:
            terms.append(model.loss(y_true, y_pred) if sample_weight is None else
                         model.loss(y_true, y_pred, sample_weight=sample_weight))
        terms += list(regularization_losses or [])
        if not terms:
            raise ValueError(f"{model.name}.compiled_loss: compile was given no loss")
        total = _summed(terms)
        _track_loss(model, total, y_pred)
        return total

    @property
    def metrics(self):
        return [self._model._loss_tracker]


def _summed(terms):
    """The terms' sum in float32 (float64 if a term is): under a mixed
    policy they come in several dtypes."""
    terms = [convert_to_tensor(t) for t in terms]
    wide = float64 if any(t.dtype == float64 for t in terms) else float32
    total = None
    for term in terms:
        if term.dtype.is_floating and term.dtype != wide:
            term = cast(term, wide)
        total = term if total is None else total + term
    return total


def model_metrics(model):
    """Keras' model.metrics: the loss tracker and compile's metrics (once
    compiled), then the Metric objects the model holds as attributes."""
    out = []
    if getattr(model, "_loss_tracker", None) is not None:
        out.append(model._loss_tracker)
        out += [tracker for _, tracker in getattr(model, "_output_trackers", [])]
        out += list(model.compiled_metrics)
    out += _added_metrics(model)
    seen = {id(m) for m in out}
    for value in vars(model).values():
        for m in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(m, metrics_module.Metric) and id(m) not in seen:
                seen.add(id(m))
                out.append(m)
    return out


def metrics_result(model):
    """Keras' get_metrics_result: each metric's result by name."""
    out = {}
    for m in model.metrics:
        result = m.result()
        if isinstance(result, dict):
            out.update(result)
        else:
            out[m.name] = result
    return out


def _batch_size_of(x):
    first = _first_leaf(x)
    return first.shape[0] if hasattr(first, "shape") else None


def default_train_step(model, data):
    """Keras' Model.train_step: forward, the compiled loss and the model's
    losses, gradients applied, the metrics updated; their results."""
    from .keras_utils import unpack_x_y_sample_weight
    _train(model, *unpack_x_y_sample_weight(data))
    return metrics_result(model)


def default_test_step(model, data):
    from .keras_utils import unpack_x_y_sample_weight
    x, y, weights = unpack_x_y_sample_weight(data)
    pred = _forward(model, x, False)
    _track_loss(model, _total_loss(model, y, pred, weights), x)
    _update_metrics(model, y, pred, weights)
    return metrics_result(model)


def overrides(model, name):
    """Whether the model's class has its own train_step / test_step /
    predict_step (Keras then runs it instead of the built-in step)."""
    base = _MODEL_CLASS[0]
    return getattr(type(model), name, None) is not getattr(base, name)


# kiln.layers.Model (set by kiln.layers, which sits above this module) and
# kiln.keras_h5 (which registers itself: it sits above too).
_MODEL_CLASS = [None]
_keras_h5 = None


def _custom_function(model, name):
    """The model's own step, compiled (autograph on, as Keras' tf.function;
    eager with run_eagerly), taking Keras' `data`: x, (x, y) or
    (x, y, sample_weight)."""
    method = getattr(model, name)

    def step(data):
        # (a Sequential's host layers ran on the batch already: the step's
        # own self(x) skips them, as the built-in step's does)
        with _host_layers_done(model):
            return method(data)
    step.__name__ = name
    return step if model.run_eagerly else function(step)


class _host_layers_done:
    """While a step runs on a batch that went through the model's host
    layers (text preprocessing) already."""

    def __init__(self, model):
        self.model = model
        self.on = bool(getattr(model, "_host_prefix", None) and model._host_prefix())

    def __enter__(self):
        if self.on:
            self.model.__dict__.setdefault("_skip_host", set()).add(threading.get_ident())

    def __exit__(self, *exc):
        if self.on:
            self.model.__dict__["_skip_host"].discard(threading.get_ident())


def _ordered(model, logs):
    """Logs in Keras' order: model.metrics' names first (what metrics_names
    lists), then the rest as given (a compiled step returns its dict's keys
    sorted)."""
    names = [m.name for m in model.metrics]
    out = {k: logs[k] for k in names if k in logs}
    out.update((k, v) for k, v in logs.items() if k not in out)
    return out


def _step_data(x, y, w):
    """A batch as Keras hands it to a train_step: x alone without targets
    and weights, else (x, y) or (x, y, sample_weight)."""
    args = _step_arguments(x, y, w)
    if y is None and w is None:
        # (several inputs alone: (x,), so unpacking does not read them as (x, y))
        return (args[0],) if isinstance(args[0], (list, tuple)) else args[0]
    return tuple(args)


def _python_logs(result, what):
    """A step's returned dict as logs: numbers (a metric's array stays an
    array); nested dicts flattened."""
    if not isinstance(result, dict):
        raise TypeError(f"{what} must return a dict of logs (name -> value), got "
                        f"{type(result).__name__}")
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out.update(_python_logs(value, what))
            continue
        if isinstance(value, metrics_module.Metric):
            value = value.result()
        value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        out[key] = float(value) if value.ndim == 0 else value
    return out


def _reset_all(model):
    """Keras' reset_metrics at an epoch's start: the built-in trackers and
    compiled metrics, and every metric of model.metrics (which a subclass
    may override with its own trackers)."""
    every = {id(m): m for m in model_metrics(model) + list(model.metrics)}
    for m in every.values():
        m.reset_state()


def _added_metrics(model):
    """The Mean trackers of add_metric, the model's and its layers'."""
    out, seen = [], set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        out.extend(layer.__dict__.get("_added_metrics", {}).values())
        for _, inner in layer.__dict__.get("_layers", []):
            visit(inner)
    visit(model)
    return out


def _logs(model, prefix=""):
    out = {prefix + "loss": float(model._loss_tracker.result())}
    for name, tracker in getattr(model, "_output_trackers", []):
        out[prefix + name] = float(tracker.result())
    for m in list(model.compiled_metrics) + _added_metrics(model):
        result = m.result()
        value = np.asarray(result.numpy() if hasattr(result, "numpy") else result)
        # (a metric per class, F1Score's default: its array, as Keras logs it)
        out[prefix + m.name] = float(value) if value.ndim == 0 else value
    return out



def _as_array(value, what):
    """NumPy arrays of the data: one array, or a list or dict of them for a
    model with several inputs (the same number of samples each)."""
    if isinstance(value, _Inputs):
        return value
    if _several(value):
        arrays = _inputs_structure(value, lambda v: v if isinstance(v, RaggedTensor) else
                                   np.asarray(v.numpy() if isinstance(v, Tensor) else v))
        counts = {len(a) for a in _leaf_list(arrays)}
        if len(counts) != 1:
            raise ValueError(f"{what}: the inputs have different numbers of samples: "
                             f"{sorted(counts)}")
        return _Inputs(arrays)
    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, RaggedTensor):  # (batches are its rows, x[index])
        return value
    return np.asarray(value)


def _leaf_list(x):
    if isinstance(x, dict):
        return [leaf for v in x.values() for leaf in _leaf_list(v)]
    if isinstance(x, list):
        return [leaf for v in x for leaf in _leaf_list(v)]
    return [x]


class _Inputs:
    """Several inputs' arrays (a list or dict), sliced together."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __len__(self):
        return len(_leaf_list(self.arrays)[0])

    def __getitem__(self, index):
        return _inputs_structure(self.arrays, lambda a: a[index])


def _class_weights(class_weight, what):
    """{class index: weight} as Keras takes it, or None."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise ValueError(f"{what}: class_weight must be a dict {{class: weight}}")
    return {int(k): float(v) for k, v in class_weight.items()}


def _dataset_of_iterator(iterator, what):
    """A Python generator of (x, y[, weight]) batches as a Dataset, as
    Keras' fit takes one: the element structure and dtypes from its first
    batch (floats as float32), the batch extent open; iterating again goes
    on where the generator is (its batches are drawn once, across epochs)."""
    from . import nest
    try:
        first = next(iterator)
    except StopIteration:
        raise ValueError(f"{what}: the generator yields no batches") from None

    def tuples(value):   # (lists of inputs as tuples, the structure from_generator walks)
        if isinstance(value, (list, tuple)):
            return tuple(tuples(v) for v in value)
        if isinstance(value, dict):
            return {k: tuples(v) for k, v in value.items()}
        return value

    def spec(value):   # (every extent open: batches may be padded to other lengths)
        a = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
        dtype = "float32" if a.dtype.kind == "f" else a.dtype
        return TensorSpec((None,) * a.ndim, dtype)
    first = tuples(first)
    signature = nest.map_structure(spec, first)
    pending = [first]

    def batches():
        while pending:
            yield pending.pop()
        for batch in iterator:
            yield tuples(batch)
    return Dataset.from_generator(batches, output_signature=signature)


class _Batches:
    """Batches of (x, y) NumPy arrays (shuffled each epoch if asked), or of
    a Dataset that yields (x, y) batches."""

    def __init__(self, x, y, batch_size, shuffle, what, steps=None, steps_name="steps",
                 sample_weight=None, class_weight=None):
        # A PyDataset (Sequence) is read anew each epoch, its first `steps`
        # batches when steps are fewer, as Keras' adapter does (an
        # ImageDataGenerator's flow with steps_per_epoch = len(x) // batch).
        sequence = hasattr(x, "_as_kiln_dataset")
        if sequence:
            x = x._as_kiln_dataset(shuffle)
        if inspect.isgenerator(x) or (hasattr(x, "__next__") and not isinstance(
                x, (Dataset, Tensor, np.ndarray, list, tuple, dict))):
            if y is not None:
                raise ValueError(f"{what}: y must be None when x is a generator (it yields "
                                 "(x, y) or (x, y, weight) batches)")
            x = _dataset_of_iterator(x, what)
        self.dataset = x if isinstance(x, Dataset) else None
        self.class_weight = _class_weights(class_weight, what)
        # Batches per epoch: all (None while a dataset's count is unknown),
        # or `steps` (Keras' steps_per_epoch): a new pass each epoch when
        # the data holds exactly that many batches, else one pass that goes
        # on across epochs (needed for a repeated dataset).
        self.limit = None if steps is None else int(steps)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"{what}: {steps_name} must be >= 1, got {steps}")
        self._running = None
        self.exhausted = False  # (ran out of data with a step limit)
        if self.dataset is not None:
            if y is not None or sample_weight is not None:
                raise ValueError(f"{what}: y and sample_weight must be None when x is a "
                                 "Dataset (it yields (x, y) or (x, y, weight) batches)")
            self.w = None
            count = self.dataset._cardinality()
            if count == Dataset.INFINITE and self.limit is None:
                raise ValueError(f"{what}: the dataset repeats forever; pass {steps_name}")
            self._fresh_passes = self.limit is not None and (count == self.limit or
                                                             sequence and count >= 0)
            self.steps = self.limit or (count if count >= 0 else None)
            return
        self.x = _as_array(x, what)
        # (no targets: a model trained by add_loss or its own train_step)
        self.y = None if y is None else _as_array(y, what)
        if isinstance(self.y, _Inputs) and self.class_weight is not None:
            raise ValueError(f"{what}: class_weight is for a model with one output (give "
                             "sample_weight instead)")
        if self.y is None and self.class_weight is not None:
            raise ValueError(f"{what}: class_weight needs targets (y)")
        if self.y is not None and len(self.x) != len(self.y):
            raise ValueError(f"{what}: x has {len(self.x)} samples but y has "
                             f"{len(self.y)}")
        if _several(sample_weight):
            # (several outputs: one weight array per output, a list or dict)
            self.w = _Inputs(_inputs_structure(sample_weight, lambda v: np.asarray(
                v.numpy() if isinstance(v, Tensor) else v, np.float32)))
            if any(a.ndim < 1 or len(a) != len(self.x) for a in _leaf_list(self.w.arrays)):
                raise ValueError(f"{what}: each output's sample_weight must hold one weight "
                                 f"per sample ({len(self.x)}, or one row of weights per "
                                 "sample: per time step)")
        else:
            self.w = None if sample_weight is None else \
                np.asarray(_as_array(sample_weight, what), np.float32)
            if self.w is not None and (self.w.ndim < 1 or len(self.w) != len(self.x)):
                raise ValueError(f"{what}: sample_weight must hold one weight per sample "
                                 f"({len(self.x)}, or one row of weights per sample: per "
                                 f"time step), got shape {self.w.shape}")
        # (With steps and no batch_size, an epoch covers the data in that
        # many batches, as Keras does.)
        self.batch_size = int(batch_size or (math.ceil(len(self.x) / self.limit)
                                             if self.limit else 32))
        self.shuffle = shuffle
        batches = math.ceil(len(self.x) / self.batch_size)
        self._fresh_passes = self.limit == batches
        self.steps = self.limit or batches

    def __iter__(self):
        """One epoch's batches. With a step limit: the next `limit` of one
        pass that goes on across epochs; running out of data ends the
        epoch and, as in Keras, the training (`exhausted`, with a
        warning)."""
        if self.limit is None:
            count = 0
            for batch in self._epoch():
                count += 1
                yield batch
            if not count and self.dataset is not None and self.steps != 0:
                # (a generator gives its batches once: a later epoch has none)
                self.exhausted = True
                warnings.warn("the input ran out of data: this epoch had no batches; "
                              "interrupting training (a Python generator yields its "
                              "batches once: make it endless and pass steps_per_epoch)",
                              stacklevel=3)
            return
        if self._running is None or self._fresh_passes:
            self._running = self._epoch()
        for k in range(self.limit):
            batch = next(self._running, None)
            if batch is None:
                self.exhausted = True
                warnings.warn(f"the input ran out of data after {k} of the "
                              f"{self.limit} steps of this epoch; interrupting "
                              "training: make the dataset longer (repeat()) or "
                              "pass fewer steps", stacklevel=3)
                return
            yield batch

    def _epoch(self):
        if self.dataset is not None:
            count = 0
            for batch in self.dataset:
                if not isinstance(batch, (list, tuple)):  # (x alone: no targets)
                    batch = (batch,)
                if len(batch) not in (1, 2, 3):
                    raise ValueError("a Dataset given to fit/evaluate must yield x, "
                                     "(x, y) pairs or (x, y, sample_weight) triples")
                count += 1
                yield self._weighted(*batch) if len(batch) > 1 else \
                    self._weighted(batch[0], None)
            if self.steps is None:
                self.steps = count  # (known after the first epoch, as in Keras)
            return
        n = len(self.x)
        order = np.arange(n)
        if self.shuffle:
            # Reproducible under kiln.random.set_seed.
            np.random.default_rng(random._op_seed(None)).shuffle(order)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            yield self._weighted(self.x[index], None if self.y is None else self.y[index],
                                 None if self.w is None else self.w[index])

    def _weighted(self, x, y, w=None):
        """(x, y, weights or None): the sample weights times the class
        weights of the labels (integer labels, or one-hot rows)."""
        if self.class_weight is not None:
            if y is None:
                raise ValueError("class_weight needs targets (the batches have no y)")
            labels = np.asarray(y.numpy() if isinstance(y, Tensor) else y)
            if labels.ndim > 1 and labels.shape[-1] > 1:
                labels = labels.argmax(-1)
            labels = labels.reshape(len(labels), -1)[:, 0].astype(np.int64)
            unknown = set(np.unique(labels).tolist()) - set(self.class_weight)
            if unknown:
                raise ValueError(f"class_weight has no weight for the classes "
                                 f"{sorted(unknown)}")
            cw = np.array([self.class_weight[c] for c in labels], np.float32)
            if w is not None:
                w = np.asarray(w.numpy() if isinstance(w, Tensor) else w, np.float32)
                cw = cw.reshape(cw.shape + (1,) * (w.ndim - 1)) * w   # (per time step too)
            w = cw
        return x, y, w


def _split_validation(x, y, validation_split, what):
    """The last `validation_split` of (x, y) held out, as Keras does."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"{what}: validation_split must be in (0, 1), got "
                         f"{validation_split}")
    if isinstance(x, Dataset):
        raise ValueError(f"{what}: validation_split needs arrays, not a Dataset "
                         "(pass validation_data)")
    x, y = _as_array(x, what), _as_array(y, what)
    cut = int(len(x) * (1.0 - validation_split))
    return x[:cut], y[:cut], (x[cut:], y[cut:])


def _validation_parts(data):
    """fit's validation_data as (x, y, sample_weight): Keras' (x, y) or
    (x, y, sample_weight) tuple, or a Dataset (y and weights inside)."""
    if not isinstance(data, (list, tuple)):
        return data, None, None
    if len(data) not in (2, 3):
        raise ValueError("fit: validation_data must be (x, y), (x, y, sample_weight) or a "
                         f"Dataset; got a {type(data).__name__} of {len(data)} items")
    return data[0], data[1], data[2] if len(data) == 3 else None


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
        callbacks=None, validation_split=0.0, validation_data=None,
        shuffle=True, initial_epoch=0, validation_batch_size=None,
        steps_per_epoch=None, validation_steps=None, sample_weight=None, class_weight=None,
        validation_freq=1):
    _require_compiled(model, "fit", y)
    if isinstance(validation_freq, numbers.Integral):
        if validation_freq < 1:
            raise ValueError(f"fit: validation_freq must be >= 1, got {validation_freq}")
        validates = lambda epoch: (epoch + 1) % validation_freq == 0   # noqa: E731
    else:
        chosen = {int(e) for e in validation_freq}
        validates = lambda epoch: epoch + 1 in chosen   # noqa: E731
    verbose = 1 if verbose == "auto" else int(verbose)
    if validation_split:
        x, y, validation_data = _split_validation(x, y, validation_split, "fit")
        if sample_weight is not None:
            # (Keras splits the weights too: validation is weighted by its part.)
            cut = len(x)
            sample_weight = _as_array(sample_weight, "fit")
            validation_data += (sample_weight[cut:],)
            sample_weight = sample_weight[:cut]
    batches = _Batches(x, y, batch_size, shuffle, "fit", steps_per_epoch, "steps_per_epoch",
                       sample_weight, class_weight)
    if isinstance(validation_data, Dataset) and validation_steps is None and \
            validation_data._cardinality() == Dataset.INFINITE:
        raise ValueError("fit: the validation dataset repeats forever; pass validation_steps")
    custom = overrides(model, "train_step")
    if model._train_function is None:
        model._train_function = _custom_function(model, "train_step") if custom \
            else _make_train_function(model)
    history = History()
    callbacks = list(callbacks or [])
    # Keras' progress display is a callback: the caller's ProgbarLogger, or
    # one of fit's own (it prints nothing at verbose=0).
    # (First, as tf.keras puts it: "Epoch n/N" before the others' messages.)
    if not any(isinstance(c, callbacks_module.ProgbarLogger) for c in callbacks):
        callbacks.insert(0, callbacks_module.ProgbarLogger())
    cbs = callbacks_module.CallbackList(callbacks + [history], model)
    params = {"epochs": epochs, "steps": batches.steps, "verbose": verbose}
    for c in cbs.callbacks:
        c.params = dict(params)
    model.stop_training = False
    model._resume_epoch = None
    model._fit_validates = validation_data is not None   # (callbacks: validation_freq)
    cbs.on_train_begin()
    if model._resume_epoch is not None:   # (BackupAndRestore found a backup)
        initial_epoch = max(initial_epoch, model._resume_epoch)
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        _reset_all(model)
        done, last, raw = 0, {}, None
        for step, (bx, by, bw) in enumerate(batches, 1):
            cbs.on_train_batch_begin(step - 1)
            if custom:   # (the model's own step: its dict is the logs)
                raw = model._train_function(_step_data(_model_inputs(model, bx), by, bw))
                last = None
            else:
                model._train_function(*_step_arguments(_model_inputs(model, bx), by, bw))
            done = step
            if cbs.wants_batch_end:
                if custom:
                    last = _ordered(model, _python_logs(raw, "train_step"))
                logs = dict(last) if custom else _logs(model)
                cbs.on_train_batch_end(step - 1, logs)
                if model.stop_training:   # (a callback stopped it mid-epoch)
                    break
        if batches.exhausted and not done:
            break   # (an epoch without data is not logged)
        if custom and done and last is None:
            last = _ordered(model, _python_logs(raw, "train_step"))
        logs = dict(last or {}) if custom else _logs(model)
        if validation_data is not None and validates(epoch):
            vx, vy, vw = _validation_parts(validation_data)
            val = evaluate(model, vx, vy, batch_size=validation_batch_size or batch_size,
                           verbose=0, return_dict=True, steps=validation_steps,
                           callbacks=cbs, sample_weight=vw)
            logs.update({"val_" + k: v for k, v in val.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training or batches.exhausted:
            break
    if epochs > initial_epoch:   # (Keras: the EMA weights become the model's)
        optimizers._innermost(model.optimizer).finalize_variable_values(
            model.trainable_weights)
    cbs.on_train_end()
    return history


def _step_input(value):
    return value if isinstance(value, RaggedTensor) else convert_to_tensor(value)


def _step_arguments(x, y, w):
    """A step's tensors: (x, y), and the weights when there are some; x
    may hold several inputs (a list or dict of tensors)."""
    if isinstance(x, _Inputs):
        x = x.arrays
    if isinstance(y, _Inputs):
        y = y.arrays
    if isinstance(w, _Inputs):
        w = w.arrays
    args = [_inputs_structure(x, _step_input),
            None if y is None else _inputs_structure(y, convert_to_tensor)]
    if w is not None:
        args.append(_inputs_structure(w, convert_to_tensor))
    return args


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto",
             return_dict=False, callbacks=None, steps=None, sample_weight=None):
    _require_compiled(model, "evaluate", y)
    verbose = 1 if verbose == "auto" else int(verbose)
    batches = _Batches(x, y, batch_size, False, "evaluate", steps,
                       sample_weight=sample_weight)
    custom = overrides(model, "test_step")
    if model._test_function is None:
        model._test_function = _custom_function(model, "test_step") if custom \
            else _make_test_function(model)
    _reset_all(model)
    # (fit passes its CallbackList: the on_test_* hooks fire in validation)
    cbs = callbacks if isinstance(callbacks, callbacks_module.CallbackList) else \
        callbacks_module.CallbackList(list(callbacks or []), model)
    cbs.on_test_begin()
    progress = _Bar(batches.steps, verbose)
    raw = None
    # (per-batch logs read every metric: only for a display or a callback
    # that wants them)
    wants = cbs.wants("on_test_batch_end")
    current = lambda: _ordered(model, _python_logs(raw, "test_step")) if custom \
        else _logs(model)   # noqa: E731
    for step, (bx, by, bw) in enumerate(batches, 1):
        progress.done = step
        cbs.on_test_batch_begin(step - 1)
        if custom:
            raw = model._test_function(_step_data(_model_inputs(model, bx), by, bw))
        else:
            model._test_function(*_step_arguments(_model_inputs(model, bx), by, bw))
        if progress.dynamic or wants:
            logs = current()
            if progress.dynamic:
                progress.update(step, logs)
            cbs.on_test_batch_end(step - 1, dict(logs))
        else:
            cbs.on_test_batch_end(step - 1, None)
    logs = current() if not custom or raw is not None else {}
    cbs.on_test_end(dict(logs))
    progress.finish(logs)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _one_batch(model, x, y, return_dict, what, train, sample_weight=None,
               class_weight=None):
    """train_on_batch / test_on_batch: one step on one batch; the loss
    (and metrics) of that batch."""
    _require_compiled(model, what, y)
    name = "train_step" if train else "test_step"
    custom = overrides(model, name)
    if train and model._train_function is None:
        model._train_function = _custom_function(model, name) if custom \
            else _make_train_function(model)
    if not train and model._test_function is None:
        model._test_function = _custom_function(model, name) if custom \
            else _make_test_function(model)
    _reset_all(model)
    step = model._train_function if train else model._test_function
    x = _as_array(x, what)
    y = None if y is None else _as_array(y, what)
    w = None if sample_weight is None else np.asarray(_as_array(sample_weight, what), np.float32)
    if class_weight is not None:
        x, y, w = _Batches(x, y, len(x), False, what, sample_weight=w,
                           class_weight=class_weight)._weighted(x, y, w)
    if custom:
        logs = _ordered(model, _python_logs(step(_step_data(_model_inputs(model, x), y, w)),
                                            name))
    else:
        step(*_step_arguments(_model_inputs(model, x), y, w))
        logs = _logs(model)
    if return_dict:
        return logs
    return list(logs.values()) if len(logs) > 1 else logs["loss"]


def train_on_batch(model, x, y, return_dict=False, sample_weight=None, class_weight=None):
    return _one_batch(model, x, y, return_dict, "train_on_batch", True, sample_weight,
                      class_weight)


def test_on_batch(model, x, y, return_dict=False, sample_weight=None):
    return _one_batch(model, x, y, return_dict, "test_on_batch", False, sample_weight)


def summary(model, print_fn=None):
    """Keras' table: each layer's name and type, output shape (known once
    the model has run) and parameter count, then the totals."""
    print_fn = print_fn or print
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "_output_shape", None)
        shape_text = "?" if shape is None else str((None,) + tuple(shape[1:]))
        count = sum(int(np.prod(v.shape, dtype=np.int64)) for v in layer.variables)
        rows.append((f"{layer.name} ({type(layer).__name__})", shape_text, str(count)))
    trainable = sum(int(np.prod(v.shape, dtype=np.int64)) for v in model.trainable_variables)
    total = sum(int(np.prod(v.shape, dtype=np.int64)) for v in model.variables)
    widths = [max(len(r[i]) for r in rows + [("Layer (type)", "Output Shape", "Param #")])
              for i in range(3)]
    widths = [max(w, m) for w, m in zip(widths, (28, 24, 10))]
    line = "_" * (sum(widths) + 4)
    fmt = lambda r: f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}"
    print_fn(f'Model: "{model.name}"')
    print_fn(line)
    print_fn(fmt(("Layer (type)", "Output Shape", "Param #")))
    print_fn("=" * len(line))
    for i, r in enumerate(rows):
        print_fn(fmt(r))
        print_fn(line if i < len(rows) - 1 else "=" * len(line))
    if not rows:
        print_fn("=" * len(line))
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn(line)


def get_weights(model):
    return [np.array(v.numpy()) for v in model.variables]


def set_weights(model, weights):
    variables = model.variables
    if len(weights) != len(variables):
        raise ValueError(f"set_weights: {len(weights)} arrays for {len(variables)} "
                         "variables")
    for v, w in zip(variables, weights):
        w = np.asarray(w)
        if tuple(w.shape) != tuple(v.shape):
            raise ValueError(f"set_weights: {v.name} has shape {v.shape}, got "
                             f"{w.shape}")
        v.assign(w.astype(v.dtype.as_numpy_dtype))


def save_weights(model, filepath, overwrite=True, save_format=None):
    """A checkpoint of the model's weights, or Keras' HDF5 layout for a
    name ending in .h5 / .hdf5 (or save_format="h5"): Keras 3's for
    .weights.h5, Keras 2's otherwise (kiln.keras_h5)."""
    if _keras_h5.is_h5(filepath, save_format):
        return _keras_h5.save_weights(model, filepath, overwrite)
    from .train import Checkpoint
    return Checkpoint(model=model).write(str(filepath))


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Restores what save_weights wrote; an HDF5 file in either of Keras'
    layouts (written by Kiln or by TensorFlow's Keras) by its contents."""
    if _keras_h5.is_hdf5_file(filepath):
        return _keras_h5.load_weights(model, filepath, by_name, skip_mismatch)
    if by_name or skip_mismatch:
        raise ValueError("load_weights: by_name and skip_mismatch apply to HDF5 files only")
    from .train import Checkpoint
    return Checkpoint(model=model).restore(str(filepath))


def training_checkpoint(model):
    """A Checkpoint of the model and its compiled optimizer (what
    BackupAndRestore writes)."""
    from .train import Checkpoint
    objects = {"model": model}
    if getattr(model, "optimizer", None) is not None:
        objects["optimizer"] = model.optimizer
    return Checkpoint(**objects)
