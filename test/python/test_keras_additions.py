"""Keras 3 pieces added late: focal, Dice and Tversky losses; F-beta, R2,
IoU and confusion-count metrics; InverseTimeDecay and CosineDecayRestarts;
the Identity initializer; LambdaCallback, TerminateOnNaN, History; and the
layers GaussianDropout, UnitNormalization, ZeroPadding1D/3D, Cropping3D,
SpatialDropout3D, Conv1DTranspose, InputLayer. Each against its formula
written out in NumPy (or plain Python)."""

import math

import numpy as np
import pytest

import kiln

layers = kiln.layers
RNG = np.random.default_rng(53)
EPS = 1e-7


def test_focal_dice_and_tversky_losses():
    y = (RNG.uniform(size=(6, 4)) < 0.4).astype(np.float32)
    p = RNG.uniform(0.05, 0.95, size=(6, 4)).astype(np.float32)
    pc = np.clip(p, EPS, 1 - EPS)
    bce = -(y * np.log(pc + EPS) + (1 - y) * np.log(1 - pc + EPS))
    p_t = y * p + (1 - y) * (1 - p)
    focal = (1 - p_t) ** 2.0 * bce
    np.testing.assert_allclose(kiln.losses.BinaryFocalCrossentropy()(y, p).numpy(),
                               focal.mean(axis=-1).mean(), rtol=1e-5)
    balanced = (y * 0.3 + (1 - y) * 0.7) * (1 - p_t) ** 1.5 * bce
    got = kiln.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3,
                                              gamma=1.5)(y, p).numpy()
    np.testing.assert_allclose(got, balanced.mean(axis=-1).mean(), rtol=1e-5)
    logits = RNG.normal(size=(6, 4)).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 6)]
    soft = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    sc = np.clip(soft, EPS, 1 - EPS)
    want = (0.25 * (1 - sc) ** 2 * (-onehot * np.log(sc))).sum(-1).mean()
    got = kiln.losses.CategoricalFocalCrossentropy(from_logits=True)(onehot, logits).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    inter = (y * p).sum()
    np.testing.assert_allclose(kiln.losses.Dice()(y, p).numpy(),
                               1 - 2 * inter / (y.sum() + p.sum() + EPS), rtol=1e-5)
    missed, extra = ((1 - p) * y).sum(), (p * (1 - y)).sum()
    np.testing.assert_allclose(kiln.losses.Tversky(alpha=0.7, beta=0.3)(y, p).numpy(),
                               1 - inter / (inter + 0.7 * missed + 0.3 * extra + EPS),
                               rtol=1e-5)
    assert isinstance(kiln.losses.get("binary_focal_crossentropy"),
                      kiln.losses.BinaryFocalCrossentropy)


