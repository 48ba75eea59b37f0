#!/usr/bin/env python3
"""The seed model: two 3x3 convolutions, global average pooling and a dense
layer, trained on Fashion-MNIST batches of 32 with Adam (learning rate
0.01: this small model learns slowly at Keras' default 0.001) — once eagerly and
once with the same train_step under @kiln.function, from the same initial
weights on the same batches. The two agree step by step and the loss falls.

Usage: seed_model.py [--steps N] [--learning-rate LR]
"""

import argparse

import numpy as np

import kiln


def make_model():
    return kiln.Sequential([
        kiln.layers.Conv2D(16, (3, 3), activation="relu"),
        kiln.layers.Conv2D(16, (3, 3), activation="relu"),
        kiln.layers.GlobalAveragePooling2D(),
        kiln.layers.Dense(10),
    ])


def trainer(model, learning_rate):
    optimizer = kiln.optimizers.Adam(learning_rate)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train_step(images, labels):
        with kiln.GradientTape() as tape:
            loss = loss_fn(labels, model(images))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return train_step


def batches(steps, batch_size=32, seed=0):
    (x, y), _ = kiln.datasets.fashion_mnist.load_data()
    x = (x[..., None] / 255.0).astype(np.float32)
    ds = (kiln.data.Dataset.from_tensor_slices((x, y.astype(np.int64)))
          .shuffle(10000, seed=seed).batch(batch_size, drop_remainder=True))
    return list(ds.take(steps))


def main(steps=30, learning_rate=0.01):
    data = batches(steps)
    models = []
    for _ in range(2):
        kiln.random.set_seed(1234)  # the same initial weights for both
        model = make_model()
        model(data[0][0])  # weights are created at the first call
        models.append(model)
    eager_step = trainer(models[0], learning_rate)
    compiled_step = kiln.function(trainer(models[1], learning_rate))

    eager_losses, compiled_losses = [], []
    for step, (images, labels) in enumerate(data):
        eager_losses.append(float(eager_step(images, labels)))
        compiled_losses.append(float(compiled_step(images, labels)))
        if step % 5 == 0 or step == len(data) - 1:
            print(f"step {step:3d}  eager loss {eager_losses[-1]:.5f}  "
                  f"compiled loss {compiled_losses[-1]:.5f}")
    gap = max(abs(a - b) for a, b in zip(eager_losses, compiled_losses))
    print(f"largest eager/compiled difference: {gap:.2e}")
    first, last = np.mean(eager_losses[:5]), np.mean(eager_losses[-5:])
    print(f"mean loss of the first 5 steps {first:.4f}, of the last 5 {last:.4f}")
    return eager_losses, compiled_losses, models


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    args = parser.parse_args()
    main(args.steps, args.learning_rate)
