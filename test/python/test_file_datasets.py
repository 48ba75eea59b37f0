"""Keras' text/audio_dataset_from_directory and tf.data's CSV readers
(CsvDataset, make_csv_dataset). Oracles: the files the tests write (with
Python's csv module and SciPy's wavfile) and Keras' documented order."""

import csv

import numpy as np
import pytest
from scipy.io import wavfile

import kiln
from kiln import errors

RNG = np.random.default_rng(8)


def write_texts(root):
    texts = {"neg": ["awful film", "bad", "boring plot"], "pos": ["great", "loved it"]}
    for label, items in texts.items():
        (root / label).mkdir()
        for i, text in enumerate(items):
            (root / label / f"{i}.txt").write_text(text)
    (root / "pos" / "notes.md").write_text("ignored")
    return texts


def test_text_dataset_from_directory(tmp_path):
    texts = write_texts(tmp_path)
    ds = kiln.keras.utils.text_dataset_from_directory(str(tmp_path), batch_size=2,
                                                      shuffle=False, verbose=False)
    assert ds.class_names == ["neg", "pos"]
    got = [(t, int(y)) for x, labels in ds for t, y in zip(x.numpy().tolist(),
                                                            labels.numpy().tolist())]
    want = [(t.encode(), k) for k, name in enumerate(["neg", "pos"])
            for t in sorted(texts[name], key=lambda s: texts[name].index(s))]
    assert sorted(got) == sorted(want) and len(got) == 5
    cut = kiln.keras.utils.text_dataset_from_directory(str(tmp_path), batch_size=None,
                                                       max_length=3, shuffle=False,
                                                       label_mode="categorical", verbose=False)
    first, label = next(iter(cut))
    assert first.numpy() == b"awf" and label.numpy().tolist() == [1.0, 0.0]
    train, val = kiln.keras.utils.text_dataset_from_directory(
        str(tmp_path), validation_split=0.4, subset="both", seed=3, verbose=False)
    seen = [t for x, _ in train for t in x.numpy().tolist()] + \
        [t for x, _ in val for t in x.numpy().tolist()]
    assert sorted(seen) == sorted(t.encode() for items in texts.values() for t in items)
    # The vectorize-in-the-pipeline recipe on top of it.
    vectorize = kiln.layers.TextVectorization(output_sequence_length=3)
    vectorize.adapt(train.map(lambda x, y: x))
    batch, _ = next(iter(train.map(lambda x, y: (vectorize(x), y))))
    assert batch.dtype == kiln.int64 and batch.shape[1] == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no text files"):
        kiln.keras.utils.text_dataset_from_directory(str(tmp_path / "empty"), verbose=False)
    with pytest.raises(ValueError, match="x is not a directory"):
        kiln.keras.utils.text_dataset_from_directory(str(tmp_path / "x"))


def test_audio_dataset_from_directory(tmp_path):
    clips = {}
    for label in ("no", "yes"):
        (tmp_path / label).mkdir()
        for i, n in enumerate((300, 500)):
            pcm = RNG.integers(-30000, 30000, n).astype(np.int16)
            wavfile.write(str(tmp_path / label / f"{i}.wav"), 8000, pcm)
            clips[(label, i)] = pcm / 32768.0
    fixed = kiln.keras.utils.audio_dataset_from_directory(
        str(tmp_path), batch_size=4, output_sequence_length=400, shuffle=False, verbose=False)
    audio, labels = next(iter(fixed))
    assert audio.shape == (4, 400, 1) and labels.numpy().tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(audio.numpy()[0, :300, 0], clips[("no", 0)])
    assert (audio.numpy()[0, 300:] == 0).all()
    np.testing.assert_array_equal(audio.numpy()[1, :, 0], clips[("no", 1)][:400])
    padded = kiln.keras.utils.audio_dataset_from_directory(
        str(tmp_path), batch_size=2, shuffle=False, verbose=False)
    audio, _ = next(iter(padded))
    assert audio.shape == (2, 500, 1)
    np.testing.assert_array_equal(audio.numpy()[0, :300, 0], clips[("no", 0)])
    with pytest.raises(ValueError, match="sampled at 8000 Hz, not 16000"):
        list(kiln.keras.utils.audio_dataset_from_directory(str(tmp_path), sampling_rate=16000,
                                                           verbose=False))


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_csv_dataset_and_make_csv_dataset(tmp_path):
    rows = [["age", "name", "score", "label"]] + \
        [[str(20 + i), f"p{i}" if i % 3 else f"p, {i}", "" if i == 4 else f"{i / 4}", str(i % 2)]
         for i in range(10)]
    path = str(tmp_path / "t.csv")
    write_csv(path, rows)
    table = kiln.data.experimental.CsvDataset(path, [kiln.int32, [""], [-1.0], [0]],
                                              header=True)
    got = [tuple(t.numpy().tolist() if t.dtype != kiln.string else t.numpy() for t in row)
           for row in table]
    want = [(int(r[0]), r[1].encode(), float(r[2]) if r[2] else -1.0, int(r[3]))
            for r in rows[1:]]
    assert got == want
    picked = kiln.data.experimental.CsvDataset(path, [[0.0], [0]], header=True,
                                               select_cols=[2, 3])
    assert [float(a) for a, _ in picked][:2] == [0.0, 0.25]
    batches = kiln.data.experimental.make_csv_dataset(path, batch_size=4, label_name="label",
                                                      num_epochs=1, shuffle=False)
    features, labels = next(iter(batches))
    assert sorted(features) == ["age", "name", "score"]
    assert features["age"].dtype == kiln.int32 and features["score"].dtype == kiln.float32
    assert features["name"].dtype == kiln.string
    assert features["age"].numpy().tolist() == [20, 21, 22, 23]
    assert labels.numpy().tolist() == [0, 1, 0, 1]
    assert sum(1 for _ in batches) == 3          # (10 rows in batches of 4)
    forever = kiln.data.experimental.make_csv_dataset(path, batch_size=4, shuffle_seed=1)
    assert sum(1 for _ in forever.take(7)) == 7  # (num_epochs=None repeats, as TF)
    bad = str(tmp_path / "bad.csv")
    write_csv(bad, [["a", "b"], ["1", "x"]])
    with pytest.raises(errors.InvalidArgumentError, match=r"bad.csv:2: field 1 \('x'\)"):
        list(kiln.data.experimental.CsvDataset(bad, [[0], [0]], header=True))
    with pytest.raises(ValueError, match="label_name 'nope'"):
        kiln.data.experimental.make_csv_dataset(path, 2, label_name="nope")


