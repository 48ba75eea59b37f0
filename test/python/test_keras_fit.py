"""The Keras training loop (issue 17, item 3): compile/fit/evaluate/
predict/train_on_batch, callbacks, summary and weights. Oracles: NumPy
transcriptions of the updates and losses."""

import csv

import numpy as np
import pytest

import kiln
from kiln import callbacks, layers

RNG = np.random.default_rng(11)
X = RNG.normal(size=(96, 4)).astype(np.float32)
W_TRUE = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
Y = (X @ W_TRUE).astype(np.float32)


def _linear(lr):
    model = kiln.Sequential([layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=kiln.optimizers.SGD(lr), loss="mse")
    return model


def test_train_on_batch_is_one_sgd_step_of_the_mse():
    model = _linear(0.1)
    loss = model.train_on_batch(X[:32], Y[:32])
    assert loss == pytest.approx(float((Y[:32] ** 2).mean()), rel=1e-5)   # w = 0
    grad = -2.0 / 32 * X[:32].T @ Y[:32]
    np.testing.assert_allclose(model.get_weights()[0][:, 0], -0.1 * grad, rtol=1e-5)
    assert model.test_on_batch(X[:32], Y[:32]) == pytest.approx(
        float(((X[:32] @ (-0.1 * grad) - Y[:32]) ** 2).mean()), rel=1e-5)


def test_fit_learns_and_reports_like_keras(capsys):
    kiln.random.set_seed(4)
    model = _linear(0.05)
    history = model.fit(X, Y, batch_size=16, epochs=8, validation_split=0.25, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/8" in out and "Epoch 8/8" in out and " - val_loss: " in out
    assert set(history.history) == {"loss", "val_loss"} and history.epoch == list(range(8))
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    # validation_split holds out the last quarter: evaluate it directly.
    val = model.evaluate(X[72:], Y[72:], verbose=0)
    assert val == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    w = model.get_weights()[0][:, 0]
    assert val == pytest.approx(float(((X[72:] @ w - Y[72:]) ** 2).mean()), rel=1e-4)
    np.testing.assert_allclose(model.predict(X[:5])[:, 0], X[:5] @ w, rtol=1e-5, atol=1e-6)


def test_classification_metrics_and_datasets():
    kiln.random.set_seed(2)
    labels = (X @ W_TRUE > 0).astype(np.int64)
    model = kiln.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2)])
    model.compile(optimizer="adam",
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    data = kiln.data.Dataset.from_tensor_slices((X, labels)).batch(32)
    history = model.fit(data, epochs=3, verbose=0, validation_data=(X, labels))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, accuracy = model.evaluate(X, labels, verbose=0)
    logits = model.predict(X)
    assert accuracy == pytest.approx((logits.argmax(1) == labels).mean(), abs=1e-6)
    z = logits - logits.max(1, keepdims=True)
    ce = -(z[np.arange(96), labels] - np.log(np.exp(z).sum(1)))
    assert loss == pytest.approx(ce.mean(), rel=1e-4)
    assert model.evaluate(X, labels, verbose=0, return_dict=True)["accuracy"] == accuracy


def test_callbacks(tmp_path):
    model = _linear(0.0)  # nothing improves
    stop = callbacks.EarlyStopping(monitor="loss", patience=2)
    # Not shuffled: in another order the epoch's mean of the same batch
    # losses may differ in the last bit, which EarlyStopping (as Keras's,
    # min_delta 0) counts as an improvement.
    history = model.fit(X, Y, epochs=20, verbose=0, callbacks=[stop], shuffle=False)
    assert len(history.epoch) == 3 and model.stop_training

    model = _linear(0.05)
    log = tmp_path / "log.csv"
    rates = []
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: rates.append(lr) or 0.05 / (epoch + 1))
    best = tmp_path / "best.safetensors"
    save = callbacks.ModelCheckpoint(str(best), monitor="loss", save_best_only=True)
    every = callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}.safetensors"))
    history = model.fit(X, Y, epochs=3, verbose=0,
                        callbacks=[schedule, save, every, callbacks.CSVLogger(str(log))])
    assert history.history["lr"] == pytest.approx([0.05, 0.025, 0.05 / 3])
    assert rates[0] == pytest.approx(0.05)
    rows = list(csv.reader(open(log)))
    assert rows[0] == ["epoch", "loss", "lr"] and len(rows) == 4
    assert float(rows[3][1]) == pytest.approx(history.history["loss"][2], rel=1e-6)
    assert sorted(p.name for p in tmp_path.glob("w-*")) == ["w-01.safetensors", "w-02.safetensors",
                                                           "w-03.safetensors"]
    weights = model.get_weights()
    fresh = _linear(0.05)
    fresh(X[:1])  # (build)
    fresh.load_weights(str(best))   # the best epoch was the last
    np.testing.assert_array_equal(fresh.get_weights()[0], weights[0])

    restored = _linear(0.0)
    restored.fit(X, Y, epochs=1, verbose=0)
    restored.set_weights(weights)
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)
    restored.fit(X, Y, epochs=5, verbose=0, callbacks=[stop])
    np.testing.assert_array_equal(restored.get_weights()[0], weights[0])


def test_summary_and_weights():
    model = kiln.Sequential([layers.Dense(3), layers.BatchNormalization(), layers.Dense(1)])
    model(X[:2])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "dense" in text and "(None, 3)" in text and "BatchNormalization" in text
    assert "Total params: 31" in text            # 15 + 12 + 4
    assert "Trainable params: 25" in text and "Non-trainable params: 6" in text
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([np.zeros((9, 9))] + model.get_weights()[1:])


