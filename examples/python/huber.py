"""Huber-loss linear regression with per-sample SGD, eager (a Python `if`
on a tensor) and as a @kiln.function (kiln.cond): both reach the same
weights.

    PYTHONPATH=build/python_packages /usr/bin/python3 examples/python/huber.py
"""

import numpy as np

import kiln


def data(n=64, seed=3):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-1, 1, n).astype(np.float32)
    ys = (3.0 * xs + 0.5 + rng.normal(0, 0.05, n)).astype(np.float32)
    return xs, ys


def huber_eager(err, m=1.0):
    if kiln.abs(err) <= m:
        return 0.5 * err * err
    return m * kiln.abs(err) - 0.5 * m * m


def huber_traced(err, m=1.0):
    return kiln.cond(kiln.abs(err) <= m, lambda: 0.5 * err * err,
                     lambda: m * kiln.abs(err) - 0.5 * m * m)


def trainer(huber, compiled):
    w, b = kiln.Variable(0.0, name="w"), kiln.Variable(0.0, name="b")

    def step(x, y):
        with kiln.GradientTape() as tape:
            loss = huber(y - (w * x + b))
        gw, gb = tape.gradient(loss, [w, b])
        w.assign_sub(0.1 * gw)
        b.assign_sub(0.1 * gb)
    return (kiln.function(step) if compiled else step), w, b


def main(epochs=4):
    xs, ys = data()
    results = {}
    for name, huber, compiled in (("eager", huber_eager, False),
                                  ("compiled", huber_traced, True)):
        step, w, b = trainer(huber, compiled)
        for _ in range(epochs):
            for x, y in zip(xs, ys):
                step(kiln.constant(x), kiln.constant(y))
        results[name] = (float(w), float(b))
        print(f"{name:8}: w = {float(w):.4f}, b = {float(b):.4f}")
    return results


if __name__ == "__main__":
    main()
