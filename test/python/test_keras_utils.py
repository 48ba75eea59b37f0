"""tf.keras.utils helpers: pad_sequences against hand-written cases,
timeseries_dataset_from_array against windows cut in NumPy,
set_random_seed, normalize."""

import os
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


def _image_tree(root, sizes):
    """class_a/, class_b/ of PNGs (random pixels, given sizes), a stray
    text file and a hidden folder; returns {path: array}."""
    from PIL import Image
    rng = np.random.default_rng(53)
    written = {}
    for cls, shapes in (("class_a", sizes[:3]), ("class_b", sizes[3:])):
        os.makedirs(root / cls / "nested", exist_ok=True)
        for i, (h, w) in enumerate(shapes):
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            path = root / cls / ("nested" if i == 2 else "") / f"img{i}.png"
            Image.fromarray(pixels).save(path)
            written[str(path)] = pixels
        (root / cls / "notes.txt").write_text("not an image")
    # (a hidden folder is no class, but labels=None walks it, as Keras)
    os.makedirs(root / ".hidden", exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / ".hidden" / "x.png")
    written[str(root / ".hidden" / "x.png")] = np.zeros((4, 4, 3), np.uint8)
    return written


def test_image_dataset_from_directory(tmp_path, capsys):
    written = _image_tree(tmp_path, [(6, 8)] * 5)
    ds = kiln.keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 8), batch_size=2, shuffle=False)
    assert "Found 5 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["class_a", "class_b"]
    # Keras' order: class folders sorted, then os.walk's folders and files sorted.
    a, b = str(tmp_path / "class_a"), str(tmp_path / "class_b")
    assert ds.file_paths == [f"{a}/img0.png", f"{a}/img1.png", f"{a}/nested/img2.png",
                             f"{b}/img0.png", f"{b}/img1.png"]
    images = np.concatenate([x.numpy() for x, _ in ds])
    labels = np.concatenate([y.numpy() for _, y in ds])
    np.testing.assert_array_equal(images, np.stack([written[p] for p in ds.file_paths]))
    assert images.dtype == np.float32 and labels.tolist() == [0, 0, 0, 1, 1]
    # Shuffled with RandomState(seed) as Keras, split at the end, categorical.
    train, val = kiln.keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 8), seed=7, validation_split=0.4, subset="both",
        label_mode="categorical")
    order = list(ds.file_paths)
    np.random.RandomState(7).shuffle(order)
    assert train.file_paths == order[:3] and val.file_paths == order[3:]
    y = np.concatenate([t.numpy() for _, t in val])
    assert y.shape == (2, 2) and (y.sum(axis=1) == 1).all()
    # Labels stay with their files through the shuffles (the file order
    # shuffled once, the elements again within each pass).
    for part in (train, val):
        for images, onehot in part:
            for image, row in zip(images.numpy(), onehot.numpy()):
                path = next(p for p in part.file_paths if np.array_equal(written[p], image))
                assert row.argmax() == ("class_b" in path)
    with pytest.raises(ValueError, match="give a seed"):
        kiln.keras.utils.image_dataset_from_directory(tmp_path, validation_split=0.2,
                                                      subset="training")


def test_image_dataset_resizes_as_kiln_image_resize(tmp_path):
    written = _image_tree(tmp_path, [(5, 9), (12, 7), (6, 6), (9, 4), (3, 3)])
    for method in ("bilinear", "nearest", "bicubic", "area", "lanczos3"):
        ds = kiln.keras.utils.image_dataset_from_directory(
            tmp_path, image_size=(6, 5), batch_size=None, shuffle=False, labels=None,
            interpolation=method, color_mode="grayscale", verbose=False)
        for x, path in zip(ds, ds.file_paths):
            gray = np.asarray(__import__("PIL.Image").Image.fromarray(written[path])
                              .convert("L"), np.float32)[:, :, None]
            want = kiln.image.resize(gray, [6, 5], method=method).numpy()
            np.testing.assert_allclose(x.numpy(), want, rtol=1e-5, atol=1e-3,
                                       err_msg=f"{method} {path}")
    model = kiln.Sequential([kiln.Input((6, 5, 1)), kiln.layers.Rescaling(1 / 255),
                             kiln.layers.Flatten(), kiln.layers.Dense(2)])
    model.compile(optimizer="adam",
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = kiln.keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 5), batch_size=2, color_mode="grayscale", seed=1,
        verbose=False)
    assert np.isfinite(model.fit(ds, epochs=2, verbose=0).history["loss"]).all()


