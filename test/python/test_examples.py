"""The example programs under examples/python run and print what they claim."""

import importlib.util
import os

import numpy as np

import kiln

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eager_basics(capsys):
    total, reduced = load("eager_basics").main()
    out = capsys.readouterr().out
    assert "kiln.Tensor([[4.]], shape=(1, 1), dtype=float32)" in out
    np.testing.assert_allclose(total, reduced, rtol=1e-5)


def test_gradients(capsys):
    (gx, gy), pairs = load("gradients").main()
    assert (gx, gy) == (2.0, 12.0)
    assert len(pairs) == 1 and pairs[0][1].name.startswith("a")


def test_huber():
    module = load("huber")
    results = module.main(epochs=2)
    np.testing.assert_allclose(results["compiled"], results["eager"], rtol=1e-5, atol=1e-6)
    assert abs(results["compiled"][0] - 3.0) < 0.6
    # NumPy's per-sample SGD on the Huber loss, its derivative by hand.
    w = b = np.float32(0.0)
    xs, ys = module.data()
    for _ in range(2):
        for x, y in zip(xs, ys):
            err = y - (w * x + b)
            d = err if abs(err) <= 1.0 else np.sign(err)  # dloss/derr
            w, b = w - np.float32(0.1) * (-d * x), b - np.float32(0.1) * (-d)
    np.testing.assert_allclose(results["compiled"], (w, b), rtol=1e-4, atol=1e-5)


def _np_conv_relu(x, k, b):
    """A VALID 3x3 convolution (NumPy's correlation of patches) + bias, relu."""
    oh, ow = x.shape[1] - 2, x.shape[2] - 2
    patches = np.stack([x[:, i:i + oh, j:j + ow, :] for i in range(3) for j in range(3)], 3)
    return np.maximum(np.einsum("nhwpc,pcf->nhwf", patches,
                                k.reshape(9, k.shape[2], k.shape[3])) + b, 0)


def test_seed_model_eager_and_compiled_agree_and_learn():
    import kiln
    module = load("seed_model")
    eager, compiled, models = module.main(steps=30)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)
    for a, b in zip(models[0].variables, models[1].variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    assert np.mean(eager[-5:]) < np.mean(eager[:5]) - 0.02
    # The first step's loss against NumPy's forward pass from the same
    # initial weights (the seed main() used) on the same first batch.
    kiln.random.set_seed(1234)
    model = module.make_model()
    images, labels = (t.numpy() for t in module.batches(1)[0])
    model(images)
    k1, b1, k2, b2, kd, bd = (v.numpy().astype(np.float64) for v in model.trainable_variables)
    h = _np_conv_relu(_np_conv_relu(images.astype(np.float64), k1, b1), k2, b2)
    logits = h.mean((1, 2)) @ kd + bd
    z = logits - logits.max(1, keepdims=True)
    loss = (np.log(np.exp(z).sum(1)) - z[np.arange(len(labels)), labels]).mean()
    np.testing.assert_allclose([eager[0], compiled[0]], loss, rtol=1e-5)


def test_mlp_reaches_085_and_restores_from_its_checkpoint(tmp_path):
    accuracy, same, path = load("mlp_fashion_mnist").main(epochs=3,
                                                          directory=str(tmp_path))
    assert accuracy >= 0.85
    assert same
    assert os.path.dirname(path) == str(tmp_path)


def test_network_container_with_minimize(capsys):
    first, last, accuracy = load("network_container").main(steps=100)
    assert last < first / 3
    assert accuracy > 0.85
    assert "logits before training" in capsys.readouterr().out


def test_main_demo_writes_plot_and_checkpoint(tmp_path, capsys):
    accuracy, checkpoint, png = load("train_fashion_mnist").main(
        ["--epochs", "1", "--train-limit", "3200", "--out", str(tmp_path),
         "--no-progress"])
    assert accuracy > 0.6
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(checkpoint) > 100_000
    assert "test accuracy" in capsys.readouterr().out


def test_fashion_mnist_keras_demo(tmp_path, capsys):
    """The compile/fit demo, on a slice of the data (the full run is in
    docs/python.md): it learns, checkpoints the best epoch, logs and plots."""
    history, accuracy = load("fashion_mnist_keras").main(
        ["--train-limit", "1500", "--epochs", "2", "--out", str(tmp_path), "--verbose", "0"])
    assert history.history["loss"][1] < history.history["loss"][0]
    assert accuracy > 0.6
    out = capsys.readouterr().out
    assert "test accuracy" in out and "top-2 test accuracy" in out
    top2 = float(out.split("top-2 test accuracy ")[1].split()[0])
    assert accuracy <= top2 <= 1.0
    for name in ("best.safetensors", "history.csv", "history.png"):
        assert (tmp_path / name).exists(), name


def test_fashion_mnist_keras_demo_in_mixed_precision(tmp_path, capsys):
    """--mixed-precision mixed_float16: 16-bit layers with float32 weights
    and a loss-scaled Adam learn as the float32 run does."""
    history, accuracy = load("fashion_mnist_keras").main(
        ["--train-limit", "800", "--epochs", "2", "--out", str(tmp_path),
         "--verbose", "0", "--mixed-precision", "mixed_float16"])
    assert history.history["loss"][1] < history.history["loss"][0]
    assert accuracy > 0.6
    assert kiln.mixed_precision.global_policy().name == "float32"


def test_tiny_decoder_learns_over_open_batch_and_length(capsys):
    # One compiled step for sequences of every batch size and length; the
    # causal look-back task is learned (the mean loss of the last 20 steps
    # well below the first steps', about log(12) = 2.5 at chance).
    losses, traces = load("tiny_decoder").main(steps=200)
    assert traces == 1
    assert np.mean(losses[:5]) > 2.3
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5])
    assert "1 trace(s)" in capsys.readouterr().out


def test_license_classifier_learns_real_text(capsys):
    import os
    if not os.path.isdir("/usr/share/common-licenses"):
        import pytest
        pytest.skip("no /usr/share/common-licenses")
    losses, accuracy = load("license_classifier").main(epochs=15)
    assert losses[-1] < 0.25 * losses[0]
    assert accuracy > 0.5      # (five classes: chance is 0.2)
    assert "held-out accuracy" in capsys.readouterr().out
