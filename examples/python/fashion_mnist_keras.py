#!/usr/bin/env python3
"""A convolutional network on Fashion-MNIST written the Keras way: layers,
compile, fit with a validation split, ModelCheckpoint and EarlyStopping,
evaluate on the test set, and a plot of the training history.

    fashion_mnist_keras.py [--epochs N] [--batch-size B] [--train-limit N]
                           [--out DIR] [--mixed-precision POLICY]

The model is the "2 Conv + pooling" design of the dataset's benchmark table
(/usr/share/doc/dataset-fashion-mnist/README.md.gz lists 0.876-0.916 test
accuracy for it); each training step is one compiled function.
`--mixed-precision mixed_float16` (or `mixed_bfloat16`) computes in 16 bits
with float32 weights, as Keras' mixed precision does (on a GPU, products
on the tensor cores; on the CPU the 16-bit types are converted in and out
of float32, so it is slower there).
"""

import argparse
import os

import numpy as np

import kiln
from kiln import callbacks, layers


def make_model():
    return kiln.Sequential([
        layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(10, dtype="float32"),  # (logits in float32 under any policy)
    ])


def plot(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = history.history
    epochs = np.arange(1, len(h["loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, h["loss"], marker="o", label="training")
    left.plot(epochs, h["val_loss"], marker="o", label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.plot(epochs, h["accuracy"], marker="o", label="training")
    right.plot(epochs, h["val_accuracy"], marker="o", label="validation")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-limit", type=int, default=None,
                        help="train on the first N images only (a quick run)")
    parser.add_argument("--out", default="fashion_mnist_keras_out")
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--mixed-precision", default=None,
                        choices=["mixed_float16", "mixed_bfloat16"],
                        help="Keras' mixed-precision policy for the layers")
    args = parser.parse_args(argv)

    kiln.random.set_seed(42)
    (x, y), (xt, yt) = kiln.datasets.fashion_mnist.load_data()
    x = (x[..., None] / 255.0).astype(np.float32)
    xt = (xt[..., None] / 255.0).astype(np.float32)
    if args.train_limit:
        x, y = x[:args.train_limit], y[:args.train_limit]
        xt, yt = xt[:max(args.train_limit // 5, 100)], yt[:max(args.train_limit // 5, 100)]

    kiln.mixed_precision.set_global_policy(args.mixed_precision)
    try:
        model = make_model()
    finally:
        kiln.mixed_precision.set_global_policy(None)
    model.compile(optimizer=kiln.optimizers.Adam(1e-3),
                  loss=kiln.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    if args.verbose:
        model.summary()
    os.makedirs(args.out, exist_ok=True)
    best = os.path.join(args.out, "best.safetensors")
    history = model.fit(
        x, y, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1,
        verbose=args.verbose,
        callbacks=[
            callbacks.ModelCheckpoint(best, monitor="val_accuracy", save_best_only=True),
            callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                    restore_best_weights=True),
            callbacks.CSVLogger(os.path.join(args.out, "history.csv")),
        ])
    model.load_weights(best)  # the epoch with the best validation accuracy
    loss, accuracy = model.evaluate(xt, yt, batch_size=256, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} (weights of the best "
          f"validation epoch, {best})")
    # Top-2 accuracy and the classes most often taken for each other, from
    # the logits' two largest entries (kiln.math.top_k).
    top2 = kiln.math.top_k(model.predict(xt, batch_size=256), k=2).indices.numpy()
    print(f"top-2 test accuracy {np.mean((top2 == yt[:, None]).any(1)):.4f}")
    wrong = top2[:, 0] != yt
    if wrong.any():
        pairs, counts = np.unique(np.stack([yt[wrong], top2[wrong, 0]], 1), axis=0,
                                  return_counts=True)
        true, guess = pairs[np.argmax(counts)]
        names = kiln.datasets.fashion_mnist.class_names
        print(f"most frequent mistake: {names[true]} taken for {names[guess]} "
              f"({counts.max()} times)")
    plot(history, os.path.join(args.out, "history.png"))
    return history, accuracy


if __name__ == "__main__":
    main()
