"""kiln.data: input pipelines, as tf.data.

    ds = kiln.data.Dataset.from_tensor_slices((x, y)).shuffle(1000, seed=1)
    for xb, yb in ds.batch(32):
        ...

Elements are kiln.Tensors. The pipeline itself moves data (slicing,
shuffling, stacking NumPy arrays); it computes nothing.
"""

import itertools
import operator
import warnings

import numpy as np

from . import errors
from .dtypes import bfloat16, string, widen_unsigned
from .ragged import RaggedTensor, RaggedTensorSpec
from .tensor import Tensor, convert_to_tensor, string_array


class _BFloat16Values(np.ndarray):
    """The float32 values of bfloat16 elements while they are inside a
    pipeline (NumPy has no bfloat16): slicing and fancy indexing keep the
    mark (an element of a 1-D array too), and the elements come out as
    bfloat16 tensors again."""

    def __getitem__(self, key):
        out = super().__getitem__(key)
        return out if isinstance(out, np.ndarray) else \
            np.asarray(out).view(_BFloat16Values)


class _HostSparse:
    """A SparseTensor inside a pipeline: its indices and values as NumPy
    arrays and its dense shape. Batching makes one of rank + 1 (the
    batch index first, the dense shape the largest of each extent), as
    tf.data batches sparse elements."""

    def __init__(self, indices, values, shape):
        self.indices, self.values, self.shape = indices, values, tuple(shape)

    @staticmethod
    def of(sparse):
        values = sparse.values
        return _HostSparse(np.asarray(sparse.indices.numpy()),
                           values._impl.array if values.dtype is string else
                           np.asarray(values.numpy()), sparse.shape)

    def tensor(self):
        from .sparse import SparseTensor
        return SparseTensor(self.indices, convert_to_tensor(self.values), self.shape)

    @property
    def ndim(self):
        return len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        """Row `key` (rank one less), or the rows of an index array or a
        slice (slices and unbatch of a sparse element)."""
        if isinstance(key, (int, np.integer)):
            mine = self.indices[:, 0] == int(key)
            return _HostSparse(self.indices[mine, 1:], self.values[mine], self.shape[1:])
        rows = np.arange(self.shape[0])[key] if isinstance(key, slice) else np.asarray(key)
        where = {int(r): k for k, r in enumerate(rows.tolist())}
        if len(where) != len(rows):
            raise ValueError("a sparse element's rows are taken once each")
        mine = np.isin(self.indices[:, 0], rows)
        picked = self.indices[mine]
        new_rows = np.array([where[int(r)] for r in picked[:, 0]], np.int64).reshape(-1, 1)
        order = np.lexsort(np.concatenate([new_rows, picked[:, 1:]], 1).T[::-1]) \
            if len(picked) else np.zeros(0, np.int64)
        return _HostSparse(np.concatenate([new_rows, picked[:, 1:]], 1)[order],
                           self.values[mine][order], (len(rows),) + self.shape[1:])

    @staticmethod
    def batch(group):
        if any(len(g.shape) != len(group[0].shape) for g in group):
            raise ValueError("batch: sparse elements of different ranks")
        shape = [len(group)] + [max(g.shape[d] for g in group)
                                for d in range(len(group[0].shape))]
        indices = np.concatenate([np.concatenate(
            [np.full((len(g.indices), 1), b, np.int64),
             g.indices.reshape(len(g.indices), len(shape) - 1)], axis=1)
            for b, g in enumerate(group)]).reshape(-1, len(shape))
        return _HostSparse(indices, np.concatenate([g.values for g in group]), shape)


class _RaggedRow(np.ndarray):
    """A row of a RaggedTensor inside a pipeline: a NumPy array that
    batch() joins into a RaggedTensor (rows of different lengths), as
    tf.data batches the slices of a ragged tensor."""


class _BFloat16RaggedRow(_RaggedRow, _BFloat16Values):
    """A row of a bfloat16 RaggedTensor (float32 values, bfloat16 out)."""


class _HostRagged:
    """A RaggedTensor inside a pipeline: its values (NumPy) and row
    splits. Indexing by an integer gives a row (a _RaggedRow), by a slice
    or an index array a _HostRagged of those rows."""

    def __init__(self, values, splits):
        self.values, self.splits = values, np.asarray(splits, np.int64)

    @staticmethod
    def of(ragged):
        return _HostRagged(_host(ragged.values), ragged._splits)

    def tensor(self):
        return RaggedTensor(_tensor(self.values), self.splits)

    @property
    def ndim(self):
        return self.values.ndim + 1

    def __len__(self):
        return len(self.splits) - 1

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            key = int(key) + (len(self) if key < 0 else 0)
            row = self.values[self.splits[key]:self.splits[key + 1]]
            return row.view(_BFloat16RaggedRow if isinstance(self.values, _BFloat16Values)
                            else _RaggedRow)
        rows = np.arange(len(self))[key] if isinstance(key, slice) else \
            np.asarray(key).reshape(-1)
        return _HostRagged.batch([self[int(r)] for r in rows], like=self.values)

    @staticmethod
    def batch(group, like=None):
        """The rows (arrays of one rank and inner shape) as one."""
        arrays = [np.asarray(_host(g)) for g in group]
        if not arrays:
            return _HostRagged(like[:0], [0])
        if any(a.ndim == 0 or a.shape[1:] != arrays[0].shape[1:] for a in arrays):
            raise ValueError(f"ragged batch: the rows' shapes {[list(a.shape) for a in arrays]} "
                             "differ beyond their lengths (one ragged dimension only)")
        lengths = [len(a) for a in arrays]
        values = np.concatenate(arrays)
        if isinstance(_host(group[0]), _BFloat16Values):
            values = values.view(_BFloat16Values)
        return _HostRagged(values, np.concatenate([[0], np.cumsum(lengths)]))


def _host(value):
    """`value` as the NumPy array the pipeline moves (strings: an object
    array of bytes, as a string tensor holds them; a SparseTensor: a
    _HostSparse)."""
    if isinstance(value, (_HostSparse, _HostRagged)):
        return value
    if hasattr(value, "_kiln_trace_key") and hasattr(value, "indices"):  # SparseTensor
        return _HostSparse.of(value)
    if isinstance(value, RaggedTensor):
        return _HostRagged.of(value)
    if getattr(value, "dtype", None) is bfloat16:  # a Tensor or a Variable
        return np.asarray(value.numpy()).view(_BFloat16Values)
    if isinstance(value, _BFloat16Values):
        return value
    if isinstance(value, Tensor) and value.dtype is string:
        return value._impl.array
    if isinstance(value, (bytes, str)) or \
            isinstance(value, np.ndarray) and value.dtype.kind in "US":
        return string_array(value)
    if not isinstance(value, (np.ndarray, np.generic)) and not hasattr(value, "numpy"):
        # Python numbers and lists take TensorFlow's dtypes (float32, int32).
        try:
            value = convert_to_tensor(value).numpy()
        except (TypeError, ValueError, errors.InvalidArgumentError):
            pass
    return widen_unsigned(np.asarray(value))


