"""CTC (tf.nn.ctc_loss, Keras' ctc_batch_cost, ctc_decode and CTC loss)
against an independent oracle: every path of the frames enumerated,
collapsed (repeats merged, blanks dropped) and its probability summed
when it gives the label; gradients against central differences."""

import itertools

import numpy as np
import pytest

import kiln
from conftest import central

RNG = np.random.default_rng(29)


def _collapse(path, blank):
    """The labeling a path of classes gives: repeats merged, blanks dropped."""
    out, previous = [], None
    for c in path:
        if c != previous and c != blank:
            out.append(c)
        previous = c
    return tuple(out)


def brute_force_loss(logits, label, frames, blank):
    """-log P(label | logits[:frames]) by enumerating every path."""
    log_p = logits[:frames] - np.log(np.exp(logits[:frames]).sum(-1, keepdims=True))
    total = -np.inf
    for path in itertools.product(range(logits.shape[1]), repeat=frames):
        if _collapse(path, blank) == tuple(label):
            total = np.logaddexp(total, sum(log_p[t, c] for t, c in enumerate(path)))
    return -total


# Labels with repeats (needing a blank between), an empty one, one too
# long for its frames (loss inf), one longer than its padding.
LABELS = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]],
                  np.int32)
LABEL_LENGTH = np.array([3, 2, 1, 3, 0, 3], np.int32)
LOGIT_LENGTH = np.array([6, 5, 4, 5, 3, 4], np.int32)


def _labels_for(blank):
    """LABELS with the blank class replaced (labels never hold the blank)."""
    return np.where(LABELS == blank, (blank + 1) % 4, LABELS).astype(np.int32)


@pytest.mark.parametrize("blank", [0, 3, -1])
def test_ctc_loss_matches_every_path_summed(blank):
    logits = RNG.normal(size=(6, 6, 4))
    labels = _labels_for(blank % 4)
    want = [brute_force_loss(logits[:, b], labels[b, :LABEL_LENGTH[b]], LOGIT_LENGTH[b],
                             blank % 4) for b in range(6)]
    assert np.isinf(want[5])          # (three 1s need five frames)
    got = kiln.nn.ctc_loss(labels, logits, LABEL_LENGTH, LOGIT_LENGTH,
                           blank_index=blank).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # Batch-major logits, compiled over an open batch: the same.
    spec = [kiln.TensorSpec([None, 3], kiln.int32), kiln.TensorSpec([None, 6, 4], kiln.float64),
            kiln.TensorSpec([None], kiln.int32), kiln.TensorSpec([None], kiln.int32)]

    @kiln.function(input_signature=spec)
    def loss(y, x, n, m):
        return kiln.nn.ctc_loss(y, x, n, m, logits_time_major=False, blank_index=blank)
    batch_major = np.ascontiguousarray(logits.transpose(1, 0, 2))
    np.testing.assert_allclose(loss(labels, batch_major, LABEL_LENGTH, LOGIT_LENGTH).numpy(),
                               want, rtol=1e-12)
    np.testing.assert_allclose(loss(labels[:2], batch_major[:2], LABEL_LENGTH[:2],
                                    LOGIT_LENGTH[:2]).numpy(), want[:2], rtol=1e-12)
    assert loss.trace_count == 1


