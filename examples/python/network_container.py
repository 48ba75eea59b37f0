#!/usr/bin/env python3
"""The seeds' network-container style: a kiln.Network subclass that owns
its layers, called on a batch before any training, and trained with
optimizer.minimize(lambda: loss(model, x, y)).
"""

import numpy as np

import kiln


class TwoLayerNet(kiln.Network):
    def __init__(self):
        super().__init__()
        self.hidden = kiln.layers.Dense(32, activation="relu")
        self.output_layer = kiln.layers.Dense(3)

    def call(self, inputs):
        return self.output_layer(self.hidden(inputs))


def loss(model, x, y):
    logits = model(x)
    return kiln.reduce_mean(
        kiln.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))


def main(steps=200):
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]], np.float32)
    y = rng.integers(0, 3, size=300)
    x = (centers[y] + rng.standard_normal((300, 2))).astype(np.float32)

    kiln.random.set_seed(7)
    model = TwoLayerNet()
    print("logits before training:", model(x[:2]).numpy().round(3).tolist())
    print("variables:", [v.name for v in model.variables])
    optimizer = kiln.train.GradientDescentOptimizer(learning_rate=0.1)
    first = float(loss(model, x, y))
    for step in range(steps):
        value = optimizer.minimize(lambda: loss(model, x, y))
        if step % 50 == 0:
            print(f"step {step:3d}: loss {float(value):.4f}")
    last = float(loss(model, x, y))
    accuracy = float(np.mean(np.argmax(model(x).numpy(), axis=1) == y))
    print(f"loss {first:.4f} -> {last:.4f}, training accuracy {accuracy:.3f}")
    return first, last, accuracy


if __name__ == "__main__":
    main()
