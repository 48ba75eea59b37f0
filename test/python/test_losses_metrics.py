"""Keras losses and metrics of issue 17 (item 4) against NumPy
transcriptions of Keras' formulas; sample weights and reductions."""

import numpy as np
import pytest

import kiln
from kiln import losses, metrics

RNG = np.random.default_rng(8)
EPS = 1e-7
LOGITS = RNG.normal(size=(6, 4))
PROBS = 1 / (1 + np.exp(-LOGITS))
BINARY = (RNG.uniform(size=(6, 4)) > 0.5).astype(np.float64)
SOFT = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
ONE_HOT = np.eye(4)[RNG.integers(0, 4, 6)]
TARGET = RNG.normal(size=(6, 4))


def _bce(y, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p + EPS) + (1 - y) * np.log(1 - p + EPS)).mean(-1)


CASES = {
    # name: (loss object, y_true, y_pred, per-example NumPy losses)
    "bce_probs": (losses.BinaryCrossentropy(), BINARY, PROBS, _bce(BINARY, PROBS)),
    "bce_logits": (losses.BinaryCrossentropy(from_logits=True), BINARY, LOGITS,
                   (np.maximum(LOGITS, 0) - LOGITS * BINARY
                    + np.log1p(np.exp(-np.abs(LOGITS)))).mean(-1)),
    "bce_smoothing": (losses.BinaryCrossentropy(label_smoothing=0.2), BINARY, PROBS,
                      _bce(BINARY * 0.8 + 0.1, PROBS)),
    "hinge": (losses.Hinge(), BINARY, LOGITS,
              np.maximum(1 - np.where(BINARY == 0, -1, 1) * LOGITS, 0).mean(-1)),
    "squared_hinge": (losses.SquaredHinge(), BINARY, LOGITS,
                      (np.maximum(1 - np.where(BINARY == 0, -1, 1) * LOGITS, 0) ** 2).mean(-1)),
    "categorical_hinge": (losses.CategoricalHinge(), ONE_HOT, LOGITS,
                          np.maximum(((1 - ONE_HOT) * LOGITS).max(-1)
                                     - (ONE_HOT * LOGITS).sum(-1) + 1, 0)),
    "kld": (losses.KLDivergence(), SOFT, np.roll(SOFT, 1, axis=0),
            (np.clip(SOFT, EPS, 1) * np.log(np.clip(SOFT, EPS, 1)
                                            / np.clip(np.roll(SOFT, 1, axis=0), EPS, 1))).sum(-1)),
    "log_cosh": (losses.LogCosh(), TARGET, LOGITS, np.log(np.cosh(LOGITS - TARGET)).mean(-1)),
    "mae": (losses.MeanAbsoluteError(), TARGET, LOGITS, np.abs(LOGITS - TARGET).mean(-1)),
    "mse": (losses.MeanSquaredError(), TARGET, LOGITS, ((LOGITS - TARGET) ** 2).mean(-1)),
    "msle": (losses.MeanSquaredLogarithmicError(), np.abs(TARGET), PROBS,
             ((np.log(np.maximum(PROBS, EPS) + 1) - np.log(np.abs(TARGET) + 1)) ** 2).mean(-1)),
    "mape": (losses.MeanAbsolutePercentageError(), TARGET, LOGITS,
             100 * (np.abs(TARGET - LOGITS) / np.abs(TARGET)).mean(-1)),
    "poisson": (losses.Poisson(), np.abs(TARGET), PROBS,
                (PROBS - np.abs(TARGET) * np.log(PROBS + EPS)).mean(-1)),
    "cosine": (losses.CosineSimilarity(), TARGET, LOGITS,
               -(TARGET * LOGITS).sum(-1) / np.linalg.norm(TARGET, axis=-1)
               / np.linalg.norm(LOGITS, axis=-1)),
    "cce_smoothing": (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                      ONE_HOT, LOGITS,
                      -((ONE_HOT * 0.9 + 0.025) * (LOGITS - np.log(np.exp(LOGITS).sum(
                          1, keepdims=True)))).sum(-1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_matches_keras_formula(name):
    loss, y, p, per_example = CASES[name]
    np.testing.assert_allclose(float(loss(y, p)), per_example.mean(), rtol=1e-6)
    w = RNG.uniform(size=6)
    np.testing.assert_allclose(float(loss(y, p, sample_weight=w)),
                               (per_example * w).mean(), rtol=1e-6)
    fn = type(loss).fn
    np.testing.assert_allclose(fn(kiln.constant(y), kiln.constant(p), **loss.options).numpy(),
                               per_example, rtol=1e-6)


def test_reductions_and_functional_forms():
    per = ((LOGITS - TARGET) ** 2).mean(-1)
    none = losses.MeanSquaredError(reduction="none")(TARGET, LOGITS)
    np.testing.assert_allclose(none.numpy(), per, rtol=1e-10)
    np.testing.assert_allclose(float(losses.MeanSquaredError(reduction="sum")(TARGET, LOGITS)),
                               per.sum(), rtol=1e-10)
    np.testing.assert_allclose(losses.mse(TARGET, LOGITS).numpy(), per, rtol=1e-10)
    np.testing.assert_allclose(losses.kld(SOFT, SOFT).numpy(), np.zeros(6), atol=1e-12)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="mean")
    for name in ("binary_crossentropy", "hinge", "kld", "logcosh", "categorical_hinge"):
        assert isinstance(losses.get(name), losses.Loss)


def _clip(p):
    return np.clip(p, EPS, 1)


NUMPY_LOSSES = {  # the same losses in NumPy (Keras' formulas), batch means
    "BinaryCrossentropy": lambda y, x: (np.maximum(x, 0) - x * y
                                        + np.log1p(np.exp(-np.abs(x)))).mean(),
    "LogCosh": lambda y, x: np.log(np.cosh(x - y)).mean(),
    "Hinge": lambda y, x: np.maximum(1 - np.where(y == 0, -1, 1) * x, 0).mean(),
    "KLDivergence": lambda y, x: (_clip(y) * np.log(_clip(y) / _clip(x))).sum(-1).mean(),
}


def test_loss_gradients_match_finite_differences():
    y = kiln.constant(BINARY)
    for loss in (losses.BinaryCrossentropy(from_logits=True), losses.LogCosh(),
                 losses.Hinge(), losses.KLDivergence()):
        x0 = PROBS.copy() if isinstance(loss, losses.KLDivergence) else LOGITS.copy()
        target = kiln.constant(SOFT) if isinstance(loss, losses.KLDivergence) else y
        x = kiln.constant(x0)
        with kiln.GradientTape() as tape:
            tape.watch(x)
            value = loss(target, x)
        g = tape.gradient(value, x).numpy()
        fd = np.zeros_like(x0)
        for i in range(x0.size):
            e = np.zeros_like(x0)
            e.flat[i] = 1e-6
            fd.flat[i] = (float(loss(target, x0 + e)) - float(loss(target, x0 - e))) / 2e-6
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8, err_msg=loss.name)
        # Central differences of NumPy's formula: independent of Kiln's forward pass.
        numpy_loss = NUMPY_LOSSES[type(loss).__name__]
        y_np = SOFT if isinstance(loss, losses.KLDivergence) else BINARY
        numeric = np.zeros_like(x0)
        for i in range(x0.size):
            e = np.zeros_like(x0)
            e.flat[i] = 1e-6
            numeric.flat[i] = (numpy_loss(y_np, x0 + e) - numpy_loss(y_np, x0 - e)) / 2e-6
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8, err_msg=loss.name)


