"""The example programs under examples/python run and print what they claim."""

import importlib.util
import os

import numpy as np

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
    results = load("huber").main(epochs=2)
    np.testing.assert_allclose(results["compiled"], results["eager"], rtol=1e-5, atol=1e-6)
    assert abs(results["compiled"][0] - 3.0) < 0.6


def test_seed_model_eager_and_compiled_agree_and_learn():
    eager, compiled, models = load("seed_model").main(steps=30)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)
    for a, b in zip(models[0].variables, models[1].variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    assert np.mean(eager[-5:]) < np.mean(eager[:5]) - 0.02


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
