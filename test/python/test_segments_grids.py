"""Segment sums, means, maxima, minima and products, eye, meshgrid, roll and sequence_mask against
NumPy (np.add.at, np.roll, np.meshgrid, np.eye), eagerly and compiled;
gradients against central differences of the NumPy formulas; errors."""

import numpy as np
import pytest

import kiln
from conftest import central


def numpy_segment_sum(data, ids, n):
    out = np.zeros((n,) + data.shape[ids.ndim:], data.dtype)
    keep = ids >= 0
    np.add.at(out, ids[keep], data[keep])
    return out


def test_unsorted_segment_sum_and_mean():
    rng = np.random.default_rng(1)
    data0 = rng.normal(size=(6, 2, 3))
    ids0 = np.array([3, 0, -1, 3, 1, 0])           # -1: dropped; 2: empty
    want = numpy_segment_sum(data0, ids0, 4)
    counts = np.maximum(numpy_segment_sum(np.ones(6), ids0, 4), 1)
    mean = want / counts[:, None, None]
    data, ids = kiln.constant(data0), kiln.constant(ids0)
    f = lambda d, i: (kiln.math.unsorted_segment_sum(d, i, 4),
                      kiln.math.unsorted_segment_mean(d, i, 4))
    for run in (f, kiln.function(f)):
        s, m = run(data, ids)
        np.testing.assert_allclose(s.numpy(), want, rtol=1e-12)
        np.testing.assert_allclose(m.numpy(), mean, rtol=1e-12)
    # Ids of rank 2 over data [2, 3, 4]; an open leading extent.
    d2 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    i2 = np.array([[0, 1, 1], [2, 0, 1]], np.int64)
    np.testing.assert_allclose(kiln.math.unsorted_segment_sum(d2, i2, 3).numpy(),
                               numpy_segment_sum(d2, i2, 3), rtol=1e-6)
    open_rows = kiln.function(lambda d, i: kiln.math.unsorted_segment_sum(d, i, 4),
                              input_signature=[kiln.TensorSpec((None, 2, 3), kiln.float64),
                                               kiln.TensorSpec((None,), kiln.int64)])
    np.testing.assert_allclose(open_rows(data, ids).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(open_rows(data[:4], ids[:4]).numpy(),
                               numpy_segment_sum(data0[:4], ids0[:4], 4), rtol=1e-12)
    assert open_rows.trace_count == 1
    # Gradients with respect to the data (the dropped row gets zeros).
    w = rng.normal(size=(4, 2, 3))
    loss = lambda v: float((numpy_segment_sum(v, ids0, 4) * w).sum())
    mean_loss = lambda v: float(((numpy_segment_sum(v, ids0, 4) / counts[:, None, None]) * w).sum())
    with kiln.GradientTape(persistent=True) as tape:
        tape.watch(data)
        a = kiln.reduce_sum(kiln.math.unsorted_segment_sum(data, ids, 4) * w)
        b = kiln.reduce_sum(kiln.math.unsorted_segment_mean(data, ids, 4) * w)
    np.testing.assert_allclose(tape.gradient(a, data).numpy(), central(loss, data0), atol=1e-8)
    np.testing.assert_allclose(tape.gradient(b, data).numpy(), central(mean_loss, data0), atol=1e-8)
    # Sorted ids: segment_sum / segment_mean take max + 1 segments.
    sorted_ids = np.array([0, 0, 1, 3, 3, 3])
    np.testing.assert_allclose(kiln.math.segment_sum(data0, sorted_ids).numpy(),
                               numpy_segment_sum(data0, sorted_ids, 4), rtol=1e-12)
    np.testing.assert_allclose(kiln.math.segment_mean(data0[:, 0, 0], sorted_ids).numpy(),
                               [np.mean(data0[s, 0, 0]) if len(s) else 0.0
                                for s in (np.flatnonzero(sorted_ids == k) for k in range(4))],
                               rtol=1e-12)


def numpy_segment_reduce(ufunc, data, ids, n, empty):
    out = np.full((n,) + data.shape[ids.ndim:], empty, data.dtype)
    keep = ids >= 0
    ufunc.at(out, ids[keep], data[keep])
    return out


@pytest.mark.parametrize("kind,ufunc", [("max", np.maximum), ("min", np.minimum),
                                        ("prod", np.multiply)])
def test_unsorted_segment_max_min_prod(kind, ufunc):
    rng = np.random.default_rng(2)
    data0 = rng.uniform(0.5, 1.5, size=(7, 3)) * rng.choice([-1, 1], size=(7, 3))
    ids0 = np.array([3, 0, -1, 3, 1, 0, 3])        # -1: dropped; 2: empty
    empty = {"max": kiln.float64.min, "min": kiln.float64.max, "prod": 1.0}[kind]
    want = numpy_segment_reduce(ufunc, data0, ids0, 4, empty)
    op = getattr(kiln.math, f"unsorted_segment_{kind}")
    data, ids = kiln.constant(data0), kiln.constant(ids0)
    for run in (lambda d, i: op(d, i, 4), kiln.function(lambda d, i: op(d, i, 4))):
        np.testing.assert_allclose(run(data, ids).numpy(), want, rtol=1e-12)
    # Integers (TF's empty values are the dtype's limits), rank-2 ids.
    d32 = rng.integers(-9, 9, size=(2, 3, 2)).astype(np.int32)
    i32 = np.array([[0, 2, 2], [1, 0, 2]])
    iempty = {"max": np.iinfo(np.int32).min, "min": np.iinfo(np.int32).max, "prod": 1}[kind]
    np.testing.assert_array_equal(op(d32, i32, 4).numpy(),
                                  numpy_segment_reduce(ufunc, d32, i32, 4, iempty))
    # An open number of rows: one trace.
    open_rows = kiln.function(lambda d, i: op(d, i, 4),
                              input_signature=[kiln.TensorSpec((None, 3), kiln.float64),
                                               kiln.TensorSpec((None,), kiln.int64)])
    np.testing.assert_allclose(open_rows(data[:5], ids[:5]).numpy(),
                               numpy_segment_reduce(ufunc, data0[:5], ids0[:5], 4, empty))
    assert open_rows.trace_count == 1
    # Gradients against central differences of the NumPy formula (distinct
    # values: no ties); for prod also with one and two zeros in a segment.
    w = rng.normal(size=(4, 3))
    w[2] = 0.0  # (the empty segment's value is no function of the data)
    points = [data0]
    if kind == "prod":
        zeros = data0.copy()
        zeros[0, 0] = 0.0                  # segment 3, column 0: one zero
        zeros[0, 1] = zeros[3, 1] = 0.0    # segment 3, column 1: two zeros
        points.append(zeros)
    for x0 in points:
        x = kiln.constant(x0)
        with kiln.GradientTape() as tape:
            tape.watch(x)
            y = kiln.reduce_sum(op(x, ids, 4) * w)
        loss = lambda v: float((numpy_segment_reduce(ufunc, v, ids0, 4, empty) * w).sum())
        np.testing.assert_allclose(tape.gradient(y, x).numpy(), central(loss, x0), atol=1e-8)


def test_segment_extremum_ties_and_sorted_segments():
    # Ties split the gradient evenly (TF's _UnsortedSegmentMinOrMaxGrad).
    data = kiln.constant([[1.0, 5.0], [3.0, 5.0], [3.0, 2.0], [0.0, 7.0]])
    ids = kiln.constant([0, 0, 0, 1])
    with kiln.GradientTape() as tape:
        tape.watch(data)
        m = kiln.math.unsorted_segment_max(data, ids, 2)
    np.testing.assert_array_equal(m.numpy(), [[3.0, 5.0], [0.0, 7.0]])
    np.testing.assert_allclose(tape.gradient(m, data).numpy(),
                               [[0, 0.5], [0.5, 0.5], [0.5, 0], [1, 1]])
    # Sorted ids: max + 1 segments; an empty one holds 0 for max/min (TF),
    # 1 for prod.
    d0 = np.array([[2.0, -1.0], [4.0, 3.0], [-6.0, 0.5], [1.5, 2.0]])
    sids = np.array([0, 0, 2, 2])
    got = [kiln.math.segment_max(d0, sids), kiln.math.segment_min(d0, sids),
           kiln.math.segment_prod(d0, sids)]
    np.testing.assert_array_equal(got[0].numpy(), [[4, 3], [0, 0], [1.5, 2]])
    np.testing.assert_array_equal(got[1].numpy(), [[2, -1], [0, 0], [-6, 0.5]])
    np.testing.assert_array_equal(got[2].numpy(), [[8, -3], [1, 1], [-9, 1]])
    compiled = kiln.function(lambda d: kiln.math.segment_max(d, sids))
    np.testing.assert_array_equal(compiled(kiln.constant(d0)).numpy(), got[0].numpy())
    # sqrt_n: the sum over the square root of the segment's size.
    np.testing.assert_allclose(
        kiln.math.unsorted_segment_sqrt_n(d0, [1, 1, 1, -1], 3).numpy(),
        [[0, 0], d0[:3].sum(0) / np.sqrt(3), [0, 0]], rtol=1e-12)
    # NaN propagates through max and min; its segment's gradient is 0 (the
    # NaN equals nothing: TF's rule), the other segments' unaffected.
    nan_data = kiln.constant([[1.0], [np.nan], [3.0]])
    with kiln.GradientTape() as tape:
        tape.watch(nan_data)
        nan = kiln.math.unsorted_segment_max(nan_data, [0, 0, 1], 3)
    assert np.isnan(nan.numpy()[0, 0]) and nan.numpy()[1, 0] == 3.0
    np.testing.assert_array_equal(tape.gradient(nan, nan_data).numpy(), [[0.0], [0.0], [1.0]])
    # Rows at the dtype's lowest value share their segment's gradient among
    # themselves only (the empty-segment value is no tie).
    low = kiln.constant([kiln.float32.min, kiln.float32.min], kiln.float32)
    with kiln.GradientTape() as tape:
        tape.watch(low)
        m = kiln.math.unsorted_segment_max(low, [0, 0], 2)
    np.testing.assert_array_equal(m.numpy(), [kiln.float32.min] * 2)
    np.testing.assert_array_equal(tape.gradient(m, low).numpy(), [0.5, 0.5])
    # Sorted integer segments below zero: the empty one is 0, the others
    # their maxima (no 0 from the start value).
    np.testing.assert_array_equal(
        kiln.math.segment_max(kiln.constant([-5, -3, -9]), [0, 0, 2]).numpy(), [-3, 0, -9])


def test_segment_errors():
    data = kiln.constant(np.ones((3, 2)))
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_segments_grids.py:\d+: unsorted_segment_sum: a segment id is not below num_segments = 2"):
        kiln.math.unsorted_segment_sum(data, [0, 2, 1], 2)
    compiled = kiln.function(lambda d, i: kiln.math.unsorted_segment_sum(d, i, 2))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="not below num_segments"):
        compiled(data, kiln.constant([0, 5, 1]))
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_segments_grids.py:\d+: unsorted_segment_max: a segment id is not below num_segments = 2"):
        kiln.math.unsorted_segment_max(data, [0, 2, 1], 2)
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"test_segments_grids.py:\d+: segment_prod: segment_ids must be sorted"):
        kiln.math.segment_prod(data, [1, 0, 1])
    with pytest.raises(TypeError, match="unsorted_segment_min: data must be numeric, got bool"):
        kiln.math.unsorted_segment_min(kiln.constant([True, False]), [0, 1], 2)

    with pytest.raises(kiln.errors.InvalidArgumentError, match="prefix of data's shape"):
        kiln.math.unsorted_segment_sum(data, [0, 1], 2)
    with pytest.raises(TypeError, match="integers"):
        kiln.math.unsorted_segment_sum(data, [0.0, 1.0, 1.0], 2)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="sorted"):
        kiln.math.segment_sum(data, [1, 0, 1])
    counted = kiln.function(lambda d, i, n: kiln.math.unsorted_segment_sum(d, i, n))
    with pytest.raises(kiln.errors.UnimplementedError, match="num_segments"):
        counted(data, kiln.constant([0, 1, 1]), kiln.constant(2))
    traced = kiln.function(lambda d, i: kiln.math.segment_sum(d, i))
    with pytest.raises(kiln.errors.UnimplementedError, match="segment_sum"):
        traced(data, kiln.constant([0, 0, 1]))


