"""kiln.datasets: datasets shipped as Debian packages."""

import os

import numpy as np

from . import _kiln, errors


def _read_idx(path):
    """An idx(.gz) file as uint8, read by the runtime's reader (errors
    name the file: missing, truncated, not idx)."""
    try:
        return _kiln.read_idx(path, "i32").numpy().astype(np.uint8)
    except _kiln.NativeError as e:
        raise errors.from_native(e) from None


class _FashionMNIST:
    """Fashion-MNIST: 28x28 grayscale images of 10 kinds of clothing."""

    directory = "/usr/share/datasets/fashion-mnist"
    class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    def load_data(self, directory=None):
        """((x_train, y_train), (x_test, y_test)) as uint8 NumPy arrays:
        images (N, 28, 28), labels (N,)."""
        directory = directory or os.environ.get("KILN_FASHION_MNIST_DIR",
                                                self.directory)
        names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
        arrays = []
        for name in names:
            path = os.path.join(directory, name)
            if not os.path.exists(path):
                raise errors.NotFoundError(
                    f"{path} does not exist: install the Debian package "
                    "dataset-fashion-mnist (apt-get install "
                    "dataset-fashion-mnist)", None)
            arrays.append(_read_idx(path))
        return (arrays[0], arrays[1]), (arrays[2], arrays[3])


fashion_mnist = _FashionMNIST()