def test_image_files_and_split_dataset(tmp_path, capsys):
    pixels = np.random.default_rng(3).integers(0, 256, size=(5, 7, 3)).astype(np.float32)
    path = str(tmp_path / "a.png")
    kiln.keras.utils.save_img(path, pixels, scale=False)
    img = kiln.keras.utils.load_img(path)
    np.testing.assert_array_equal(kiln.keras.utils.img_to_array(img), pixels)
    assert kiln.keras.utils.load_img(path, color_mode="grayscale", target_size=(3, 4)).size \
        == (4, 3)
    scaled = kiln.keras.utils.img_to_array(kiln.keras.utils.array_to_img(pixels / 255 - 0.5))
    np.testing.assert_allclose(scaled, (pixels - pixels.min()) / (pixels.max() - pixels.min())
                               * 255, atol=1.0)
    # split_dataset: Keras' sizes, Python's random.shuffle(seed), rebatched.
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    left, right = kiln.keras.utils.split_dataset((x, y), left_size=0.7, shuffle=True, seed=5)
    order = list(zip(x, y))
    random.seed(5)
    random.shuffle(order)
    assert [int(b) for _, b in left] == [int(b) for _, b in order[:7]]
    assert [int(b) for _, b in right] == [int(b) for _, b in order[7:]]
    batched = kiln.data.Dataset.from_tensor_slices(x).batch(4)
    left, right = kiln.keras.utils.split_dataset(batched, right_size=3)
    assert [b.shape[0] for b in left] == [4, 3] and [b.shape[0] for b in right] == [3]
    with pytest.raises(ValueError, match="float in"):
        kiln.keras.utils.split_dataset(x, left_size=1.5)
    bar = kiln.keras.utils.Progbar(4, verbose=1, interval=0)
    for i in range(4):
        bar.update(i + 1, [("loss", 1.0 / (i + 1))])
    out = capsys.readouterr().out
    assert "4/4 [" in out and "loss: 0.5208" in out
    assert kiln.keras.utils.unpack_x_y_sample_weight((1, 2)) == (1, 2, None)
    b = kiln.keras.backend
    assert b.epsilon() == 1e-7 and b.image_data_format() == "channels_last"
    assert b.floatx() == "float32" and b.is_keras_tensor(kiln.Input((2,)))
    v = kiln.Variable([1.0, 2.0])
    b.set_value(v, [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(v), [3.0, 4.0])


def test_py_dataset_in_fit_and_evaluate():
    # A Keras PyDataset (Sequence) of batches: fit on it equals fit on the
    # arrays with the same batches (no shuffling); its epoch hooks run.
    rng = np.random.default_rng(9)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-1.0], [0.5]])).astype(np.float32)

    class Batches(kiln.keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.ends = 0

        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[8 * i:8 * i + 8], y[8 * i:8 * i + 8]

        def on_epoch_end(self):
            self.ends += 1

    def make():
        kiln.random.set_seed(4)
        m = kiln.Sequential([kiln.Input((3,)), kiln.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        return m
    seq, a, b = Batches(), make(), make()
    a.fit(seq, epochs=2, shuffle=False, verbose=0, validation_data=seq)
    b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6)
    assert seq.ends == 4                           # (2 training passes, 2 validations)
    np.testing.assert_allclose(a.evaluate(seq, verbose=0), b.evaluate(x, y, verbose=0),
                               rtol=1e-6)
    shuffled = make()
    shuffled.fit(seq, epochs=1, verbose=0)         # (batch order shuffled: still trains)
    assert kiln.keras.utils.Sequence is kiln.keras.utils.PyDataset


def test_keras2_text_tokenizer():
    # Expected values worked out by hand from Keras 2's rules: indices from 1
    # by falling count (ties in order of appearance), the OOV token first,
    # words ranked num_words or later become the OOV index.
    T = kiln.keras.preprocessing.text
    assert T.text_to_word_sequence("Hello, World!  x") == ["hello", "world", "x"]
    t = T.Tokenizer(num_words=4, oov_token="<OOV>")
    t.fit_on_texts(["The cat sat.", "The cat, the hat!", "A dog"])
    assert t.word_index == {"<OOV>": 1, "the": 2, "cat": 3, "sat": 4, "hat": 5, "a": 6,
                            "dog": 7}
    assert t.document_count == 3 and t.word_counts["the"] == 3 and t.word_docs["the"] == 2
    assert t.texts_to_sequences(["the hat sat on a cat"]) == [[2, 1, 1, 1, 1, 3]]
    assert t.sequences_to_texts([[2, 3, 9]]) == ["the cat <OOV>"]
    np.testing.assert_array_equal(t.texts_to_matrix(["the the cat"], mode="count"),
                                  [[0, 0, 2, 1]])
    np.testing.assert_array_equal(t.texts_to_matrix(["the the cat"]), [[0, 0, 1, 1]])
    np.testing.assert_allclose(t.texts_to_matrix(["the the cat"], mode="freq"),
                               [[0, 0, 2 / 3, 1 / 3]])
    # tfidf: (1 + ln count) ln(1 + documents / (1 + documents with the word))
    np.testing.assert_allclose(t.texts_to_matrix(["the the cat"], mode="tfidf"),
                               [[0, 0, (1 + np.log(2)) * np.log(1 + 3 / 3),
                                 np.log(1 + 3 / 3)]])
    again = T.tokenizer_from_json(t.to_json())
    assert again.word_index == t.word_index and again.texts_to_sequences(["cat dog"]) == [[3, 1]]
    chars = T.Tokenizer(char_level=True)
    chars.fit_on_texts(["abca"])
    assert chars.word_index == {"a": 1, "b": 2, "c": 3}
    with pytest.raises(ValueError, match="fit on some texts first"):
        T.Tokenizer().texts_to_matrix(["x"])


def test_image_data_generator(tmp_path, capsys):
    """Keras 2's ImageDataGenerator: its matrices' geometry (a 90 degree
    rotation about the centre is a clockwise rot90, a row shift moves rows
    up), flips, rescale and featurewise standardization against NumPy;
    flow and flow_from_directory batches, subsets, labels, and fit reading
    them."""
    from PIL import Image
    P = kiln.keras.preprocessing.image
    rng = np.random.default_rng(0)
    x = rng.random((5, 5, 2)).astype(np.float32)
    # (Keras' matrix is in (x, y) order, swapped onto (row, column): a
    # positive angle turns the image counterclockwise, tx shifts columns)
    np.testing.assert_allclose(P.apply_affine_transform(x, theta=90), np.rot90(x, 1),
                               atol=1e-6)
    shifted = P.apply_affine_transform(x, tx=1, fill_mode="constant", cval=-1.0)
    np.testing.assert_allclose(shifted[:, :-1], x[:, 1:], atol=1e-6)
    assert (shifted[:, -1] == -1.0).all()
    g = P.ImageDataGenerator(rescale=0.5)
    np.testing.assert_allclose(g.apply_transform(x, {"flip_horizontal": True}), x[:, ::-1])
    np.testing.assert_allclose(g.standardize(x), x * 0.5)
    batch = rng.random((6, 4, 4, 3)).astype(np.float32) * 10
    f = P.ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True,
                             rescale=0.5)   # (fit's statistics are of the rescaled images)
    f.fit(batch)
    out = np.stack([f.standardize(b) for b in batch])
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    # flow: subsets by validation_split (the first part validates), labels kept.
    images = rng.random((10, 8, 8, 3)).astype(np.float32) * 255
    aug = P.ImageDataGenerator(rescale=1 / 255, rotation_range=20, width_shift_range=0.1,
                               horizontal_flip=True, validation_split=0.2)
    train = aug.flow(images, np.arange(10), batch_size=4, seed=1, subset="training")
    valid = aug.flow(images, np.arange(10), batch_size=4, subset="validation", shuffle=False)
    assert (train.n, len(train), valid.n) == (8, 2, 2)
    assert sorted(np.concatenate([train[i][1] for i in range(2)]).tolist()) == list(range(2, 10))
    assert valid[0][1].tolist() == [0, 1] and 0 <= train[0][0].min() and train[0][0].max() <= 1
    model = kiln.keras.Sequential([kiln.keras.Input((8, 8, 3)), kiln.keras.layers.Flatten(),
                                   kiln.keras.layers.Dense(1)])
    model.compile("adam", "mse")
    assert len(model.fit(train, epochs=2, verbose=0).history["loss"]) == 2
    # flow_from_directory: a folder per class, one-hot labels by sorted class.
    for name, count in (("cats", 3), ("dogs", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (6, 6, 3)).astype(np.uint8)).save(
                tmp_path / name / f"{i}.png")
    flow = P.ImageDataGenerator().flow_from_directory(
        str(tmp_path), target_size=(4, 4), batch_size=5, shuffle=False)
    assert "Found 5 images belonging to 2 classes." in capsys.readouterr().out
    assert flow.class_indices == {"cats": 0, "dogs": 1} and flow.classes.tolist() == [0, 0, 0,
                                                                                        1, 1]
    images, labels = flow[0]
    assert images.shape == (5, 4, 4, 3)
    np.testing.assert_array_equal(labels, np.eye(2)[[0, 0, 0, 1, 1]])
    sparse = P.ImageDataGenerator().flow_from_directory(str(tmp_path), target_size=(4, 4),
                                                        class_mode="sparse", shuffle=False)
    assert sparse[0][1].tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="class_mode"):
        P.ImageDataGenerator().flow_from_directory(str(tmp_path), class_mode="other")