def test_fbeta_r2_iou_and_count_metrics():
    y = (RNG.uniform(size=(40, 3)) < 0.5).astype(np.float32)
    p = RNG.uniform(size=(40, 3)).astype(np.float32)
    pred = (p > 0.5).astype(np.float32)
    tp, fp, fn = (pred * y).sum(0), (pred * (1 - y)).sum(0), ((1 - pred) * y).sum(0)
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    for beta in (1.0, 2.0):
        f = (1 + beta ** 2) * prec * rec / (beta ** 2 * prec + rec)
        m = kiln.metrics.FBetaScore(beta=beta, threshold=0.5)
        m.update_state(y[:20], p[:20])
        m.update_state(y[20:], p[20:])          # (accumulated over updates)
        np.testing.assert_allclose(m.result().numpy(), f, rtol=1e-5)
        macro = kiln.metrics.FBetaScore(average="macro", beta=beta, threshold=0.5)
        macro.update_state(y, p)
        np.testing.assert_allclose(macro.result().numpy(), f.mean(), rtol=1e-5)
        weighted = kiln.metrics.FBetaScore(average="weighted", beta=beta, threshold=0.5)
        weighted.update_state(y, p)
        np.testing.assert_allclose(weighted.result().numpy(),
                                   (f * y.sum(0)).sum() / y.sum(), rtol=1e-5)
    micro = kiln.metrics.F1Score(average="micro", threshold=0.5)
    micro.update_state(y, p)
    P, R = tp.sum() / (tp.sum() + fp.sum()), tp.sum() / (tp.sum() + fn.sum())
    np.testing.assert_allclose(micro.result().numpy(), 2 * P * R / (P + R), rtol=1e-5)
    # R2 per output, uniform and variance weighted.
    t = RNG.normal(size=(30, 2)).astype(np.float32)
    q = t + RNG.normal(scale=0.3, size=t.shape).astype(np.float32)
    raw = 1 - ((t - q) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0)
    r2 = kiln.metrics.R2Score(class_aggregation=None)
    r2.update_state(t, q)
    np.testing.assert_allclose(r2.result().numpy(), raw, rtol=1e-4)
    vw = kiln.metrics.R2Score(class_aggregation="variance_weighted")
    vw.update_state(t, q)
    var = ((t - t.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(vw.result().numpy(), (raw * var).sum() / var.sum(), rtol=1e-4)
    # IoU from the confusion matrix.
    labels, guess = RNG.integers(0, 4, 50), RNG.integers(0, 4, 50)
    cm = np.zeros((4, 4))
    np.add.at(cm, (labels, guess), 1)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    miou = kiln.metrics.MeanIoU(4)
    miou.update_state(labels, guess)
    np.testing.assert_allclose(miou.result().numpy(), (inter / union).mean(), rtol=1e-5)
    iou = kiln.metrics.IoU(4, target_class_ids=[1, 3])
    iou.update_state(labels, guess)
    np.testing.assert_allclose(iou.result().numpy(), (inter / union)[[1, 3]].mean(), rtol=1e-5)
    hot = kiln.metrics.OneHotMeanIoU(4)
    hot.update_state(np.eye(4)[labels], np.eye(4)[guess] * 0.9)
    np.testing.assert_allclose(hot.result().numpy(), (inter / union).mean(), rtol=1e-5)
    binary = kiln.metrics.BinaryIoU(target_class_ids=[1], threshold=0.3)
    truth, score = (RNG.uniform(size=30) < 0.5).astype(np.float32), RNG.uniform(size=30)
    hit = score > 0.3
    np.testing.assert_allclose(binary(truth, score).numpy(),
                               (hit & (truth > 0.5)).sum() / (hit | (truth > 0.5)).sum(),
                               rtol=1e-5)
    counts = [kiln.metrics.TruePositives(), kiln.metrics.FalsePositives(),
              kiln.metrics.TrueNegatives(), kiln.metrics.FalseNegatives()]
    for c in counts:
        c.update_state(truth, score)
    want = [((score > 0.5) & (truth > 0.5)).sum(), ((score > 0.5) & (truth < 0.5)).sum(),
            ((score <= 0.5) & (truth < 0.5)).sum(), ((score <= 0.5) & (truth > 0.5)).sum()]
    assert [float(c.result().numpy()) for c in counts] == want


def _sgdr(step, initial, first, t_mul, m_mul, alpha):
    """Cosine decay with restarts, period by period."""
    period, start, peak = first, 0.0, 1.0
    while step >= start + period:
        start += period
        period *= t_mul
        peak *= m_mul
    done = (step - start) / period
    return initial * ((1 - alpha) * 0.5 * peak * (1 + math.cos(math.pi * done)) + alpha)


def test_schedules_and_identity_initializer():
    s = kiln.optimizers.schedules.InverseTimeDecay(0.1, 10, 0.5)
    for step in (0, 5, 25):
        np.testing.assert_allclose(float(s(step).numpy()), 0.1 / (1 + 0.5 * step / 10),
                                   rtol=1e-6)
    stair = kiln.optimizers.schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True)
    np.testing.assert_allclose(float(stair(25).numpy()), 0.1 / (1 + 0.5 * 2), rtol=1e-6)
    for t_mul, m_mul in ((2.0, 0.5), (1.0, 0.8), (1.5, 1.0)):
        r = kiln.optimizers.schedules.CosineDecayRestarts(0.2, 10, t_mul, m_mul, alpha=0.1)
        for step in (0, 3, 9, 10, 17, 29, 30, 55, 71):
            np.testing.assert_allclose(float(r(step).numpy()),
                                       _sgdr(step, 0.2, 10, t_mul, m_mul, 0.1), rtol=2e-5,
                                       atol=1e-7)
    np.testing.assert_array_equal(kiln.initializers.Identity(2.0)((3, 4)).numpy(),
                                  2 * np.eye(3, 4))
    with pytest.raises(ValueError, match="2-D"):
        kiln.initializers.Identity()((2, 2, 2))


def test_lambda_callback_terminate_on_nan_and_history():
    x = np.ones((32, 2), np.float32)
    y = np.ones((32, 1), np.float32)
    model = kiln.Sequential([kiln.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer=kiln.optimizers.SGD(1e30), loss="mse")   # (diverges: inf, NaN)
    seen = []
    watch = kiln.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(float(logs["loss"])))
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0,
                        callbacks=[watch, kiln.callbacks.TerminateOnNaN()])
    assert isinstance(history, kiln.callbacks.History)
    assert not math.isfinite(seen[-1]) and all(math.isfinite(v) for v in seen[:-1])
    assert len(seen) < 8          # (stopped at the first bad batch, not after 3 epochs)
    assert kiln.callbacks.LambdaCallback(on_test_end=print).on_test_end is print


