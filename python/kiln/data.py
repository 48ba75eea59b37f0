"""kiln.data: input pipelines, as tf.data.

    ds = kiln.data.Dataset.from_tensor_slices((x, y)).shuffle(1000, seed=1)
    for xb, yb in ds.batch(32):
        ...

Elements are kiln.Tensors. The pipeline itself moves data (slicing,
shuffling, stacking NumPy arrays); it computes nothing.
"""

import numpy as np

from .dtypes import bfloat16, widen_unsigned
from .tensor import Tensor, convert_to_tensor


class _BFloat16Values(np.ndarray):
    """The float32 values of bfloat16 elements while they are inside a
    pipeline (NumPy has no bfloat16): slicing and fancy indexing keep the
    mark (an element of a 1-D array too), and the elements come out as
    bfloat16 tensors again."""

    def __getitem__(self, key):
        out = super().__getitem__(key)
        return out if isinstance(out, np.ndarray) else \
            np.asarray(out).view(_BFloat16Values)


def _host(value):
    """`value` as the NumPy array the pipeline moves."""
    if getattr(value, "dtype", None) is bfloat16:  # a Tensor or a Variable
        return np.asarray(value.numpy()).view(_BFloat16Values)
    if isinstance(value, _BFloat16Values):
        return value
    return widen_unsigned(np.asarray(value))


