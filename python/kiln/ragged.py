"""kiln.RaggedTensor: rows of different lengths (tf.RaggedTensor with one
ragged dimension), as kiln.strings.split and ngrams return them.

    r = kiln.ragged.constant([[b"a", b"b"], [], [b"c"]])
    r.row_lengths()          # [2, 0, 1]
    r.to_tensor(b"")         # [[a, b], [-, -], [c, -]] padded

A RaggedTensor is a host-side container: `values` (a kiln.Tensor holding
every row's elements one after another) and `row_splits` (int64, row i is
values[row_splits[i]:row_splits[i + 1]]). Kiln's compiled ops take dense
tensors: to_tensor() pads it into one. Only one ragged dimension (the
second) is supported: `values` itself is dense.
"""

import builtins

import numpy as np

from . import errors
from .tensor import Tensor, convert_to_tensor


class RaggedTensor:
    """Rows of `values` split at `row_splits` (see the module's text)."""

    def __init__(self, values, row_splits):
        self._values = values if isinstance(values, Tensor) else convert_to_tensor(values)
        splits = np.asarray(row_splits, np.int64).reshape(-1)
        if len(splits) == 0 or splits[0] != 0 or (np.diff(splits) < 0).any() or \
                splits[-1] != (self._values.shape[0] if self._values.shape else -1):
            raise errors.InvalidArgumentError(
                f"RaggedTensor: row_splits {splits.tolist()} must start at 0, never "
                f"decrease and end at the number of values "
                f"({self._values.shape[0] if self._values.shape else 'a scalar'})",
                errors.user_location())
        splits.flags.writeable = False
        self._splits = splits

    @classmethod
    def from_row_splits(cls, values, row_splits, validate=True):
        return cls(values, row_splits)

    @classmethod
    def from_row_lengths(cls, values, row_lengths, validate=True):
        lengths = np.asarray(row_lengths, np.int64).reshape(-1)
        if (lengths < 0).any():
            raise errors.InvalidArgumentError(
                f"RaggedTensor.from_row_lengths: negative row lengths {lengths.tolist()}",
                errors.user_location())
        return cls(values, np.concatenate([[0], np.cumsum(lengths)]))

    @classmethod
    def from_value_rowids(cls, values, value_rowids, nrows=None, validate=True):
        ids = np.asarray(value_rowids, np.int64).reshape(-1)
        if len(ids) and ((np.diff(ids) < 0).any() or ids[0] < 0):
            raise errors.InvalidArgumentError(
                "RaggedTensor.from_value_rowids: value_rowids must be sorted and "
                "non-negative", errors.user_location())
        n = int(nrows) if nrows is not None else (int(ids[-1]) + 1 if len(ids) else 0)
        if len(ids) and ids[-1] >= n:
            raise errors.InvalidArgumentError(
                f"RaggedTensor.from_value_rowids: a row id {int(ids[-1])} >= nrows {n}",
                errors.user_location())
        return cls.from_row_lengths(values, np.bincount(ids, minlength=n))

    @classmethod
    def from_tensor(cls, tensor, lengths=None, padding=None, ragged_rank=1, name=None):
        """The rows of a dense [rows, width, ...] tensor, each cut to its
        length in `lengths`, or with its trailing `padding` values dropped,
        or whole."""
        x = convert_to_tensor(tensor)
        if x.ndim < 2:
            raise ValueError(f"RaggedTensor.from_tensor: needs rank >= 2, got {list(x.shape)}")
        if lengths is not None and padding is not None:
            raise ValueError("RaggedTensor.from_tensor: give lengths or padding, not both")
        values = np.asarray(x.numpy() if x.dtype.name != "string" else x._impl.array)
        width = values.shape[1]
        if lengths is not None:
            counts = np.minimum(np.asarray(lengths.numpy() if isinstance(lengths, Tensor)
                                           else lengths, np.int64).reshape(-1), width)
        elif padding is not None:
            pad = np.asarray(padding.numpy() if isinstance(padding, Tensor) else padding)
            if x.dtype.name == "string" and isinstance(padding, str):
                pad = np.asarray(padding.encode())
            same = (values == pad).reshape(values.shape[0], width, -1).all(axis=2)
            # (the length: up to the last value that is not padding)
            counts = width - np.argmin(same[:, ::-1], axis=1)
            counts[same.all(axis=1)] = 0
        else:
            counts = np.full(values.shape[0], width, np.int64)
        rows = [values[i, :counts[i]] for i in builtins.range(values.shape[0])]
        flat = np.concatenate(rows) if rows else values[:0, 0]
        return cls.from_row_lengths(convert_to_tensor(flat, x.dtype), counts)

    @staticmethod
    def _from_rows(rows, dtype=None):
        """A RaggedTensor of a list of 1-D NumPy arrays (or lists)."""
        lengths = [len(r) for r in rows]
        flat = [e for r in rows for e in r]
        if dtype is not None:
            values = convert_to_tensor(np.asarray(flat, dtype=object) if
                                       getattr(dtype, "name", dtype) == "string"
                                       else flat, dtype)
        else:
            values = convert_to_tensor(flat if flat else np.zeros([0], np.float32))
        return RaggedTensor.from_row_lengths(values, lengths)

    @property
    def values(self):
        return self._values

    @property
    def flat_values(self):
        return self._values

    @property
    def row_splits(self):
        return convert_to_tensor(self._splits)

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def shape(self):
        """(rows, None, *the values' inner dimensions)."""
        return (len(self._splits) - 1, None) + tuple(self._values.shape[1:])

    @property
    def ragged_rank(self):
        return 1

    @property
    def ndim(self):
        return len(self.shape)

    def nrows(self, out_type="int64"):
        return convert_to_tensor(np.asarray(len(self._splits) - 1, np.int64)) \
            if str(getattr(out_type, "name", out_type)) == "int64" else \
            convert_to_tensor(np.int32(len(self._splits) - 1))

    def row_lengths(self, axis=1):
        return convert_to_tensor(np.diff(self._splits))

    def value_rowids(self):
        return convert_to_tensor(np.repeat(np.arange(len(self._splits) - 1, dtype=np.int64),
                                           np.diff(self._splits)))

    def _rows(self):
        values = np.asarray(self._values)
        return [values[a:b] for a, b in zip(self._splits[:-1], self._splits[1:])]

    def to_list(self):
        """The rows as nested Python lists (bytes for strings)."""
        return [row.tolist() for row in self._rows()]

    def numpy(self):
        """An object array of the rows (each a NumPy array), as TensorFlow's."""
        out = np.empty(len(self._splits) - 1, dtype=object)
        for i, row in enumerate(self._rows()):
            out[i] = row
        return out

    def to_tensor(self, default_value=None, name=None, shape=None):
        """The rows padded with `default_value` (zero, False or b"") to
        the longest row, or to `shape` (None entries: as needed; longer
        rows and extra rows are cut)."""
        rows = self._rows()
        inner = tuple(self._values.shape[1:])
        width = max((len(r) for r in rows), default=0)
        count = len(rows)
        if shape is not None:
            shape = list(shape)
            if len(shape) != 2 + len(inner):
                raise ValueError(f"to_tensor: shape {shape} must have rank {2 + len(inner)}")
            count = count if shape[0] is None else int(shape[0])
            width = width if shape[1] is None else int(shape[1])
        values = np.asarray(self._values)
        if default_value is None:
            default_value = b"" if values.dtype == object else 0
        out = np.empty((count, width) + inner, dtype=values.dtype)
        out[...] = np.asarray(default_value, dtype=values.dtype)
        for i, row in enumerate(rows[:count]):
            n = min(len(row), width)
            out[i, :n] = row[:n]
        return convert_to_tensor(out, self._values.dtype)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            n = len(self._splits) - 1
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {int(key)} of a RaggedTensor of {n} rows")
            return self._values[int(self._splits[i]):int(self._splits[i + 1])]
        if isinstance(key, slice):
            rows = builtins.range(len(self._splits) - 1)[key]
            pieces = [np.arange(self._splits[i], self._splits[i + 1]) for i in rows]
            taken = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros([0], np.int64)
            from . import ops
            return RaggedTensor.from_row_lengths(
                ops.gather(self._values, convert_to_tensor(taken)),
                [len(p) for p in pieces])
        raise TypeError("a RaggedTensor is indexed by a row number or a slice of rows")

    def __len__(self):
        return len(self._splits) - 1

    def __iter__(self):
        return (self[i] for i in builtins.range(len(self)))

    def with_values(self, new_values):
        """The same rows over `new_values` (as many as the values)."""
        return RaggedTensor(new_values, self._splits)

    def __repr__(self):
        return f"kiln.RaggedTensor({self.to_list()!r}, dtype={self.dtype.name})"