def test_eye_meshgrid_roll_sequence_mask():
    np.testing.assert_array_equal(kiln.eye(3).numpy(), np.eye(3, dtype=np.float32))
    e = kiln.linalg.eye(2, 4, batch_shape=[3], dtype=kiln.int32)
    assert e.shape == (3, 2, 4) and e.dtype == kiln.int32
    np.testing.assert_array_equal(e.numpy(), np.broadcast_to(np.eye(2, 4), (3, 2, 4)))

    x0, y0, z0 = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0]), np.array([6.0, 7.0, 8.0, 9.0])
    for indexing in ("xy", "ij"):
        f = lambda a, b, c: kiln.meshgrid(a, b, c, indexing=indexing)
        for run in (f, kiln.function(f)):
            got = run(kiln.constant(x0), kiln.constant(y0), kiln.constant(z0))
            for g, w in zip(got, np.meshgrid(x0, y0, z0, indexing=indexing)):
                np.testing.assert_array_equal(g.numpy(), w)
    # meshgrid's gradient: each input gets its grid's weights summed.
    w = np.random.default_rng(2).normal(size=(2, 3))
    xv = kiln.constant(x0)
    with kiln.GradientTape() as tape:
        tape.watch(xv)
        gx, _ = kiln.meshgrid(xv, kiln.constant(y0))
        loss = kiln.reduce_sum(gx * w)
    np.testing.assert_allclose(tape.gradient(loss, xv).numpy(),
                               central(lambda v: (np.meshgrid(v, y0)[0] * w).sum(), x0),
                               rtol=1e-7)
    with pytest.raises(ValueError, match="indexing"):
        kiln.meshgrid(xv, indexing="yx")

    a0 = np.arange(24.0).reshape(2, 3, 4)
    for shift, axis in ((1, 0), (-5, 2), ([1, 2], [1, 2]), ([2, -1], [2, 2]), (7, -1)):
        f = lambda t: kiln.roll(t, shift, axis)
        for run in (f, kiln.function(f)):
            np.testing.assert_array_equal(run(kiln.constant(a0)).numpy(),
                                          np.roll(a0, shift, axis))
    w = np.random.default_rng(3).normal(size=a0.shape)
    av = kiln.constant(a0)
    with kiln.GradientTape() as tape:
        tape.watch(av)
        loss = kiln.reduce_sum(kiln.roll(av, [1, 2], [0, 2]) * w)
    np.testing.assert_allclose(tape.gradient(loss, av).numpy(),
                               np.roll(w, [-1, -2], [0, 2]), rtol=1e-12)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="same length"):
        kiln.roll(av, [1, 2], 0)
    # Open extents: a clear error (roll is a gather, lowered with static
    # shapes).
    open_rows = kiln.function(lambda t: kiln.roll(t, 1, 2), input_signature=[
        kiln.TensorSpec((None, 3, 4), kiln.float64)])
    with pytest.raises(kiln.errors.UnimplementedError, match="roll needs every extent"):
        open_rows(av)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="out of range"):
        kiln.roll(av, 1, 3)

    lengths = np.array([[1, 4], [0, 2]])
    want = np.arange(5) < lengths[..., None]
    np.testing.assert_array_equal(kiln.sequence_mask(lengths, 5).numpy(), want)
    np.testing.assert_array_equal(kiln.sequence_mask(lengths).numpy(), want[..., :4])
    as_float = kiln.function(lambda l: kiln.sequence_mask(l, 5, dtype=kiln.float32))
    np.testing.assert_array_equal(as_float(kiln.constant(lengths)).numpy(), want.astype(np.float32))
    traced_max = kiln.function(lambda l, m: kiln.sequence_mask(l, m))
    with pytest.raises(kiln.errors.UnimplementedError, match="maxlen"):
        traced_max(kiln.constant(lengths), kiln.constant(5))
    open_max = kiln.function(lambda l: kiln.sequence_mask(l))
    with pytest.raises(kiln.errors.UnimplementedError, match="sequence_mask without maxlen"):
        open_max(kiln.constant(lengths))


