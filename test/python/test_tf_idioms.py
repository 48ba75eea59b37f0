"""TensorFlow idioms a compatibility sweep found missing: sliced variable
assignment (eager and compiled), custom metrics with add_weight, a
Sequential built by add() after an Input. Oracles: NumPy arrays updated
the same way, counts by hand."""

import numpy as np
import pytest

import kiln
from kiln import keras


def test_sliced_variable_assignment():
    v = kiln.Variable(np.zeros((3, 4), np.float32))
    want = np.zeros((3, 4), np.float32)
    v[1].assign([1.0, 2.0, 3.0, 4.0])
    want[1] = [1, 2, 3, 4]
    v[:, 0].assign(9.0)
    want[:, 0] = 9
    v[2, 1:3].assign(np.array([5.0, 6.0], np.float32))
    want[2, 1:3] = [5, 6]
    v[::2, -1].assign(kiln.constant([7.0, 8.0]))
    want[::2, -1] = [7, 8]
    np.testing.assert_array_equal(v.numpy(), want)

    @kiln.function
    def step(x):
        v[0, 3].assign(x)
        return v[0] * 2.0
    np.testing.assert_array_equal(step(kiln.constant(-1.0)).numpy(),
                                  np.array([18, 0, 0, -2], np.float32))
    assert v.numpy()[0, 3] == -1.0
    with pytest.raises(Exception):
        v[5].assign(1.0)      # (out of range, as NumPy)

    @kiln.function
    def at(i):
        v[i].assign(kiln.zeros([4]))
    with pytest.raises(kiln.errors.UnimplementedError,
                       match="assigning to a slice of a variable"):
        at(kiln.constant(1))