def _tensor(value):
    """An element's leaf as the tensor the pipeline yields."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (_HostSparse, _HostRagged)):
        return value.tensor()
    if isinstance(value, (bytes, str)):  # (an element of an array of strings)
        return convert_to_tensor(value)
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


def _pack(structure, leaves):
    """`leaves` (in _leaves' order) nested as `structure`."""
    it = iter(leaves)

    def build(s):
        if isinstance(s, tuple):
            return tuple(build(x) for x in s)
        if isinstance(s, dict):
            return {k: build(s[k]) for k in sorted(s)}
        return next(it)
    return build(structure)


def _map(structure, fn):
    if isinstance(structure, tuple):
        return tuple(_map(s, fn) for s in structure)
    if isinstance(structure, dict):
        return {k: _map(v, fn) for k, v in structure.items()}
    return fn(structure)


def _count(value, what):
    """A count as a Python int: also a scalar integer tensor or NumPy
    value (`ds.take(ds.cardinality() // 5)`, as TensorFlow programs write)."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        return operator.index(np.asarray(value).item() if np.ndim(value) == 0 else value)
    except TypeError:
        raise TypeError(f"{what}: the count must be an integer, got {value!r}") from None


class Dataset:
    """A re-iterable sequence of elements (tensors or tuples/dicts of them)."""

    def __init__(self, make_iterator, length=None, arrays=None, order=None,
                 infinite=False):
        self._make = make_iterator
        self._length = length
        # Whether the elements never end (a repeat() without a count, and
        # what is made from it): cardinality INFINITE.
        self._infinite = bool(infinite)
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
        from .tensor import TensorSpec
        dataset = Dataset(lambda: iter(np.arange(*args, dtype=np.int64)), len(r))
        dataset._declared_spec = TensorSpec((), "int64")
        return dataset

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
        """The number of elements, INFINITE (-1) or UNKNOWN (-2), as a
        scalar int64 tensor (tf.data.Dataset.cardinality)."""
        return convert_to_tensor(self._cardinality(), "int64")

    def _cardinality(self):
        """cardinality() as a Python int."""
        if self._length is None:
            return -1 if self._infinite else -2
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
        return Dataset(lambda: shuffled(source._raw()), self._length,
                       infinite=self._infinite)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None, name=None):
        """Stacks `batch_size` consecutive elements (the last batch may be
        smaller unless drop_remainder); num_parallel_calls and
        deterministic are accepted (the batches are made in order)."""
        if batch_size < 1:
            raise ValueError(f"batch: batch_size must be >= 1, got {batch_size}")
        source = self

        def stack(group):
            first = group[0]
            if isinstance(first, tuple):
                return tuple(stack([g[i] for g in group]) for i in range(len(first)))
            if isinstance(first, dict):
                return {k: stack([g[k] for g in group]) for k in first}
            if isinstance(first, _HostSparse):
                return _HostSparse.batch(group)
            if isinstance(first, _HostRagged):
                raise errors.UnimplementedError(
                    "Dataset.batch: the elements are RaggedTensors already (Kiln's "
                    "RaggedTensor has one ragged dimension); unbatch them first",
                    errors.user_location())
            if any(isinstance(g, _RaggedRow) for g in group):
                return _HostRagged.batch(group)
            arrays = [_host(g) for g in group]
            if any(np.shape(a) != np.shape(arrays[0]) for a in arrays):
                raise errors.InvalidArgumentError(
                    f"Dataset.batch: elements of shapes {np.shape(arrays[0])} and "
                    f"{next(np.shape(a) for a in arrays if np.shape(a) != np.shape(arrays[0]))}"
                    " cannot be stacked; use padded_batch (padding) or ragged_batch "
                    "(a RaggedTensor)", errors.user_location())
            stacked = np.stack(arrays)
            return stacked.view(_BFloat16Values) \
                if isinstance(group[0], _BFloat16Values) else stacked

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
        if self._arrays is None:
            out = self._grouped(batch_size, drop_remainder, stack)
        else:
            out = Dataset(gather, self._batched_length(batch_size, drop_remainder))
        out._batch_size = batch_size   # (what split_dataset batches its parts by)
        return out

    def ragged_batch(self, batch_size, drop_remainder=False, row_splits_dtype=None):
        """batch for elements whose first dimension varies: each component
        of rank >= 1 becomes a RaggedTensor of the batch's rows (scalars
        are stacked), as tf.data's ragged_batch."""
        if batch_size < 1:
            raise ValueError(f"ragged_batch: batch_size must be >= 1, got {batch_size}")

        def join(group):
            first = group[0]
            if isinstance(first, tuple):
                return tuple(join([g[i] for g in group]) for i in range(len(first)))
            if isinstance(first, dict):
                return {k: join([g[k] for g in group]) for k in first}
            arrays = [_host(g) for g in group]
            if any(isinstance(a, (_HostSparse, _HostRagged)) for a in arrays):
                raise errors.UnimplementedError(
                    "ragged_batch: components that are already sparse or ragged are not "
                    "batched again (Kiln's RaggedTensor has one ragged dimension)",
                    errors.user_location())
            if all(np.ndim(a) == 0 for a in arrays):
                return np.stack(arrays)
            return _HostRagged.batch(arrays)
        return self._grouped(batch_size, drop_remainder, join)

    def _batched_length(self, batch_size, drop_remainder):
        if self._length is None:
            return None
        return (self._length // batch_size if drop_remainder
                else -(-self._length // batch_size))

    def _grouped(self, batch_size, drop_remainder, stack):
        """Groups of `batch_size` consecutive elements, each made one by
        `stack` (the last one smaller unless drop_remainder)."""
        source = self

        def make():
            group = []
            for element in source._raw():
                group.append(element)
                if len(group) == batch_size:
                    yield stack(group)
                    group = []
            if group and not drop_remainder:
                yield stack(group)
        return Dataset(make, self._batched_length(batch_size, drop_remainder),
                       infinite=self._infinite)

    def map(self, fn, num_parallel_calls=None, deterministic=None, name=None):
        """Applies `fn` to every element (tuples are unpacked into
        arguments). `fn` may use kiln ops. (`num_parallel_calls` is
        accepted; elements are mapped in order, one at a time.)"""
        source = self

        def make():
            for element in source._raw():
                args = _map(element, _tensor)
                out = fn(*args) if isinstance(args, tuple) else fn(args)
                yield _map(out, _host)
        mapped = Dataset(make, self._length, infinite=self._infinite)
        mapped._mapped = (source, fn)  # (for ignore_errors: element by element)
        return mapped

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
        return Dataset(make, length, infinite=self._infinite)

    def take(self, count):
        """The first `count` elements (all of them if count is -1)."""
        count = _count(count, "take")
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
        length = count if self._length is None and self._infinite \
            else (None if self._length is None else min(count, self._length))
        return Dataset(make, length)

    def repeat(self, count=None):
        """The elements `count` times (forever if None or -1)."""
        count = None if count is None else _count(count, "repeat")
        forever = count is None or count < 0
        source = self

        def make():
            i = 0
            while forever or i < count:
                empty = True
                for element in source._raw():
                    empty = False
                    yield element
                if empty:
                    return  # (a pass without elements: so are all the others)
                i += 1
        length = 0 if self._length == 0 else None if forever or self._length is None \
            else self._length * count
        return Dataset(make, length, infinite=forever and self._length != 0)

    def prefetch(self, buffer_size=None):
        """Accepted for compatibility; elements are produced on demand."""
        return self

    @staticmethod
    def from_tensors(tensors):
        """One element: `tensors` whole."""
        arrays = _to_arrays(tensors)
        return Dataset(lambda: iter([arrays]), 1)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None):
        """The elements a fresh call of `generator(*args)` yields, each time
        the dataset is iterated; `output_signature` (TensorSpecs, nested as
        the elements) or `output_types` set the dtypes and check shapes."""
        from .dtypes import as_dtype
        args = tuple(args or ())
        if output_signature is None and output_types is None:
            raise TypeError("from_generator needs output_signature (or output_types)")

        # Each leaf of the signature: a dtype and a shape (None: any).
        if output_signature is not None:
            spec = _map(output_signature, lambda s: _Signature(s.dtype, s.shape))
        else:
            shapes = output_shapes if output_shapes is not None else \
                _map(output_types, lambda _: None)
            spec = _zip_structure(shapes, output_types, lambda s, t: _Signature(
                as_dtype(t), None if s is None else tuple(s)))

        def conform(value, leaf, where):
            dtype, shape = leaf.dtype, leaf.shape
            a = np.asarray(value, np.float32 if dtype is bfloat16 else dtype.as_numpy_dtype)
            if shape is not None and (len(a.shape) != len(shape) or any(
                    d is not None and d != e for d, e in zip(shape, a.shape))):
                raise ValueError(f"from_generator: element {where} has shape "
                                 f"{list(a.shape)}, not {list(shape)}")
            return a.view(_BFloat16Values) if dtype is bfloat16 else _host(a)

        def make():
            for k, element in enumerate(generator(*args)):
                yield _zip_structure(element, spec, lambda v, s: conform(v, s, k))
        dataset = Dataset(make)
        # (The declared shapes, None where unknown: what
        # bucket_by_sequence_length pads to a bucket's boundary.)
        dataset._declared_shapes = [None if leaf.shape is None else list(leaf.shape)
                                    for leaf in _leaves(spec)]
        if output_signature is not None:
            dataset._declared_spec = output_signature   # (element_spec)
        return dataset

    def as_numpy_iterator(self):
        """The elements as NumPy arrays (nested as the elements)."""
        for element in self:
            yield _map(element, lambda t: t.numpy())

    def skip(self, count):
        """All but the first `count` elements (none if count is -1)."""
        count = int(count)
        source = self

        def make():
            for i, element in enumerate(source._raw()):
                if count >= 0 and i >= count:
                    yield element
        length = None if self._length is None else \
            (0 if count < 0 else max(self._length - count, 0))
        return Dataset(make, length, infinite=self._infinite and count >= 0)

    def filter(self, predicate):
        """The elements for which `predicate` (tuples unpacked into
        arguments) is true: a Python bool or a scalar bool tensor."""
        source = self

        def make():
            for element in source._raw():
                args = _map(element, _tensor)
                keep = predicate(*args) if isinstance(args, tuple) else predicate(args)
                if isinstance(keep, Tensor):
                    if keep.shape != () or keep.dtype != "bool":
                        raise ValueError("filter: the predicate must give a scalar "
                                         f"bool, got {keep.dtype.name} of shape "
                                         f"{list(keep.shape)}")
                    keep = bool(keep.numpy())
                if keep:
                    yield element
        return Dataset(make, infinite=self._infinite)

    @staticmethod
    def zip(datasets):
        """Elements of several datasets side by side (a tuple or dict of
        datasets, nested); as long as the shortest."""
        parts = _leaves(datasets)
        if not parts or not all(isinstance(d, Dataset) for d in parts):
            raise TypeError("Dataset.zip takes a tuple (or dict) of datasets")

        def make():
            iterators = [d._raw() for d in parts]
            for elements in zip(*iterators):
                yield _pack(datasets, elements)
        # As long as the shortest: endless only when every part is.
        finite = [d for d in parts if not d._infinite]
        known = [d._length for d in finite if d._length is not None]
        length = min(known) if finite and len(known) == len(finite) else None
        return Dataset(make, length, infinite=not finite)

    def concatenate(self, dataset):
        """This dataset's elements, then `dataset`'s."""
        first, second = self, dataset

        def make():
            yield from first._raw()
            yield from second._raw()
        length = None if self._length is None or dataset._length is None \
            else self._length + dataset._length
        return Dataset(make, length, infinite=self._infinite or dataset._infinite)

    def enumerate(self, start=0):
        """(index, element) pairs, the index an int64 counting from `start`."""
        source = self

        def make():
            for i, element in enumerate(source._raw(), int(start)):
                yield (np.int64(i), element)
        return Dataset(make, self._length, infinite=self._infinite)

    def cache(self, filename=""):
        """Keeps the elements of the first complete iteration and replays
        them (the input's map functions run once): in memory, or with a
        `filename` in the directory `filename + ".kiln-cache"` (Kiln's
        save format), which later iterations and later programs read
        instead of the input, as tf.data's file cache; an iteration that
        stops early leaves no cache."""
        if filename:
            return self._file_cache(str(filename) + ".kiln-cache")
        source, store = self, []

        def make():
            if store and store[0] is not None:
                yield from store[0]
                return
            seen = []
            for element in source._raw():
                seen.append(element)
                yield element
            store[:] = [seen]
        return Dataset(make, self._length, infinite=self._infinite)

    def _file_cache(self, directory):
        import os
        source = self

        def make():
            if os.path.exists(os.path.join(directory, _SAVED_INDEX)):
                yield from Dataset.load(directory)._raw()
                return
            with _Writer(directory, None, "cache") as writer:
                for element in source._raw():
                    writer.add(element, 0)
                    yield element
                writer.finish()
        return Dataset(make, self._length, infinite=self._infinite)

    def save(self, path, compression=None, shard_func=None, checkpoint_args=None):
        """Writes every element to the directory `path` (tf.data's
        Dataset.save; Kiln's own format: a JSON index and NumPy .npz
        shards): `compression` None or "GZIP", `shard_func(element)` an
        integer choosing each element's shard (default one shard).
        Dataset.load reads it back; the directory appears complete or not
        at all (written beside it, then renamed)."""
        if compression not in (None, "", "GZIP"):
            raise ValueError(f"Dataset.save: compression must be None or 'GZIP', got "
                             f"{compression!r}")
        if checkpoint_args is not None:
            raise NotImplementedError("Dataset.save: checkpoint_args (resumable saving) "
                                      "is not supported")
        if self._infinite:
            raise ValueError("Dataset.save: the dataset is infinite")
        with _Writer(str(path), compression or None, "save") as writer:
            for element in self._raw():
                shard = 0
                if shard_func is not None:
                    shard = int(np.asarray(_host(self._call_plain(shard_func, element))))
                    if shard < 0:
                        raise errors.InvalidArgumentError(
                            f"Dataset.save: shard_func gave the negative shard {shard}",
                            errors.user_location())
                writer.add(element, shard)
            writer.finish()

    def _call_plain(self, fn, element):
        """fn on an element's tensors (a tuple spread as arguments)."""
        value = _map(element, _tensor)
        return fn(*value) if isinstance(value, tuple) else fn(value)

    @staticmethod
    def load(path, element_spec=None, compression=None, reader_func=None):
        """The dataset Dataset.save (or a file cache) wrote to `path`:
        its shards read in order, or as `reader_func` combines them (a
        function of the dataset of the shards' datasets, as tf.data's).
        `element_spec`, when given, must describe the saved elements."""
        import json
        import os
        index_path = os.path.join(str(path), _SAVED_INDEX)
        try:
            with open(index_path) as f:
                index = json.load(f)
        except FileNotFoundError:
            raise errors.NotFoundError(f"Dataset.load: {path} holds no saved dataset (no "
                                       f"{_SAVED_INDEX})", errors.user_location()) from None
        if index.get("format") != _SAVED_FORMAT:
            raise errors.InvalidArgumentError(
                f"Dataset.load: {index_path} is not in Kiln's dataset format",
                errors.user_location())
        structure = _spec_structure(index["spec"])
        if element_spec is not None:
            _check_spec(element_spec, index["spec"], path)
        shards = {}
        for entry in index["files"]:
            shards.setdefault(entry["shard"], []).append(entry)

        bf16 = _bfloat16_leaves(index["spec"])

        def reader(entries):
            def make():
                for entry in entries:
                    with np.load(os.path.join(str(path), entry["file"])) as arrays:
                        columns = [arrays[f"s{j}"] if whole else None
                                   for j, whole in enumerate(entry["stacked"])]
                        for j, text in enumerate(entry.get("strings", [])):
                            if text:
                                columns[j] = _strings_from_arrays(arrays, j)
                        for i in range(entry["count"]):
                            leaves = [columns[j][i] if columns[j] is not None
                                      else arrays[f"{i}_{j}"] for j in range(len(bf16))]
                            yield _pack(structure, [v.view(_BFloat16Values) if bf else v
                                                    for v, bf in zip(leaves, bf16)])
            return Dataset(make, sum(e["count"] for e in entries))
        parts = [reader(shards[k]) for k in sorted(shards)]
        if reader_func is not None:
            return reader_func(_DatasetOfDatasets(lambda: iter(parts)))
        def make():
            for part in parts:
                yield from part._raw()
        return Dataset(make, index["count"])

    def unbatch(self):
        """Splits each element along its first dimension."""
        source = self

        def make():
            for element in source._raw():
                leaves = _leaves(element)
                n = len(leaves[0]) if leaves and leaves[0].ndim else None
                if n is None or any(a.ndim == 0 or len(a) != n for a in leaves):
                    raise ValueError("unbatch: every component needs the same "
                                     "first dimension")
                for i in range(n):
                    yield _map(element, lambda a: a[i])
        return Dataset(make, infinite=self._infinite)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None,
                     drop_remainder=False):
        """batch for elements of different shapes: each component padded at
        the end of every dimension to `padded_shapes` (None or -1 entries,
        or no padded_shapes: the batch's largest extent) with
        `padding_values` (default 0)."""
        if batch_size < 1:
            raise ValueError(f"padded_batch: batch_size must be >= 1, got {batch_size}")

        def pad(group, shape, value):
            arrays = [_host(g) for g in group]
            if isinstance(arrays[0], _HostSparse):
                raise errors.UnimplementedError(
                    "padded_batch: SparseTensor components are not padded (batch them "
                    "instead)", errors.user_location())
            rank = arrays[0].ndim
            if any(a.ndim != rank for a in arrays):
                raise ValueError("padded_batch: the elements' ranks differ")
            wanted = [None] * rank if shape is None else \
                [None if d is None or d == -1 else int(d) for d in shape]
            if len(wanted) != rank:
                raise ValueError(f"padded_batch: padded shape {list(shape)} for "
                                 f"components of rank {rank}")
            largest = [max(a.shape[d] for a in arrays) for d in range(rank)]
            target = [l if w is None else w for w, l in zip(wanted, largest)]
            for a in arrays:
                if any(e > t for e, t in zip(a.shape, target)):
                    raise ValueError(f"padded_batch: a component of shape "
                                     f"{list(a.shape)} exceeds the padded shape {target}")
            text = arrays[0].dtype == object  # (strings pad with b"", as TensorFlow)
            fill = (b"" if text else 0) if value is None else np.asarray(_host(value)).item()
            out = np.full([len(arrays)] + target, fill, arrays[0].dtype)
            for k, a in enumerate(arrays):
                out[(k,) + tuple(slice(0, e) for e in a.shape)] = a if a.ndim else a[()]
            return out.view(_BFloat16Values) if isinstance(group[0], _BFloat16Values) else out

        def stack(group):
            first = group[0]
            n = len(_leaves(first))
            columns = [[_leaves(g)[k] for g in group] for k in range(n)]
            shape_leaves = [None] * n if padded_shapes is None else \
                _shape_leaves(padded_shapes)
            value_leaves = [None] * n if padding_values is None else _leaves(padding_values)
            if len(shape_leaves) != n or len(value_leaves) != n:
                raise ValueError("padded_batch: padded_shapes and padding_values must "
                                 "be nested as the elements")
            return _pack(first, [pad(c, s, v) for c, s, v in
                                 zip(columns, shape_leaves, value_leaves)])

        return self._grouped(batch_size, drop_remainder, stack)

    def _call(self, fn, element):
        """fn of an element's tensors (tuples unpacked into arguments; a
        window's Dataset as it is)."""
        if isinstance(element, Dataset):
            return fn(element)
        if isinstance(element, tuple) and element and isinstance(element[0], Dataset):
            return fn(*element)
        if isinstance(element, dict) and element and \
                isinstance(next(iter(element.values())), Dataset):
            return fn(element)
        args = _map(element, _tensor)
        return fn(*args) if isinstance(args, tuple) else fn(args)

    def flat_map(self, map_func):
        """The elements of the datasets map_func makes of each element, one
        dataset after the other."""
        source = self

        def make():
            for element in source._raw():
                inner = source._call(map_func, element)
                if not isinstance(inner, Dataset):
                    raise TypeError("flat_map: map_func must return a Dataset")
                yield from inner._raw()
        return Dataset(make, infinite=self._infinite)

    def group_by_window(self, key_func, reduce_func, window_size=None, window_size_func=None,
                        name=None):
        """Elements grouped by key_func (an integer per element): each time a
        key's group holds its window size (window_size, or
        window_size_func(key)), reduce_func(key, the group as a Dataset) is
        emitted; at the end the partial groups, by ascending key (as
        TensorFlow's kernel flushes them) (tf.data.Dataset.group_by_window)."""
        if (window_size is None) == (window_size_func is None):
            raise ValueError("group_by_window: give exactly one of window_size and "
                             "window_size_func")
        source = self
        size_of = (lambda key: window_size) if window_size is not None else window_size_func

        def key_of(element):
            key = source._call(key_func, element)
            key = int(key.numpy()) if isinstance(key, Tensor) else int(key)
            return key

        def emit(key, group):
            out = reduce_func(_tensor(np.int64(key)), Dataset._of(group))
            if not isinstance(out, Dataset):
                raise TypeError("group_by_window: reduce_func must return a Dataset")
            yield from out._raw()

        def make():
            groups = {}
            for element in source._raw():
                key = key_of(element)
                group = groups.setdefault(key, [])
                group.append(element)
                size = int(size_of(key))
                if size < 1:
                    raise ValueError(f"group_by_window: window size {size} for key {key}")
                if len(group) >= size:
                    del groups[key]
                    yield from emit(key, group)
            for key in sorted(groups):
                yield from emit(key, groups[key])
        return Dataset(make)

    @staticmethod
    def _of(elements):
        """A Dataset of these elements (a list, in order)."""
        return Dataset(lambda: iter(list(elements)), len(elements))

    def bucket_by_sequence_length(self, element_length_func, bucket_boundaries,
                                  bucket_batch_sizes, padded_shapes=None, padding_values=None,
                                  pad_to_bucket_boundary=False, no_padding=False,
                                  drop_remainder=False, name=None):
        """Elements of similar length batched together
        (tf.data.Dataset.bucket_by_sequence_length): bucket i holds lengths
        in [boundaries[i - 1], boundaries[i]) (the first from 0, the last
        unbounded) and emits padded batches of bucket_batch_sizes[i] (each
        padded to the batch's longest, or with pad_to_bucket_boundary to
        the bucket's boundary - 1; no_padding: plain batches). With
        pad_to_bucket_boundary, the dimensions padded to the boundary are
        the unknown ones, as TensorFlow: padded_shapes' None (or -1) entries,
        or those from_generator declared None; otherwise (Kiln's elements
        carry no unknown dimensions) those whose extent differs among the
        batch's elements."""
        boundaries = [int(b) for b in bucket_boundaries]
        sizes = [int(b) for b in bucket_batch_sizes]
        if sorted(boundaries) != boundaries or len(set(boundaries)) != len(boundaries):
            raise ValueError(f"bucket_by_sequence_length: bucket_boundaries must increase, "
                             f"got {boundaries}")
        if len(sizes) != len(boundaries) + 1:
            raise ValueError(f"bucket_by_sequence_length: {len(boundaries)} boundaries need "
                             f"{len(boundaries) + 1} batch sizes, got {len(sizes)}")
        source = self
        declared = getattr(self, "_declared_shapes", None)

        def bucket(*element):
            length = element_length_func(*element)
            length = int(length.numpy()) if isinstance(length, Tensor) else int(length)
            return int(np.searchsorted(boundaries, length, side="right"))

        def batch(key, group):
            key = int(key.numpy())
            if no_padding:
                return group.batch(sizes[key], drop_remainder)
            shapes = padded_shapes
            if pad_to_bucket_boundary:
                if key == len(boundaries):
                    raise ValueError("bucket_by_sequence_length: pad_to_bucket_boundary "
                                     "needs every length below the last boundary")
                elements = list(group._raw())
                columns = [[np.shape(_host(l)) for l in _leaves(e)] for e in elements]
                given = _shape_leaves(padded_shapes) if padded_shapes is not None else \
                    declared or [None] * len(columns[0])
                boundary = boundaries[key] - 1
                leaves = []
                for k, wanted in enumerate(given):
                    extents = [c[k] for c in columns]
                    if wanted is None:      # (unknown: the dimensions that vary)
                        wanted = [None if len({e[d] for e in extents}) > 1 else extents[0][d]
                                  for d in range(len(extents[0]))]
                    leaves.append([boundary if d is None or d == -1 else int(d)
                                   for d in wanted])
                shapes = _pack(elements[0], leaves)
            return group.padded_batch(sizes[key], shapes, padding_values, drop_remainder)
        return source.group_by_window(bucket, batch, window_size_func=lambda k: sizes[int(k)])

    def interleave(self, map_func, cycle_length=None, block_length=None,
                   num_parallel_calls=None, deterministic=None, name=None):
        """The datasets map_func makes of the elements, `cycle_length` open
        at a time (the CPU count for None or AUTOTUNE), `block_length`
        elements (1 for None) read from each in turn; a dataset that runs
        out gives its slot to the next element's, as tf.data's interleave
        (in order: num_parallel_calls is accepted)."""
        import os
        source = self
        width = int(cycle_length) if cycle_length not in (None, AUTOTUNE) else \
            (os.cpu_count() or 1)
        block = 1 if block_length is None else int(block_length)
        if width < 1 or block < 1:
            raise ValueError("interleave: cycle_length and block_length must be >= 1")

        def make():
            # TensorFlow's InterleaveDatasetOp: visit slot k; an open
            # dataset gives its next element (block_length per visit), an
            # exhausted one is closed and the cycle moves on, an empty slot
            # takes the next input element when the cycle reaches it.
            outer = iter(source._raw())
            slots = [None] * width
            k = taken = opened = 0
            ended = False
            while not ended or opened:
                if slots[k] is not None:
                    value = next(slots[k], None)
                    if value is not None:
                        yield value
                        taken += 1
                        if taken == block:
                            taken, k = 0, (k + 1) % width
                        continue
                    slots[k], opened = None, opened - 1
                    taken, k = 0, (k + 1) % width
                elif not ended:
                    element = next(outer, None)
                    if element is None:
                        ended = True
                    else:
                        slots[k] = iter(source._call(map_func, element)._raw())
                        opened += 1
                else:
                    taken, k = 0, (k + 1) % width
        return Dataset(make, infinite=self._infinite)

    def apply(self, transformation_func):
        """transformation_func(self)."""
        return transformation_func(self)

    def take_while(self, predicate):
        """The elements up to the first for which `predicate` is false."""
        source = self

        def make():
            for element in source._raw():
                keep = source._call(predicate, element)
                if not bool(keep.numpy() if isinstance(keep, Tensor) else keep):
                    return
                yield element
        return Dataset(make)

    def scan(self, initial_state, scan_func):
        """The outputs of (state, output) = scan_func(state, element) over
        the elements, the state carried along."""
        source = self

        def make():
            state = _map(initial_state, _tensor)
            for element in source._raw():
                # (the element whole, as tf.data's scan and reduce pass it)
                state, out = scan_func(state, _map(element, _tensor))
                yield _map(out, _host)
        return Dataset(make, self._length, infinite=self._infinite)

    def unique(self):
        """Each distinct (scalar) element once, in order of first appearance."""
        source = self

        def make():
            seen = set()
            for element in source._raw():
                value = np.asarray(element)
                if value.ndim:
                    raise ValueError("unique: the elements must be scalars")
                key = value.item()
                if key not in seen:
                    seen.add(key)
                    yield element
        return Dataset(make)

    def window(self, size, shift=None, stride=1, drop_remainder=False):
        """Windows of `size` elements (every `stride`-th) starting every
        `shift` (size by default): each a Dataset, or for tuple/dict
        elements a tuple/dict of per-component Datasets, as tf.data's; the
        last windows are shorter unless drop_remainder. Usually followed by
        flat_map(lambda w: w.batch(size)). Reads the input as it goes."""
        size = int(size)
        shift = size if shift is None else int(shift)
        stride = int(stride)
        if min(size, shift, stride) < 1:
            raise ValueError("window: size, shift and stride must be >= 1")
        source = self
        span = (size - 1) * stride + 1

        def as_datasets(picked):
            first = picked[0]
            def column(get):
                values = [get(p) for p in picked]
                return Dataset(lambda values=values: iter(values), len(values))
            if isinstance(first, tuple):
                return tuple(column(lambda p, i=i: p[i]) for i in range(len(first)))
            if isinstance(first, dict):
                return {k: column(lambda p, k=k: p[k]) for k in first}
            return column(lambda p: p)

        def make():
            buffer, start = [], 0          # buffer[0] is element `start`
            it = iter(source._raw())
            done = False
            while True:
                while not done and len(buffer) < span:
                    element = next(it, None)
                    if element is None:
                        done = True
                    else:
                        buffer.append(element)
                picked = buffer[:span:stride]
                if not picked or (drop_remainder and len(picked) < size):
                    return
                yield as_datasets(picked)
                # next window: drop `shift` elements (reading past the buffer)
                drop = shift
                while drop > len(buffer) and not done:
                    if next(it, None) is None:
                        done = True
                    drop -= 1
                buffer = buffer[drop:] if drop <= len(buffer) else []
                if done and not buffer:
                    return
        n = self._length
        if n is None:
            count = None
        elif drop_remainder:
            count = (n - span) // shift + 1 if n >= span else 0
        else:
            count = -(-n // shift)    # (a window starts at each shift before the end)
        return _DatasetOfDatasets(make, count, infinite=self._infinite)

    def get_single_element(self):
        """The one element of a dataset that holds exactly one."""
        elements = iter(self)
        first = next(elements, None)
        if first is None or next(elements, None) is not None:
            raise errors.InvalidArgumentError(
                "get_single_element: the dataset does not hold exactly one element",
                errors.user_location())
        return first

    @property
    def element_spec(self):
        """TensorSpecs of an element (its structure), as TensorFlow's static
        spec where Kiln knows it: range's, a generator's output_signature,
        a batch's (the batch extent None unless drop_remainder), and the
        same through shuffle, repeat, take, skip, filter and cache;
        otherwise from the first element."""
        from .tensor import TensorSpec
        declared = getattr(self, "_declared_spec", None)
        if declared is not None:
            return declared
        source = getattr(self, "_spec_source", None)
        if source is not None:
            return source.element_spec
        batched = getattr(self, "_spec_batch", None)
        if batched is not None:
            inner = batched[0].element_spec
            leaves = _leaves(inner)
            # (Elements of open extents read from a first element may be a
            # RaggedTensor's rows, which batch into ragged batches: then the
            # batch's own first element says.)
            if leaves and all(type(leaf) is TensorSpec for leaf in leaves) and (
                    _spec_declared(batched[0]) or
                    all(None not in tuple(leaf.shape) for leaf in leaves)):
                extent = batched[1] if batched[2] else None
                return _map(inner, lambda leaf: TensorSpec((extent,) + tuple(leaf.shape),
                                                           leaf.dtype))
        first = next(iter(self._raw()), None)
        if first is None:
            raise ValueError("element_spec: the dataset is empty")
        from .sparse import SparseTensorSpec

        def spec(v):
            t = _tensor(v)
            if isinstance(v, _HostRagged):
                return RaggedTensorSpec(t.shape, t.dtype)
            if isinstance(v, _RaggedRow):  # (a row of a RaggedTensor: its length varies)
                return TensorSpec((None,) + tuple(t.shape[1:]), t.dtype)
            return SparseTensorSpec(t.shape, t.dtype) if isinstance(v, _HostSparse) else \
                TensorSpec(t.shape, t.dtype)
        return _map(first, spec)

    def ignore_errors(self, log_warning=False):
        """The elements whose making raised no error: a map whose fn raises
        on some elements skips them (other stages end at their first
        error, a Python generator cannot go on after raising)."""
        mapped = getattr(self, "_mapped", None)

        def make():
            if mapped is None:
                it = iter(self._raw())
                while True:
                    try:
                        yield next(it)
                    except StopIteration:
                        return
                    except (errors.OpError, ValueError, TypeError) as e:
                        warnings.warn(f"ignore_errors: an error before this stage ({e}) "
                                      "ends the data (Kiln skips failing elements of a "
                                      "map just before ignore_errors)")
                        return
            source, fn = mapped
            for element in source._raw():
                try:
                    out = source._call(fn, element)
                except (errors.OpError, ValueError, TypeError, ArithmeticError) as e:
                    if log_warning:
                        warnings.warn(f"ignore_errors: skipped an element ({e})")
                    continue
                yield _map(out, _host)
        return Dataset(make, infinite=self._infinite)

    def rebatch(self, batch_size, drop_remainder=False):
        """The elements unbatched and batched again by `batch_size`."""
        return self.unbatch().batch(batch_size, drop_remainder)

    def with_options(self, options, name=None):
        """The same dataset (Kiln's pipeline has no options to set)."""
        return self

    def options(self):
        return Options()

    @staticmethod
    def random(seed=None, name=None):
        """Random int64 values forever (a NumPy generator seeded by `seed`)."""
        def make():
            rng = np.random.default_rng(seed)
            while True:
                yield np.int64(rng.integers(0, 2 ** 62))
        return Dataset(make, infinite=True)

    @staticmethod
    def sample_from_datasets(datasets, weights=None, seed=None,
                             stop_on_empty_dataset=False):
        """Elements drawn from `datasets` at random with `weights` (equal by
        default); an exhausted dataset leaves the draw (or, with
        stop_on_empty_dataset, ends it)."""
        weights = np.ones(len(datasets)) if weights is None else \
            np.asarray(weights, np.float64)
        if len(weights) != len(datasets) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("sample_from_datasets: needs one non-negative weight per "
                             "dataset, not all zero")

        def make():
            rng = np.random.default_rng(seed)
            its = [iter(d._raw()) for d in datasets]
            w = weights.copy()
            while w.sum() > 0:
                k = int(rng.choice(len(its), p=w / w.sum()))
                value = next(its[k], None)
                if value is None:
                    if stop_on_empty_dataset:
                        return
                    w[k] = 0.0
                    continue
                yield value
        # (endless while an endless input keeps a weight)
        endless = any(d._infinite and w > 0 for d, w in zip(datasets, weights)) and \
            not stop_on_empty_dataset
        return Dataset(make, infinite=endless)

    @staticmethod
    def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=True):
        """The next element of datasets[i] for each i of choice_dataset."""
        def make():
            its = [iter(d._raw()) for d in datasets]
            for choice in choice_dataset._raw():
                k = int(np.asarray(choice))
                if not 0 <= k < len(its):
                    raise errors.InvalidArgumentError(
                        f"choose_from_datasets: choice {k} outside [0, {len(its)})",
                        errors.user_location())
                value = next(its[k], None)
                if value is None:
                    if stop_on_empty_dataset:
                        return
                    continue
                yield value
        # (endless while the choices are and the chosen datasets are)
        return Dataset(make, infinite=choice_dataset._infinite and
                       all(d._infinite for d in datasets))

    def reduce(self, initial_state, reduce_func):
        """reduce_func(state, element) over the elements, from
        `initial_state` (tensors)."""
        state = _map(initial_state, lambda v: v if isinstance(v, Tensor) else
                     convert_to_tensor(v))
        for element in self:
            state = reduce_func(state, element)
        return state