def test_bincount_searchsorted_and_histograms():
    arr = np.array([1, 3, 3, 0, 7, 3], np.int32)
    np.testing.assert_array_equal(kiln.math.bincount(arr).numpy(), np.bincount(arr))
    w = np.array([0.5, 1.0, 2.0, 0.25, 4.0, 1.5], np.float32)
    np.testing.assert_allclose(kiln.math.bincount(arr, weights=w).numpy(),
                               np.bincount(arr, weights=w), rtol=1e-6)
    np.testing.assert_array_equal(kiln.math.bincount(arr, minlength=10).numpy(),
                                  np.bincount(arr, minlength=10))
    # maxlength drops the larger values; a fixed length compiles with traced values.
    np.testing.assert_array_equal(kiln.math.bincount(arr, maxlength=4).numpy(),
                                  np.bincount(arr)[:4])
    fixed = kiln.function(lambda a: kiln.math.bincount(a, minlength=5, maxlength=5))
    np.testing.assert_array_equal(fixed(arr).numpy(), np.bincount(arr[arr < 5], minlength=5))
    with pytest.raises(kiln.errors.UnimplementedError, match="bincount without minlength"):
        kiln.function(lambda a: kiln.math.bincount(a))(arr)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="negative"):
        kiln.math.bincount(np.array([1, -2], np.int32))

    seq = np.array([[0.0, 1.0, 1.0, 3.0], [-2.0, 0.5, 2.0, 9.0]], np.float32)
    vals = np.array([[1.0, -1.0, 5.0], [0.5, 9.0, 3.0]], np.float32)
    for side in ("left", "right"):
        want = np.stack([np.searchsorted(s, v, side=side) for s, v in zip(seq, vals)])
        np.testing.assert_array_equal(kiln.searchsorted(seq, vals, side=side).numpy(), want)
    x = np.array([-1.0, 0.0, 0.3, 1.9, 2.0, 5.0, 4.99], np.float32)
    # NumPy's histogram drops values outside the range; TensorFlow's (and
    # Kiln's) counts them in the first and last bins: clip first.
    want, _ = np.histogram(np.clip(x, 0.0, 4.999), bins=5, range=(0.0, 5.0))
    np.testing.assert_array_equal(
        kiln.histogram_fixed_width(x, [0.0, 5.0], nbins=5).numpy(), want)
