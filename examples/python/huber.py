"""Huber-loss linear regression with per-sample SGD, written the way a
TensorFlow 2 user writes it (`import kiln as tf`, a Python `if` on a
tensor): run eagerly, and compiled by @tf.function, where AutoGraph turns
the `if` into a kiln.cond. Both reach the same weights.

    PYTHONPATH=build/python_packages /usr/bin/python3 examples/python/huber.py
"""

import numpy as np

import kiln as tf


def data(n=64, seed=3):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-1, 1, n).astype(np.float32)
    ys = (3.0 * xs + 0.5 + rng.normal(0, 0.05, n)).astype(np.float32)
    return xs, ys


def huber_loss(y_true, y_pred, m=1.0):
    err = y_true - y_pred
    if tf.abs(err) <= m:
        loss = 0.5 * err * err
    else:
        loss = m * tf.abs(err) - 0.5 * m * m
    return loss


def trainer(compiled):
    w, b = tf.Variable(0.0, name="w"), tf.Variable(0.0, name="b")

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = huber_loss(y, w * x + b)
        gw, gb = tape.gradient(loss, [w, b])
        w.assign_sub(0.1 * gw)
        b.assign_sub(0.1 * gb)
    return (tf.function(step) if compiled else step), w, b


def main(epochs=4):
    xs, ys = data()
    results = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        step, w, b = trainer(compiled)
        for _ in range(epochs):
            for x, y in zip(xs, ys):
                step(tf.constant(x), tf.constant(y))
        results[name] = (float(w), float(b))
        print(f"{name:8}: w = {float(w):.4f}, b = {float(b):.4f}")
        if compiled:
            assert step.trace_count == 1  # one trace for both branches
    return results


if __name__ == "__main__":
    main()