_SAVED_FORMAT = "kiln-dataset-2"
_SAVED_INDEX = "dataset.json"
_SHARD_BYTES = 32 << 20   # (a shard file's size before the next starts)


def _spec_declared(dataset):
    """Whether a dataset's element_spec comes from a declaration (range's,
    a generator's signature) through stages that keep or batch it."""
    while dataset is not None:
        if getattr(dataset, "_declared_spec", None) is not None:
            return True
        batched = getattr(dataset, "_spec_batch", None)
        source = getattr(dataset, "_spec_source", None)
        # (`is None` tests: a Dataset's truth is its length, unknown or 0)
        dataset = source if source is not None else \
            (batched[0] if batched is not None else None)
    return False


def _same_spec(method):
    """A Dataset method whose elements are the source's (element_spec
    follows the source's)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        out = method(self, *args, **kwargs)
        if isinstance(out, Dataset) and out is not self:
            out._spec_source = self
        return out
    return wrapper


def _batched_spec(method):
    """Dataset.batch: element_spec is the source's with a batch extent
    (None unless drop_remainder)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, batch_size, drop_remainder=False, *args, **kwargs):
        out = method(self, batch_size, drop_remainder, *args, **kwargs)
        if isinstance(out, Dataset) and out is not self:
            out._spec_batch = (self, int(batch_size), bool(drop_remainder))
        return out
    return wrapper