def test_custom_metric_with_add_weight():
    class TruePositives(keras.metrics.Metric):
        def __init__(self, name="tp", **kwargs):
            super().__init__(name=name, **kwargs)
            self.tp = self.add_weight(name="tp", initializer="zeros")
            self.seen = self.add_variable(shape=(2,), initializer="ones", name="seen")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = kiln.logical_and(kiln.cast(y_true, kiln.bool), y_pred > 0.5)
            self.tp.assign_add(kiln.reduce_sum(kiln.cast(hit, kiln.float32)))

        def result(self):
            return self.tp

    metric = TruePositives(dtype="float32")
    metric.update_state(np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.7]))
    assert float(metric.result()) == 2.0
    assert len(metric.variables) == 4 and metric.seen.numpy().tolist() == [1.0, 1.0]
    metric.reset_state()
    assert float(metric.result()) == 0.0 and metric.seen.numpy().tolist() == [0.0, 0.0]
    # compiled into fit: one epoch's count of true positives
    model = keras.Sequential([keras.Input((1,)),
                              keras.layers.Dense(1, kernel_initializer="ones",
                                                 bias_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse",
                  metrics=[TruePositives()])
    x = np.array([[1.0], [-1.0], [2.0], [0.2]], np.float32)
    y = np.array([[1.0], [1.0], [0.0], [1.0]], np.float32)
    history = model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert history.history["tp"] == [1.0]      # (x > 0.5 and y true: the first only)


def test_sequential_add_after_an_input_builds():
    model = keras.Sequential()
    model.add(keras.Input((3,)))
    model.add(keras.layers.Dense(2))
    model.add(keras.layers.Dense(1))
    assert model.built and len(model.variables) == 4
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Dense"]
    assert model.layers[1].kernel.shape == (2, 1)


def test_if_elif_return_chain_on_tensors():
    @kiln.function
    def classify(x):
        if x > 0:
            return kiln.constant(1)
        elif x < -10:
            return kiln.constant(2)
        elif x < -5:
            return kiln.constant(4)
        return kiln.constant(3)

    def python(x):
        if x > 0:
            return 1
        elif x < -10:
            return 2
        elif x < -5:
            return 4
        return 3
    for v in (5, -50, -7, -2):
        assert int(classify(kiln.constant(v))) == python(v)
    assert classify.experimental_get_tracing_count() == 1


def test_dict_outputs(tmp_path):
    rng = np.random.default_rng(3)
    inp = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="relu")(inp)
    model = keras.Model(inp, {"reg": keras.layers.Dense(1, name="reg_head")(hidden),
                              "cls": keras.layers.Dense(2, activation="softmax",
                                                        name="cls_head")(hidden)})
    x = rng.normal(size=(16, 3)).astype(np.float32)
    out = model.predict(x, verbose=0)
    assert set(out) == {"reg", "cls"} and out["cls"].shape == (16, 2)
    np.testing.assert_allclose(out["cls"].sum(1), np.ones(16), rtol=1e-5)
    model.compile(optimizer="adam",
                  loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  metrics={"cls": ["accuracy"]})
    history = model.fit(x, {"reg": rng.normal(size=(16, 1)).astype(np.float32),
                            "cls": rng.integers(0, 2, 16)}, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "reg_loss", "cls_loss", "cls_accuracy"}
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        again = keras.models.load_model(tmp_path / name)
        got = again.predict(x, verbose=0)
        for key in ("reg", "cls"):
            np.testing.assert_allclose(got[key], model.predict(x, verbose=0)[key], rtol=1e-6)


def test_functional_text_model_without_a_sequence_length():
    vectorize = keras.layers.TextVectorization(max_tokens=50)
    vectorize.adapt(["good movie", "bad film", "a really good long film"])
    inp = keras.Input(shape=(1,), dtype="string")
    ids = vectorize(inp)
    assert ids.shape == (None, None)       # (each batch's longest row)
    embed = keras.layers.Embedding(50, 3, mask_zero=True)
    lstm = keras.layers.LSTM(2)
    model = keras.Model(inp, lstm(embed(ids)))
    for texts in (["good movie"], ["a really good long film", "bad"]):
        batch = kiln.constant([[t] for t in texts])
        direct = lstm(embed(vectorize(batch))).numpy()
        np.testing.assert_allclose(model(batch).numpy(), direct, rtol=1e-6)


def test_signatures_of_tensorflow_forms(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    @kiln.function(input_signature=[kiln.TensorSpec([None, 3], kiln.float32)])
    def serve(x):
        return model(x) * 2.0

    concrete = serve.get_concrete_function()      # (the input_signature's)
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(concrete(kiln.constant(x)).numpy(), model(x).numpy() * 2,
                               rtol=1e-6)
    for name, signatures in (("a", concrete), ("b", {"serving_default": serve}),
                             ("c", serve)):
        kiln.saved_model.save(model, str(tmp_path / name), signatures=signatures)
        loaded = kiln.saved_model.load(str(tmp_path / name))
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy() * 2, rtol=1e-6)


def test_variable_length_inputs_in_functional_models():
    inp = keras.Input((None,), dtype="int32")
    embed = keras.layers.Embedding(20, 4, mask_zero=True)
    lstm = keras.layers.LSTM(3, return_sequences=True)
    conv = keras.layers.Conv1D(5, 3)
    dense = keras.layers.Dense(1)
    features = conv(lstm(embed(inp)))
    assert features.shape == (None, None, 5)
    out = dense(keras.layers.GlobalMaxPooling1D()(features))
    assert out.shape == (None, 1)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(2)
    for length in (7, 11):
        ids = rng.integers(1, 20, (4, length)).astype(np.int32)
        direct = dense(kiln.reduce_max(conv(lstm(embed(ids))), axis=1)).numpy()
        np.testing.assert_allclose(model.predict(ids, verbose=0), direct, rtol=1e-5,
                                   atol=1e-6)
    assert keras.layers.GRU(2)(keras.Input((None, 8))).shape == (None, 2)


def test_test_and_predict_hooks_and_keras2_batch_hooks():
    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_test_begin(self, logs=None):
            self.seen.append("test_begin")

        def on_test_end(self, logs=None):
            self.seen.append(("test_end", sorted(logs)))

        def on_test_batch_end(self, batch, logs=None):
            self.seen.append(("test_batch", batch))

        def on_batch_end(self, batch, logs=None):        # (Keras 2's name)
            self.seen.append(("batch", batch, "loss" in logs))

        def on_predict_begin(self, logs=None):
            self.seen.append("predict_begin")

        def on_predict_batch_end(self, batch, logs=None):
            self.seen.append(("predict_batch", batch, logs["outputs"].shape))

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2), np.float32)
    recorder = Recorder()
    model.fit(x, np.zeros((4, 1), np.float32), batch_size=2, epochs=1, verbose=0,
              validation_data=(x, np.zeros((4, 1), np.float32)), callbacks=[recorder])
    assert recorder.seen == [("batch", 0, True), ("batch", 1, True), "test_begin",
                             ("test_batch", 0), ("test_batch", 1), ("test_end", ["loss"])]
    recorder.seen.clear()
    model.predict(x, batch_size=4, verbose=0, callbacks=[recorder])
    assert recorder.seen == ["predict_begin", ("predict_batch", 0, (4, 1))]
    recorder.seen.clear()
    model.evaluate(x, np.zeros((4, 1), np.float32), batch_size=4, verbose=0,
                   callbacks=[recorder])
    assert recorder.seen == ["test_begin", ("test_batch", 0), ("test_end", ["loss"])]


def test_keras2_symbolic_add_loss_and_add_metric():
    """Keras 2's functional idiom: model.add_loss / add_metric of symbolic
    tensors (a VAE's KL term), and a layer's add_metric in call."""
    class Scale(keras.layers.Layer):
        def call(self, x):
            self.add_metric(kiln.reduce_mean(x), name="mean_in")
            return x * 0.5

    inp = keras.Input((2,))
    dense = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
    code = dense(Scale()(inp))
    model = keras.Model(inp, code)
    penalty = kiln.reduce_mean(kiln.square(code))
    model.add_loss(0.1 * penalty)
    model.add_metric(penalty, name="penalty")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    y = np.zeros((2, 2), np.float32)
    out = x * 0.5 @ np.ones((2, 2), np.float32)
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    pen = float((out ** 2).mean())
    assert history.history["loss"][0] == pytest.approx(pen + 0.1 * pen, rel=1e-5)
    assert history.history["penalty"][0] == pytest.approx(pen, rel=1e-5)
    assert history.history["mean_in"][0] == pytest.approx(float(x.mean()), rel=1e-5)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["penalty"] == pytest.approx(pen, rel=1e-5)


