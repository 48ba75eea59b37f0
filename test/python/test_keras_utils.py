"""tf.keras.utils helpers: pad_sequences against hand-written cases,
timeseries_dataset_from_array against windows cut in NumPy,
set_random_seed, normalize."""

import random

import numpy as np
import pytest

import kiln

utils = kiln.keras.utils


def test_pad_sequences():
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(utils.pad_sequences(seqs), [
        [0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [0, 0, 0, 0, 0], [5, 6, 7, 8, 9]])
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, maxlen=3, padding="post", truncating="post", value=-1),
        [[1, 2, 3], [4, -1, -1], [-1, -1, -1], [5, 6, 7]])
    np.testing.assert_array_equal(utils.pad_sequences(seqs, maxlen=2)[3], [8, 9])
    vectors = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    out = utils.pad_sequences(vectors, dtype="float32")
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1], [[0, 0, 0], [2, 2, 2]])
    assert kiln.keras.preprocessing.sequence.pad_sequences is utils.pad_sequences
    with pytest.raises(ValueError, match="'pre' or 'post'"):
        utils.pad_sequences(seqs, padding="middle")
    with pytest.raises(ValueError, match="shape"):
        utils.pad_sequences([np.ones((2, 3)), np.ones((1, 2))])


def test_timeseries_dataset_from_array():
    data = np.arange(40).reshape(20, 2)
    targets = np.arange(100, 120)
    ds = utils.timeseries_dataset_from_array(data, targets, sequence_length=4,
                                             sequence_stride=3, sampling_rate=2, batch_size=2,
                                             start_index=1, end_index=18)
    got_x, got_y = [], []
    for x, y in ds:
        got_x.append(np.asarray(x))
        got_y.append(np.asarray(y))
    # Windows start at 1 + 0, 3, 6, 9 (a window spans 7 steps; 17 available).
    starts = [1, 4, 7, 10]
    want_x = np.stack([data[s:s + 7:2] for s in starts])
    np.testing.assert_array_equal(np.concatenate(got_x), want_x)
    np.testing.assert_array_equal(np.concatenate(got_y), targets[starts])
    assert [len(b) for b in got_x] == [2, 2]
    shuffled = utils.timeseries_dataset_from_array(data, None, 5, batch_size=None,
                                                   shuffle=True, seed=3)
    windows = [np.asarray(w) for w in shuffled]
    assert len(windows) == 16
    firsts = sorted(int(w[0, 0]) // 2 for w in windows)
    assert firsts == list(range(16))
    order = np.arange(16)
    np.random.RandomState(3).shuffle(order)
    np.testing.assert_array_equal([int(w[0, 0]) // 2 for w in windows], order)
    with pytest.raises(ValueError, match="no window"):
        utils.timeseries_dataset_from_array(data, None, 30)


def test_set_random_seed_and_normalize():
    utils.set_random_seed(11)
    a = (random.random(), np.random.rand(), kiln.random.uniform([3]).numpy())
    utils.set_random_seed(11)
    b = (random.random(), np.random.rand(), kiln.random.uniform([3]).numpy())
    assert a[0] == b[0] and a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])