def constant(pylist, dtype=None, ragged_rank=None, row_splits_dtype="int64"):
    """A RaggedTensor of a list of rows (tf.ragged.constant, one ragged
    dimension: each row a list of scalars)."""
    rows = [list(r) for r in pylist]
    for r in rows:
        if any(isinstance(e, (list, tuple, np.ndarray)) for e in r):
            raise ValueError("kiln.ragged.constant: only one ragged dimension is "
                             "supported (rows of scalars)")
    if dtype is None:
        flat = [e for r in rows for e in r]
        if flat and isinstance(flat[0], (str, bytes)):
            dtype = "string"
    return RaggedTensor._from_rows(rows, dtype)


def range(starts, limits=None, deltas=1, dtype=None, name=None):  # noqa: A001 (TF's name)
    """A RaggedTensor whose row i is range(starts[i], limits[i], deltas[i])
    (tf.ragged.range; one argument gives range(0, starts[i]))."""
    if limits is None:
        starts, limits = 0, starts
    s, lim, d = np.broadcast_arrays(*(np.asarray(v.numpy() if isinstance(v, Tensor) else v)
                                      for v in (starts, limits, deltas)))
    if (d == 0).any():
        raise errors.InvalidArgumentError("kiln.ragged.range: a delta is 0",
                                          errors.user_location())
    rows = [np.arange(a, b, c) for a, b, c in zip(s.reshape(-1), lim.reshape(-1),
                                                   d.reshape(-1))]
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    python = all(not isinstance(v, (np.ndarray, np.generic, Tensor))
                 for v in (starts, limits, deltas))
    if dtype is not None:
        values = convert_to_tensor(flat, dtype)
    elif python:  # (Python numbers: TensorFlow's int32 / float32)
        values = convert_to_tensor(flat.tolist()) if flat.size else \
            convert_to_tensor(np.zeros(0, np.int32))
    else:
        values = convert_to_tensor(flat)
    return RaggedTensor.from_row_lengths(values, [len(r) for r in rows])