def test_small_layers():
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(layers.ZeroPadding1D((1, 2))(x).numpy(),
                                  np.pad(x, [(0, 0), (1, 2), (0, 0)]))
    v = RNG.normal(size=(1, 4, 5, 6, 2)).astype(np.float32)
    np.testing.assert_array_equal(layers.ZeroPadding3D((1, 0, 2))(v).numpy(),
                                  np.pad(v, [(0, 0), (1, 1), (0, 0), (2, 2), (0, 0)]))
    np.testing.assert_array_equal(
        layers.Cropping3D(((1, 0), (0, 2), (1, 1)))(v).numpy(), v[:, 1:, :3, 1:5])
    unit = layers.UnitNormalization()(x).numpy()
    np.testing.assert_allclose(np.linalg.norm(unit, axis=-1), 1.0, rtol=1e-5)
    big = np.ones((4000, 5), np.float32)
    gd = layers.GaussianDropout(0.2, seed=3)
    noisy = gd(big, training=True).numpy()
    np.testing.assert_allclose(noisy.mean(), 1.0, atol=0.02)
    np.testing.assert_allclose(noisy.var(), 0.2 / 0.8, rtol=0.05)
    np.testing.assert_array_equal(gd(big).numpy(), big)
    sd = layers.SpatialDropout3D(0.5, seed=4)(np.ones((3, 2, 2, 2, 8), np.float32),
                                               training=True).numpy()
    per_channel = sd.transpose(0, 4, 1, 2, 3).reshape(3, 8, -1)   # (each channel whole)
    assert ((per_channel == 0).all(-1) | (per_channel == 2).all(-1)).all()
    # Conv1DTranspose 'valid' against the scatter it is: out[i s + k] +=
    # kernel[k] @ x[i]; 'same' is conv1d's adjoint.
    layer = layers.Conv1DTranspose(4, 3, strides=2, use_bias=False)
    out = layer(x).numpy()
    kernel = layer.kernel.numpy()                     # (width, filters, in)
    want = np.zeros((2, (5 - 1) * 2 + 3, 4))
    for i in range(5):
        for k in range(3):
            want[:, i * 2 + k] += x[:, i] @ kernel[k].T
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    same = layers.Conv1DTranspose(4, 3, strides=2, padding="same", use_bias=False)
    back = same(x).numpy()
    assert back.shape == (2, 10, 4)
    u = RNG.normal(size=(2, 10, 4)).astype(np.float32)
    forward = kiln.nn.conv1d(u, same.kernel.numpy(), stride=2, padding="SAME").numpy()
    np.testing.assert_allclose(np.sum(forward * x), np.sum(u * back), rtol=1e-4)
    model = kiln.Sequential([layers.InputLayer(shape=(3,)), layers.Dense(2)])
    assert len(model.variables) == 2 and [type(l).__name__ for l in model.layers] == ["Dense"]
    with pytest.raises(ValueError, match="only come first"):
        kiln.Sequential([layers.Dense(2), kiln.Input(shape=(3,))])


def test_depthwise_and_separable_conv1d_match_numpy():
    x = RNG.normal(size=(2, 9, 3)).astype(np.float32)
    dw = layers.DepthwiseConv1D(3, strides=2, depth_multiplier=2)
    y = dw(x).numpy()
    k = dw.depthwise_kernel.numpy()                       # (width, channels, multiplier)
    steps = (9 - 3) // 2 + 1
    want = np.zeros((2, steps, 3 * 2))
    for t in range(steps):
        patch = x[:, 2 * t:2 * t + 3]                     # [b, 3, c]
        want[:, t] = np.einsum("bkc,kcm->bcm", patch, k).reshape(2, 6)
    want += dw.bias.numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    sep = layers.SeparableConv1D(4, 3, padding="same", use_bias=False)
    out = sep(x).numpy()
    padded = np.pad(x, [(0, 0), (1, 1), (0, 0)])
    d = np.stack([np.einsum("bkc,kcm->bcm", padded[:, t:t + 3], sep.depthwise_kernel.numpy())
                  .reshape(2, -1) for t in range(9)], axis=1)
    np.testing.assert_allclose(out, d @ sep.pointwise_kernel.numpy()[0], rtol=1e-5, atol=1e-5)


