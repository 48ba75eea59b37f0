#!/usr/bin/env python3
"""Kiln's main demo: train a classifier on Fashion-MNIST (the Debian
package dataset-fashion-mnist) with a compiled training step, show a
progress bar, print the test accuracy, write a loss/accuracy plot (PNG) and
save a checkpoint.

    train_fashion_mnist.py [--model mlp|cnn] [--epochs N] [--batch-size B]
                           [--out DIR] [--train-limit N] [--device cpu|gpu]

The default (the MLP, 5 epochs, test accuracy about 0.87) takes about half
a minute on 2 cores; the seed model (--model cnn) is a small convolutional
network and much slower here (convolutions are not optimized yet).
`--device gpu` trains and evaluates inside `kiln.device("/gpu:0")`: the
steps are compiled for the GPU and the weights live in its memory; without
a GPU it runs on the CPU after one warning (soft device placement).
"""

import argparse
import os
import time

import numpy as np

import kiln


def make_model(kind):
    if kind == "mlp":
        return kiln.Sequential([
            kiln.layers.Flatten(),
            kiln.layers.Dense(128, activation="relu"),
            kiln.layers.Dense(10),
        ])
    return kiln.Sequential([
        kiln.layers.Conv2D(16, (3, 3), activation="relu"),
        kiln.layers.Conv2D(16, (3, 3), activation="relu"),
        kiln.layers.GlobalAveragePooling2D(),
        kiln.layers.Dense(10),
    ])


def plot(logdir, path):
    """Loss per step and test accuracy per epoch, from the summary file."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scalars = kiln.summary.read_scalars(logdir)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    steps, losses = scalars["loss"]
    left.plot(steps, losses, lw=0.6, alpha=0.5, label="batch")
    if len(losses) >= 50:
        smooth = np.convolve(losses, np.ones(50) / 50, mode="valid")
        left.plot(steps[49:], smooth, label="mean of 50")
    left.set_xlabel("step")
    left.set_ylabel("training loss")
    left.legend()
    epochs, accuracy = scalars["test_accuracy"]
    right.plot(epochs, accuracy, marker="o")
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy")
    right.set_ylim(min(accuracy) - 0.05, 1.0)
    fig.suptitle("Kiln: Fashion-MNIST")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--train-limit", type=int, default=None,
                        help="use only the first N training images")
    parser.add_argument("--out", default="demo-output")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    args = parser.parse_args(argv)
    device = kiln.device("/gpu:0" if args.device == "gpu" else "/cpu:0")

    from tqdm import tqdm

    (x, y), (xt, yt) = kiln.datasets.fashion_mnist.load_data()
    x = (x[..., None] / 255.0).astype(np.float32)[:args.train_limit]
    y = y.astype(np.int64)[:args.train_limit]
    xt = (xt[..., None] / 255.0).astype(np.float32)
    yt = yt.astype(np.int64)
    os.makedirs(args.out, exist_ok=True)

    kiln.random.set_seed(0)
    model = make_model(args.model)
    lr = args.learning_rate or (1e-3 if args.model == "mlp" else 1e-2)
    optimizer = kiln.optimizers.Adam(lr)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    @kiln.function
    def train_step(images, labels):
        with kiln.GradientTape() as tape:
            loss = loss_fn(labels, model(images))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    train = (kiln.data.Dataset.from_tensor_slices((x, y))
             .shuffle(len(x), seed=0).batch(args.batch_size, drop_remainder=True))
    logdir = os.path.join(args.out, "logs")
    if os.path.exists(os.path.join(logdir, "scalars.csv")):
        os.remove(os.path.join(logdir, "scalars.csv"))
    writer = kiln.summary.create_file_writer(logdir)
    checkpoint = kiln.train.Checkpoint(model=model, optimizer=optimizer)
    manager = kiln.train.CheckpointManager(
        checkpoint, os.path.join(args.out, "checkpoints"), max_to_keep=3)

    print(f"Training the {args.model.upper()} on {len(x)} images "
          f"({args.epochs} epoch{'' if args.epochs == 1 else 's'}, batches of "
          f"{args.batch_size}, Adam {lr}) on {device.name}")
    start = time.time()
    step = 0
    with writer.as_default(), device:
        for epoch in range(args.epochs):
            mean_loss = kiln.metrics.Mean()
            bar = tqdm(train, total=len(train), desc=f"epoch {epoch + 1}",
                       disable=args.no_progress, unit="step")
            for images, labels in bar:
                loss = float(train_step(images, labels))
                mean_loss.update_state(loss)
                kiln.summary.scalar("loss", loss, step)
                step += 1
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{float(mean_loss.result()):.4f}")
            accuracy = kiln.metrics.SparseCategoricalAccuracy()
            accuracy.update_state(yt, model.predict(xt, batch_size=500))
            kiln.summary.scalar("test_accuracy", float(accuracy.result()),
                                epoch + 1)
            print(f"epoch {epoch + 1}: mean loss "
                  f"{float(mean_loss.result()):.4f}, test accuracy "
                  f"{float(accuracy.result()):.4f}")
    writer.close()
    path = manager.save()
    png = os.path.join(args.out, "training.png")
    plot(logdir, png)
    print(f"{step} steps in {time.time() - start:.1f} s; test accuracy "
          f"{float(accuracy.result()):.4f}")
    print(f"checkpoint: {path}\nplot: {png}")
    return float(accuracy.result()), path, png


if __name__ == "__main__":
    main()
