#!/usr/bin/env python3
"""The training part of scripts/gpu-check.sh: writes, for the MLP of the
Fashion-MNIST demo (in float32, and in Keras' mixed_bfloat16 policy: bf16
products on the tensor cores, float32 weights and logits) and for the seed
CNN, a whole Adam training step as a Kiln module and its starting point,
ready for tensor-compile and kiln-replay.

    models.py OUTDIR [--images N]

For each model it writes OUTDIR/<model>/:
    <model>.mlir          the train step (kiln.aot.export's module)
    <model>.safetensors   the initial weights and optimizer slots
    lib<model>.so, ...    the same module compiled for this CPU (x86-64-v3,
                          so that it also runs on the GPU machine's host)
    x.npy, y.npy          the first N training images (scaled to [0, 1]) and
                          their labels: kiln-replay cuts them into batches
    steps.txt             how many steps to run
Both models train on the same batches, in order, from the same weights on
the CPU and the GPU, so their loss curves agree up to rounding.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))

import kiln  # noqa: E402
from seed_model import trainer  # noqa: E402
from train_fashion_mnist import make_model  # noqa: E402

# model: (batch size, Adam learning rate as the demo uses it, steps, dtype
# policy)
MODELS = {"mlp": (256, 1e-3, 60, None), "cnn": (64, 1e-2, 30, None),
          "mlp_mixed": (256, 1e-3, 60, "mixed_bfloat16")}


def export(kind, x, y, out):
    batch, learning_rate, steps, policy = MODELS[kind]
    kiln.random.set_seed(0)
    kiln.mixed_precision.set_global_policy(policy)
    try:
        model = make_model(kind.split("_")[0])
    finally:
        kiln.mixed_precision.set_global_policy(None)
    if policy:
        # The logits in float32 for the loss, as Keras' guide advises.
        model = kiln.Sequential([model, kiln.layers.Activation("linear",
                                                               dtype="float32")])
    model(x[:batch])  # the weights exist before the trace
    train_step = kiln.function(trainer(model, learning_rate))  # Adam

    directory = os.path.join(out, kind)
    os.makedirs(directory, exist_ok=True)
    kiln.aot.export({"train_step": train_step},
                    {"train_step": (x[:batch], y[:batch])},
                    os.path.join(directory, kind), target_cpu="x86-64-v3")
    np.save(os.path.join(directory, "x.npy"), x)
    np.save(os.path.join(directory, "y.npy"), y)
    with open(os.path.join(directory, "steps.txt"), "w") as f:
        f.write(f"{steps}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--batches", type=int, default=10,
                        help="batches of data per model (cycled)")
    args = parser.parse_args()
    (x, y), _ = kiln.datasets.fashion_mnist.load_data()
    for kind, (batch, _, _, _) in MODELS.items():
        n = batch * args.batches
        images = (x[:n, :, :, None] / 255.0).astype(np.float32)
        export(kind, images, y[:n].astype(np.int64), args.out)
        print(f"{kind}: {n} images, batches of {batch}")


if __name__ == "__main__":
    main()