def test_additive_attention_and_spectral_normalization():
    q = RNG.normal(size=(2, 4, 6)).astype(np.float32)
    v = RNG.normal(size=(2, 5, 6)).astype(np.float32)
    att = layers.AdditiveAttention()
    out, w = att([q, v], return_attention_scores=True)
    scale = att.scale.numpy()
    scores = (np.tanh(q[:, :, None, :] + v[:, None, :, :]) * scale).sum(-1)
    soft = np.exp(scores - scores.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    np.testing.assert_allclose(w.numpy(), soft, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.numpy(), soft @ v, rtol=1e-5, atol=1e-5)
    plain = layers.AdditiveAttention(use_scale=False)([q, v]).numpy()
    scores = np.tanh(q[:, :, None, :] + v[:, None, :, :]).sum(-1)
    soft = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(plain, (soft / soft.sum(-1, keepdims=True)) @ v, rtol=1e-5,
                               atol=1e-5)
    # Spectral normalization: the kernel's largest singular value goes to 1
    # over training calls; at inference the kernel is left alone.
    kiln.random.set_seed(7)        # (the same kernel whatever ran before)
    sn = layers.SpectralNormalization(layers.Dense(4, kernel_initializer="glorot_uniform"))
    x = RNG.normal(size=(3, 6)).astype(np.float32)
    sn(x)
    before = sn.layer.kernel.numpy().copy()
    sn(x)                                                 # (inference: untouched)
    np.testing.assert_array_equal(sn.layer.kernel.numpy(), before)
    # (the power iteration converges as (s2 / s1)^2 per call: slowly when the
    # two largest singular values are close, hence many calls and 1e-3)
    for _ in range(60):
        y = sn(x, training=True)
    np.testing.assert_allclose(np.linalg.svd(sn.layer.kernel.numpy(), compute_uv=False)[0],
                               1.0, rtol=1e-3)
    np.testing.assert_allclose(y.numpy(), x @ sn.layer.kernel.numpy() + sn.layer.bias.numpy(),
                               rtol=1e-5, atol=1e-6)


def _seeded_linear_model(optimizer):
    """Dense(1) on 3 features, its weights from seed 5, compiled for mse."""
    kiln.random.set_seed(5)
    model = kiln.Sequential([kiln.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path):
    # A fit interrupted after epoch 2 (an exception from a callback) leaves
    # a backup; a new fit of a fresh model restores weights, optimizer state
    # and the epoch and ends where an uninterrupted fit ends.
    x = RNG.normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype(np.float32)

    def make():
        return _seeded_linear_model(kiln.optimizers.Adam(0.05))
    straight = make()
    straight.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0)

    class Crash(kiln.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("power cut")
    backup = kiln.callbacks.BackupAndRestore(tmp_path / "backup")
    first = make()
    with pytest.raises(RuntimeError, match="power cut"):
        first.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                  callbacks=[backup, Crash()])
    assert (tmp_path / "backup" / "epoch.json").exists()
    second = make()
    epochs = []
    history = second.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                         callbacks=[kiln.callbacks.BackupAndRestore(tmp_path / "backup"),
                                    kiln.callbacks.LambdaCallback(
                                        on_epoch_begin=lambda e, logs: epochs.append(e))])
    assert epochs == [3, 4] and len(history.history["loss"]) == 2
    for a, b in zip(second.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "backup").exists()           # (deleted at the end)


def _keras_pr_auc(tp, fp, fn):
    """Keras' interpolate_pr_auc, transcribed."""
    n = len(tp)
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(np.maximum(dp, 0) > 0, dtp / np.maximum(dp, 0), 0.0)
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), p[:-1] / np.where(p[1:] > 0, p[1:], 1), 1.0)
        den = np.maximum(tp[1:] + fn[1:], 0)
        inc = np.where(den > 0, slope * (dtp + intercept * np.log(ratio)) / np.where(
            den > 0, den, 1), 0.0)
    assert n == len(fp)
    return inc.sum()


def test_pr_auc_and_rates_at_constraints():
    truth = (RNG.uniform(size=300) < 0.4).astype(np.float32)
    score = np.clip(truth * 0.3 + RNG.uniform(size=300) * 0.7, 0, 1).astype(np.float32)
    thresholds = np.array([-1e-7] + [(i + 1) / 199 for i in range(198)] + [1 + 1e-7])
    pred = score[:, None] > thresholds.astype(np.float32)[None, :]
    pos = truth[:, None] > 0.5
    tp, fp = (pred & pos).sum(0).astype(float), (pred & ~pos).sum(0).astype(float)
    tn, fn = (~pred & ~pos).sum(0).astype(float), (~pred & pos).sum(0).astype(float)
    pr = kiln.metrics.AUC(curve="PR")
    pr.update_state(truth, score)
    np.testing.assert_allclose(pr.result().numpy(), _keras_pr_auc(tp, fp, fn), rtol=1e-4)
    perfect = kiln.metrics.AUC(curve="PR")
    perfect.update_state(truth, truth * 0.8 + 0.1)
    np.testing.assert_allclose(perfect.result().numpy(), 1.0, rtol=1e-4)
    sens, spec = tp / (tp + fn), tn / (tn + fp)
    with np.errstate(invalid="ignore"):
        prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    cases = [(kiln.metrics.SensitivityAtSpecificity(0.8), spec, sens),
             (kiln.metrics.SpecificityAtSensitivity(0.9), sens, spec),
             (kiln.metrics.PrecisionAtRecall(0.7), sens, prec),
             (kiln.metrics.RecallAtPrecision(0.6), prec, sens)]
    for metric, constrained, dependent in cases:
        metric.update_state(truth, score)
        want = np.max(np.where(constrained >= metric.target, dependent, 0.0))
        np.testing.assert_allclose(metric.result().numpy(), want, rtol=1e-5)
    # class_id: that column of multi-label scores alone.
    wide_truth = np.stack([1 - truth, truth], axis=1)
    wide_score = np.stack([RNG.uniform(size=300).astype(np.float32), score], axis=1)
    one = kiln.metrics.PrecisionAtRecall(0.7, class_id=1)
    one.update_state(wide_truth, wide_score)
    np.testing.assert_allclose(one.result().numpy(),
                               np.max(np.where(sens >= 0.7, prec, 0.0)), rtol=1e-5)


