#!/usr/bin/env bash
# Sets up and builds Kiln, then runs its main demo: a classifier trained on
# Fashion-MNIST (Debian's dataset-fashion-mnist) with a compiled training
# step (examples/python/train_fashion_mnist.py): a progress bar per epoch,
# the test accuracy, a loss/accuracy plot and a checkpoint in demo-output/.
# Arguments go to the demo, e.g. scripts/demo.sh --model cnn --epochs 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
PYTHONPATH="$root/build/python_packages" /usr/bin/python3 \
  "$root/examples/python/train_fashion_mnist.py" --out "$root/demo-output" "$@"
