"""kiln.data beyond slices/shuffle/batch: tf.data's skip, filter, zip,
concatenate, enumerate, from_generator, from_tensors, padded_batch,
unbatch, cache and reduce, against the same pipelines written in plain
Python; and a model trained by fit from a zipped generator dataset."""

import numpy as np
import pytest

import kiln

D = kiln.data.Dataset


def values(ds):
    return [kiln.nest.map_structure(lambda a: a.tolist(), e) for e in ds.as_numpy_iterator()]


def test_selection_and_combination_match_python():
    xs = list(range(10))
    assert values(D.range(10).skip(7)) == xs[7:]
    assert values(D.range(10).skip(-1)) == []
    assert values(D.range(10).filter(lambda x: x % 3 == 0)) == [x for x in xs if x % 3 == 0]
    assert values(D.range(10).filter(lambda x: kiln.equal(x % 2, 1))) == xs[1::2]
    labels = np.array([5.0, 6.0, 7.0, 8.0])
    zipped = D.zip((D.range(3), D.from_tensor_slices(labels)))
    assert values(zipped) == list(zip(xs[:3], labels.tolist()))
    assert len(zipped) == 3
    named = D.zip({"b": D.range(2), "a": D.range(5, 7)})
    assert values(named) == [{"a": 5, "b": 0}, {"a": 6, "b": 1}]
    assert values(D.range(2).concatenate(D.range(3))) == [0, 1, 0, 1, 2]
    assert len(D.range(2).concatenate(D.range(3))) == 5
    assert values(D.range(3).enumerate(start=5)) == [(5, 0), (6, 1), (7, 2)]
    assert values(D.from_tensors(np.ones((2, 2)))) == [[[1.0, 1.0], [1.0, 1.0]]]
    assert int(D.range(5).reduce(kiln.constant(0, kiln.int64), lambda s, x: s + x)) == 10
    # Python numbers and lists take TensorFlow's dtypes (float32, int32).
    total = D.from_tensor_slices(np.ones(3, np.float32)).reduce(0.0, lambda s, x: s + x)
    assert total.dtype == kiln.float32 and float(total) == 3.0
    assert next(iter(D.from_tensors(1.0))).dtype == kiln.float32
    assert next(iter(D.from_tensor_slices([1, 2]))).dtype == kiln.int32
    # Endless stays endless through transformations (TF's INFINITE); an
    # empty pass repeated is empty, not a hang.
    endless = D.range(4).repeat()
    for ds in (endless.batch(2), endless.map(lambda x: x), endless.shuffle(3),
               endless.filter(lambda x: True), endless.enumerate(), endless.cache(),
               D.zip((endless, endless)), D.range(2).concatenate(endless)):
        assert ds.cardinality() == D.INFINITE
    assert D.zip((D.range(3), endless)).cardinality() == 3
    assert values(D.range(3).filter(lambda x: False).repeat().take(2)) == []
    # skip on an infinite dataset stays infinite; take makes it finite.
    assert D.range(3).repeat().skip(2).cardinality() == D.INFINITE
    assert values(D.range(3).repeat().skip(2).take(4)) == [2, 0, 1, 2]
    with pytest.raises(ValueError, match="scalar bool"):
        values(D.range(3).filter(lambda x: kiln.stack([x > 0, x > 1])))
    with pytest.raises(TypeError, match="tuple"):
        D.zip([1, 2])


