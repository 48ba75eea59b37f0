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
