#!/usr/bin/env python3
"""An MLP on Fashion-MNIST trained with a compiled step (@kiln.function),
then checkpointed and restored into a fresh model that makes the same
predictions.

Usage: mlp_fashion_mnist.py [--epochs N] [--batch-size B] [--dir DIR]
"""

import argparse
import os
import tempfile

import numpy as np

import kiln


def make_model():
    return kiln.Sequential([
        kiln.layers.Flatten(),
        kiln.layers.Dense(128, activation="relu"),
        kiln.layers.Dense(10),
    ])


def load():
    (x, y), (xt, yt) = kiln.datasets.fashion_mnist.load_data()
    scale = lambda a: (a / 255.0).astype(np.float32)  # noqa: E731
    return (scale(x), y.astype(np.int64)), (scale(xt), yt.astype(np.int64))


def main(epochs=3, batch_size=64, directory=None):
    (x, y), (xt, yt) = load()
    kiln.random.set_seed(0)
    model = make_model()
    optimizer = kiln.optimizers.Adam(learning_rate=1e-3)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    @kiln.function
    def train_step(images, labels):
        with kiln.GradientTape() as tape:
            loss = loss_fn(labels, model(images))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    train = (kiln.data.Dataset.from_tensor_slices((x, y))
             .shuffle(len(x), seed=0).batch(batch_size, drop_remainder=True))
    mean_loss = kiln.metrics.Mean()
    for epoch in range(epochs):
        mean_loss.reset_state()
        for images, labels in train:
            mean_loss.update_state(train_step(images, labels))
        accuracy = kiln.metrics.SparseCategoricalAccuracy()
        predictions = model.predict(xt, batch_size=1000)
        accuracy.update_state(yt, predictions)
        print(f"epoch {epoch + 1}: loss {float(mean_loss.result()):.4f}, "
              f"test accuracy {float(accuracy.result()):.4f}")

    directory = directory or tempfile.mkdtemp(prefix="kiln-mlp-")
    checkpoint = kiln.train.Checkpoint(model=model, optimizer=optimizer)
    path = kiln.train.CheckpointManager(checkpoint, directory).save()
    print(f"checkpoint: {path}")

    fresh = make_model()
    fresh(xt[:1])  # create the weights, then overwrite them
    kiln.train.Checkpoint(model=fresh, optimizer=kiln.optimizers.Adam()).restore(path)
    same = np.array_equal(fresh.predict(xt, 1000), predictions)
    print(f"restored model makes the same predictions: {same}")
    return float(accuracy.result()), same, path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    main(args.epochs, args.batch_size, args.dir)