for _name in ("shuffle", "take", "repeat", "skip", "filter", "cache"):
    setattr(Dataset, _name, _same_spec(getattr(Dataset, _name)))
Dataset.batch = _batched_spec(Dataset.batch)


def _spec_of(element):
    """The JSON description of an element's structure and leaves."""
    if isinstance(element, tuple):
        return {"tuple": [_spec_of(e) for e in element]}
    if isinstance(element, dict):
        return {"dict": {k: _spec_of(element[k]) for k in sorted(element)}}
    element = _host(element)
    if isinstance(element, (_HostSparse, _HostRagged)):
        raise errors.UnimplementedError(
            f"Dataset.save: {'Sparse' if isinstance(element, _HostSparse) else 'Ragged'}"
            "Tensor elements are not supported (save their values and indices or row "
            "lengths)", errors.user_location())
    dtype = "bfloat16" if isinstance(element, _BFloat16Values) else \
        "string" if element.dtype == object else element.dtype.name
    return {"dtype": dtype, "shape": list(np.shape(element))}


def _merge_spec(a, b):
    """Two elements' descriptions as one (extents that differ become None);
    None where the structures or dtypes differ."""
    if "tuple" in a and "tuple" in b and len(a["tuple"]) == len(b["tuple"]):
        items = [_merge_spec(x, y) for x, y in zip(a["tuple"], b["tuple"])]
        return None if None in items else {"tuple": items}
    if "dict" in a and "dict" in b and a["dict"].keys() == b["dict"].keys():
        items = {k: _merge_spec(a["dict"][k], b["dict"][k]) for k in a["dict"]}
        return None if None in items.values() else {"dict": items}
    if "dtype" in a and "dtype" in b and a["dtype"] == b["dtype"] and \
            len(a["shape"]) == len(b["shape"]):
        return {"dtype": a["dtype"],
                "shape": [x if x == y else None for x, y in zip(a["shape"], b["shape"])]}
    return None