def test_generators_padded_batches_unbatch_and_cache():
    def ragged():
        for n in range(1, 5):
            yield np.arange(n), n * 10

    signature = (kiln.TensorSpec([None], kiln.int32), kiln.TensorSpec([], kiln.int64))
    ds = D.from_generator(ragged, output_signature=signature)
    got = [(a.numpy().tolist(), a.dtype, b.numpy().tolist(), b.dtype)
           for a, b in ds.padded_batch(3, padding_values=(-1, 0))]
    assert got == [([[0, -1, -1], [0, 1, -1], [0, 1, 2]], kiln.int32, [10, 20, 30], kiln.int64),
                   ([[0, 1, 2, 3]], kiln.int32, [40], kiln.int64)]
    fixed = D.from_generator(ragged, output_types=(kiln.float32, kiln.int32),
                             output_shapes=([None], []))
    first = next(iter(fixed.padded_batch(2, padded_shapes=([5], []))))
    np.testing.assert_array_equal(first[0].numpy(), [[0, 0, 0, 0, 0], [0, 1, 0, 0, 0]])
    assert first[0].dtype == kiln.float32
    with pytest.raises(ValueError, match="exceeds the padded shape"):
        list(fixed.padded_batch(4, padded_shapes=([2], [])))
    with pytest.raises(ValueError, match=r"element 0 has shape \[1\], not \[2\]"):
        list(D.from_generator(ragged, output_signature=(
            kiln.TensorSpec([2], kiln.int32), kiln.TensorSpec([], kiln.int64))))
    with pytest.raises(TypeError, match="output_signature"):
        D.from_generator(ragged)
    # A generator runs afresh on every iteration.
    assert values(ds.map(lambda a, b: b)) == values(ds.map(lambda a, b: b)) == [10, 20, 30, 40]

    rows = np.arange(10).reshape(5, 2)
    assert values(D.from_tensor_slices(rows).batch(2).unbatch()) == rows.tolist()
    calls = []
    cached = D.range(4).map(lambda x: (calls.append(1), x * 2)[1]).cache()
    assert values(cached) == values(cached) == [0, 2, 4, 6]
    assert len(calls) == 4   # the map ran in the first iteration only


def test_fit_from_a_zipped_generator_dataset():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(96, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]

    def rows():
        yield from x

    features = D.from_generator(rows, output_signature=kiln.TensorSpec([3], kiln.float32))
    ds = D.zip((features, D.from_tensor_slices(y))).batch(16)
    kiln.random.set_seed(2)
    model = kiln.Sequential([kiln.layers.Dense(1)])
    model.compile(optimizer=kiln.optimizers.SGD(0.1), loss="mse")
    history = model.fit(ds, epochs=20, verbose=0)
    assert history.history["loss"][-1] < 0.01 * history.history["loss"][0]


