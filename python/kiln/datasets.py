"""kiln.datasets: datasets shipped as Debian packages."""

import gzip
import os
import struct

import numpy as np

from . import errors


def _read_idx(path):
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as e:
        raise errors.DataLossError(f"{path}: not a readable gzip file ({e})",
                                   None) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise errors.DataLossError(f"{path}: not an unsigned-byte IDX file",
                                   None)
    rank = data[3]
    if len(data) < 4 + 4 * rank:
        raise errors.DataLossError(f"{path}: truncated IDX header", None)
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * rank)
    if body.size != int(np.prod(dims)):
        raise errors.DataLossError(
            f"{path}: {body.size} bytes of data for shape {list(dims)}", None)
    return body.reshape(dims)


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
            try:
                arrays.append(_read_idx(path))
            except FileNotFoundError:
                raise errors.NotFoundError(
                    f"{path} does not exist: install the Debian package "
                    "dataset-fashion-mnist (apt-get install "
                    "dataset-fashion-mnist)", None) from None
        return (arrays[0], arrays[1]), (arrays[2], arrays[3])


fashion_mnist = _FashionMNIST()