def test_precision_recall_top_k_and_class_id():
    truth = (RNG.uniform(size=(50, 4)) < 0.3).astype(np.float32)
    score = RNG.uniform(size=(50, 4)).astype(np.float32)
    top2 = np.argsort(-score, axis=1)[:, :2]
    chosen = np.zeros_like(truth, bool)
    np.put_along_axis(chosen, top2, True, axis=1)
    tp = (chosen & (truth > 0)).sum()
    p = kiln.metrics.Precision(top_k=2)
    p.update_state(truth, score)
    np.testing.assert_allclose(p.result().numpy(), tp / chosen.sum(), rtol=1e-6)
    r = kiln.metrics.Recall(top_k=2)
    r.update_state(truth, score)
    np.testing.assert_allclose(r.result().numpy(), tp / truth.sum(), rtol=1e-6)
    c = kiln.metrics.Recall(class_id=2, thresholds=0.4)
    c.update_state(truth, score)
    col = truth[:, 2] > 0
    np.testing.assert_allclose(c.result().numpy(),
                               (col & (score[:, 2] > 0.4)).sum() / col.sum(), rtol=1e-6)
    both = kiln.metrics.Precision(top_k=1, class_id=0)
    both.update_state(truth, score)
    picked = np.argmax(score, axis=1) == 0
    np.testing.assert_allclose(both.result().numpy(),
                               (picked & (truth[:, 0] > 0)).sum() / max(picked.sum(), 1),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="class_id 7"):
        kiln.metrics.Recall(class_id=7).update_state(truth, score)