def _strings_to_arrays(column, j):
    """A column of string leaves (object arrays of bytes) as NumPy arrays
    np.savez writes without pickling: every string's bytes one after
    another, their lengths, and each leaf's shape."""
    flat = [b for leaf in column for b in leaf.reshape(-1)]
    shapes = np.array([leaf.shape for leaf in column], np.int64).reshape(len(column), -1)
    return {f"b{j}": np.frombuffer(b"".join(flat), np.uint8),
            f"n{j}": np.array([len(b) for b in flat], np.int64), f"h{j}": shapes}


def _strings_from_arrays(arrays, j):
    """The column of string leaves _strings_to_arrays wrote."""
    raw, lengths, shapes = arrays[f"b{j}"].tobytes(), arrays[f"n{j}"], arrays[f"h{j}"]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    column, k = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        leaf = np.empty(n, dtype=object)
        leaf[:] = [raw[a:b] for a, b in zip(starts[k:k + n], ends[k:k + n])]
        column.append(leaf.reshape(tuple(shape)))
        k += n
    return column


class _SavedLeaf:
    """A leaf of a saved element's description."""

    def __init__(self, spec):
        self.dtype, self.shape = spec["dtype"], spec["shape"]


def _spec_structure(spec):
    """The element structure (tuples and dicts of _SavedLeafs) of a spec."""
    if "tuple" in spec:
        return tuple(_spec_structure(s) for s in spec["tuple"])
    if "dict" in spec:
        return {k: _spec_structure(s) for k, s in spec["dict"].items()}
    return _SavedLeaf(spec)