def map_flat_values(op, *args, **kwargs):
    """op applied to the values of the RaggedTensor arguments (all with
    the same rows), the rows kept (tf.ragged.map_flat_values)."""
    ragged = [a for a in list(args) + list(kwargs.values()) if isinstance(a, RaggedTensor)]
    if not ragged:
        raise ValueError("map_flat_values: needs a RaggedTensor argument")
    splits = ragged[0]._splits
    if any(not np.array_equal(r._splits, splits) for r in ragged):
        raise errors.InvalidArgumentError("map_flat_values: the RaggedTensors' rows differ",
                                          errors.user_location())

    def flat(a):
        return a.values if isinstance(a, RaggedTensor) else a
    out = op(*[flat(a) for a in args], **{k: flat(v) for k, v in kwargs.items()})
    return ragged[0].with_values(out)


def boolean_mask(data, mask, name=None):
    """The entries of each row of `data` where `mask` is true: a
    RaggedTensor (tf.ragged.boolean_mask of a 2-D dense data and mask)."""
    values = data if isinstance(data, Tensor) else convert_to_tensor(data)
    keep = np.asarray(convert_to_tensor(mask).numpy(), bool)
    if values.ndim != 2 or keep.shape != tuple(values.shape):
        raise errors.InvalidArgumentError(
            f"kiln.ragged.boolean_mask: data and mask must be 2-D of one shape, got "
            f"{list(values.shape)} and {list(keep.shape)}", errors.user_location())
    array = np.asarray(values.numpy() if values.dtype.name != "string" else
                       values._impl.array)
    return RaggedTensor.from_row_lengths(convert_to_tensor(array[keep], values.dtype),
                                         keep.sum(axis=1))
