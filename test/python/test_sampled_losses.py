"""Candidate samplers, sampled softmax and NCE (tf.random.*_candidate_
sampler, tf.nn.sampled_softmax_loss, tf.nn.nce_loss): the samplers'
frequencies against their distributions, the losses against their
formulas written out in NumPy, the sampled softmax over every class
against the full softmax cross-entropy, gradients against central
differences."""

import numpy as np
import pytest

import kiln
from conftest import central

RNG = np.random.default_rng(41)


def log_uniform(k, range_max):
    return np.log((k + 2.0) / (k + 1.0)) / np.log(range_max + 1.0)


def test_candidate_samplers():
    # Without `unique`: independent draws with P(k), expected count P * n.
    n, r = 20000, 30
    true = np.array([[0], [7], [29]])
    s = kiln.random.log_uniform_candidate_sampler(true, 1, n, False, r, seed=1)
    drawn = s.sampled_candidates.numpy()
    assert drawn.dtype == np.int64 and drawn.min() >= 0 and drawn.max() < r
    for k in range(r):
        p = log_uniform(k, r)
        assert abs(np.mean(drawn == k) - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1 / n
    np.testing.assert_allclose(s.true_expected_count.numpy()[:, 0],
                               log_uniform(true[:, 0], r) * n, rtol=1e-5)
    # With `unique`: distinct classes, expected counts 1 - (1 - P)^tries for
    # one number of tries (at least num_sampled), the same for all.
    u = kiln.random.log_uniform_candidate_sampler(true, 1, 12, True, 1000, seed=2)
    c = u.sampled_candidates.numpy()
    assert len(set(c.tolist())) == 12
    p = log_uniform(c, 1000)
    tries = np.log1p(-u.sampled_expected_count.numpy().astype(np.float64)) / np.log1p(-p)
    assert tries[0] >= 12 and np.allclose(tries, np.round(tries[0]), rtol=1e-4)
    np.testing.assert_allclose(u.true_expected_count.numpy()[:, 0],
                               -np.expm1(np.round(tries[0]) * np.log1p(-log_uniform(
                                   true[:, 0], 1000))), rtol=1e-5)
    w = kiln.random.uniform_candidate_sampler(true, 1, 6, True, 6, seed=3)
    assert sorted(w.sampled_candidates.numpy().tolist()) == list(range(6))
    # Compiled: new candidates every call.
    f = kiln.function(lambda t: kiln.random.log_uniform_candidate_sampler(
        t, 1, 8, True, 5000).sampled_candidates)
    assert not np.array_equal(f(true).numpy(), f(true).numpy())
    with pytest.raises(kiln.errors.InvalidArgumentError, match="distinct classes out of"):
        kiln.random.uniform_candidate_sampler(true, 1, 7, True, 6)


def _numpy_sampled_logits(w, b, labels, x, sampled, true_exp, sampled_exp, remove_hits):
    true_logits = np.einsum("bd,btd->bt", x, w[labels]) + b[labels] - np.log(true_exp)
    sampled_logits = x @ w[sampled].T + b[sampled] - np.log(sampled_exp)
    if remove_hits:
        hit = (labels[:, :, None] == sampled[None, None, :]).any(axis=1)
        sampled_logits = np.where(hit, sampled_logits + np.finfo(np.float32).min,
                                  sampled_logits)
    t = labels.shape[1]
    targets = np.concatenate([np.full(true_logits.shape, 1.0 / t),
                              np.zeros(sampled_logits.shape)], axis=1)
    return np.concatenate([true_logits, sampled_logits], axis=1), targets


@pytest.mark.parametrize("num_true", [1, 2])
def test_sampled_softmax_and_nce_against_their_formulas(num_true):
    classes, dim, batch = 20, 5, 4
    w = RNG.normal(size=(classes, dim))
    b = RNG.normal(size=classes)
    x = RNG.normal(size=(batch, dim))
    labels = RNG.integers(0, classes, size=(batch, num_true))
    sampled = np.array([3, 11, labels[0, 0], 7, 19])            # (one accidental hit)
    true_exp = RNG.uniform(0.1, 1.0, size=(batch, num_true)).astype(np.float32)
    sampled_exp = RNG.uniform(0.1, 1.0, size=5).astype(np.float32)
    values = (sampled, true_exp, sampled_exp)
    logits, targets = _numpy_sampled_logits(w, b, labels, x, sampled, true_exp, sampled_exp,
                                            True)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    want = -(targets * log_softmax).sum(axis=1)
    got = kiln.nn.sampled_softmax_loss(w, b, labels, x, 5, classes, num_true=num_true,
                                       sampled_values=values).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    logits, targets = _numpy_sampled_logits(w, b, labels, x, sampled, true_exp, sampled_exp,
                                            False)
    bce = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    got = kiln.nn.nce_loss(w, b, labels, x, 5, classes, num_true=num_true,
                           sampled_values=values).numpy()
    np.testing.assert_allclose(got, bce.sum(axis=1), rtol=1e-6)


def test_sampled_softmax_over_every_class_is_the_full_softmax():
    # Every class sampled with one expected count: the true class's
    # sampled copy drops out (an accidental hit), the shift by log q is
    # the same for all, so the loss is the full softmax cross-entropy;
    # its gradient against central differences.
    classes, dim, batch = 9, 4, 3
    w = RNG.normal(size=(classes, dim))
    b = RNG.normal(size=classes)
    x = RNG.normal(size=(batch, dim))
    labels = np.array([2, 0, 8])
    values = (np.arange(classes), np.full((batch, 1), 0.5, np.float32),
              np.full(classes, 0.5, np.float32))
    logits = x @ w.T + b
    full = np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(batch), labels]
    loss = lambda xv: kiln.nn.sampled_softmax_loss(w, b, labels, xv, classes, classes,
                                                   sampled_values=values)
    np.testing.assert_allclose(loss(x).numpy(), full, rtol=1e-10)
    xt = kiln.constant(x)
    with kiln.GradientTape() as tape:
        tape.watch(xt)
        total = kiln.reduce_sum(loss(xt))
    grad = tape.gradient(total, xt).numpy()
    numeric = central(lambda v: loss(v).numpy().sum(), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_word2vec_style_training_step_learns():
    # A compiled skip-gram-like step with sampled softmax and the default
    # log-uniform sampler: the loss falls.
    vocab, dim = 200, 8
    emb = kiln.Variable(RNG.normal(scale=0.1, size=(vocab, dim)).astype(np.float32))
    out_w = kiln.Variable(np.zeros((vocab, dim), np.float32))
    out_b = kiln.Variable(np.zeros(vocab, np.float32))
    opt = kiln.optimizers.Adam(0.05)
    centers = RNG.integers(0, vocab, 256)
    contexts = (centers * 7 + 3) % vocab                  # a fixed pairing to learn

    @kiln.function
    def step(c, t):
        with kiln.GradientTape() as tape:
            x = kiln.gather(emb, c)
            loss = kiln.reduce_mean(kiln.nn.sampled_softmax_loss(
                out_w, out_b, kiln.reshape(t, [-1, 1]), x, 20, vocab))
        variables = [emb, out_w, out_b]
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss
    losses = [float(step(centers, contexts).numpy()) for _ in range(60)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert step.trace_count == 1


def test_accidental_hits_take_the_last_position_of_a_class():
    # TensorFlow maps each sampled class to its last position: a repeated
    # candidate equal to a true class is masked there only.
    labels = np.array([[2], [5]])
    sampled = np.array([2, 7, 2, 5])
    rows, ids, weights = kiln.nn.compute_accidental_hits(labels, sampled, 1)
    assert rows.numpy().tolist() == [0, 1] and ids.numpy().tolist() == [2, 3]
    assert (weights.numpy() == np.finfo(np.float32).min).all()
    w, b = RNG.normal(size=(8, 3)), RNG.normal(size=8)
    x = RNG.normal(size=(2, 3))
    values = (sampled, np.full((2, 1), 0.5, np.float32), np.full(4, 0.5, np.float32))
    logits, targets = _numpy_sampled_logits(w, b, labels, x, sampled, values[1], values[2],
                                            False)
    logits[0, 1 + 2] += np.finfo(np.float32).min       # (row 0: position 2 only)
    logits[1, 1 + 3] += np.finfo(np.float32).min
    shifted = logits - logits.max(axis=1, keepdims=True)
    want = -(targets * (shifted - np.log(np.exp(shifted).sum(1, keepdims=True)))).sum(1)
    got = kiln.nn.sampled_softmax_loss(w, b, labels, x, 4, 8, sampled_values=values).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