def _bfloat16_leaves(spec):
    return [leaf.dtype == "bfloat16" for leaf in _leaves(_spec_structure(spec))]


def _check_spec(element_spec, spec, path):
    """element_spec (TensorSpecs nested as the elements) against a saved
    description: the same structure, dtypes and compatible shapes."""
    structure = _spec_structure(spec)
    try:
        given = _leaves(element_spec if not isinstance(element_spec, list)
                        else tuple(element_spec))
        saved = _leaves(structure)
        same = len(given) == len(saved) and all(
            g.dtype.name == s.dtype and len(g.shape) == len(s.shape) and
            all(a is None or b is None or a == b for a, b in zip(g.shape, s.shape))
            for g, s in zip(given, saved))
    except AttributeError:
        same = False
    if not same:
        raise errors.InvalidArgumentError(
            f"Dataset.load: element_spec {element_spec!r} does not describe the elements "
            f"saved in {path} ({spec})", errors.user_location())


class _Writer:
    """Writes elements as Dataset.load reads them: .npz files per shard
    (a new file every _SHARD_BYTES), then the index; all in a directory
    beside the target, renamed to it by finish() (an unfinished one is
    removed)."""

    def __init__(self, path, compression, what):
        import os
        import tempfile
        self.path, self.what = os.path.abspath(path), what
        # Only an earlier save (or an empty directory) is replaced: never a
        # directory of other files, nor a file.
        if os.path.exists(self.path) and not (
                os.path.isdir(self.path) and (
                    not os.listdir(self.path) or
                    os.path.exists(os.path.join(self.path, _SAVED_INDEX)))):
            raise errors.AlreadyExistsError(
                f"Dataset.{what}: {self.path} exists and is not a saved dataset (it would be "
                "replaced); choose another path", errors.user_location())
        self.save = np.savez_compressed if compression == "GZIP" else np.savez
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)
        self.temp = tempfile.mkdtemp(prefix=os.path.basename(self.path) + ".partial-",
                                     dir=parent)
        self.pending, self.files, self.count, self.spec = {}, [], 0, None
        self.compression = compression

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        import shutil
        if self.temp is not None:   # (not finished: an error, or the reader stopped)
            shutil.rmtree(self.temp, ignore_errors=True)
        return False

    def add(self, element, shard):
        spec = _spec_of(element)
        merged = spec if self.spec is None else _merge_spec(self.spec, spec)
        if merged is None:
            raise errors.InvalidArgumentError(
                f"Dataset.{self.what}: element {self.count} ({spec}) does not match the "
                f"structure and dtypes of the ones before ({self.spec})",
                errors.user_location())
        self.spec = merged
        elements, size = self.pending.setdefault(shard, ([], 0))
        elements.append([_host(leaf) for leaf in _leaves(element)])
        size += sum(leaf.nbytes if leaf.dtype != object else
                    sum(len(b) for b in leaf.reshape(-1)) for leaf in elements[-1])
        self.pending[shard] = (elements, size)
        self.count += 1
        if size >= _SHARD_BYTES:
            self._flush(shard)

    def _flush(self, shard):
        import os
        elements, _ = self.pending.pop(shard)
        name = f"shard-{shard:05d}-{sum(f['shard'] == shard for f in self.files):05d}.npz"
        # A leaf whose elements share a shape is one stacked array ("s<j>");
        # one that varies is stored element by element ("<i>_<j>").
        arrays, stacked, strings = {}, [], []
        for j in range(len(elements[0])):
            column = [leaves[j].view(np.ndarray) for leaves in elements]
            strings.append(column[0].dtype == object)
            if strings[-1]:  # (bytes, lengths and shapes: no pickles)
                arrays.update(_strings_to_arrays(column, j))
                stacked.append(False)
                continue
            same = len({c.shape for c in column}) == 1
            stacked.append(same)
            if same:
                arrays[f"s{j}"] = np.stack(column)
            else:
                arrays.update({f"{i}_{j}": c for i, c in enumerate(column)})
        self.save(os.path.join(self.temp, name), **arrays)
        self.files.append({"file": name, "shard": shard, "count": len(elements),
                           "stacked": stacked, "strings": strings})

    def finish(self):
        import json
        import os
        import shutil
        for shard in sorted(self.pending):
            self._flush(shard)
        spec = self.spec if self.spec is not None else {"tuple": []}
        with open(os.path.join(self.temp, _SAVED_INDEX), "w") as f:
            json.dump({"format": _SAVED_FORMAT, "count": self.count, "spec": spec,
                       "compression": self.compression,
                       "files": sorted(self.files, key=lambda e: (e["shard"], e["file"]))}, f)
        if os.path.isdir(self.path):
            shutil.rmtree(self.path)
        os.rename(self.temp, self.path)
        self.temp = None