def test_keras_download_datasets_from_files_on_disk(tmp_path, monkeypatch):
    """Keras' mnist/cifar10/cifar100/boston_housing/imdb read from the files
    Keras would have downloaded (made here, small), with Keras' shuffles
    and index rules worked out with NumPy; a missing file is a
    NotFoundError saying where to put it."""
    import pickle
    import tarfile
    D = kiln.keras.datasets
    monkeypatch.setenv("KILN_DATASETS_DIR", str(tmp_path))
    with pytest.raises(kiln.errors.NotFoundError, match="does not download"):
        D.mnist.load_data()
    rng = np.random.default_rng(0)
    digits = {k: rng.integers(0, 255, (n, 28, 28)).astype(np.uint8)
              for k, n in (("x_train", 5), ("x_test", 2))}
    np.savez(tmp_path / "mnist.npz", y_train=np.arange(5, dtype=np.uint8),
             y_test=np.arange(2, dtype=np.uint8), **digits)
    (x, y), (xt, yt) = D.mnist.load_data()
    np.testing.assert_array_equal(x, digits["x_train"])
    assert yt.tolist() == [0, 1]
    # CIFAR-10 as its tar.gz: rows of 3072 bytes, channels first.
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    pixels = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        pixels[name] = rng.integers(0, 255, (2, 3072)).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": pixels[name], b"labels": [1, 7]}, f)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(folder, arcname="cifar-10-batches-py")
    import shutil
    shutil.rmtree(folder)
    (x, y), (xt, yt) = D.cifar10.load_data()
    assert x.shape == (10, 32, 32, 3) and y.shape == (10, 1) and y.dtype == np.uint8
    np.testing.assert_array_equal(x[0, :, :, 1], pixels["data_batch_1"][0, 1024:2048]
                                  .reshape(32, 32))
    np.testing.assert_array_equal(xt[1], pixels["test_batch"][1].reshape(3, 32, 32)
                                  .transpose(1, 2, 0))
    # boston_housing: RandomState(113)'s shuffle, the last 20% for testing.
    features, prices = rng.random((10, 13)), rng.random(10)
    np.savez(tmp_path / "boston_housing.npz", x=features, y=prices)
    (x, y), (xt, yt) = D.boston_housing.load_data()
    order = np.arange(10)
    np.random.RandomState(113).shuffle(order)
    np.testing.assert_array_equal(x, features[order[:8]])
    np.testing.assert_array_equal(yt, prices[order[8:]])
    # imdb: start_char 1, indices + 3, num_words cut to oov_char 2.
    reviews = np.array([[1, 5, 9], [2, 2], [7]] + [None], dtype=object)[:-1]
    np.savez(tmp_path / "imdb.npz", x_train=reviews, y_train=np.array([0, 1, 1]),
             x_test=reviews[:1], y_test=np.array([1]))
    (x, y), (xt, yt) = D.imdb.load_data(num_words=9)
    order = np.arange(3)
    rng113 = np.random.RandomState(113)
    rng113.shuffle(order)
    want = [[1] + [w + 3 if w + 3 < 9 else 2 for w in reviews[i]] for i in order]
    assert [list(r) for r in x] == want and y.tolist() == [[0, 1, 1][i] for i in order]
    assert [list(r) for r in xt] == [[1, 4, 8, 2]]
    # reuters: one shuffle of everything, the last 20% for testing.
    wires = np.array([[4], [5, 6], [7, 8, 9], [1], [2, 3]] + [None], dtype=object)[:-1]
    np.savez(tmp_path / "reuters.npz", x=wires, y=np.arange(5))
    (x, y), (xt, yt) = D.reuters.load_data(oov_char=None, num_words=10)
    order = np.arange(5)
    np.random.RandomState(113).shuffle(order)
    want = [[1] + [w + 3 for w in wires[i] if w + 3 < 10] for i in order]
    assert [list(r) for r in np.concatenate([x, xt])] == want
    assert y.tolist() == order[:4].tolist() and yt.tolist() == order[4:].tolist()