def test_accuracy_precision_recall():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.6, 0.4, 0.8, 0.1, 0.7, 0.55, 0.2])
    m = metrics.Accuracy()
    m.update_state([1, 2, 3, 4], [1, 2, 0, 4])
    assert float(m.result()) == 0.75
    precision, recall = metrics.Precision(), metrics.Recall()
    for metric in (precision, recall):
        metric.update_state(y[:4], p[:4])
        metric.update_state(y[4:], p[4:])
    predicted = p > 0.5
    tp = (predicted & (y == 1)).sum()
    assert float(precision.result()) == pytest.approx(tp / predicted.sum())
    assert float(recall.result()) == pytest.approx(tp / (y == 1).sum())
    precision.reset_state()
    assert float(precision.result()) == 0.0
    assert float(metrics.Precision(thresholds=0.75)(y, p)) == pytest.approx(1.0)


def _exact_auc(y, p):
    """The probability that a positive scores above a negative (ties 1/2)."""
    pos, neg = p[y == 1], p[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auc_approximates_the_exact_roc_area():
    y = (RNG.uniform(size=500) > 0.4).astype(np.int64)
    p = np.clip(0.35 * y + RNG.uniform(size=500) * 0.65, 0, 1)
    auc = metrics.AUC()
    for i in range(0, 500, 100):  # accumulated over batches
        auc.update_state(y[i:i + 100], p[i:i + 100])
    assert float(auc.result()) == pytest.approx(_exact_auc(y, p), abs=5e-3)

    @kiln.function
    def update(yt, yp):
        compiled.update_state(yt, yp)
    compiled = metrics.AUC(num_thresholds=50)
    update(kiln.constant(y), kiln.constant(p))
    assert float(compiled.result()) == pytest.approx(_exact_auc(y, p), abs=2e-2)
    model = kiln.Sequential([kiln.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "auc"])
    logs = model.evaluate(p[:, None].astype(np.float32), y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy", "precision", "recall", "auc"}


def test_more_metrics_against_numpy():
    scores = RNG.normal(size=(8, 5))
    labels = RNG.integers(0, 5, 8)
    scores[0, labels[0]] = scores[0].max()          # (in the top 1)
    scores[1, :] = 0.5                              # all tied: in any top k
    rank = (scores > scores[np.arange(8), labels][:, None]).sum(1)
    for k in (1, 2, 3):
        m = metrics.SparseTopKCategoricalAccuracy(k=k)
        m.update_state(labels, scores)
        np.testing.assert_allclose(float(m.result()), (rank < k).mean(), rtol=1e-6)
        one_hot = metrics.TopKCategoricalAccuracy(k=k)
        one_hot.update_state(np.eye(5)[labels], scores)
        np.testing.assert_allclose(float(one_hot.result()), (rank < k).mean(), rtol=1e-6)
    np.testing.assert_array_equal(kiln.math.in_top_k(labels, scores, 2).numpy(), rank < 2)
    # TensorFlow's rule: a target out of range, or a row with a non-finite
    # score, is not in the top k.
    np.testing.assert_array_equal(
        kiln.math.in_top_k([0, 7, -1, 1], [[1.0, -np.inf, 2.0], [3.0, 2.0, 1.0],
                                           [3.0, 2.0, 1.0], [np.nan, 5.0, 1.0]], 2).numpy(),
        [False, False, False, False])
    with pytest.raises(kiln.errors.InvalidArgumentError, match="needs targets"):
        kiln.math.in_top_k([0, 1], [1.0, 2.0], 1)
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(TARGET[:3], LOGITS[:3])
    rmse.update_state(TARGET[3:], LOGITS[3:])
    np.testing.assert_allclose(float(rmse.result()), np.sqrt(((TARGET - LOGITS) ** 2).mean()),
                               rtol=1e-6)
    total = metrics.Sum()
    total.update_state([1.0, 2.0])
    total.update_state([3.0], sample_weight=[2.0])
    assert float(total.result()) == 9.0
    rows = metrics.Sum()  # a weight per sample, along the trailing dimensions
    rows.update_state([[1.0, 1.0], [2.0, 2.0]], sample_weight=[1.0, 0.0])
    assert float(rows.result()) == 2.0
    with pytest.raises(TypeError, match="Poisson: unexpected keyword"):
        metrics.Poisson(from_logits=True)
    assert type(metrics.KLDivergence()).__name__ == "KLDivergence"
    cos = metrics.CosineSimilarity()
    cos.update_state(TARGET, LOGITS)
    np.testing.assert_allclose(float(cos.result()), -CASES["cosine"][3].mean(), rtol=1e-6)
    bce = metrics.BinaryCrossentropy(from_logits=True)
    bce.update_state(BINARY, LOGITS)
    np.testing.assert_allclose(float(bce.result()), CASES["bce_logits"][3].mean(), rtol=1e-6)
    # By name in compile.
    x = scores.astype(np.float32)
    model = kiln.Sequential([kiln.layers.Dense(5)])
    model.compile(optimizer="sgd", loss="mse",
                  metrics=["root_mean_squared_error", "mape", "kld", "log_cosh"])
    history = model.fit(x, x, epochs=1, verbose=0)
    assert {"root_mean_squared_error", "mape", "kld", "log_cosh"} <= set(history.history)
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["sparse_top_k_categorical_accuracy"])
    history = model.fit(x, labels, epochs=1, verbose=0)
    assert 0.0 <= history.history["sparse_top_k_categorical_accuracy"][0] <= 1.0
    with pytest.raises(TypeError, match="targets must be integers"):
        kiln.math.in_top_k(np.zeros(2, np.float32), scores[:2], 1)


def test_sparse_categorical_crossentropy_ignore_class():
    # Segmentation with void pixels (255): their losses are 0 and the mean
    # is over the other pixels (Keras 3's mask), eagerly, compiled and in fit.
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=(2, 3, 4))
    labels[0, 0, :2] = labels[1, 2, 3] = 255
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = labels != 255
    picked = np.take_along_axis(log_p, np.where(valid, labels, 0)[..., None], -1)[..., 0]
    per_pixel = np.where(valid, -picked, 0.0)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    np.testing.assert_allclose(float(loss(labels, logits)), per_pixel.sum() / valid.sum(),
                               rtol=1e-5)
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels, logits, from_logits=True,
                                               ignore_class=255).numpy(), per_pixel,
        rtol=1e-5, atol=1e-7)
    summed = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255,
                                                  reduction="sum")
    np.testing.assert_allclose(float(summed(labels, logits)), per_pixel.sum(), rtol=1e-5)
    compiled = kiln.function(lambda y, p: loss(y, p))(labels, logits)
    np.testing.assert_allclose(float(compiled), per_pixel.sum() / valid.sum(), rtol=1e-5)
    # The gradient reaches only the kept pixels.
    t = kiln.constant(logits)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        value = loss(labels, t)
    g = tape.gradient(value, t).numpy()
    assert np.all(g[~valid] == 0) and np.all(np.isfinite(g))
    probs = np.exp(log_p)
    want = (probs - np.eye(5)[np.where(valid, labels, 0)]) * valid[..., None] / valid.sum()
    np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-7)
    model = kiln.Sequential([kiln.Input((3, 4, 5)), kiln.layers.Dense(5)])
    model.compile(optimizer="sgd", loss=loss)
    model.fit(logits, labels, epochs=1, verbose=0)


