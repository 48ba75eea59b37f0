"""kiln.datasets: datasets shipped as Debian packages."""

import os

import numpy as np

from . import _kiln, errors


def _read_idx(path):
    """An idx(.gz) file as uint8, read by the runtime's reader (errors
    name the file: missing, truncated, not idx)."""
    try:
        return _kiln.read_idx(path, "ui8").numpy()
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


# -- Keras' download datasets, from files already on disk --------------------
#
# Keras downloads these into ~/.keras/datasets on first use. Kiln does not
# download (machines may have no network): it reads the same files from
# there (or from `path`, or $KILN_DATASETS_DIR), and says where to put them.

_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _dataset_file(path, name, what):
    """Where dataset file `path` is: as given when absolute or present,
    else in $KILN_DATASETS_DIR or ~/.keras/datasets; a NotFoundError that
    says where to put it otherwise."""
    if os.path.isabs(path) or os.path.exists(path):
        candidates = [path]
    else:
        candidates = [os.path.join(d, path) for d in
                      (os.environ.get("KILN_DATASETS_DIR"),
                       os.path.join(os.path.expanduser("~"), ".keras", "datasets")) if d]
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    raise errors.NotFoundError(
        f"{what}: {' or '.join(candidates)} does not exist; Kiln does not download "
        f"datasets: put Keras' {name} ({_KERAS_URL}{name}) there, or pass path=", None)


class _NpzImages:
    def __init__(self, name, what):
        self._name, self._what = name, what

    def load_data(self, path=None):
        """((x_train, y_train), (x_test, y_test)) from Keras' npz file."""
        with np.load(_dataset_file(path or self._name, self._name, self._what)) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


mnist = _NpzImages("mnist.npz", "mnist.load_data")


def _cifar_batches(path, name, folder, what):
    """The unpickled batches of a CIFAR archive (its .tar.gz `name` or the
    directory `folder` it extracts to), by file name."""
    import pickle
    import tarfile
    try:
        where = _dataset_file(path or folder, name, what)
    except errors.NotFoundError:
        where = _dataset_file(name, name, what)
    out = {}
    if os.path.isdir(where):
        for entry in sorted(os.listdir(where)):
            with open(os.path.join(where, entry), "rb") as f:
                try:
                    out[entry] = pickle.load(f, encoding="bytes")
                except Exception:
                    continue   # (the readme and meta files)
        return out
    with tarfile.open(where) as archive:
        for member in archive.getmembers():
            if member.isfile():
                try:
                    out[os.path.basename(member.name)] = pickle.load(
                        archive.extractfile(member), encoding="bytes")
                except Exception:
                    continue
    return out


def _cifar_images(batch):
    data = np.asarray(batch[b"data"], np.uint8)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


class _Cifar10:
    def load_data(self, path=None):
        """((x_train, y_train), (x_test, y_test)): uint8 images
        (N, 32, 32, 3), uint8 labels (N, 1), as Keras' cifar10."""
        batches = _cifar_batches(path, "cifar-10-python.tar.gz", "cifar-10-batches-py",
                                 "cifar10.load_data")
        train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
        x_train = np.concatenate([_cifar_images(b) for b in train])
        y_train = np.concatenate([b[b"labels"] for b in train]).astype(np.uint8)
        test = batches["test_batch"]
        return (x_train, y_train.reshape(-1, 1)), \
            (_cifar_images(test), np.asarray(test[b"labels"], np.uint8).reshape(-1, 1))


class _Cifar100:
    def load_data(self, label_mode="fine", path=None):
        """As cifar10, with `label_mode` "fine" (100 classes) or "coarse"
        (20)."""
        if label_mode not in ("fine", "coarse"):
            raise ValueError(f"cifar100: label_mode must be 'fine' or 'coarse', got "
                             f"{label_mode!r}")
        batches = _cifar_batches(path, "cifar-100-python.tar.gz", "cifar-100-python",
                                 "cifar100.load_data")
        key = f"{label_mode}_labels".encode()
        out = []
        for name in ("train", "test"):
            batch = batches[name]
            # (Keras' cifar100 labels are int64, cifar10's uint8)
            out.append((_cifar_images(batch), np.asarray(batch[key], np.int64).reshape(-1, 1)))
        return tuple(out)


cifar10, cifar100 = _Cifar10(), _Cifar100()