def test_errors():
    model = kiln.Sequential([layers.Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(X, Y)
    model.compile(optimizer="sgd")     # (Keras allows it: add_loss, a train_step)
    with pytest.raises(ValueError, match="has no loss"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="unknown loss 'hinge_squared'"):
        model.compile(optimizer="sgd", loss="hinge_squared")
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile(optimizer="sgd", loss="mse", metrics=["f1"])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="x has 96 samples but y has 10"):
        model.fit(X, Y[:10], verbose=0)
    with pytest.raises(KeyError, match="val_loss"):
        model.fit(X, Y, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_weight_regularizers_join_the_loss():
    reg = kiln.regularizers.L2(0.1)
    model = kiln.Sequential([layers.Dense(1, use_bias=False, kernel_initializer="ones",
                                          kernel_regularizer=reg)])
    model.compile(optimizer=kiln.optimizers.SGD(0.1), loss="mse")
    model(X[:1])
    (penalty,) = model.losses
    assert float(penalty) == pytest.approx(0.1 * 4)  # 0.1 * sum(ones(4)^2)
    w = np.ones(4)
    loss = model.train_on_batch(X[:32], Y[:32])
    err = X[:32] @ w - Y[:32]
    assert loss == pytest.approx(float((err ** 2).mean() + 0.1 * (w ** 2).sum()), rel=1e-5)
    grad = 2 / 32 * X[:32].T @ err + 0.2 * w
    np.testing.assert_allclose(model.get_weights()[0][:, 0], w - 0.1 * grad, rtol=1e-5)
    l1 = kiln.regularizers.get("l1")(kiln.constant([1.0, -2.0]))
    assert float(l1) == pytest.approx(0.03)
    with pytest.raises(ValueError, match="unknown regularizer"):
        kiln.regularizers.get("l3")


def _read_events(path):
    """The (step, {tag: value}) summaries of an event file, checking each
    record's framing and checksums (an independent reader of the format)."""
    import struct
    from kiln.tensorboard import masked_crc32c
    data = open(path, "rb").read()
    out, versions, pos = [], [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        assert struct.unpack_from("<I", data, pos + 8)[0] == masked_crc32c(data[pos:pos + 8])
        body = data[pos + 12:pos + 12 + n]
        assert struct.unpack_from("<I", data, pos + 12 + n)[0] == masked_crc32c(body)
        pos += 16 + n

        def fields(buf):
            i = 0
            while i < len(buf):
                key, shift = 0, 0
                while True:
                    b = buf[i]; i += 1
                    key |= (b & 0x7F) << shift; shift += 7
                    if not b & 0x80:
                        break
                number, wire = key >> 3, key & 7
                if wire == 0:
                    v, shift = 0, 0
                    while True:
                        b = buf[i]; i += 1
                        v |= (b & 0x7F) << shift; shift += 7
                        if not b & 0x80:
                            break
                elif wire == 1:
                    v = struct.unpack_from("<d", buf, i)[0]; i += 8
                elif wire == 5:
                    v = struct.unpack_from("<f", buf, i)[0]; i += 4
                else:
                    length, shift = 0, 0
                    while True:
                        b = buf[i]; i += 1
                        length |= (b & 0x7F) << shift; shift += 7
                        if not b & 0x80:
                            break
                    v = buf[i:i + length]; i += length
                yield number, v
        event = dict(fields(body))
        if 3 in event:
            versions.append(event[3].decode())
        if 5 in event:
            values = {}
            for number, value in fields(event[5]):
                item = dict(fields(value))
                # (a histogram: HistogramProto's fields, packed doubles unpacked)
                if 4 in item:   # (an image: height, width, colorspace, PNG)
                    values[item[1].decode()] = dict(fields(item[4]))
                    continue
                if 8 in item:   # (a tensor: plugin metadata, dtype, string_val)
                    plugin = dict(fields(dict(fields(item[9]))[1]))[1].decode()
                    values[item[1].decode()] = (plugin, dict(fields(item[8])))
                    continue
                values[item[1].decode()] = item[2] if 2 in item else {
                    k: (np.frombuffer(v, "<f8") if k in (6, 7) else v)
                    for k, v in fields(item[5])}
            out.append((event.get(2, 0), values))
    return versions, out


def test_tensorboard_event_files(tmp_path):
    from kiln.tensorboard import crc32c
    assert crc32c(b"123456789") == 0xE3069283      # the standard CRC-32C check value
    model = _linear(0.05)
    board = callbacks.TensorBoard(log_dir=str(tmp_path))
    history = model.fit(X, Y, epochs=3, verbose=0, validation_split=0.25, callbacks=[board])
    (train_file,) = (tmp_path / "train").glob("events.out.tfevents.*")
    versions, summaries = _read_events(train_file)
    assert versions == ["brain.Event:2"]
    assert [s for s, _ in summaries] == [0, 1, 2]
    for (_, values), loss in zip(summaries, history.history["loss"]):
        assert values["epoch_loss"] == pytest.approx(loss, rel=1e-6)
    (val_file,) = (tmp_path / "validation").glob("events.out.tfevents.*")
    _, summaries = _read_events(val_file)
    assert summaries[-1][1]["epoch_loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-6)


def test_tensorboard_weight_histograms(tmp_path):
    model = _linear(0.05)
    board = callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=2)
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[board])
    (train_file,) = (tmp_path / "train").glob("events.out.tfevents.*")
    _, summaries = _read_events(train_file)
    histograms = [(step, values) for step, values in summaries
                  if any(isinstance(v, dict) for v in values.values())]
    assert [step for step, _ in histograms] == [0, 2]      # (every 2 epochs)
    kernel = model.layers[-1].kernel
    got = histograms[-1][1][kernel.name.rsplit(":", 1)[0]]
    w = kernel.numpy().astype(np.float64).ravel()
    counts, edges = np.histogram(w, bins=30, range=(w.min(), w.max()))
    assert got[1] == pytest.approx(w.min()) and got[2] == pytest.approx(w.max())
    assert got[3] == w.size and got[4] == pytest.approx(w.sum())
    assert got[5] == pytest.approx((w * w).sum())
    np.testing.assert_allclose(got[6], edges[1:])
    np.testing.assert_array_equal(got[7], counts)
    with pytest.raises(ValueError, match="profile_batch is not supported"):
        callbacks.TensorBoard(log_dir=str(tmp_path), profile_batch=2)


def test_activity_regularizers_and_add_loss():
    model = kiln.Sequential([layers.Dense(1, use_bias=False, kernel_initializer="ones",
                                          activity_regularizer=kiln.regularizers.L2(0.01))])
    model.compile(optimizer=kiln.optimizers.SGD(0.0), loss="mse")
    out = model(X[:8]).numpy()
    (penalty,) = model.losses
    assert float(penalty) == pytest.approx(0.01 * float((out ** 2).sum()), rel=1e-5)
    loss = model.train_on_batch(X[:8], Y[:8])
    pred = X[:8].sum(1)
    assert loss == pytest.approx(float(((pred - Y[:8]) ** 2).mean() + 0.01 * (pred ** 2).sum()),
                                 rel=1e-5)

    class Penalized(kiln.layers.Layer):
        def call(self, x):
            self.add_loss(kiln.reduce_mean(kiln.abs(x)))
            return x
    layer = Penalized()
    layer(np.array([[-2.0, 2.0]], np.float32))
    assert [float(t) for t in layer.losses] == [2.0]
    layer(np.array([[1.0, 1.0]], np.float32))     # each call replaces them
    assert [float(t) for t in layer.losses] == [1.0]


def test_sample_and_class_weights():
    # One SGD step on a weighted MSE: the loss is the mean of w * error^2
    # (Keras' sum over the batch size), its gradient NumPy's.
    w = RNG.uniform(0.0, 2.0, size=32).astype(np.float32)
    model = _linear(0.1)
    loss = model.train_on_batch(X[:32], Y[:32], sample_weight=w)
    assert loss == pytest.approx(float((w * Y[:32] ** 2).mean()), rel=1e-5)
    grad = -2.0 / 32 * X[:32].T @ (w * Y[:32])
    np.testing.assert_allclose(model.get_weights()[0][:, 0], -0.1 * grad, rtol=1e-5)
    # fit with sample_weight (one batch, no shuffling) is the same step.
    fitted = _linear(0.1)
    fitted.fit(X[:32], Y[:32], batch_size=32, epochs=1, shuffle=False, verbose=0,
               sample_weight=w)
    np.testing.assert_allclose(fitted.get_weights()[0], model.get_weights()[0], rtol=1e-6)
    assert fitted.evaluate(X[:32], Y[:32], sample_weight=w, verbose=0) == pytest.approx(
        float((w * (X[:32] @ (-0.1 * grad) - Y[:32]) ** 2).mean()), rel=1e-5)
    # class_weight is the sample weight of each label's class (integer
    # labels or one-hot rows).
    labels = (X[:, 0] > 0).astype(np.int32)

    def classifier():
        m = kiln.Sequential([layers.Dense(2, kernel_initializer="zeros")])
        m.compile(optimizer=kiln.optimizers.SGD(0.5),
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m
    by_class, by_sample = classifier(), classifier()
    by_class.fit(X, labels, batch_size=96, shuffle=False, verbose=0,
                 class_weight={0: 1.0, 1: 3.0})
    by_sample.fit(X, labels, batch_size=96, shuffle=False, verbose=0,
                  sample_weight=np.where(labels == 1, 3.0, 1.0))
    for a, b in zip(by_class.get_weights(), by_sample.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    one_hot = classifier()
    one_hot.compile(optimizer=kiln.optimizers.SGD(0.5),
                    loss=kiln.losses.CategoricalCrossentropy(from_logits=True))
    one_hot.fit(X, np.eye(2, dtype=np.float32)[labels], batch_size=96, shuffle=False,
                verbose=0, class_weight={0: 1.0, 1: 3.0})
    for a, b in zip(one_hot.get_weights(), by_class.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="no weight for the classes"):
        classifier().fit(X, labels, verbose=0, class_weight={0: 1.0})
    with pytest.raises(ValueError, match="one weight per sample"):
        _linear(0.1).fit(X, Y, verbose=0, sample_weight=np.ones(5))
    np.testing.assert_allclose(model.predict_on_batch(X[:3]), X[:3] @ model.get_weights()[0],
                               rtol=1e-6)


def test_reduce_lr_on_plateau():
    # A loss that never improves: the rate drops by `factor` after
    # `patience` epochs, then waits `cooldown` epochs, never below min_lr.
    model = _linear(1.0)
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2,
                                          cooldown=1, min_lr=0.2)
    # (zero inputs: zero gradients, the same loss every epoch)
    history = model.fit(np.zeros_like(X), Y, epochs=8, verbose=0, callbacks=[plateau])
    # The rate each epoch ended with (logged before a change, as Keras):
    # best; wait 1; wait 2 -> 0.5 (cooldown 1); cooldown; wait 1;... 0.25;
    # ... then 0.125 clipped to min_lr 0.2.
    assert history.history["lr"] == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25,
                                                   0.2])
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_model_save_and_load_model(tmp_path):
    # Keras' single-file save: the architecture rebuilt from each layer's
    # arguments, the weights, and the compile settings; the loaded model
    # predicts the same and trains on from there.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, size=32).astype(np.int32)
    model = kiln.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 1),
                      kernel_initializer=kiln.initializers.HeNormal()),
        layers.MaxPooling2D(), layers.Flatten(), layers.Dropout(0.2),
        layers.Dense(3, kernel_regularizer=kiln.regularizers.L2(0.01))])
    model.compile(optimizer=kiln.optimizers.Adam(0.01),
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = kiln.keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    assert [type(l).__name__ for l in loaded.layers] == \
        [type(l).__name__ for l in model.layers]
    assert float(np.asarray(loaded.optimizer.learning_rate)) == pytest.approx(0.01)
    loaded.fit(x, y, epochs=1, verbose=0)   # (compiled again: trains on)
    # A functional model with two inputs and a shared layer.
    a, b = kiln.Input(shape=(4,)), kiln.Input(shape=(4,))
    shared = layers.Dense(5, activation="tanh")
    out = layers.Dense(1)(layers.Concatenate()([shared(a), shared(b)]))
    two = kiln.Model([a, b], out)
    u, v = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    two.save(tmp_path / "two.keras")
    again = kiln.keras.models.load_model(tmp_path / "two.keras")
    np.testing.assert_allclose(again([u, v]).numpy(), two([u, v]).numpy(), rtol=1e-6)
    assert len(again.get_weights()) == 4      # (the shared layer once)
    # What cannot be written says why.
    lam = kiln.Sequential([layers.Lambda(lambda t: t * 2, input_shape=(3,))])
    with pytest.raises(ValueError, match="argument 'function' of layer"):
        lam.save(tmp_path / "lam.keras")

    class Own(kiln.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(1)

        def call(self, t):
            return self.d(t)
    own = Own()
    own(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="subclassed model"):
        own.save(tmp_path / "own.keras")
    with pytest.raises(ValueError, match="end in .keras or .h5"):
        model.save(tmp_path / "m.model")


@pytest.mark.parametrize("make", [
    lambda: kiln.optimizers.Adam(0.02),
    lambda: kiln.optimizers.Nadam(0.02),
    lambda: kiln.optimizers.SGD(0.05, momentum=0.9),
    lambda: kiln.optimizers.Adagrad(0.1, initial_accumulator_value=0.3)],
    ids=["adam", "nadam", "momentum", "adagrad"])
def test_saved_model_trains_on_where_it_stopped(tmp_path, make):
    # The optimizer's state is in the file (Keras' saved optimizer
    # variables): the step counter, Nadam's running product, every slot
    # of every trainable weight (a frozen layer's first: the file's order
    # is layer by layer). The loaded model's next epoch is the original's,
    # step for step; compiled metrics given as objects come back with their
    # arguments.
    rng = np.random.default_rng(11)
    x = rng.normal(size=(48, 5)).astype(np.float32)
    y = rng.integers(0, 4, size=48).astype(np.int32)
    model = kiln.Sequential([layers.Dense(6, input_shape=(5,)),
                             layers.Dense(8, activation="tanh"), layers.Dense(4)])
    model.layers[0].trainable = False
    model.compile(optimizer=make(),
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[kiln.metrics.SparseCategoricalAccuracy(name="acc"),
                           kiln.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = kiln.keras.models.load_model(tmp_path / "m.keras")
    assert int(loaded.optimizer.iterations.numpy()) == 6
    a = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    b = loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    assert sorted(a) == sorted(b) == ["acc", "loss", "top2"]
    for w, v in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(v, w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-6)
    # An optimizer that never stepped writes no state; compile=False skips it.
    fresh = kiln.Sequential([layers.Dense(2, input_shape=(3,))])
    fresh.compile(optimizer=make(), loss="mse")
    fresh.save(tmp_path / "fresh.keras")
    import zipfile
    with zipfile.ZipFile(tmp_path / "fresh.keras") as z:
        assert "optimizer.weights.npz" not in z.namelist()
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert "optimizer.weights.npz" in z.namelist()
    plain = kiln.keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert getattr(plain, "optimizer", None) is None


def test_saving_frozen_nested_and_typed_models(tmp_path):
    # A frozen first layer keeps its own weights (get_weights lists frozen
    # ones last: the file is written layer by layer); a Sequential grown
    # with add() inside another, a functional base inside a Sequential,
    # activations given as functions, a float64 layer and an SGD with
    # momentum all come back as they were.
    rng = np.random.default_rng(6)
    base_in = kiln.Input(shape=(4,))
    base = kiln.Model(base_in, layers.Dense(4, activation=kiln.activations.sigmoid)(base_in))
    head = kiln.Sequential()
    head.add(layers.Dense(4, activation=kiln.activations.tanh))
    head.add(layers.Dense(2, dtype="float64"))
    model = kiln.Sequential([layers.Dense(4, input_shape=(4,)), base, head])
    model.layers[0].trainable = False
    model.compile(optimizer=kiln.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                  loss="mse")
    x = rng.normal(size=(5, 4)).astype(np.float32)
    model.save(tmp_path / "nested.keras")
    loaded = kiln.keras.models.load_model(tmp_path / "nested.keras")
    np.testing.assert_allclose(np.asarray(loaded(x).numpy(), np.float64),
                               np.asarray(model(x).numpy(), np.float64), rtol=1e-6)
    assert not loaded.layers[0].trainable and len(loaded.layers[2].layers) == 2
    assert loaded.layers[2].layers[1].kernel.dtype == kiln.float64
    assert loaded.optimizer.momentum == 0.9 and loaded.optimizer.nesterov
    # Only Kiln's classes (or custom_objects) are built from a file.
    import json
    import zipfile
    with zipfile.ZipFile(tmp_path / "nested.keras") as z:
        parts = {n: z.read(n) for n in z.namelist()}
    config = json.loads(parts["config.json"])
    config["model"]["layers"][0]["class"] = "os:makedirs"
    with zipfile.ZipFile(tmp_path / "evil.keras", "w") as z:
        for n, data in parts.items():
            z.writestr(n, json.dumps(config) if n == "config.json" else data)
    with pytest.raises(ValueError, match="not one of Kiln's"):
        kiln.keras.models.load_model(tmp_path / "evil.keras")


    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, t):
            return t * self.factor

    custom = kiln.Sequential([Scale(3.0, input_shape=(2,))])
    custom.save(tmp_path / "custom.keras")
    with pytest.raises(ValueError, match="custom_objects"):
        kiln.keras.models.load_model(tmp_path / "custom.keras")
    back = kiln.keras.models.load_model(tmp_path / "custom.keras",
                                        custom_objects={"Scale": Scale})
    np.testing.assert_allclose(back(np.ones((1, 2), np.float32)).numpy(), [[3.0, 3.0]])


def test_clone_model_and_json(tmp_path):
    # clone_model: the same architecture with new weights; to_json and
    # model_from_json: the architecture only. Both predict like the
    # original once given its weights.
    model = kiln.Sequential([layers.Dense(3, activation="relu", input_shape=(4,)),
                             layers.Dense(2)])
    x = np.random.default_rng(8).normal(size=(5, 4)).astype(np.float32)
    clone = kiln.keras.models.clone_model(model)
    assert [v.shape for v in clone.variables] == [v.shape for v in model.variables]
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), rtol=1e-6)
    again = kiln.keras.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown format"):
        kiln.keras.models.model_from_json('{"format": "other"}')


def test_progbar_logger_is_the_progress_display(capsys):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    model = _linear(0.05)
    # The caller's ProgbarLogger replaces fit's own and follows its verbose:
    # one line per epoch elsewhere than on a terminal ...
    plain = io.StringIO()
    model.fit(X, Y, batch_size=16, epochs=2, verbose=2,
              callbacks=[kiln.callbacks.ProgbarLogger(stream=plain)])
    lines = plain.getvalue().splitlines()
    assert [l for l in lines if l.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
    assert len(lines) == 4 and lines[1].startswith("6/6 - ") and " - loss: " in lines[1]
    assert capsys.readouterr().out == ""                 # (not twice)
    # ... and on a terminal, the bar redrawn after batches, with the logs.
    tty = Terminal()
    model.fit(X, Y, batch_size=16, epochs=1, verbose=1,
              callbacks=[kiln.callbacks.ProgbarLogger(stream=tty)])
    text = tty.getvalue()
    assert text.startswith("Epoch 1/1\n") and "\r" in text and "[====" in text
    assert text.rstrip().split("\r")[-1].startswith("6/6 [==============================]")
    silent = io.StringIO()
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0,
              callbacks=[kiln.callbacks.ProgbarLogger(stream=silent)])
    assert silent.getvalue() == ""
    with pytest.raises(ValueError, match="count_mode"):
        kiln.callbacks.ProgbarLogger(count_mode="samples")


def test_predict_on_datasets_several_inputs_and_outputs():
    # predict takes a Dataset of x or (x, y) batches, a PyDataset, dicts or
    # lists for several inputs, and gives a list for several outputs, each
    # equal to calling the model on the whole array.
    rng = np.random.default_rng(12)
    x = rng.normal(size=(37, 3)).astype(np.float32)
    model = kiln.Sequential([kiln.Input((3,)), kiln.layers.Dense(2)])
    want = model(x).numpy()
    ds = kiln.data.Dataset.from_tensor_slices(x).batch(8)
    np.testing.assert_allclose(model.predict(ds), want, rtol=1e-6)
    pairs = kiln.data.Dataset.from_tensor_slices((x, np.zeros(37))).batch(10)
    np.testing.assert_allclose(model.predict(pairs, verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(model.predict(pairs, steps=2), want[:20], rtol=1e-6)

    class Batches(kiln.keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[10 * i:10 * i + 10]
    np.testing.assert_allclose(model.predict(Batches()), want, rtol=1e-6)
    a, b = kiln.Input((3,), name="a"), kiln.Input((2,), name="b")
    joined = kiln.layers.Concatenate()([a, b])
    two = kiln.Model([a, b], [kiln.layers.Dense(1)(joined), kiln.layers.Dense(4)(joined)])
    y = rng.normal(size=(37, 2)).astype(np.float32)
    out = two.predict([x, y], batch_size=16)
    full = two([x, y])
    assert isinstance(out, list) and [o.shape for o in out] == [(37, 1), (37, 4)]
    for o, f in zip(out, full):
        np.testing.assert_allclose(o, f.numpy(), rtol=1e-6)
    # A single input given as nested Python lists is one input.
    np.testing.assert_allclose(model.predict(x[:3].tolist()), want[:3], rtol=1e-6)


def test_fit_with_several_inputs_lists_and_dicts(tmp_path):
    # Two inputs concatenated into a Dense train exactly as one input of
    # the concatenated features (same weights, plain SGD, no shuffling):
    # given as a list or dict of arrays, or a Dataset of them.
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=(48, 2)).astype(np.float32), rng.normal(size=(48, 3)).astype(np.float32)
    y = (a.sum(axis=1, keepdims=True) - b[:, :1]).astype(np.float32)

    def single():
        kiln.random.set_seed(3)
        m = kiln.Sequential([kiln.Input((5,)), kiln.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    def double(as_dict):
        kiln.random.set_seed(3)
        ia, ib = kiln.Input((2,), name="a"), kiln.Input((3,), name="b")
        out = kiln.layers.Dense(1)(kiln.layers.Concatenate()([ia, ib]))
        m = kiln.Model({"a": ia, "b": ib} if as_dict else [ia, ib], out)
        m.compile(optimizer="sgd", loss="mse")
        return m
    reference = single()
    reference.fit(np.concatenate([a, b], axis=1), y, batch_size=8, epochs=2, shuffle=False,
                  verbose=0)
    runs = []
    listed = double(False)
    listed.fit([a, b], y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    runs.append(listed)
    keyed = double(True)
    keyed.fit({"b": b, "a": a}, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    runs.append(keyed)
    from_ds = double(True)
    ds = kiln.data.Dataset.from_tensor_slices(({"a": a, "b": b}, y)).batch(8)
    from_ds.fit(ds, epochs=2, verbose=0)
    runs.append(from_ds)
    for m in runs:
        for u, v in zip(m.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keyed.evaluate({"a": a, "b": b}, y, verbose=0),
                               reference.evaluate(np.concatenate([a, b], axis=1), y,
                                                  verbose=0), rtol=1e-5)
    listed.fit([a, b], y, validation_split=0.25, epochs=1, verbose=0)
    keyed.save(tmp_path / "dict.keras")
    loaded = kiln.keras.models.load_model(tmp_path / "dict.keras")
    np.testing.assert_allclose(loaded.predict({"a": a, "b": b}), keyed.predict(ds), rtol=1e-6)
    with pytest.raises(ValueError, match="takes \\['a', 'b'\\]"):
        keyed({"a": a})
    # A model built from a list of named Inputs takes a dict keyed by their
    # names (Keras'), also after save/load; unnamed ones refuse a dict.
    np.testing.assert_allclose(listed.predict({"b": b, "a": a}), listed.predict([a, b]),
                               rtol=1e-6)
    listed.save(tmp_path / "listed.keras")
    again = kiln.keras.models.load_model(tmp_path / "listed.keras")
    np.testing.assert_allclose(again.predict({"a": a, "b": b}), listed.predict([a, b]),
                               rtol=1e-6)
    ua, ub = kiln.Input((2,)), kiln.Input((3,))
    unnamed = kiln.Model([ua, ub], kiln.layers.Concatenate()([ua, ub]))
    with pytest.raises(ValueError, match="unnamed inputs"):
        unnamed({"a": a, "b": b})
    with pytest.raises(ValueError, match="one output, but y holds 2 targets"):
        listed.fit([a, b], [y, y], verbose=0)


def test_fit_with_several_outputs(tmp_path):
    rng = np.random.default_rng(14)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y1 = x[:, :1] * 2.0
    y2 = (x[:, 1] > 0).astype(np.int32)

    def two_heads():
        inputs = kiln.Input((4,))
        hidden = kiln.layers.Dense(5, activation="tanh", name="shared")(inputs)
        value = kiln.layers.Dense(1, name="value")(hidden)
        label = kiln.layers.Dense(2, name="label")(hidden)
        return kiln.Model(inputs, [value, label])
    model = two_heads()
    model.compile(optimizer="sgd", loss={"value": "mse",
                                         "label": kiln.losses.SparseCategoricalCrossentropy(
                                             from_logits=True)},
                  loss_weights={"value": 0.5, "label": 2.0})
    # The reported loss is the weighted sum of each output's (NumPy oracle).
    p1, p2 = model.predict(x)
    mse = np.mean((p1 - y1) ** 2)
    logp = p2 - np.log(np.exp(p2).sum(axis=1, keepdims=True))
    ce = -np.mean(logp[np.arange(40), y2])
    # (evaluate gives the total, then each output's weighted loss, as Keras)
    np.testing.assert_allclose(model.evaluate(x, [y1, y2], verbose=0),
                               [0.5 * mse + 2.0 * ce, 0.5 * mse, 2.0 * ce], rtol=1e-5)
    logs = model.evaluate(x, {"label": y2, "value": y1}, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], 0.5 * mse + 2.0 * ce, rtol=1e-5)
    # Each output's weighted loss is logged under its name, as Keras does.
    np.testing.assert_allclose(logs["value_loss"], 0.5 * mse, rtol=1e-5)
    np.testing.assert_allclose(logs["label_loss"], 2.0 * ce, rtol=1e-5)
    history = model.fit(x, [y1, y2], batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"loss", "value_loss", "label_loss"}
    # Metrics per output (a dict by name; a flat list of names goes to each).
    measured = two_heads()
    measured.set_weights(model.get_weights())
    measured.compile(optimizer="sgd", loss=["mse", kiln.losses.SparseCategoricalCrossentropy(
        from_logits=True)], metrics={"label": ["accuracy"], "value": ["mae"]})
    q1, q2 = measured.predict(x)
    logs = measured.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["value_mae"], np.mean(np.abs(q1 - y1)), rtol=1e-5)
    np.testing.assert_allclose(logs["label_accuracy"], np.mean(q2.argmax(1) == y2), rtol=1e-6)
    measured.save(tmp_path / "measured.keras")
    reloaded = kiln.keras.models.load_model(tmp_path / "measured.keras")
    assert reloaded.evaluate(x, [y1, y2], verbose=0, return_dict=True) == pytest.approx(logs)
    both = two_heads()
    both.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert {"value_mae", "label_mae"} <= set(both.evaluate(x, [y1, np.eye(2)[y2]],
                                                           verbose=0, return_dict=True))
    # With the second output weighted 0, training equals training the first
    # head alone from the same weights (the shared layer only sees its loss).
    weighted = two_heads()
    weighted.compile(optimizer="sgd", loss=["mse", "mse"], loss_weights=[1.0, 0.0])
    inputs = kiln.Input((4,))
    alone = kiln.Model(inputs, kiln.layers.Dense(1)(kiln.layers.Dense(5, activation="tanh")(
        inputs)))
    alone.compile(optimizer="sgd", loss="mse")
    alone.set_weights(weighted.get_weights()[:4])
    y2f = rng.normal(size=(40, 2)).astype(np.float32)
    weighted.fit(x, [y1, y2f], batch_size=8, epochs=2, shuffle=False, verbose=0)
    alone.fit(x, y1, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for u, v in zip(weighted.get_weights()[:4], alone.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    ds = kiln.data.Dataset.from_tensor_slices((x, (y1, y2f))).batch(10)
    assert np.isfinite(weighted.fit(ds, epochs=1, verbose=0).history["loss"]).all()
    model.save(tmp_path / "two.keras")
    loaded = kiln.keras.models.load_model(tmp_path / "two.keras", custom_objects={})
    np.testing.assert_allclose(loaded.evaluate(x, [y1, y2], verbose=0),
                               model.evaluate(x, [y1, y2], verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match="2 outputs"):
        model.compile(optimizer="sgd", loss=["mse"])
    # (a refused compile leaves the model as it was)
    assert model.evaluate(x, [y1, y2], verbose=0)[0] > 0
    with pytest.raises(ValueError, match="class_weight"):
        weighted.fit(x, [y1, y2f], class_weight={0: 1.0}, verbose=0)
    # A sample weight per output (a list or dict) weighs that output's loss.
    w1, w2 = rng.uniform(0, 2, 40).astype(np.float32), np.zeros(40, np.float32)
    p1, p2 = weighted.predict(x)
    want = kiln.losses.MeanSquaredError()(y1, p1, sample_weight=w1).numpy()
    got = weighted.evaluate(x, [y1, y2f], sample_weight=[w1, w2], verbose=0,
                            return_dict=True)
    np.testing.assert_allclose(got[f"{weighted.output_names[0]}_loss"], want, rtol=1e-5)
    assert got[f"{weighted.output_names[1]}_loss"] == 0.0
    value_name, label_name = weighted.output_names          # ("value_1", "label_1")
    by_name = weighted.evaluate(x, [y1, y2f], sample_weight={value_name: w1, label_name: w2},
                                verbose=0, return_dict=True)
    assert by_name == pytest.approx(got)
    with pytest.raises(ValueError, match="not outputs of the model"):
        weighted.evaluate(x, [y1, y2f], sample_weight={"nope": w1}, verbose=0)


def test_fit_and_evaluate_take_python_generators():
    rng = np.random.default_rng(0)

    def endless():
        while True:
            x = rng.random((8, 3))                    # (float64: taken as float32)
            yield x, x.sum(1, keepdims=True)
    model = kiln.keras.Sequential([kiln.keras.Input((3,)), kiln.keras.layers.Dense(1)])
    model.compile(kiln.keras.optimizers.SGD(0.1), "mse")
    history = model.fit(endless(), steps_per_epoch=20, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] / 4

    def finite(count):
        for _ in range(count):
            x = rng.random((4, 3)).astype(np.float32)
            yield x, x.sum(1, keepdims=True)
    model.fit(finite(5), epochs=1, verbose=0)
    x = rng.random((4, 3)).astype(np.float32)
    want = float(np.mean((model(x).numpy() - x.sum(1, keepdims=True)) ** 2))
    assert model.evaluate(iter([(x, x.sum(1, keepdims=True))]), verbose=0) == \
        pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="y must be None"):
        model.fit(finite(2), np.zeros((4, 1)), verbose=0)
    with pytest.raises(ValueError, match="yields no batches"):
        model.fit(finite(0), verbose=0)


def test_compile_and_fit_arguments_keras_code_passes():
    model = kiln.Sequential([kiln.Input((2,)), layers.Dense(1)])
    assert model.metrics_names == []
    model.compile("sgd", "mse", metrics=["mae"], jit_compile=True, steps_per_execution=4)
    assert model.metrics_names == ["loss", "mae"]
    assert kiln.keras.metrics.get("AUC").name == "auc"
    assert kiln.keras.losses.Reduction.SUM == "sum"
    x, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
    for freq, validated in ((2, 2), ([1, 4], 2), (1, 4)):
        history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=freq,
                            verbose=0, workers=4, use_multiprocessing=True)
        assert len(history.history["loss"]) == 4
        assert len(history.history["val_loss"]) == validated


def test_weighted_metrics_weigh_examples_by_sample_weight(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(24, 3)).astype(np.float32)
    y = rng.integers(0, 2, (24, 1)).astype(np.float32)
    w = rng.uniform(0.1, 2.0, 24).astype(np.float32)
    model = kiln.Sequential([kiln.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["mae", "accuracy"],
                  weighted_metrics=["mae", kiln.keras.metrics.BinaryAccuracy(name="acc")])
    assert model.metrics_names == ["loss", "mae", "accuracy", "weighted_mae", "acc"]
    logs = model.evaluate(x, y, sample_weight=w, batch_size=8, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    error = np.abs(p - y)[:, 0]
    right = ((p > 0.5) == (y > 0.5))[:, 0]
    np.testing.assert_allclose(logs["mae"], error.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["weighted_mae"], (w * error).sum() / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], right.mean(), rtol=1e-6)
    np.testing.assert_allclose(logs["acc"], (w * right).sum() / w.sum(), rtol=1e-5)
    # Without weights they are the plain metrics; fit logs them too.
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["weighted_mae"], logs["mae"], rtol=1e-6)
    history = model.fit(x, y, sample_weight=w, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "mae", "accuracy", "weighted_mae", "acc"}
    # model.save keeps them.
    path = str(tmp_path / "weighted.keras")
    model.save(path)
    loaded = kiln.keras.models.load_model(path)
    assert loaded.metrics_names == model.metrics_names
    again = loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["acc"], (w * right).sum() / w.sum(), rtol=1e-5)
    metric = kiln.keras.metrics.MeanAbsoluteError(name="mae")
    with pytest.raises(ValueError, match="in both metrics and weighted_metrics"):
        model.compile("sgd", "mse", metrics=[metric], weighted_metrics=[metric])
    with pytest.raises(ValueError, match="two metrics named 'weighted_mae'"):
        model.compile("sgd", "mse", weighted_metrics=["mae"], metrics=[
            "mae", kiln.keras.metrics.MeanAbsoluteError(name="weighted_mae")])


def test_review_findings_generators_sequences_and_validation_freq():
    rng = np.random.default_rng(1)
    model = kiln.Sequential([kiln.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse")

    # A finite generator gives its batches once: later epochs stop training
    # with a warning instead of logging empty epochs.
    def three():
        for _ in range(3):
            x = rng.random((4, 3)).astype(np.float32)
            yield x, x.sum(1, keepdims=True)
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(three(), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1

    # Batches padded to other lengths, and several inputs as a list.
    two = kiln.keras.Model(*(lambda a, b: ([a, b], layers.Dense(1)(
        layers.Concatenate()([a, b]))))(kiln.Input((2,)), kiln.Input((1,))))
    two.compile("sgd", "mse")

    def pairs():
        while True:
            yield [rng.random((4, 2)), rng.random((4, 1))], rng.random((4, 1))
    assert len(two.fit(pairs(), steps_per_epoch=2, epochs=2, verbose=0).history["loss"]) == 2
    ragged = kiln.Sequential([layers.Embedding(10, 2), layers.GlobalAveragePooling1D(),
                              layers.Dense(1)])
    ragged.compile("sgd", "mse")

    def padded():
        for n in (5, 7, 3):
            yield rng.integers(0, 10, (4, n)).astype(np.int32), rng.random((4, 1))
    ragged.fit(padded(), epochs=1, verbose=0)

    # A PyDataset read with fewer steps than its batches starts anew each epoch.
    class Batches(kiln.keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            x = np.full((2, 3), float(i), np.float32)
            return x, x[:, :1]
    history = model.fit(Batches(), steps_per_epoch=2, epochs=4, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 4

    # validation_freq: the monitoring callbacks skip the epochs without it.
    x, y = np.ones((8, 3), np.float32), np.ones((8, 1), np.float32)
    with pytest.warns(UserWarning, match="epochs without validation"):
        history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=np.int64(2),
                            verbose=0, callbacks=[callbacks.EarlyStopping(patience=5)])
    assert len(history.history["val_loss"]) == 2


def _weighted_linear():
    model = kiln.Sequential([layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.build((None, 1))
    model.compile(kiln.keras.optimizers.SGD(0.0), loss="mse")
    return model


def test_validation_is_weighted_by_its_sample_weights():
    """Keras splits sample_weight with validation_split and reads the third
    item of validation_data=(x, y, sample_weight); 2-D weights (one per
    time step) are taken by fit and evaluate. Oracle: the weighted mean of
    the squared errors, by hand (the model is y = x, targets 0)."""
    x = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    y = np.zeros((4, 1), np.float32)
    w = np.array([1.0, 1.0, 3.0, 0.0], np.float32)
    se = x[:, 0] ** 2
    model = _weighted_linear()
    history = model.fit(x, y, sample_weight=w, validation_split=0.5, epochs=1, verbose=0,
                        shuffle=False, batch_size=4)
    np.testing.assert_allclose(history.history["val_loss"], [(w[2:] * se[2:]).sum() / 2])
    np.testing.assert_allclose(history.history["loss"], [(w[:2] * se[:2]).sum() / 2])
    history = model.fit(x, y, validation_data=(x, y, w), epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], [(w * se).sum() / 4])
    with pytest.raises(ValueError, match="validation_data must be"):
        model.fit(x, y, validation_data=(x,), verbose=0)

    history = model.fit(x, y, sample_weight=w[:, None], epochs=1, verbose=0, batch_size=4)
    np.testing.assert_allclose(history.history["loss"], [(w * se).sum() / 4])

    rng = np.random.default_rng(3)
    seq_x = rng.random((4, 3, 2), np.float32)
    seq_y = rng.random((4, 3, 1), np.float32)
    steps = rng.random((4, 3), np.float32)
    seq = kiln.Sequential([layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")])
    seq.build((None, 3, 2))
    seq.compile(kiln.keras.optimizers.SGD(0.0), loss="mse")
    errors = (seq_x.sum(-1) - seq_y[..., 0]) ** 2
    np.testing.assert_allclose(seq.evaluate(seq_x, seq_y, sample_weight=steps, verbose=0,
                                            batch_size=4), (errors * steps).sum() / 12, rtol=1e-6)


def test_early_stopping_restores_the_best_epoch_even_above_the_baseline():
    """TensorFlow 2.11+ / Keras 3: with a baseline no epoch beats, the
    weights restored are still the best epoch's (not the last's), and
    start_from_epoch skips the first epochs. The model's weight is set to
    the epoch's number, so the restored weight names the epoch."""
    model = _weighted_linear()

    def run(stop, losses):
        stop.set_model(model)
        model.stop_training = False
        stop.on_train_begin({})
        for epoch, loss in enumerate(losses):
            model.set_weights([np.array([[float(epoch)]], np.float32)])
            stop.on_epoch_end(epoch, {"val_loss": loss})
            if model.stop_training:
                break
        return epoch, float(model.get_weights()[0][0, 0])

    assert run(callbacks.EarlyStopping(patience=3, baseline=0.5, restore_best_weights=True),
               [0.9, 0.8, 1.0, 1.1]) == (2, 1.0)
    assert run(callbacks.EarlyStopping(patience=1, restore_best_weights=True),
               [0.9, 0.8, 1.0, 1.1]) == (2, 1.0)
    late = callbacks.EarlyStopping(patience=1, start_from_epoch=2, restore_best_weights=True)
    assert run(late, [0.1, 0.2, 0.9, 1.0, 1.1]) == (3, 2.0)
    assert late.best_epoch == 2
