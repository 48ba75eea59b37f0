"""A Model subclass's own train_step / test_step / predict_step (Keras'
"customizing fit"): fit, evaluate, train_on_batch and predict run them,
with Keras 2's helpers (compiled_loss, compiled_metrics) and Keras 3's
(compute_loss, metrics, compute_metrics); compile without a loss for models
trained by add_loss or by their own step. Oracles: NumPy transcriptions of
one SGD step of the MSE, and counts of the calls."""

import numpy as np
import pytest

import kiln
from kiln import keras

RNG = np.random.default_rng(21)
X = RNG.normal(size=(32, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


def _sgd_step(w, b, x, y, lr):
    """One SGD step of the mean squared error of x @ w + b (NumPy)."""
    err = x @ w + b - y
    return w - lr * 2 * x.T @ err / err.size, b - lr * 2 * err.sum(0) / err.size


class Keras2Style(keras.Model):
    traced = 0

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1, kernel_initializer="zeros")

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        type(self).traced += 1      # (Python: runs when traced)
        x, y = data
        with kiln.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class Keras3Style(Keras2Style):
    steps = 0
    traced = 0

    def train_step(self, data):
        x, y = data
        with kiln.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        type(self).steps += 1      # (Python: runs when traced)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        return {**self.compute_metrics(x, y, y_pred), "custom": kiln.constant(7.0)}


@pytest.mark.parametrize("cls", [Keras2Style, Keras3Style])
def test_own_train_step_is_what_fit_runs(cls):
    model = cls()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    history = model.fit(X, Y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    w, b = np.zeros((3, 1), np.float32), np.zeros(1, np.float32)
    losses = []
    for _ in range(2):
        losses.append(float(((X @ w + b - Y) ** 2).mean()))
        w, b = _sgd_step(w, b, X, Y, 0.1)
    np.testing.assert_allclose(model.dense.kernel.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    assert set(history.history) == {"loss", "mae"}
    assert cls.traced >= 1 or cls.steps >= 1


def test_own_test_step_and_train_on_batch():
    Keras3Style.steps = 0
    model = Keras3Style()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert logs["custom"] == 7.0 and logs["mae"] == pytest.approx(float(np.abs(Y).mean()),
                                                                 rel=1e-5)
    logs = model.train_on_batch(X, Y, return_dict=True)
    assert logs["loss"] == pytest.approx(float((Y ** 2).mean()), rel=1e-5)
    assert Keras3Style.steps == 1     # (traced once; the compiled step ran)
    history = model.fit(X, Y, epochs=1, verbose=0, validation_data=(X, Y))
    assert "val_custom" in history.history and history.history["val_custom"] == [7.0]


def test_gan_style_compile_without_a_loss_and_its_own_trackers():
    """The GAN tutorial's shape: compile() overridden with optimizers of its
    own, super().compile() given no loss, trackers as attributes listed by
    an overridden `metrics` (reset at each epoch), x alone as data."""
    class TwoOptimizers(keras.Model):
        def __init__(self):
            super().__init__()
            self.a = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
            self.b = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
            self.a_loss = keras.metrics.Mean(name="a_loss")
            self.b_loss = keras.metrics.Mean(name="b_loss")

        def compile(self, a_optimizer, b_optimizer):
            super().compile()
            self.a_optimizer, self.b_optimizer = a_optimizer, b_optimizer

        @property
        def metrics(self):
            return [self.a_loss, self.b_loss]

        def train_step(self, data):
            with kiln.GradientTape() as tape:
                la = kiln.reduce_mean(kiln.square(self.a(data)))
            self.a_optimizer.apply_gradients(
                zip(tape.gradient(la, self.a.trainable_variables), self.a.trainable_variables))
            with kiln.GradientTape() as tape:
                lb = kiln.reduce_mean(kiln.square(self.b(data) - 1.0))
            self.b_optimizer.apply_gradients(
                zip(tape.gradient(lb, self.b.trainable_variables), self.b.trainable_variables))
            self.a_loss.update_state(la)
            self.b_loss.update_state(lb)
            return {"a_loss": self.a_loss.result(), "b_loss": self.b_loss.result()}

    model = TwoOptimizers()
    model.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.02))
    history = model.fit(X, epochs=2, batch_size=16, shuffle=False, verbose=0)
    wa, wb = np.ones((3, 1), np.float32), np.ones((3, 1), np.float32)
    per_epoch = []
    for _ in range(2):
        la, lb = [], []
        for start in (0, 16):
            x = X[start:start + 16]
            la.append(float(((x @ wa) ** 2).mean()))
            wa = wa - 0.01 * 2 * x.T @ (x @ wa) / 16
            lb.append(float(((x @ wb - 1) ** 2).mean()))
            wb = wb - 0.02 * 2 * x.T @ (x @ wb - 1) / 16
        per_epoch.append((np.mean(la), np.mean(lb)))
    np.testing.assert_allclose(model.a.kernel.numpy(), wa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.b.kernel.numpy(), wb, rtol=1e-5, atol=1e-6)
    # (the trackers were reset at each epoch's start: each epoch's own mean)
    np.testing.assert_allclose(history.history["a_loss"], [p[0] for p in per_epoch],
                               rtol=1e-5)
    np.testing.assert_allclose(history.history["b_loss"], [p[1] for p in per_epoch],
                               rtol=1e-5)


def test_add_loss_model_compiled_without_a_loss_trains_on_x_alone():
    class Reconstruct(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3, use_bias=False, kernel_initializer="zeros")

        def call(self, x):
            out = self.dense(x)
            self.add_loss(kiln.reduce_mean(kiln.square(out - x)))
            return out

    model = Reconstruct()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(X, epochs=1, batch_size=32, verbose=0)
    w = np.zeros((3, 3), np.float32)
    w -= 0.1 * 2 * X.T @ (X @ w - X) / X.size
    np.testing.assert_allclose(model.dense.kernel.numpy(), w, rtol=1e-5, atol=1e-6)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    plain.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="has no loss"):
        plain.fit(X, Y, verbose=0)
    plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="y is missing"):
        plain.fit(X, verbose=0)


def test_own_predict_step_and_super_train_step():
    class Doubling(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, kernel_initializer="zeros")
            self.calls = 0

        def call(self, x):
            return self.dense(x)

        def predict_step(self, data):
            return self(data) * 2.0 + 1.0

        def train_step(self, data):
            self.calls += 1
            return super().train_step(data)

    model = Doubling()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    np.testing.assert_allclose(model.predict(X, verbose=0), np.ones((32, 1)), rtol=1e-6)
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    w, b = _sgd_step(np.zeros((3, 1), np.float32), np.zeros(1, np.float32), X, Y, 0.1)
    np.testing.assert_allclose(model.dense.kernel.numpy(), w, rtol=1e-5, atol=1e-6)
    assert model.calls == 1