def test_correlation_metrics_match_their_definitions():
    # Keras 3's documented example, then random rows against scipy's
    # Pearson r and the textbook concordance coefficient (population
    # moments; Keras adds 1e-7 to the denominators).
    from scipy import stats
    t, p = [[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]]
    np.testing.assert_allclose(metrics.concordance_correlation(t, p).numpy(),
                               [0.97560976, 0.98765432], rtol=1e-5)
    pcc = metrics.PearsonCorrelation()
    pcc.update_state(t, p)
    np.testing.assert_allclose(float(pcc.result()), 0.9966996338993913, rtol=1e-5)
    ccc = metrics.ConcordanceCorrelation()
    ccc.update_state(t, p)
    np.testing.assert_allclose(float(ccc.result()), 0.9816320385426076, rtol=1e-5)
    y = RNG.normal(size=(6, 40))
    x = 0.7 * y + RNG.normal(size=(6, 40)) * 0.5 + 0.3
    want_r = [stats.pearsonr(a, b)[0] for a, b in zip(y, x)]
    want_c = [2 * np.cov(a, b, bias=True)[0, 1] / (a.var() + b.var() + (a.mean() - b.mean()) ** 2)
              for a, b in zip(y, x)]
    np.testing.assert_allclose(metrics.pearson_correlation(y, x).numpy(), want_r, rtol=1e-6)
    np.testing.assert_allclose(metrics.concordance_correlation(y, x).numpy(), want_c,
                               rtol=1e-6)
    np.testing.assert_allclose(metrics.pearson_correlation(y.T, x.T, axis=0).numpy(), want_r,
                               rtol=1e-6)
    # As compile's metric names, in a compiled fit.
    model = kiln.Sequential([kiln.Input((3,)), kiln.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse",
                  metrics=["pearson_correlation", "concordance_correlation"])
    xs = RNG.normal(size=(32, 3)).astype(np.float32)
    history = model.fit(xs, xs.sum(axis=1, keepdims=True), epochs=1, batch_size=8, verbose=0)
    assert set(history.history) >= {"pearson_correlation", "concordance_correlation"}


def test_mean_relative_error_and_crossentropy_over_another_axis():
    """Keras' MeanRelativeError (|y - p| / normalizer, 0 where the
    normalizer is 0, weighted over batches) and CategoricalCrossentropy's
    axis= (the classes along axis 1), against NumPy."""
    metric = kiln.keras.metrics.MeanRelativeError(normalizer=[1.0, 3.0, 2.0, 0.0])
    metric.update_state([1, 3, 2, 3], [2, 4, 6, 8])
    assert float(metric.result()) == pytest.approx((1 + 1 / 3 + 2 + 0) / 4)
    metric.update_state([[1, 3, 2, 3]], [[2, 4, 6, 8]], sample_weight=[[0, 1, 1, 0]])
    assert float(metric.result()) == pytest.approx((1 + 1 / 3 + 2 + 1 / 3 + 2) / 6)

    rng = np.random.default_rng(5)
    logits = rng.random((3, 4, 5)).astype(np.float32)
    labels = rng.random((3, 4, 5)).astype(np.float32)
    labels /= labels.sum(1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    want = -(labels * np.log(probs)).sum(1)
    loss = kiln.keras.losses.CategoricalCrossentropy(axis=1)
    assert float(loss(labels, probs)) == pytest.approx(want.mean(), rel=1e-5)
    np.testing.assert_allclose(kiln.keras.losses.categorical_crossentropy(
        labels, logits, from_logits=True, axis=1).numpy(), want, rtol=1e-5)