def _file_names(filenames):
    """A list of str paths from a name, a list of names or a string
    tensor (or a Dataset of names, read once)."""
    if isinstance(filenames, Dataset):
        return [_file_name(t) for t in filenames]
    if isinstance(filenames, (str, bytes)) or isinstance(filenames, Tensor):
        values = np.asarray(convert_to_tensor(filenames, string)._impl.array).reshape(-1)
        return [_file_name(v) for v in values]
    return [_file_name(v) for v in filenames]


def _file_name(value):
    if isinstance(value, Tensor):
        value = value.numpy()
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _read_compressed(path, compression_type, what):
    """The bytes of a file, decompressed ("", None, "GZIP" or "ZLIB")."""
    import gzip
    import zlib
    kind = (compression_type or "").upper()
    if kind not in ("", "GZIP", "ZLIB"):
        raise ValueError(f"{what}: compression_type must be None, '', 'GZIP' or 'ZLIB', got "
                         f"{compression_type!r}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise errors.NotFoundError(f"{what}: {path}: no such file",
                                   errors.user_location()) from None
    try:
        if kind == "GZIP":
            return gzip.decompress(data)
        if kind == "ZLIB":
            return zlib.decompress(data)
    except (OSError, zlib.error, EOFError) as e:
        raise errors.DataLossError(f"{what}: {path} is not valid {kind} data ({e})",
                                   errors.user_location()) from None
    return data


def TFRecordDataset(filenames, compression_type=None, buffer_size=None,  # noqa: N802
                    num_parallel_reads=None, name=None):
    """The records of TFRecord files, one scalar string each, file after
    file (tf.data.TFRecordDataset; GZIP and ZLIB files too). A truncated
    or corrupted record is a DataLossError naming the file and offset."""
    from .records import read_records
    paths = _file_names(filenames)

    def make():
        for path in paths:
            for record in read_records(path, compression_type):
                yield string_array(record)
    return Dataset(make)


def _list_files(file_pattern, shuffle=None, seed=None, name=None):
    """The files that match the glob pattern(s), as a dataset of scalar
    strings: sorted, then shuffled unless shuffle=False (TensorFlow
    shuffles by default). No match is an InvalidArgumentError."""
    import glob
    patterns = _file_names(file_pattern)
    names = sorted({n for p in patterns for n in glob.glob(p)})
    if not names:
        raise errors.InvalidArgumentError(
            f"Dataset.list_files: no files match {patterns}", errors.user_location())
    dataset = Dataset.from_tensor_slices(np.array(names, dtype=object))
    if shuffle is None or shuffle:
        dataset = dataset.shuffle(len(names), seed=seed)
    return dataset


Dataset.list_files = staticmethod(_list_files)


def TextLineDataset(filenames, compression_type=None, buffer_size=None,  # noqa: N802
                    num_parallel_reads=None, name=None):
    """The lines of text files, one scalar string each, without their
    line endings ("\n" or "\r\n"), file after file (tf.data's
    TextLineDataset; GZIP and ZLIB files too)."""
    paths = _file_names(filenames)

    kind = (compression_type or "").upper()
    if kind not in ("", "GZIP", "ZLIB"):
        raise ValueError(f"TextLineDataset: compression_type must be None, '', 'GZIP' or "
                         f"'ZLIB', got {compression_type!r}")

    def lines_of(path):
        """The file's lines, read as they are needed (ZLIB files whole)."""
        import gzip
        if kind == "ZLIB":
            parts = _read_compressed(path, compression_type, "TextLineDataset").split(b"\n")
            yield from (part + b"\n" for part in parts[:-1])
            if parts[-1]:
                yield parts[-1]
            return
        try:
            f = gzip.open(path, "rb") if kind == "GZIP" else open(path, "rb")
        except FileNotFoundError:
            raise errors.NotFoundError(f"TextLineDataset: {path}: no such file",
                                       errors.user_location()) from None
        with f:
            try:
                yield from f
            except (OSError, EOFError) as e:
                raise errors.DataLossError(f"TextLineDataset: {path} is not valid {kind} "
                                           f"data ({e})", errors.user_location()) from None

    def make():
        for path in paths:
            for line in lines_of(path):
                if line.endswith(b"\n"):
                    line = line[:-1]
                yield string_array(line[:-1] if line.endswith(b"\r") else line)
    return Dataset(make)


def _csv_rows(paths, compression_type, header, field_delim, use_quote_delim, what):
    """(header fields or None, rows of fields) of CSV files, each row a
    list of str, with the file and line for errors."""
    import csv
    delim = field_delim if isinstance(field_delim, str) else field_delim.decode()
    for path in paths:
        text = _read_compressed(path, compression_type, what).decode("utf-8")
        lines = text.splitlines()
        reader = csv.reader(lines, delimiter=delim) if use_quote_delim else \
            (line.split(delim) for line in lines)
        for number, fields in enumerate(reader, 1):
            if number == 1 and header:
                continue
            if not fields:
                continue
            yield path, number, fields


def _csv_value(field, default, dtype, path, number, column, na_value, what):
    if field == "" or field == na_value:
        if default is None:
            raise errors.InvalidArgumentError(
                f"{what}: {path}:{number}: field {column} is required but missing",
                errors.user_location())
        return default
    try:
        if dtype is string:
            return field.encode("utf-8")
        if dtype.is_floating:
            return float(field)
        value = int(field.strip(), 10)
        info = np.iinfo(dtype.as_numpy_dtype)
        if not info.min <= value <= info.max:
            raise ValueError(field)
        return value
    except ValueError:
        raise errors.InvalidArgumentError(
            f"{what}: {path}:{number}: field {column} ({field!r}) is not a valid "
            f"{dtype.name}", errors.user_location()) from None


def _record_default(entry):
    """(default value or None, dtype) of a record default: a dtype (a
    required column), a value, or a list of zero or one values."""
    from .dtypes import DType, as_dtype, float32, int32
    if isinstance(entry, DType):
        return None, entry
    if isinstance(entry, Tensor):
        entry = entry.numpy().tolist() if entry.shape else [entry.numpy().tolist()]
    if isinstance(entry, (list, tuple, np.ndarray)):
        entry = list(entry)
        if not entry:
            return None, float32
        entry = entry[0]
    if isinstance(entry, (bytes, str)):
        return (entry.encode() if isinstance(entry, str) else entry), string
    if isinstance(entry, bool):
        raise TypeError("CsvDataset: bool record defaults are not supported")
    if isinstance(entry, (int, np.integer)):
        return int(entry), as_dtype(np.asarray(entry).dtype) if isinstance(
            entry, np.integer) else int32
    if isinstance(entry, (float, np.floating)):
        return float(entry), as_dtype(np.asarray(entry).dtype) if isinstance(
            entry, np.floating) else float32
    raise TypeError(f"CsvDataset: a record default must be a dtype, a value or a list of at "
                    f"most one value, got {entry!r}")