def test_review_cases_of_the_keras_compatibility_work(tmp_path):
    rng = np.random.default_rng(7)
    # a slice of a variable is the tensor the tape saw: its gradient flows
    v = kiln.Variable([1.0, 2.0, 3.0])
    with kiln.GradientTape() as tape:
        loss = kiln.reduce_sum(v[1:] * 2.0)
    np.testing.assert_array_equal(tape.gradient(loss, v).numpy(), [0.0, 2.0, 2.0])
    # a custom step's logs come back in metrics_names' order
    class Own(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

        def test_step(self, data):
            return super().test_step(data)
    model = Own([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = rng.normal(size=(8, 2)).astype(np.float32), rng.integers(0, 2, 8)
    values = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert model.metrics_names == ["loss", "accuracy"]
    assert values == [logs["loss"], logs["accuracy"]]
    # a layer used only by model.add_loss is the model's: it trains
    inp = keras.Input((2,))
    aux = keras.layers.Dense(1, kernel_initializer="ones")
    net = keras.Model(inp, keras.layers.Dense(1)(inp))
    net.add_loss(kiln.reduce_mean(kiln.square(aux(inp))))
    assert any(w is aux.kernel for w in net.trainable_variables)
    net.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    net.fit(x, np.zeros((8, 1), np.float32), verbose=0)
    assert not np.allclose(aux.kernel.numpy(), 1.0)
    # open extents: a Sequential built from Input((None, 3)); slicing them
    seq = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)])
    assert seq(np.zeros((2, 5, 3), np.float32)).shape == (2, 4)
    wide = keras.Input((None, 8))
    assert wide[:, 3].shape == (None, 8) and kiln.shape(wide).shape == (3,)
    # a dict-output model nested in another
    a = keras.Input((3,))
    inner = keras.Model(a, {"p": keras.layers.Dense(2)(a), "q": keras.layers.Dense(1)(a)})
    b = keras.Input((3,))
    parts = inner(b)
    outer = keras.Model(b, kiln.concat([parts["p"], parts["q"]], axis=-1))
    data = rng.normal(size=(4, 3)).astype(np.float32)
    want = inner.predict(data, verbose=0)
    np.testing.assert_allclose(outer.predict(data, verbose=0),
                               np.concatenate([want["p"], want["q"]], -1), rtol=1e-6)
    # keras.ops.shape / ndim of symbolic tensors; NumPy on the left is one op
    assert keras.ops.shape(wide) == (None, None, 8) and keras.ops.ndim(wide) == 3
    summed = np.ones(3, np.float32) + a
    assert isinstance(summed, keras.KerasTensor if hasattr(keras, "KerasTensor")
                      else type(a)) and summed.shape == (None, 3)
    # a method's concrete function as a saved model's signature
    class Doubler(kiln.Module):
        @kiln.function(input_signature=[kiln.TensorSpec([None], kiln.float32)])
        def __call__(self, t):
            return t * 2.0
    d = Doubler()
    kiln.saved_model.save(d, str(tmp_path / "d"), signatures=d.__call__.get_concrete_function())
    loaded = kiln.saved_model.load(str(tmp_path / "d"))
    np.testing.assert_array_equal(loaded(np.array([1.0, 2.0], np.float32)).numpy(), [2.0, 4.0])


def test_sliced_assignment_of_a_large_variable_and_more_keys():
    v = kiln.Variable(np.zeros((2000, 64), np.float32))
    v[5].assign(np.arange(64, dtype=np.float32))
    v[-1, ::8].assign(7.0)
    want = np.zeros((2000, 64), np.float32)
    want[5] = np.arange(64)
    want[-1, ::8] = 7
    np.testing.assert_array_equal(v.numpy(), want)
    w = kiln.Variable(np.zeros((2, 3, 4), np.float32))
    w[..., 1].assign(1.0)
    w[None, 1, :, 2:].assign(np.full((1, 3, 2), 5.0, np.float32))
    expect = np.zeros((2, 3, 4), np.float32)
    expect[..., 1] = 1
    expect[1, :, 2:] = 5
    np.testing.assert_array_equal(w.numpy(), expect)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="out of bounds"):
        w[2].assign(0.0)


def test_open_extents_a_layer_needs_known_are_named():
    inp = keras.Input((None,))
    with pytest.raises(ValueError, match=r"dense.*\(Dense\).*open"):
        keras.layers.Dense(3)(inp)