def _numpy_conv_nd(x, k, same=False):
    """Stride-1 cross-correlation of [b, *spatial, c] with (*window, c, o),
    VALID or SAME (TensorFlow's split: the extra pad after)."""
    window = k.shape[:-2]
    if same:
        x = np.pad(x, [(0, 0)] + [((w - 1) // 2, w // 2) for w in window] + [(0, 0)])
    out_shape = [n - w + 1 for n, w in zip(x.shape[1:-1], window)]
    out = np.zeros((x.shape[0], *out_shape, k.shape[-1]))
    for at in np.ndindex(*out_shape):
        patch = x[(slice(None),) + tuple(slice(a, a + w) for a, w in zip(at, window))]
        out[(slice(None),) + at] = np.tensordot(patch, k, axes=len(window) + 1)
    return out


def _numpy_conv_lstm(x, k, r, b, same):
    """Keras' ConvLSTM over [b, time, *spatial, c] in NumPy (stride 1):
    every step's h, and the last c."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = c = None
    want = []
    for t in range(x.shape[1]):
        zx = _numpy_conv_nd(x[:, t], k, same=same)
        if h is None:
            h = c = np.zeros(zx.shape[:-1] + (k.shape[-1] // 4,))
        z = zx + _numpy_conv_nd(h, r, same=True) + b
        zi, zf, zc, zo = np.split(z, 4, axis=-1)
        c = sig(zf) * c + sig(zi) * np.tanh(zc)
        h = sig(zo) * np.tanh(c)
        want.append(h)
    return want, c


@pytest.mark.parametrize("padding,backwards", [("valid", False), ("same", True)])
def test_conv_lstm_2d_matches_numpy(padding, backwards):
    x = RNG.normal(size=(2, 4, 5, 6, 2)).astype(np.float32)
    layer = layers.ConvLSTM2D(3, (3, 2), padding=padding, return_sequences=True,
                              return_state=True, go_backwards=backwards)
    seq, h_last, c_last = (t.numpy() for t in layer(x))
    k, r, b = layer.kernel.numpy(), layer.recurrent_kernel.numpy(), layer.bias.numpy()
    want, c = _numpy_conv_lstm(x[:, ::-1] if backwards else x, k, r, b, padding == "same")
    np.testing.assert_allclose(seq, np.stack(want, axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_last, want[-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c_last, c, rtol=1e-4, atol=1e-5)
    assert (b[3:6] == 1.0).all()                              # (the forget gate's bias)
    compiled = kiln.function(lambda v: layer(v)[0])(x).numpy()    # (one kiln.for)
    np.testing.assert_allclose(compiled, seq, rtol=1e-5, atol=1e-6)


def test_second_review_cases():
    # Spectral normalization passes gradients to the kernel (the normalized
    # value's, as Keras: the variable holds it), so fit trains it.
    sn = layers.SpectralNormalization(layers.Dense(2))
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    sn(x)
    with kiln.GradientTape() as tape:
        loss = kiln.reduce_sum(sn(x, training=True) ** 2)
    g = tape.gradient(loss, sn.layer.kernel)
    assert g is not None
    k = sn.layer.kernel.numpy()                   # (the normalized kernel)
    y = x @ k + sn.layer.bias.numpy()
    np.testing.assert_allclose(g.numpy(), 2 * x.T @ y, rtol=1e-4, atol=1e-5)
    # Per-class F1 in compile/fit (an array in the logs), R2 adjusted by
    # the unweighted rows.
    model = kiln.Sequential([kiln.Input(shape=(3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=[kiln.metrics.F1Score(), kiln.metrics.R2Score()])
    onehot = np.eye(2, dtype=np.float32)[RNG.integers(0, 2, 16)]
    hist = model.fit(RNG.normal(size=(16, 3)).astype(np.float32), onehot, epochs=2,
                     verbose=0).history
    assert np.shape(hist["f1_score"][0]) == (2,)
    r2 = kiln.metrics.R2Score(num_regressors=2)
    t = RNG.normal(size=(10, 1)).astype(np.float32)
    q = t + RNG.normal(scale=0.5, size=t.shape).astype(np.float32)
    r2.update_state(t, q, sample_weight=np.full(10, 3.0))
    raw = 1 - ((t - q) ** 2).sum() / ((t - t.mean()) ** 2).sum()
    np.testing.assert_allclose(r2.result().numpy(), 1 - (1 - raw) * 9 / 7, rtol=1e-4)
    # BinaryIoU counts a score equal to the threshold as positive; F-beta
    # predicts nothing for an all-zero row.
    b = kiln.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    np.testing.assert_allclose(b([1.0, 0.0], [0.5, 0.2]).numpy(), 1.0)
    f = kiln.metrics.FBetaScore()
    f.update_state(np.array([[0.0, 1.0]]), np.array([[0.0, 0.0]]))
    np.testing.assert_array_equal(f.result().numpy(), [0.0, 0.0])
    # Conv1DTranspose 'valid' with a stride above the kernel: n * stride steps.
    assert layers.Conv1DTranspose(2, 2, strides=3)(np.ones((1, 4, 1), np.float32)).shape == \
        (1, 12, 2)
    assert layers.Conv2DTranspose(2, 2, strides=3)(np.ones((1, 2, 2, 1), np.float32)).shape == \
        (1, 6, 6, 2)


def test_log_ndtr_float32_tail_and_low_contrast_ssim():
    sp = pytest.importorskip("scipy.special")
    x = np.linspace(-19.5, -10.5, 7).astype(np.float32)
    got = kiln.math.log_ndtr(x).numpy()
    np.testing.assert_allclose(got, sp.log_ndtr(x.astype(np.float64)), rtol=1e-5)
    t = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(t)
        y = kiln.math.log_ndtr(t)
    assert np.isfinite(tape.gradient(y, t).numpy()).all()
    # Low-contrast images, where c1 in the wrong place shows.
    from test_image import _numpy_ssim
    a = (0.5 + 0.01 * RNG.uniform(size=(1, 12, 12, 1))).astype(np.float32)
    b = (0.5 + 0.01 * RNG.uniform(size=(1, 12, 12, 1))).astype(np.float32)
    np.testing.assert_allclose(kiln.image.ssim(a, b, 1.0).numpy(), _numpy_ssim(a, b, 1.0),
                               rtol=1e-4)


def _numpy_roc_auc(truth, score, weights=None):
    """Keras' ROC AUC: trapezoids between its 200 thresholds."""
    thresholds = np.array([-1e-7] + [(i + 1) / 199 for i in range(198)] + [1 + 1e-7],
                          np.float32)
    w = np.ones_like(score) if weights is None else weights
    pred = score[:, None] > thresholds[None, :]
    pos = (truth > 0.5)[:, None]
    tp, fp = ((pred & pos) * w[:, None]).sum(0), ((pred & ~pos) * w[:, None]).sum(0)
    fn, tn = ((~pred & pos) * w[:, None]).sum(0), ((~pred & ~pos) * w[:, None]).sum(0)
    tpr, fpr = tp / np.maximum(tp + fn, 1e-30), fp / np.maximum(fp + tn, 1e-30)
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def test_multi_label_auc_logits_and_weights():
    truth = (RNG.uniform(size=(60, 3)) < 0.4).astype(np.float32)
    logits = (truth * 1.2 + RNG.normal(size=(60, 3))).astype(np.float32)
    score = 1 / (1 + np.exp(-logits))
    per_label = [_numpy_roc_auc(truth[:, k], score[:, k]) for k in range(3)]
    m = kiln.metrics.AUC(multi_label=True, from_logits=True)
    m.update_state(truth, logits)
    np.testing.assert_allclose(m.result().numpy(), np.mean(per_label), rtol=1e-4)
    weighted = kiln.metrics.AUC(multi_label=True, num_labels=3, label_weights=[1, 0, 3])
    weighted.update_state(truth, score)
    np.testing.assert_allclose(weighted.result().numpy(),
                               (per_label[0] + 3 * per_label[2]) / 4, rtol=1e-4)
    # Not multi-label: every entry pooled, per-example weights broadcast.
    w = RNG.uniform(0.5, 2, 60).astype(np.float32)
    pooled = kiln.metrics.AUC()
    pooled.update_state(truth, score, sample_weight=w)
    np.testing.assert_allclose(pooled.result().numpy(), _numpy_roc_auc(
        truth.ravel(), score.ravel(), np.repeat(w, 3)), rtol=1e-4)
    model = kiln.Sequential([kiln.Input(shape=(4,)), layers.Dense(3, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[kiln.metrics.AUC(multi_label=True)])
    model.fit(RNG.normal(size=(60, 4)).astype(np.float32), truth, epochs=1, verbose=0)


@pytest.mark.parametrize("rank,padding", [(1, "same"), (1, "valid"), (3, "same"),
                                          (3, "valid")])
def test_conv_lstm_1d_and_3d_match_numpy(rank, padding):
    spatial = {1: (7,), 3: (3, 4, 3)}[rank]
    window = {1: (3,), 3: (2, 3, 2)}[rank]
    x = RNG.normal(size=(2, 3, *spatial, 2)).astype(np.float32)
    cls = layers.ConvLSTM1D if rank == 1 else layers.ConvLSTM3D
    layer = cls(2, window, padding=padding, return_sequences=True, return_state=True)
    seq, h_last, c_last = (t.numpy() for t in layer(x))
    k, r, b = layer.kernel.numpy(), layer.recurrent_kernel.numpy(), layer.bias.numpy()
    assert k.shape == (*window, 2, 8) and r.shape == (*window, 2, 8)
    want, c = _numpy_conv_lstm(x, k, r, b, padding == "same")
    np.testing.assert_allclose(seq, np.stack(want, axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_last, want[-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c_last, c, rtol=1e-4, atol=1e-5)
    compiled = kiln.function(lambda v: layer(v)[0])(x).numpy()
    np.testing.assert_allclose(compiled, seq, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="spatial axes"):
        cls(2, window)(x[:, :, 0])


def test_auc_minoring_and_majoring_sums():
    """Keras' Riemann sums over the curve's points at the thresholds: the
    lower ('minoring') or higher ('majoring') neighbour's height times the
    step in x (ROC: tpr over fpr; PR: precision over recall)."""
    truth = (RNG.uniform(size=400) < 0.35).astype(np.float32)
    score = np.clip(truth * 0.25 + RNG.uniform(size=400) * 0.75, 0, 1).astype(np.float32)
    thresholds = np.array([-1e-7] + [(i + 1) / 29 for i in range(28)] + [1 + 1e-7])
    pred = score[:, None] > thresholds.astype(np.float32)[None, :]
    pos = truth[:, None] > 0.5
    tp, fp = (pred & pos).sum(0).astype(float), (pred & ~pos).sum(0).astype(float)
    tn, fn = (~pred & ~pos).sum(0).astype(float), (~pred & pos).sum(0).astype(float)
    rate = lambda a, b: np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)  # noqa: E731
    curves = {"ROC": (rate(fp, fp + tn), rate(tp, tp + fn)),
              "PR": (rate(tp, tp + fn), rate(tp, tp + fp))}
    for curve, (x, y) in curves.items():
        for method, pick in (("minoring", np.minimum), ("majoring", np.maximum)):
            m = kiln.metrics.AUC(num_thresholds=30, curve=curve, summation_method=method)
            m.update_state(truth, score)
            want = ((x[:-1] - x[1:]) * pick(y[:-1], y[1:])).sum()
            np.testing.assert_allclose(m.result().numpy(), want, rtol=1e-5)
    # The trapezoids lie between the two.
    values = []
    for method in ("minoring", "interpolation", "majoring"):
        m = kiln.metrics.AUC(num_thresholds=30, summation_method=method)
        m.update_state(truth, score)
        values.append(float(m.result()))
    assert values[0] < values[1] < values[2]
    with pytest.raises(ValueError, match="'careful_interpolation'"):
        kiln.metrics.AUC(summation_method="careful_interpolation")


def test_backup_and_restore_every_n_batches(tmp_path):
    # save_freq=3 with 4 batches an epoch: backups after batches 3, 6 (the
    # second of epoch 1), 9, ... A crash in epoch 2 after its first batch
    # leaves the backup from epoch 1's second batch (6 batches trained);
    # the resumed fit runs epoch 1 again from its start with those
    # weights, as Keras does: 6 + 4 * 3 batches in all.
    x = RNG.normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype(np.float32)

    def make():
        return _seeded_linear_model(kiln.optimizers.SGD(0.05))

    class Crash(kiln.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.seen = getattr(self, "seen", 0) + 1
            if self.seen == 8:
                raise RuntimeError("power cut")
    first = make()
    with pytest.raises(RuntimeError, match="power cut"):
        first.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
                  callbacks=[kiln.callbacks.BackupAndRestore(tmp_path / "b", save_freq=3),
                             Crash()])
    import json
    state = json.loads((tmp_path / "b" / "epoch.json").read_text())
    assert (state["next_epoch"], state["batch"]) == (1, 1)
    second = make()
    epochs = []
    second.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
               callbacks=[kiln.callbacks.BackupAndRestore(tmp_path / "b", save_freq=3),
                          kiln.callbacks.LambdaCallback(
                              on_epoch_begin=lambda e, logs: epochs.append(e))])
    assert epochs == [1, 2, 3]
    # The same 18 SGD steps in NumPy: batches 0, 1, 2, 3, 0, 1, then 3 epochs.
    model = make()
    w, b = (v.numpy().astype(np.float64) for v in model.trainable_variables)
    for i in [0, 1, 2, 3, 0, 1] + [0, 1, 2, 3] * 3:
        bx, by = x[8 * i:8 * i + 8].astype(np.float64), y[8 * i:8 * i + 8]
        err = bx @ w + b - by
        w, b = w - 0.05 * 2 * bx.T @ err / 8, b - 0.05 * 2 * err.mean(axis=0)
    got_w, got_b = (v.numpy() for v in second.trainable_variables)
    np.testing.assert_allclose(got_w, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_b, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="positive number of batches"):
        kiln.callbacks.BackupAndRestore(tmp_path / "c", save_freq=0)


def test_new_layers_and_optimizers_train_in_compiled_steps():
    # RandomGrayscale/AutoContrast, GroupQueryAttention and ConvLSTM1D inside
    # fit (one compiled step, batches of 6 and a last smaller one), with Lamb
    # (weight decay) and Adafactor: finite losses and weights that moved.
    rng = np.random.default_rng(31)
    x = rng.uniform(0, 255, size=(20, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 2, 20)
    aug = kiln.Sequential([kiln.Input((8, 8, 3)), layers.RandomGrayscale(0.5, seed=1),
                           layers.AutoContrast(), layers.Rescaling(1 / 255.0),
                           layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)])
    inp = kiln.Input((5, 8))
    att = layers.GroupQueryAttention(4, 4, 2)(inp, inp)
    gqa = kiln.Model(inp, layers.Dense(1)(layers.GlobalAveragePooling1D()(att)))
    conv = kiln.Sequential([kiln.Input((4, 6, 2)), layers.ConvLSTM1D(3, 3, padding="same"),
                            layers.Flatten(), layers.Dense(1)])
    cases = [(aug, kiln.optimizers.Adam(0.01),
              kiln.losses.SparseCategoricalCrossentropy(from_logits=True), x, y),
             (gqa, kiln.optimizers.Lamb(0.01, weight_decay=0.01), "mse",
              rng.normal(size=(20, 5, 8)).astype(np.float32),
              rng.normal(size=(20, 1)).astype(np.float32)),
             (conv, kiln.optimizers.Adafactor(0.01), "mse",
              rng.normal(size=(20, 4, 6, 2)).astype(np.float32),
              rng.normal(size=(20, 1)).astype(np.float32))]
    for model, optimizer, loss, inputs, targets in cases:
        model.compile(optimizer=optimizer, loss=loss)
        before = [w.copy() for w in model.get_weights()]
        history = model.fit(inputs, targets, batch_size=6, epochs=2, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
        assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