def test_fit_steps_per_epoch_and_datasets_of_unknown_length(capsys):
    seen = []

    def batch(i):
        seen.append(int(i))
        return kiln.fill([4, 3], kiln.cast(i, kiln.float32)), kiln.zeros([4, 1])

    model = kiln.Sequential([kiln.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    six = D.range(6).map(batch)
    with pytest.raises(ValueError, match="repeats forever; pass steps_per_epoch"):
        model.fit(six.repeat(), epochs=1, verbose=0)
    # One iterator across epochs (Keras): 0-3, then 4, 5 and out of data,
    # which ends that epoch and the training, with a warning.
    with pytest.warns(UserWarning, match="ran out of data after 2 of the 4 steps"):
        history = model.fit(six, epochs=3, steps_per_epoch=4, verbose=0)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert history.params["steps"] == 4 and len(history.history["loss"]) == 2
    seen.clear()
    model.fit(six.repeat(), epochs=2, steps_per_epoch=5, verbose=0)
    assert seen == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    seen.clear()
    model.fit(six, epochs=2, steps_per_epoch=6, verbose=0)  # (exactly one pass: anew)
    assert seen == [0, 1, 2, 3, 4, 5] * 2
    # Endless through later transformations too.
    with pytest.raises(ValueError, match="repeats forever"):
        model.fit(D.range(6).repeat().map(batch).batch(1).unbatch(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="fit: the validation dataset repeats forever; "
                                         "pass validation_steps"):
        model.fit(six, validation_data=six.repeat(), verbose=0)
    # Arrays with steps_per_epoch and no batch_size: the data in that many
    # batches per epoch.
    x, y = np.ones((10, 3), np.float32), np.zeros((10, 1), np.float32)
    sizes = []
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, steps_per_epoch=5, verbose=0,
              callbacks=[_BatchSizes(sizes)])
    assert len(sizes) == 5
    # A generator's length is unknown until an epoch ends.
    gen = D.from_generator(lambda: iter(range(3)), output_signature=kiln.TensorSpec([], kiln.int64))
    capsys.readouterr()
    model.fit(gen.map(batch), epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert out.count("3/3 - ") == 2, out
    seen.clear()
    model.evaluate(six.repeat(), steps=2, verbose=0)
    assert seen == [0, 1]


class _BatchSizes(kiln.callbacks.Callback):
    def __init__(self, sizes):
        super().__init__()
        self.sizes = sizes

    def on_train_batch_end(self, batch, logs=None):
        self.sizes.append(batch)


def test_more_dataset_transformations():
    D = kiln.data.Dataset
    values = lambda ds: [np.asarray(v).tolist() for v in ds.as_numpy_iterator()]
    r = D.range(5)
    assert values(r.flat_map(lambda x: D.from_tensor_slices(np.arange(3) * 0 + x).take(2))) \
        == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    # interleave two at a time, blocks of 2 (tf.data's order: the docs'
    # example), and an exhausted dataset's slot taken by the next one.
    assert values(D.range(1, 6).interleave(
        lambda x: D.from_tensor_slices(np.full(6, x)).take(x * 0 + 6), cycle_length=2,
        block_length=4)) == [1] * 4 + [2] * 4 + [1] * 2 + [2] * 2 + [3] * 4 + [4] * 4 + \
        [3] * 2 + [4] * 2 + [5] * 4 + [5] * 2
    lengths = {1: 1, 2: 3, 3: 3}
    uneven = D.from_tensor_slices(np.array([1, 2, 3])).interleave(
        lambda x: D.from_tensor_slices(np.full(lengths[int(x)], x) * 10 +
                                       np.arange(lengths[int(x)])), cycle_length=2)
    assert values(uneven) == [10, 20, 21, 30, 22, 31, 32]
    assert values(r.take_while(lambda x: x < 3)) == [0, 1, 2]
    assert values(r.scan(kiln.constant(0, kiln.int64),
                         lambda s, x: (s + x, s + x))) == [0, 1, 3, 6, 10]
    pairs = D.zip((D.range(3), D.range(10, 13)))
    assert values(pairs.scan(kiln.constant(0, kiln.int64),
                             lambda s, e: (s + e[0] * e[1], s))) == [0, 0, 11]
    zipped = pairs.window(2, drop_remainder=True).flat_map(
        lambda a, b: D.zip((a.batch(2), b.batch(2))))
    assert [(a.tolist(), b.tolist()) for a, b in zipped.as_numpy_iterator()] == \
        [([0, 1], [10, 11])]
    assert D.range(3).repeat().window(2).take(2).cardinality() != 0
    assert values(D.from_tensor_slices(np.array([3, 1, 3, 2, 1]))).count(3) == 2
    assert values(D.from_tensor_slices(np.array([3, 1, 3, 2, 1])).unique()) == [3, 1, 2]
    windows = D.range(7).window(3, shift=2, drop_remainder=True).flat_map(
        lambda w: w.batch(3))
    assert values(windows) == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert values(D.range(5).window(2, stride=2).flat_map(lambda w: w.batch(2))) == \
        [[0, 2], [2, 4], [4]]
    assert int(D.range(1).map(lambda x: x + 41).get_single_element()) == 41
    with pytest.raises(kiln.errors.InvalidArgumentError, match="exactly one"):
        r.get_single_element()
    spec = D.from_tensor_slices((np.zeros((4, 3), np.float32), np.arange(4))).element_spec
    assert spec[0].shape == (3,) and spec[0].dtype == kiln.float32 and spec[1].shape == ()
    assert values(D.range(4).batch(3).rebatch(2)) == [[0, 1], [2, 3]]
    assert values(r.apply(lambda ds: ds.skip(3))) == [3, 4]

    def risky(x):
        if int(x) == 2:
            raise ValueError("bad element")
        return x
    assert values(r.map(risky).ignore_errors()) == [0, 1, 3, 4]
    mixed = values(D.sample_from_datasets([D.from_tensor_slices(np.zeros(50, np.int64)),
                                           D.from_tensor_slices(np.ones(50, np.int64))],
                                          weights=[0.5, 0.5], seed=3))
    assert len(mixed) == 100 and 0 < sum(mixed) == 50 and mixed != sorted(mixed)
    picked = values(D.choose_from_datasets([D.range(10), D.range(100, 110)],
                                           D.from_tensor_slices(np.array([0, 1, 1, 0]))))
    assert picked == [0, 100, 101, 1]
    assert len(values(D.random(seed=1).take(3))) == 3
    assert r.with_options(kiln.data.Options()) is r


def test_group_by_window_and_bucket_by_sequence_length():
    # Sequences of lengths 1..9 with a label: buckets [0, 3), [3, 6), [6, inf)
    # batch 2, 2, 3 of them, padded to the batch's longest (or the bucket's
    # boundary - 1); the order is the order the batches fill.
    lengths = [4, 1, 7, 2, 5, 8, 9, 3, 6, 1]
    seqs = [np.arange(1, n + 1, dtype=np.int32) for n in lengths]

    def gen():
        for s, n in zip(seqs, lengths):
            yield s, np.int32(n)
    ds = kiln.data.Dataset.from_generator(gen, output_types=(kiln.int32, kiln.int32),
                                          output_shapes=([None], []))
    batches = [(np.asarray(x), np.asarray(y)) for x, y in ds.bucket_by_sequence_length(
        lambda s, n: n, [3, 6], [2, 2, 3])]
    # Fill order: bucket 0 gets 1, 2 -> batch; bucket 1: 4, 5 -> batch;
    # bucket 2: 7, 8, 9 -> batch; then the partial ones by bucket: 1, 3, 6
    # (TensorFlow flushes them by ascending key).
    assert [list(y) for _, y in batches] == [[1, 2], [4, 5], [7, 8, 9], [1], [3], [6]]
    x, _ = batches[2]
    assert x.shape == (3, 9)
    np.testing.assert_array_equal(x[0], list(range(1, 8)) + [0, 0])
    # To the boundary - 1: the sequence dimension from_generator declared
    # None, even for a batch of one.
    padded = [np.asarray(x) for x, _ in ds.bucket_by_sequence_length(
        lambda s, n: n, [3, 6, 10], [2, 2, 3, 1], pad_to_bucket_boundary=True)]
    assert [p.shape[1] for p in padded] == [2, 5, 9, 2, 5, 9]
    # A fixed-size component keeps its extent; padded_shapes' None entries
    # are the ones padded to the boundary.
    with_onehot = kiln.data.Dataset.from_generator(
        lambda: ((s, np.eye(4, dtype=np.float32)[n % 4]) for s, n in zip(seqs, lengths)),
        output_types=(kiln.int32, kiln.float32), output_shapes=([None], [4]))
    shapes = [(np.asarray(x).shape, np.asarray(y).shape) for x, y in
              with_onehot.bucket_by_sequence_length(lambda s, h: kiln.shape(s)[0], [3, 6],
                                                    [2, 2, 3], padded_shapes=([None], [4]),
                                                    pad_to_bucket_boundary=False)]
    assert shapes[0] == ((2, 2), (2, 4))
    boundary = [np.asarray(x).shape for x, _ in with_onehot.bucket_by_sequence_length(
        lambda s, h: kiln.shape(s)[0], [3, 6, 10], [2, 2, 3, 1], padded_shapes=([-1], [4]),
        pad_to_bucket_boundary=True)]
    assert [b[1] for b in boundary] == [2, 5, 9, 2, 5, 9]
    dropped = list(ds.bucket_by_sequence_length(lambda s, n: n, [3, 6], [2, 2, 3],
                                                drop_remainder=True))
    assert len(dropped) == 3
    # group_by_window with a fixed window: parity groups of 2, summed.
    evens_odds = kiln.data.Dataset.range(7).group_by_window(
        lambda v: v % 2, lambda key, group: group.batch(2), window_size=2)
    assert [list(np.asarray(b)) for b in evens_odds] == [[0, 2], [1, 3], [4, 6], [5]]
    with pytest.raises(ValueError, match="batch sizes"):
        ds.bucket_by_sequence_length(lambda s, n: n, [3, 6], [2, 2])


def test_save_load_and_file_cache(tmp_path):
    # Elements of every kind (tuples, dicts, integer, bfloat16, varying
    # extents) come back as they went in; shards by shard_func, GZIP, a
    # reader_func; element_spec checked; a file cache replays its first
    # complete pass, in a later "program" too, and a stopped pass leaves none.
    Dataset = kiln.data.Dataset
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.array([3, 2, 4, 1, 6, 9], np.int64)
    ds = Dataset.from_tensor_slices({"x": x, "y": y}).map(
        lambda e: ({"x": e["x"] * 2.0, "y": e["y"]}, kiln.cast(e["x"], kiln.bfloat16)))
    path = tmp_path / "saved"
    ds.save(str(path), compression="GZIP", shard_func=lambda e, b: e["y"] % 2)
    loaded = Dataset.load(str(path))
    assert loaded.cardinality() == 6
    got = list(loaded)
    # Shard 0 (even y) first, then shard 1, each in the original order.
    order = [i for i in range(6) if y[i] % 2 == 0] + [i for i in range(6) if y[i] % 2 == 1]
    for (e, b), i in zip(got, order):
        np.testing.assert_array_equal(e["x"].numpy(), x[i] * 2)
        assert e["y"].dtype == kiln.int64 and int(e["y"]) == y[i]
        assert b.dtype == kiln.bfloat16
        np.testing.assert_array_equal(b.numpy().astype(np.float32), x[i])
    spec = ds.element_spec
    assert len(list(Dataset.load(str(path), element_spec=spec))) == 6
    with pytest.raises(kiln.errors.InvalidArgumentError, match="does not describe"):
        Dataset.load(str(path), element_spec=kiln.TensorSpec([4], kiln.float32))
    backwards = Dataset.load(
        str(path), reader_func=lambda shards: shards.interleave(lambda d: d, cycle_length=2))
    assert [int(e["y"]) for e, _ in backwards] == [2, 3, 4, 1, 6, 9]
    # Varying extents (a ragged padded_batch of sequences) and no sharding.
    seqs = Dataset.from_generator(lambda: ([1] * n for n in (1, 3, 2, 5)),
                                  output_signature=kiln.TensorSpec([None], kiln.int32))
    batches = seqs.padded_batch(2)
    batches.save(str(tmp_path / "ragged"))
    for a, b in zip(Dataset.load(str(tmp_path / "ragged")), batches):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(kiln.errors.NotFoundError, match="holds no saved dataset"):
        Dataset.load(str(tmp_path / "nothing"))
    # A file cache: the map runs on the first complete pass only.
    calls = []

    def note(v):
        calls.append(1)
        return v
    source = Dataset.range(5).map(lambda v: kiln.py_function(note, [v], kiln.int64))
    cache = str(tmp_path / "c")
    partial = source.cache(cache)
    next(iter(partial))                                   # (stopped: no cache yet)
    assert not (tmp_path / "c.kiln-cache").exists()
    calls.clear()
    cached = source.cache(cache)
    assert [int(v) for v in cached] == [0, 1, 2, 3, 4] and len(calls) == 5
    assert [int(v) for v in cached] == [0, 1, 2, 3, 4] and len(calls) == 5
    again = Dataset.range(5).map(lambda v: kiln.py_function(note, [v], kiln.int64)).cache(cache)
    assert [int(v) for v in again] == [0, 1, 2, 3, 4] and len(calls) == 5
    with pytest.raises(ValueError, match="infinite"):
        Dataset.range(3).repeat().save(str(tmp_path / "inf"))
    # A save replaces only an earlier save or an empty directory: never a
    # directory of other files (or a file).
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(kiln.errors.AlreadyExistsError, match="not a saved dataset"):
        Dataset.range(3).save(str(busy))
    assert (busy / "keep.txt").read_text() == "mine"
    Dataset.range(4).save(str(path))                     # (over the earlier save)
    assert [int(v) for v in Dataset.load(str(path))] == [0, 1, 2, 3]


def test_cardinality_as_a_tensor_and_the_experimental_helpers():
    D = kiln.data.Dataset
    ds = D.range(5).map(lambda x: x * 2)
    count = ds.cardinality()
    assert count.dtype == kiln.int64 and count.numpy() == 5
    assert kiln.data.experimental.cardinality(ds.repeat()).numpy() == \
        kiln.data.INFINITE_CARDINALITY == kiln.data.experimental.INFINITE_CARDINALITY
    kept = ds.filter(lambda x: x > 2)
    assert kept.cardinality().numpy() == kiln.data.UNKNOWN_CARDINALITY
    known = kept.apply(kiln.data.experimental.assert_cardinality(3))
    assert known.cardinality().numpy() == 3 and [int(x) for x in known] == [4, 6, 8]
    for wrong, message in ((4, "has 3 elements, not 4"), (2, "more than 2")):
        with pytest.raises(kiln.errors.InvalidArgumentError, match=message):
            list(kept.apply(kiln.data.experimental.assert_cardinality(wrong)))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="has 5 elements"):
        ds.apply(kiln.data.experimental.assert_cardinality(4))
    mixed = kiln.data.experimental.sample_from_datasets([D.range(3), D.range(10, 13)], seed=1)
    assert sorted(int(x) for x in mixed) == [0, 1, 2, 10, 11, 12]
    assert int(kiln.data.experimental.get_single_element(D.range(7, 8))) == 7


def test_element_spec_is_static_where_tensorflow_knows_it():
    """TensorFlow's element_spec: a batch's extent is None unless
    drop_remainder (so input_signature=[ds.element_spec] takes the last,
    smaller batch), a generator's output_signature, range's scalar int64
    (an empty range too), kept through shuffle / repeat / take."""
    D = kiln.data.Dataset
    assert D.range(5).batch(2).element_spec == kiln.TensorSpec([None], kiln.int64)
    assert D.range(5).batch(2, drop_remainder=True).element_spec == \
        kiln.TensorSpec([2], kiln.int64)
    assert D.range(0).element_spec == kiln.TensorSpec([], kiln.int64)
    assert D.range(9).shuffle(3, seed=1).repeat(2).take(4).element_spec == \
        kiln.TensorSpec([], kiln.int64)

    def rows():
        yield np.arange(3, dtype=np.int32)

    spec = kiln.TensorSpec([None], kiln.int32)
    assert D.from_generator(rows, output_signature=spec).element_spec == spec
    batches = D.range(5).batch(2)
    doubled = kiln.function(lambda x: x * 2, input_signature=[batches.element_spec])
    assert [doubled(b).numpy().tolist() for b in batches] == [[0, 2], [4, 6], [8]]
    assert doubled.trace_count == 1


def test_cardinality_of_windows_and_an_endless_repeat_of_nothing():
    """TensorFlow's counts: range(0).repeat() is empty (0, not unknown), an
    endless repeat of anything else INFINITE; window's count is the number
    of windows iteration gives (counted here by iterating)."""
    D = kiln.data.Dataset
    assert int(D.range(0).repeat().cardinality()) == 0
    assert int(D.range(3).repeat().cardinality()) == D.INFINITE
    for n, size, shift, stride, drop in ((10, 3, 2, 1, False), (10, 3, 2, 1, True),
                                         (10, 3, 3, 2, True), (7, 4, 2, 2, False),
                                         (2, 3, 1, 1, True)):
        windows = D.range(n).window(size, shift, stride, drop)
        assert int(windows.cardinality()) == len(list(windows)), (n, size, shift, stride, drop)