def _tensor(value):
    """An element's leaf as the tensor the pipeline yields."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, _BFloat16Values):
        return convert_to_tensor(value.view(np.ndarray), bfloat16)
    return convert_to_tensor(widen_unsigned(np.asarray(value)))


def _to_arrays(structure):
    if isinstance(structure, tuple):
        return tuple(_to_arrays(s) for s in structure)
    if isinstance(structure, dict):
        return {k: _to_arrays(v) for k, v in structure.items()}
    return _host(structure)


def _leaves(structure):
    if isinstance(structure, tuple):
        return [l for s in structure for l in _leaves(s)]
    if isinstance(structure, dict):
        return [l for k in sorted(structure) for l in _leaves(structure[k])]
    return [structure]


def _map(structure, fn):
    if isinstance(structure, tuple):
        return tuple(_map(s, fn) for s in structure)
    if isinstance(structure, dict):
        return {k: _map(v, fn) for k, v in structure.items()}
    return fn(structure)


class Dataset:
    """A re-iterable sequence of elements (tensors or tuples/dicts of them)."""

    def __init__(self, make_iterator, length=None, arrays=None, order=None):
        self._make = make_iterator
        self._length = length
        # Slices of `arrays` in the order `order()` gives (an iterator of
        # indices): shuffle permutes indices, batch gathers many at once.
        self._arrays = arrays
        self._order = order

    @staticmethod
    def _slices(arrays, n, order):
        def make():
            for i in order():
                yield _map(arrays, lambda a: a[i])
        return Dataset(make, n, arrays, order)

    @staticmethod
    def from_tensor_slices(tensors):
        """Slices along the first dimension: element i is `x[i]` (or
        `(x[i], y[i])` for a tuple)."""
        arrays = _to_arrays(tensors)
        leaves = _leaves(arrays)
        if not leaves or any(a.ndim == 0 for a in leaves):
            raise ValueError("from_tensor_slices needs arrays with a first "
                             "dimension to slice")
        n = len(leaves[0])
        if any(len(a) != n for a in leaves):
            raise ValueError("from_tensor_slices: the arrays have different "
                             f"first dimensions: {[len(a) for a in leaves]}")

        return Dataset._slices(arrays, n, lambda: iter(range(n)))

    @staticmethod
    def range(*args):
        r = range(*args)
        return Dataset(lambda: iter(np.arange(*args, dtype=np.int64)), len(r))

    def __iter__(self):
        for element in self._make():
            yield _map(element, _tensor)

    def __len__(self):
        if self._length is None:
            raise TypeError("the length of this dataset is not known")
        return self._length

    INFINITE = -1
    UNKNOWN = -2

    def cardinality(self):
        """The number of elements, INFINITE (-1) or UNKNOWN (-2)."""
        if self._length is None:
            return getattr(self, "_infinite", False) and -1 or -2
        return self._length

    def _raw(self):
        """Elements as NumPy arrays (inside the pipeline)."""
        return self._make()

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Fills a buffer of `buffer_size` elements and draws from it at
        random (a buffer as large as the data is a full shuffle). With a
        seed the order is reproducible; each iteration reshuffles unless
        reshuffle_each_iteration=False."""
        if buffer_size < 1:
            raise ValueError(f"shuffle: buffer_size must be >= 1, got {buffer_size}")
        source = self
        epochs = [0]
        if seed is None:
            # The global seed (kiln.random.set_seed) makes the order
            # reproducible, as in TensorFlow; without one it varies.
            from . import random as _random
            base = _random._op_seed(None)
        else:
            base = int(seed)

        def shuffled(elements):
            if reshuffle_each_iteration:
                epochs[0] += 1
            rng = np.random.default_rng([base, epochs[0]])
            buffer = []
            for element in elements:
                buffer.append(element)
                if len(buffer) >= buffer_size:
                    # swap-remove: O(1) per draw
                    k = int(rng.integers(len(buffer)))
                    buffer[k], buffer[-1] = buffer[-1], buffer[k]
                    yield buffer.pop()
            while buffer:
                k = int(rng.integers(len(buffer)))
                buffer[k], buffer[-1] = buffer[-1], buffer[k]
                yield buffer.pop()
        if self._arrays is not None:  # shuffle the indices only
            order = self._order
            return Dataset._slices(self._arrays, self._length,
                                   lambda: shuffled(order()))
        return Dataset(lambda: shuffled(source._raw()), self._length)

    def batch(self, batch_size, drop_remainder=False):
        """Stacks `batch_size` consecutive elements (the last batch may be
        smaller unless drop_remainder)."""
        if batch_size < 1:
            raise ValueError(f"batch: batch_size must be >= 1, got {batch_size}")
        source = self

        def stack(group):
            first = group[0]
            if isinstance(first, tuple):
                return tuple(stack([g[i] for g in group]) for i in range(len(first)))
            if isinstance(first, dict):
                return {k: stack([g[k] for g in group]) for k in first}
            stacked = np.stack([_host(g) for g in group])
            return stacked.view(_BFloat16Values) \
                if isinstance(group[0], _BFloat16Values) else stacked

        def make():
            group = []
            for element in source._raw():
                group.append(element)
                if len(group) == batch_size:
                    yield stack(group)
                    group = []
            if group and not drop_remainder:
                yield stack(group)

        def gather():  # slices of arrays: one fancy-indexing per batch
            group = []
            for i in source._order():
                group.append(i)
                if len(group) == batch_size:
                    index = np.asarray(group)
                    yield _map(source._arrays, lambda a: a[index])
                    group = []
            if group and not drop_remainder:
                index = np.asarray(group)
                yield _map(source._arrays, lambda a: a[index])
        length = None
        if self._length is not None:
            length = (self._length // batch_size if drop_remainder
                      else -(-self._length // batch_size))
        return Dataset(gather if self._arrays is not None else make, length)

    def map(self, fn):
        """Applies `fn` to every element (tuples are unpacked into
        arguments). `fn` may use kiln ops."""
        source = self

        def make():
            for element in source._raw():
                args = _map(element, _tensor)
                out = fn(*args) if isinstance(args, tuple) else fn(args)
                yield _map(out, _host)
        return Dataset(make, self._length)

    def shard(self, num_shards, index):
        """Every `num_shards`-th element starting at `index` (tf.data's
        shard: worker `index` of `num_shards` reads its own part; with
        kiln.distribute, `shard(size(), rank())`). Shard before shuffling
        and batching so that the workers' parts do not overlap."""
        num_shards, index = int(num_shards), int(index)
        if num_shards < 1 or not 0 <= index < num_shards:
            raise ValueError(f"shard({num_shards}, {index}): needs num_shards >= 1 "
                             "and 0 <= index < num_shards")
        if self._arrays is not None and self._length is not None:
            # Slices stay slices (shuffle and batch keep their fast path).
            order = self._order
            count = len(range(index, self._length, num_shards))
            return Dataset._slices(
                self._arrays, count,
                lambda: (i for k, i in enumerate(order()) if k % num_shards == index))
        source = self

        def make():
            for k, element in enumerate(source._raw()):
                if k % num_shards == index:
                    yield element
        length = None if self._length is None else \
            len(range(index, self._length, num_shards))
        return Dataset(make, length)

    def take(self, count):
        """The first `count` elements (all of them if count is -1)."""
        if count < 0:
            return self
        source = self

        def make():
            if count == 0:
                return
            for i, element in enumerate(source._raw()):
                yield element
                if i + 1 >= count:
                    return
        length = count if self._length is None and getattr(self, "_infinite", False) \
            else (None if self._length is None else min(count, self._length))
        return Dataset(make, length)

    def repeat(self, count=None):
        """The elements `count` times (forever if None or -1)."""
        forever = count is None or count < 0
        source = self

        def make():
            i = 0
            while forever or i < count:
                yield from source._raw()
                i += 1
        length = None if forever or self._length is None \
            else self._length * count
        out = Dataset(make, length)
        out._infinite = forever and self._length != 0
        return out

    def prefetch(self, buffer_size=None):
        """Accepted for compatibility; elements are produced on demand."""
        return self