def test_ctc_loss_gradient_against_central_differences():
    # The gradient of the summed finite losses with respect to the logits
    # (the infeasible sequence gets none), eagerly and compiled.
    logits = RNG.normal(size=(6, 6, 4))
    weights = RNG.uniform(0.5, 1.5, 6)

    def total(x):
        loss = kiln.nn.ctc_loss(LABELS, x, LABEL_LENGTH, LOGIT_LENGTH)
        finite = kiln.where(kiln.math.is_finite(loss), loss, kiln.zeros_like(loss))
        return kiln.reduce_sum(finite * weights)

    def gradient(x):
        x = kiln.constant(x)
        with kiln.GradientTape() as tape:
            tape.watch(x)
            value = total(x)
        return tape.gradient(value, x)

    eager = gradient(logits).numpy()
    compiled = kiln.function(gradient)(logits).numpy()
    numeric = central(lambda v: float(total(v).numpy()), logits)
    np.testing.assert_allclose(eager, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(compiled, eager, rtol=1e-10, atol=1e-12)
    assert not eager[:, 5].any()          # (the infeasible sequence)
    assert not eager[5:, 1].any() and eager[4, 1].any()   # (frames past its length)


def test_keras_ctc_functions():
    # ctc_batch_cost takes softmax outputs (blank last, Keras' +1e-7 inside
    # the log) and [batch, 1] lengths; ctc_decode's greedy path merges
    # repeats, drops blanks and stops at each sequence's length; the CTC
    # loss class takes logits with blank 0 and full lengths (Keras 3).
    backend = kiln.keras.backend
    logits = RNG.normal(size=(3, 5, 4))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = np.array([[1, 2], [0, 0], [2, 1]], np.int32)
    cost = backend.ctc_batch_cost(y, probs, np.array([[5], [4], [5]]),
                                  np.array([[2], [1], [2]])).numpy()
    want = [brute_force_loss(np.log(probs[b] + 1e-7), y[b, :n], t, 3)
            for b, (n, t) in enumerate([(2, 5), (1, 4), (2, 5)])]
    assert cost.shape == (3, 1)
    np.testing.assert_allclose(cost[:, 0], want, rtol=1e-6)
    # Greedy decoding: best classes per frame, blank = 3.
    best = np.array([[1, 1, 3, 1, 2], [3, 3, 3, 3, 3], [2, 3, 2, 2, 0]])
    p = np.full((3, 5, 4), 0.1)
    for b, row in enumerate(best):
        p[b, np.arange(5), row] = 0.7
    (decoded,), log_prob = backend.ctc_decode(p, np.array([5, 5, 4]))
    np.testing.assert_array_equal(decoded.numpy(), [[1, 1, 2], [-1, -1, -1], [2, 2, -1]])
    np.testing.assert_allclose(log_prob.numpy()[:, 0],
                               [-5 * np.log(0.7 + 1e-7)] * 2 + [-4 * np.log(0.7 + 1e-7)])
    compiled = kiln.function(lambda q, n: backend.ctc_decode(q, n)[0][0])(p, np.array([5, 5, 4]))
    assert compiled.shape == (3, 5)                       # (the frame count)
    np.testing.assert_array_equal(compiled.numpy()[:, :3], decoded.numpy())
    assert (compiled.numpy()[:, 3:] == -1).all()
    with pytest.raises(kiln.errors.UnimplementedError, match="beam search runs eagerly"):
        kiln.function(lambda q, n: backend.ctc_decode(q, n, greedy=False)[1])(
            p, np.array([5, 5, 4]))
    labels = np.array([[1, 2], [2, 3], [3, 3]], np.int32)
    loss = kiln.losses.CTC()(labels, logits).numpy()
    want = np.mean([brute_force_loss(logits[b], labels[b], 5, 0) for b in range(3)])
    np.testing.assert_allclose(loss, want, rtol=1e-6)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="rank 3"):
        kiln.nn.ctc_loss(labels, logits[0], [2, 2, 2], [5, 5, 5])


def test_ctc_review_cases():
    logits = RNG.normal(size=(4, 2, 3))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="label_length"):
        kiln.nn.ctc_loss(np.zeros((2, 2), np.int32) + 1, logits, [3, 1], [4, 4])
    # Labels of width 0: every sequence is empty, its loss -log P(all blank).
    empty = kiln.nn.ctc_loss(np.zeros((2, 0), np.int32), logits, [0, 0], [4, 3]).numpy()
    want = [brute_force_loss(logits[:, b], [], t, 0) for b, t in enumerate([4, 3])]
    np.testing.assert_allclose(empty, want, rtol=1e-12)


def _all_labelings(log_p, frames, blank):
    """Every labeling the first `frames` frames can produce and its log
    probability summed over the paths that collapse to it (enumerated)."""
    totals = {}
    for path in itertools.product(range(log_p.shape[1]), repeat=frames):
        key = _collapse(path, blank)
        totals[key] = np.logaddexp(totals.get(key, -np.inf),
                                   sum(log_p[t, c] for t, c in enumerate(path)))
    return sorted(totals.items(), key=lambda kv: -kv[1])