def CsvDataset(filenames, record_defaults, compression_type=None, buffer_size=None,  # noqa
               header=False, field_delim=",", use_quote_delim=True, na_value="",
               select_cols=None, exclude_cols=None, name=None):
    """The rows of CSV files as tuples of scalars (tf.data.experimental
    .CsvDataset): record_defaults give each selected column's type and
    default (a dtype or [] makes it required); header skips each file's
    first line; select_cols / exclude_cols pick columns. A row with too few
    fields or a field that does not parse is an error naming the file and
    line."""
    paths = _file_names(filenames)
    defaults = [_record_default(d) for d in record_defaults]
    if select_cols is not None and exclude_cols is not None:
        raise ValueError("CsvDataset: give select_cols or exclude_cols, not both")
    na = na_value.decode() if isinstance(na_value, bytes) else na_value

    def make():
        for path, number, fields in _csv_rows(paths, compression_type, header, field_delim,
                                              use_quote_delim, "CsvDataset"):
            if select_cols is not None:
                columns = [int(c) for c in select_cols]
            elif exclude_cols is not None:
                columns = [c for c in range(len(fields)) if c not in set(exclude_cols)]
            else:
                columns = list(range(len(fields)))
            if len(columns) != len(defaults) or max(columns, default=-1) >= len(fields):
                raise errors.InvalidArgumentError(
                    f"CsvDataset: {path}:{number}: {len(fields)} fields do not give the "
                    f"{len(defaults)} columns of record_defaults", errors.user_location())
            yield tuple(_host(np.array(_csv_value(fields[c], d, t, path, number, c, na,
                                                  "CsvDataset"), dtype=object if t is string
                                       else t.as_numpy_dtype))
                        for c, (d, t) in zip(columns, defaults))
    return Dataset(make)


def _infer_csv_type(values):
    """TensorFlow's make_csv_dataset inference: int32, then int64, float32,
    then string, the first that parses every non-empty value."""
    from .dtypes import float32, int32, int64
    present = [v for v in values if v != ""]
    for dtype, parse in ((int32, int), (int64, int), (float32, float)):
        try:
            parsed = [parse(v) for v in present]
        except ValueError:
            continue
        if dtype is not float32:
            info = np.iinfo(dtype.as_numpy_dtype)
            if any(not info.min <= p <= info.max for p in parsed):
                continue
        return dtype
    return string


def make_csv_dataset(file_pattern, batch_size, column_names=None, column_defaults=None,
                     label_name=None, select_columns=None, field_delim=",",
                     use_quote_delim=True, na_value="", header=True, num_epochs=None,
                     shuffle=True, shuffle_buffer_size=10000, shuffle_seed=None,
                     prefetch_buffer_size=None, num_parallel_reads=None, sloppy=False,
                     num_rows_for_inference=100, compression_type=None, ignore_errors=False,
                     encoding="utf-8"):
    """Batches of CSV rows as (features, label) or features dicts keyed by
    column name (tf.data.experimental.make_csv_dataset): names from the
    header (or column_names), types inferred from the first
    num_rows_for_inference rows (int32, int64, float32 or string; or
    column_defaults), shuffled, repeated num_epochs times (forever when
    None, as TensorFlow)."""
    import glob
    patterns = _file_names(file_pattern)
    paths = sorted({p for pattern in patterns for p in glob.glob(pattern)})
    if not paths:
        raise errors.InvalidArgumentError(f"make_csv_dataset: no files match {patterns}",
                                          errors.user_location())
    rows = _csv_rows(paths[:1], compression_type, False, field_delim, use_quote_delim,
                     "make_csv_dataset")
    first = next(rows, None)
    if first is None:
        raise errors.InvalidArgumentError(f"make_csv_dataset: {paths[0]} is empty",
                                          errors.user_location())
    names = list(column_names) if column_names is not None else \
        (first[2] if header else [f"column_{i}" for i in range(len(first[2]))])
    if not header and column_names is None:
        raise ValueError("make_csv_dataset: without a header, give column_names")
    selected = list(range(len(names))) if select_columns is None else [
        names.index(c) if isinstance(c, str) else int(c) for c in select_columns]
    if label_name is not None and label_name not in [names[c] for c in selected]:
        raise ValueError(f"make_csv_dataset: label_name {label_name!r} is not one of the "
                         f"columns {[names[c] for c in selected]}")
    if column_defaults is None:
        sample = [f for _, _, f in itertools.islice(
            _csv_rows(paths[:1], compression_type, header, field_delim, use_quote_delim,
                      "make_csv_dataset"), num_rows_for_inference)]
        kinds = [_infer_csv_type([r[c] if c < len(r) else "" for r in sample])
                 for c in selected]
        defaults = [(b"" if k is string else 0, k) for k in kinds]
    else:
        defaults = [_record_default(d) for d in column_defaults]
    # (as record defaults: the dtype for a required column, else a NumPy
    # scalar of it)
    record_defaults = [t if d is None else d if t is string else t.as_numpy_dtype(d)
                       for d, t in defaults]
    table = CsvDataset(paths, record_defaults, compression_type=compression_type, header=header,
                       field_delim=field_delim, use_quote_delim=use_quote_delim,
                       na_value=na_value, select_cols=selected)
    column = [names[c] for c in selected]

    def to_dict(*values):
        features = dict(zip(column, values))
        if label_name is None:
            return features
        label = features.pop(label_name)
        return features, label
    dataset = table.map(to_dict)
    if ignore_errors:
        dataset = dataset.ignore_errors()
    if num_epochs != 1:
        dataset = dataset.repeat(num_epochs)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=shuffle_seed)
    return dataset.batch(batch_size)


INFINITE_CARDINALITY = Dataset.INFINITE
UNKNOWN_CARDINALITY = Dataset.UNKNOWN


def _assert_cardinality(expected):
    """A transformation for Dataset.apply that checks the number of
    elements as they are read: fewer or more than `expected` is an
    InvalidArgumentError (tf.data.experimental.assert_cardinality)."""
    expected = int(expected)

    def transformation(dataset):
        known = dataset._cardinality()
        if known >= 0 and known != expected or known == Dataset.INFINITE and expected >= 0:
            raise errors.InvalidArgumentError(
                f"assert_cardinality: the dataset has {known} elements, not {expected}", None)

        def make():
            count = 0
            for element in dataset._raw():
                count += 1
                if 0 <= expected < count:
                    raise errors.InvalidArgumentError(
                        f"assert_cardinality: the dataset has more than {expected} elements",
                        None)
                yield element
            if count < expected:
                raise errors.InvalidArgumentError(
                    f"assert_cardinality: the dataset has {count} elements, not {expected}",
                    None)
        return Dataset(make, length=expected if expected >= 0 else None,
                       infinite=expected == Dataset.INFINITE)
    return transformation


class experimental:  # noqa: N801 (tf.data.experimental)
    CsvDataset = staticmethod(CsvDataset)
    make_csv_dataset = staticmethod(make_csv_dataset)
    AUTOTUNE = -1
    INFINITE_CARDINALITY = Dataset.INFINITE
    UNKNOWN_CARDINALITY = Dataset.UNKNOWN
    cardinality = staticmethod(lambda dataset: dataset.cardinality())
    assert_cardinality = staticmethod(_assert_cardinality)
    sample_from_datasets = staticmethod(Dataset.sample_from_datasets)
    choose_from_datasets = staticmethod(Dataset.choose_from_datasets)
    ignore_errors = staticmethod(lambda log_warning=False:
                                 lambda dataset: dataset.ignore_errors(log_warning))
    get_single_element = staticmethod(lambda dataset: dataset.get_single_element())


class _DatasetOfDatasets(Dataset):
    """What window() gives: its elements are Datasets (not converted to
    tensors when iterated)."""

    def __init__(self, make, length=None, infinite=False):
        super().__init__(make, length, infinite=infinite)

    def __iter__(self):
        return iter(self._make())


class Options:
    """tf.data.Options: accepted; Kiln's pipeline runs in order on the host."""

    def __init__(self):
        self.experimental_deterministic = True
        self.deterministic = True


AUTOTUNE = -1


class _Signature:
    """A leaf of from_generator's signature."""

    def __init__(self, dtype, shape):
        self.dtype, self.shape = dtype, shape


def _shape_leaves(shapes):
    """The shapes (lists or tuples of extents, or None) of a structure of
    padded shapes, in _leaves' order."""
    if shapes is None or isinstance(shapes, list) or (
            isinstance(shapes, tuple) and all(d is None or isinstance(d, (int, np.integer))
                                              for d in shapes)):
        return [shapes]
    if isinstance(shapes, dict):
        return [l for k in sorted(shapes) for l in _shape_leaves(shapes[k])]
    return [l for s in shapes for l in _shape_leaves(s)]


def _zip_structure(values, structure, fn):
    """fn(value, spec) over `values` nested as `structure` (tuples, dicts,
    leaves)."""
    if isinstance(structure, tuple):
        if not isinstance(values, (tuple, list)) or len(values) != len(structure):
            raise ValueError(f"from_generator: an element {values!r} does not match "
                             "the structure of the signature")
        return tuple(_zip_structure(v, s, fn) for v, s in zip(values, structure))
    if isinstance(structure, dict):
        return {k: _zip_structure(values[k], s, fn) for k, s in structure.items()}
    return fn(values, structure)