class _BostonHousing:
    def load_data(self, path="boston_housing.npz", test_split=0.2, seed=113):
        """((x_train, y_train), (x_test, y_test)): the rows shuffled with
        NumPy's RandomState(seed), the last test_split of them for testing,
        as Keras' boston_housing."""
        if not 0 <= test_split < 1:
            raise ValueError(f"boston_housing: test_split must be in [0, 1), got {test_split}")
        with np.load(_dataset_file(path, "boston_housing.npz",
                                   "boston_housing.load_data")) as f:
            x, y = f["x"], f["y"]
        order = np.arange(len(x))
        np.random.RandomState(seed).shuffle(order)
        x, y = x[order], y[order]
        cut = int(len(x) * (1 - test_split))
        return (x[:cut], y[:cut]), (x[cut:], y[cut:])


boston_housing = _BostonHousing()


class _Imdb:
    def load_data(self, path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
                  start_char=1, oov_char=2, index_from=3):
        """Keras' IMDB reviews as lists of word indices: each split shuffled
        with RandomState(seed), `start_char` first and indices shifted by
        `index_from`, reviews longer than `maxlen` dropped, indices below
        `skip_top` or from `num_words` on replaced by `oov_char` (dropped
        when it is None)."""
        with np.load(_dataset_file(path, "imdb.npz", "imdb.load_data"),
                     allow_pickle=True) as f:
            x_train, y_train = f["x_train"], f["y_train"]
            x_test, y_test = f["x_test"], f["y_test"]
        rng = np.random.RandomState(seed)
        splits = []
        for x, y in ((x_train, y_train), (x_test, y_test)):
            order = np.arange(len(x))
            rng.shuffle(order)
            x, y = _prepared(x[order], y[order], start_char, index_from, maxlen)
            if maxlen:
                if not x:
                    raise ValueError(f"imdb: no review is shorter than maxlen={maxlen}")
            splits.append((x, y))
        reviews = _limit_words(splits[0][0] + splits[1][0], num_words, skip_top, oov_char)
        n = len(splits[0][0])
        return (_objects(reviews[:n]), splits[0][1]), (_objects(reviews[n:]), splits[1][1])

    def get_word_index(self, path="imdb_word_index.json"):
        """{word: index} from Keras' imdb_word_index.json."""
        return _word_index(path, "imdb_word_index.json", "imdb.get_word_index")


def _prepared(sequences, labels, start_char, index_from, maxlen):
    """Keras' sequence preparation: `start_char` first and the indices
    shifted by `index_from`, then sequences of maxlen or more dropped."""
    if start_char is not None:
        sequences = [[start_char] + [w + index_from for w in s] for s in sequences]
    else:
        sequences = [[w + index_from for w in s] for s in sequences]
    if maxlen:
        kept = [i for i, s in enumerate(sequences) if len(s) < maxlen]
        sequences, labels = [sequences[i] for i in kept], labels[kept]
    return sequences, labels


def _objects(rows):
    """A list of lists as a 1-D object array (one list per element)."""
    return np.array(rows + [None], dtype=object)[:-1]


def _word_index(path, name, what):
    import json
    with open(_dataset_file(path, name, what)) as f:
        return json.load(f)


def _limit_words(sequences, num_words, skip_top, oov_char):
    """Keras' vocabulary limit: indices below skip_top or from num_words on
    become oov_char (are dropped when it is None)."""
    if not num_words:
        num_words = max(max(s) for s in sequences if s)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in s] for s in sequences]
    return [[w for w in s if skip_top <= w < num_words] for s in sequences]


imdb = _Imdb()


class _Reuters:
    def load_data(self, path="reuters.npz", num_words=None, skip_top=0, maxlen=None,
                  test_split=0.2, seed=113, start_char=1, oov_char=2, index_from=3):
        """Keras' Reuters newswires as lists of word indices and topic
        labels: all shuffled with RandomState(seed), `start_char` first
        and indices shifted by `index_from`, wires of `maxlen` or more
        dropped, the vocabulary limited as imdb's, the last test_split for
        testing."""
        with np.load(_dataset_file(path, "reuters.npz", "reuters.load_data"),
                     allow_pickle=True) as f:
            xs, labels = f["x"], f["y"]
        order = np.arange(len(xs))
        np.random.RandomState(seed).shuffle(order)
        xs, labels = _prepared(xs[order], labels[order], start_char, index_from, maxlen)
        xs = _limit_words(xs, num_words, skip_top, oov_char)
        cut = int(len(xs) * (1 - test_split))
        return (_objects(xs[:cut]), labels[:cut]), (_objects(xs[cut:]), labels[cut:])

    def get_word_index(self, path="reuters_word_index.json"):
        return _word_index(path, "reuters_word_index.json", "reuters.get_word_index")


reuters = _Reuters()