def test_ctc_beam_search_finds_the_most_likely_labelings():
    # Beam search over a beam wider than the prefixes is exact: its top
    # paths are the labelings of largest total probability, each summed over
    # its alignments (here against all 4^5 paths enumerated); the most likely
    # labeling is often not the greedy (best path) one.
    logits = RNG.normal(scale=1.5, size=(3, 5, 4))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    lengths = np.array([5, 4, 5])
    decoded, log_prob = kiln.keras.backend.ctc_decode(probs, lengths, greedy=False,
                                                      beam_width=200, top_paths=3)
    assert len(decoded) == 3 and log_prob.shape == (3, 3)
    for b in range(3):
        log_p = np.log(probs[b] + 1e-7)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        want = _all_labelings(log_p, lengths[b], 3)[:3]
        for k in range(3):
            row = decoded[k].numpy()[b]
            assert tuple(row[row >= 0]) == want[k][0]
            np.testing.assert_allclose(log_prob.numpy()[b, k], want[k][1], rtol=1e-5)
    # A narrow beam still returns a labeling of each sequence, padded with -1.
    (narrow,), score = kiln.keras.backend.ctc_decode(probs, lengths, greedy=False,
                                                     beam_width=2)
    assert narrow.shape[0] == 3 and score.shape == (3, 1) and np.isfinite(score.numpy()).all()
    with pytest.raises(kiln.errors.InvalidArgumentError, match="top_paths <= beam_width"):
        kiln.keras.backend.ctc_decode(probs, lengths, greedy=False, beam_width=2, top_paths=3)


def test_sparse_labels_and_tensorflow_decoders():
    import itertools
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 3, 4)).astype(np.float32)   # [t, b, c]
    dense = np.array([[1, 2, 0], [3, 0, 0], [1, 1, 2]], np.int32)
    lengths = np.array([2, 1, 3], np.int32)
    sparse = kiln.SparseTensor([[0, 0], [0, 1], [1, 0], [2, 0], [2, 1], [2, 2]],
                               np.array([1, 2, 3, 1, 1, 2], np.int64), [3, 3])
    frames = np.array([6, 5, 6], np.int32)
    want = kiln.nn.ctc_loss(dense, logits, lengths, frames).numpy()
    np.testing.assert_allclose(kiln.nn.ctc_loss(sparse, logits, None, frames,
                                                blank_index=0).numpy(), want, rtol=1e-6)
    # (the values in row order, whatever their columns: TensorFlow's kernel)
    gaps = kiln.SparseTensor([[0, 0], [0, 2], [1, 1], [2, 0], [2, 1], [2, 2]],
                             np.array([1, 2, 3, 1, 1, 2], np.int64), [3, 3])
    np.testing.assert_allclose(kiln.nn.ctc_loss(gaps, logits, None, frames,
                                                blank_index=0).numpy(), want, rtol=1e-6)
    with pytest.raises(ValueError, match="blank_index"):
        kiln.nn.ctc_loss(sparse, logits, None, frames)
    # Greedy: argmax path [0, 0, 2, 0, 1, 1] with blank 2 (the last class).
    path = [0, 0, 2, 0, 1, 1]
    greedy = np.full((6, 1, 3), -1.0, np.float32)
    for t, c in enumerate(path):
        greedy[t, 0, c] = 0.5 + t
    (merged,), neg = kiln.nn.ctc_greedy_decoder(greedy, [6])
    assert merged.values.numpy().tolist() == [0, 0, 1]
    assert merged.indices.numpy().tolist() == [[0, 0], [0, 1], [0, 2]]
    np.testing.assert_allclose(neg.numpy(), [[-sum(0.5 + t for t in range(6))]])
    (unmerged,), _ = kiln.nn.ctc_greedy_decoder(greedy, [6], merge_repeated=False)
    assert unmerged.values.numpy().tolist() == [0, 0, 0, 1, 1]
    (short,), _ = kiln.nn.ctc_greedy_decoder(greedy, [2])
    assert short.values.numpy().tolist() == [0] and short.shape == (1, 1)
    # Beam search against all alignments of 4 frames, 3 classes (blank 2).
    small = rng.standard_normal((4, 1, 3))
    probs = np.exp(small[:, 0]) / np.exp(small[:, 0]).sum(-1, keepdims=True)
    totals = {}
    for alignment in itertools.product(range(3), repeat=4):
        collapsed = tuple(c for i, c in enumerate(alignment)
                          if c != 2 and (i == 0 or c != alignment[i - 1]))
        totals[collapsed] = totals.get(collapsed, 0.0) + np.prod(
            [probs[t, c] for t, c in enumerate(alignment)])
    best = sorted(totals.items(), key=lambda kv: -kv[1])[:3]
    decoded, log_probs = kiln.nn.ctc_beam_search_decoder(small.astype(np.float32), [4],
                                                         beam_width=50, top_paths=3)
    for k, (labels, p) in enumerate(best):
        assert tuple(decoded[k].values.numpy().tolist()) == labels
        np.testing.assert_allclose(log_probs.numpy()[0, k], np.log(p), rtol=1e-5)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="sequence_length"):
        kiln.nn.ctc_greedy_decoder(greedy, [7])
