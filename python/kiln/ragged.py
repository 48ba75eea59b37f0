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
import functools
import inspect

import numpy as np

from . import _dispatch, errors, math_ops, ops
from .dtypes import as_dtype, float32, int32, int64
from ._state import local as _local
from .tensor import OpenLeaf, Tensor, convert_to_tensor


class RowsUnknownError(errors.InvalidArgumentError):
    """What needs a RaggedTensor's row lengths inside a @kiln.function
    whose argument it is (they are tensors there): Model.fit then runs
    the step eagerly."""


class RaggedTensor:
    """Rows of `values` split at `row_splits` (see the module's text)."""

    _kiln_densify_hint = "pad it with .to_tensor(), or apply the op to its values " \
        "(kiln.ragged.map_flat_values)"
    __hash__ = None  # (== compares elementwise, as a tensor's)
    __array_ufunc__ = None  # (NumPy operands on the left defer to our operators)

    def __bool__(self):
        raise TypeError("the truth value of a RaggedTensor is ambiguous: reduce it first "
                        "(kiln.reduce_all / reduce_any)")

    def __array__(self, dtype=None, copy=None):
        raise TypeError("a RaggedTensor is no NumPy array: use .to_list(), .numpy() (an "
                        "object array of rows) or .to_tensor()")
    # A RaggedTensor argument inside a @kiln.function trace knows its rows
    # only as tensors: (row of each value, position in its row, the number
    # of rows, a token shared by the values of the same rows). None: the
    # rows are known on the host (row splits).
    _traced = None

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
        self._split_array = splits
        self._cache = {}  # (row ids and positions, shared by the same rows)

    def _derived(self, values):
        """A RaggedTensor of the same rows over `values` (already checked
        to hold as many values): no new validation, the same cache."""
        out = RaggedTensor.__new__(RaggedTensor)
        out._values, out._split_array, out._cache = values, self._split_array, self._cache
        return out

    @property
    def _splits(self):
        if self._traced is not None:
            raise RowsUnknownError(
                "this needs the row lengths of a RaggedTensor argument of a "
                "@kiln.function, which are known only when the compiled code runs: inside "
                "the function use ops on its values (elementwise ops, reductions along its "
                "rows, lookups by its ids) or to_tensor(shape=[rows, width]), or pad it "
                "before the call", errors.user_location())
        return self._split_array

    @staticmethod
    def _of_traced(values, row_ids, positions, nrows, token, width):
        out = RaggedTensor.__new__(RaggedTensor)
        out._values, out._traced = values, (row_ids, positions, int(nrows), token, width)
        return out

    def _padding_width(self):
        """How wide the layers that pad the rows (RNNs, with the lengths as
        their mask) make them: the longest row, or inside a trace a power
        of two at least as long (part of the trace's key, so batches share
        a few traces; the masked steps change nothing)."""
        if self._traced is not None:
            return self._traced[4]
        lengths = np.diff(self._splits)
        return int(lengths.max()) if len(lengths) else 0

    def _width_bucket(self):
        longest = self._padding_width()
        return 1 << max(longest - 1, 0).bit_length()

    def _nrows(self):
        return self._traced[2] if self._traced is not None else len(self._split_array) - 1

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
        count, width = x.shape[0], x.shape[1]
        if lengths is not None:
            counts = np.minimum(np.asarray(lengths.numpy() if isinstance(lengths, Tensor)
                                           else lengths, np.int64).reshape(-1), width)
            if len(counts) != count:
                raise errors.InvalidArgumentError(
                    f"RaggedTensor.from_tensor: {len(counts)} lengths for {count} rows",
                    errors.user_location())
        elif padding is not None:
            values = np.asarray(x.numpy() if x.dtype.name != "string" else x._impl.array)
            pad = np.asarray(padding.numpy() if isinstance(padding, Tensor) else padding)
            if x.dtype.name == "string" and isinstance(padding, str):
                pad = np.asarray(padding.encode())
            same = (values == pad).reshape(count, width, -1).all(axis=2)
            # (the length: up to the last value that is not padding)
            counts = width - np.argmin(same[:, ::-1], axis=1)
            counts[same.all(axis=1)] = 0
        else:
            counts = np.full(count, width, np.int64)
        if x.dtype.name == "string":
            values = x._impl.array
            rows = [values[i, :counts[i]] for i in builtins.range(count)]
            flat = np.concatenate(rows) if rows else values[:0, 0]
            return cls.from_row_lengths(convert_to_tensor(flat, x.dtype), counts)
        # (numbers: a gather of the kept entries, which traces and
        # differentiates)
        rows = np.repeat(np.arange(count, dtype=np.int64), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        coordinates = np.stack([rows, np.arange(len(rows), dtype=np.int64) - starts], 1)
        if not len(coordinates):
            flat = math_ops.zeros([0] + list(x.shape[2:]), x.dtype)
        else:
            flat = math_ops.gather_nd(x, convert_to_tensor(coordinates))
        return cls.from_row_lengths(flat, counts)

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
        if self._traced is not None:
            return ops.concat([convert_to_tensor(np.zeros(1, np.int64)),
                               math_ops.cumsum(self.row_lengths())], 0)
        return convert_to_tensor(self._splits)

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def shape(self):
        """(rows, None, *the values' inner dimensions)."""
        return (self._nrows(), None) + tuple(self._values.shape[1:])

    @property
    def ragged_rank(self):
        return 1

    @property
    def ndim(self):
        return len(self.shape)

    def nrows(self, out_type="int64"):
        return convert_to_tensor(np.asarray(self._nrows(), np.int64)) \
            if str(getattr(out_type, "name", out_type)) == "int64" else \
            convert_to_tensor(np.int32(self._nrows()))

    def row_lengths(self, axis=1):
        if self._traced is not None:
            return math_ops.unsorted_segment_sum(
                ops.cast(math_ops.ones_like(self._traced[0]), int64), self._traced[0],
                self._nrows())
        return convert_to_tensor(np.diff(self._splits))

    def value_rowids(self):
        if self._traced is not None:
            return ops.cast(self._traced[0], int64)
        return convert_to_tensor(_row_ids(self).astype(np.int64))

    def row_starts(self):
        """Where each row starts in `values` (int64)."""
        return self.row_splits[:-1]

    def row_limits(self):
        """Where each row ends in `values` (int64)."""
        return self.row_splits[1:]

    def bounding_shape(self, axis=None, out_type=int64, name=None):
        """[rows, longest row, inner...] (int64): the shape to_tensor() gives."""
        lengths = np.diff(self._splits)
        shape = np.array([len(lengths), int(lengths.max()) if len(lengths) else 0] +
                         list(self._values.shape[1:]), np.int64)
        out = shape if axis is None else shape[axis]
        return convert_to_tensor(np.asarray(out, as_dtype(out_type).as_numpy_dtype))

    def merge_dims(self, outer_axis, inner_axis):
        """The dimensions outer_axis..inner_axis joined into one: (0, 1) is
        `values`; inner dimensions merge in each value."""
        rank = self.ndim
        outer, inner = outer_axis % rank, inner_axis % rank
        if outer > inner:
            raise ValueError(f"merge_dims: outer_axis {outer_axis} comes after "
                             f"inner_axis {inner_axis}")
        if outer == inner:
            return self
        if outer == 0:
            merged = self._values
            if inner > 1:
                merged = ops.reshape(merged, [-1] + list(merged.shape[inner:]))
            return merged
        if outer == 1:
            raise ValueError("merge_dims: the ragged dimension merges with the rows "
                             "only (outer_axis=0)")
        shape = list(self._values.shape)
        return self.with_values(ops.reshape(
            self._values, shape[:outer - 1] + [-1] + shape[inner:]))

    def to_sparse(self, name=None):
        """The SparseTensor of the entries (indices row, position, inner...;
        dense shape bounding_shape())."""
        from .sparse import SparseTensor
        inner = tuple(self._values.shape[1:])
        grid = np.indices(inner).reshape(len(inner), -1).T if inner else \
            np.zeros((1, 0), np.int64)
        base = np.stack([_row_ids(self), _positions(self)], 1).astype(np.int64)
        indices = np.concatenate([np.repeat(base, len(grid), 0),
                                  np.tile(grid, (len(base), 1))], 1)
        return SparseTensor(indices, ops.reshape(self._values, [-1]),
                            self.bounding_shape().numpy().tolist())

    @classmethod
    def from_sparse(cls, st_input, name=None):
        """The rows of a 2-D SparseTensor whose entries fill each row from
        position 0 (TensorFlow's "ragged-right" rule)."""
        indices = np.asarray(st_input.indices.numpy(), np.int64)
        shape = list(st_input.shape)
        if len(shape) != 2:
            raise ValueError(f"RaggedTensor.from_sparse: needs a 2-D SparseTensor, got "
                             f"shape {shape}")
        order = np.lexsort(indices.T[::-1]) if len(indices) else np.zeros(0, np.int64)
        rows = indices[order, 0] if len(indices) else np.zeros(0, np.int64)
        lengths = np.bincount(rows, minlength=shape[0])
        expected = np.concatenate([np.arange(n) for n in lengths]) if len(rows) else rows
        if not np.array_equal(indices[order, 1] if len(indices) else rows, expected):
            raise errors.InvalidArgumentError(
                "RaggedTensor.from_sparse: each row's entries must fill positions 0, 1, "
                "... without gaps", errors.user_location())
        values = st_input.values
        if not np.array_equal(order, np.arange(len(order))):
            values = ops.gather(values, convert_to_tensor(order))
        return cls.from_row_lengths(values, lengths)

    def _rows(self):
        splits = self._splits
        values = np.asarray(self._values)
        return [values[a:b] for a, b in zip(splits[:-1], splits[1:])]

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
        inner = tuple(self._values.shape[1:])
        if self._traced is not None and (shape is None or shape[1] is None):
            raise RowsUnknownError(
                "to_tensor() of a RaggedTensor argument of a @kiln.function needs the "
                "width: give shape=[None, width] (the longest row is known only when the "
                "compiled code runs)", errors.user_location())
        lengths = np.diff(self._splits) if self._traced is None else None
        width = (int(lengths.max()) if len(lengths) else 0) if lengths is not None else None
        count = self._nrows()
        if shape is not None:
            shape = list(shape)
            if len(shape) != 2 + len(inner):
                raise ValueError(f"to_tensor: shape {shape} must have rank {2 + len(inner)}")
            count = count if shape[0] is None else int(shape[0])
            width = width if shape[1] is None else int(shape[1])
        if self.dtype.name != "string":
            return self._padded(count, width, default_value)
        rows, values = self._rows(), np.asarray(self._values)
        if default_value is None:
            default_value = b""
        out = np.empty((count, width) + inner, dtype=values.dtype)
        out[...] = np.asarray(default_value, dtype=values.dtype)
        for i, row in enumerate(rows[:count]):
            n = min(len(row), width)
            out[i, :n] = row[:n]
        return convert_to_tensor(out, self._values.dtype)

    def _padded(self, count, width, default_value):
        """to_tensor of numbers as ops on the values, so it traces and
        differentiates: the values scattered by (row, position) into a grid
        one row and one column larger, where the values of rows past
        `count` and positions past `width` land, then cut. The rows may be
        host constants or, for a @kiln.function argument, tensors."""
        inner = list(self._values.shape[1:])
        fill = None if default_value is None else (
            ops.cast(convert_to_tensor(default_value), self.dtype)
            if isinstance(default_value, Tensor) else
            convert_to_tensor(np.asarray(default_value, self.dtype.as_numpy_dtype)))
        if self._values.shape[0] == 0:  # (no values: the fill alone)
            out = math_ops.zeros([count, width] + inner, self.dtype)
            return out if fill is None else ops.where(
                convert_to_tensor(np.zeros([count, width] + [1] * len(inner), bool)), out, fill)
        rows = ops.minimum(_row_id_tensor(self), count)
        coordinates = ops.cast(ops.stack([rows, ops.minimum(_position_tensor(self), width)],
                                         1), int64)
        flags = self.dtype.name == "bool"
        values = ops.cast(self._values, int32) if flags else self._values
        out = math_ops.scatter_nd(coordinates, values,
                                  [count + 1, width + 1] + inner)[:count, :width]
        if flags:
            out = ops.cast(out, self.dtype)
        if fill is not None:
            hits = math_ops.scatter_nd(coordinates, ops.cast(math_ops.ones_like(rows), int32),
                                       [count + 1, width + 1])[:count, :width]
            out = ops.where(ops.reshape(ops.greater(hits, 0), [count, width] + [1] * len(inner)),
                            out, fill)
        return out

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            n = len(self._splits) - 1
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {int(key)} of a RaggedTensor of {n} rows")
            return self._values[int(self._splits[i]):int(self._splits[i + 1])]
        if isinstance(key, slice):
            return self._take_rows(np.arange(len(self))[key])
        if isinstance(key, (list, np.ndarray)) and np.asarray(key).dtype.kind in "iu" and \
                np.ndim(key) == 1:  # (rows by an index array, as NumPy's fancy indexing)
            index = np.asarray(key, np.int64)
            n = len(self)
            if ((index < -n) | (index >= n)).any():
                raise IndexError(f"row index out of range for a RaggedTensor of {n} rows")
            return self._take_rows(np.where(index < 0, index + n, index))
        if isinstance(key, tuple) and key and all(
                isinstance(k, (int, np.integer, slice)) for k in key):
            return self._index(key)
        raise TypeError("a RaggedTensor is indexed by integers and slices: a row, a "
                        f"slice of rows, rt[rows, positions, ...]; got {key!r}")

    def _index(self, key):
        """rt[rows, positions, inner...] (TensorFlow's ragged indexing: a
        position counts from the end of each row when negative, and a
        row too short for an integer position is an error)."""
        first, rest = key[0], key[1:]
        if isinstance(first, (int, np.integer)):
            row = self[first]
            return row[rest] if rest else row
        if not rest:
            return self[first]
        rows = np.arange(len(self))[first]
        second, inner = rest[0], (slice(None),) + rest[1:]
        starts, lengths = self._splits[rows], np.diff(self._splits)[rows]
        if isinstance(second, slice):
            picked = [np.arange(s, s + n)[second] for s, n in zip(starts, lengths)]
            taken = np.concatenate(picked).astype(np.int64) if picked else np.zeros(0, np.int64)
            out = RaggedTensor.from_row_lengths(
                ops.gather(self._values, convert_to_tensor(taken)), [len(p) for p in picked])
            return out.with_values(out.values[inner]) if len(inner) > 1 else out
        j = np.where(second < 0, lengths + int(second), int(second))
        short = (j < 0) | (j >= lengths)
        if short.any():
            r = int(rows[np.argmax(short)])
            raise errors.InvalidArgumentError(
                f"RaggedTensor index [{r}, {int(second)}]: row {r} has "
                f"{int(np.diff(self._splits)[r])} values", errors.user_location())
        out = ops.gather(self._values, convert_to_tensor((starts + j).astype(np.int64)))
        return out[inner] if len(inner) > 1 else out

    def _take_rows(self, rows):
        """The RaggedTensor of the given rows (host integers), in order."""
        pieces = [np.arange(self._splits[i], self._splits[i + 1]) for i in rows]
        taken = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros([0], np.int64)
        return RaggedTensor.from_row_lengths(
            ops.gather(self._values, convert_to_tensor(taken)), [len(p) for p in pieces])

    def __len__(self):
        return self._nrows()

    def __iter__(self):
        return (self[i] for i in builtins.range(len(self)))

    def with_values(self, new_values):
        """The same rows over `new_values` (as many as the values)."""
        if self._traced is not None:
            values = new_values if isinstance(new_values, Tensor) else \
                convert_to_tensor(new_values)
            return RaggedTensor._of_traced(values, *self._traced)
        values = new_values if isinstance(new_values, Tensor) else \
            convert_to_tensor(new_values)
        if values.shape[:1] == self._values.shape[:1]:
            return self._derived(values)
        return RaggedTensor(values, self._split_array)

    # Across a @kiln.function boundary a RaggedTensor is three tensors:
    # its values, each value's row and each value's position in its row,
    # their leading extent left open; the number of rows is part of the
    # trace's key. So batches of one size share a trace whatever their
    # rows' lengths; inside, the rows are known as those tensors only.
    def _kiln_flatten(self):
        if self._traced is not None:
            return [self._values, self._traced[0], self._traced[1]]
        rows, positions = _row_id_tensor(self), _position_tensor(self)
        if self._values._symbolic or not getattr(_local, "open_arguments", False):
            # (made inside a trace, or a loop variable or a branch's result:
            # its tensors as they are; a function's argument: open extents)
            return [self._values, rows, positions]
        inner = tuple(self._values.shape[1:])
        return [OpenLeaf(Tensor(self._values._impl), (None,) + inner),
                OpenLeaf(rows, (None,)), OpenLeaf(positions, (None,))]

    def _kiln_unflatten(self, leaves):
        values, rows, positions = leaves
        if isinstance(values, OpenLeaf):  # (the call's own arguments)
            return self
        if values._symbolic:  # (the same argument object twice shares its rows)
            return RaggedTensor._of_traced(values, rows, positions, self._nrows(), self,
                                           self._width_bucket())
        lengths = np.bincount(np.asarray(rows.numpy(), np.int64), minlength=self._nrows())
        return RaggedTensor(values, np.concatenate([[0], np.cumsum(lengths)]))

    def _kiln_trace_key(self):
        width = self._traced[4] if self._traced is not None else self._width_bucket()
        return ("ragged", self._nrows(), width)

    def __repr__(self):
        if self._traced is not None or self._values._symbolic:
            return f"kiln.RaggedTensor(<symbolic>, shape={_shape_text(self)}, " \
                f"dtype={self.dtype.name})"
        return f"kiln.RaggedTensor({self.to_list()!r}, dtype={self.dtype.name})"


class RaggedTensorSpec:
    """The type of a RaggedTensor: its shape (None for the ragged
    dimension) and dtype (tf.RaggedTensorSpec with ragged_rank 1; what a
    dataset's element_spec shows)."""

    def __init__(self, shape=None, dtype=float32, ragged_rank=None, row_splits_dtype=int64,
                 flat_values_spec=None):
        self.shape = None if shape is None else tuple(shape)
        self.dtype = as_dtype(dtype)
        self.ragged_rank = 1 if ragged_rank is None else int(ragged_rank)
        if self.ragged_rank != 1:
            raise ValueError("RaggedTensorSpec: Kiln's RaggedTensor has one ragged dimension "
                             f"(ragged_rank 1), got {ragged_rank}")
        self.row_splits_dtype = as_dtype(row_splits_dtype)

    def is_compatible_with(self, value):
        if isinstance(value, RaggedTensorSpec):
            other = value.shape
        elif isinstance(value, RaggedTensor):
            other = value.shape
        else:
            return False
        return value.dtype == self.dtype and (
            self.shape is None or other is None or len(self.shape) == len(other) and
            all(a is None or b is None or a == b for a, b in zip(self.shape, other)))

    def __eq__(self, other):
        return isinstance(other, RaggedTensorSpec) and (self.shape, self.dtype) == \
            (other.shape, other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype.name))

    def __repr__(self):
        shape = "None" if self.shape is None else \
            "(" + ", ".join("None" if d is None else str(d) for d in self.shape) + ")"
        return f"RaggedTensorSpec(shape={shape}, dtype=kiln.{self.dtype.name}, ragged_rank=1)"


def constant(pylist, dtype=None, ragged_rank=None, row_splits_dtype="int64"):
    """A RaggedTensor of a list of rows (tf.ragged.constant with one
    ragged dimension): rows of scalars, or with ragged_rank=1 rows of
    equally shaped lists ([[[1, 2], [3, 4]], [[5, 6]]] is 2 x (rows) x 2)."""
    rows = [list(r) for r in pylist]
    nested = any(isinstance(e, (list, tuple, np.ndarray)) for r in rows for e in r)
    if ragged_rank is not None and int(ragged_rank) != 1:
        raise ValueError(f"kiln.ragged.constant: ragged_rank {ragged_rank}: Kiln's "
                         "RaggedTensor has one ragged dimension (ragged_rank 1)")
    if nested:
        if ragged_rank is None:
            raise ValueError("kiln.ragged.constant: rows of lists would be ragged in "
                             "more than one dimension (TensorFlow's default); Kiln's "
                             "RaggedTensor has one: give ragged_rank=1 for rows of "
                             "equally shaped lists")
        arrays = [np.asarray(r) for r in rows]
        inner = {a.shape[1:] for a in arrays if len(a)}
        if len(inner) > 1 or any(a.ndim < 2 for a in arrays if len(a)):
            raise ValueError("kiln.ragged.constant: with ragged_rank=1 every row's "
                             f"entries must have one shape, got {sorted(inner)}")
        shape = inner.pop() if inner else ()
        values = [e for r in rows for e in r]
        flat = convert_to_tensor(values, dtype) if values else \
            convert_to_tensor(np.zeros((0,) + shape, np.float32), dtype)
        return RaggedTensor.from_row_lengths(flat, [len(r) for r in rows])
    if dtype is None:
        flat = [e for r in rows for e in r]
        if flat and isinstance(flat[0], (str, bytes)):
            dtype = "string"
    return RaggedTensor._from_rows(rows, dtype)


def stack(values, axis=0, name=None):
    """Vectors of different lengths as the rows of a RaggedTensor
    (tf.ragged.stack of 1-D tensors along axis 0)."""
    if int(axis) != 0:
        raise ValueError("kiln.ragged.stack: rows stack along axis 0 (Kiln's RaggedTensor "
                         "has one ragged dimension)")
    rows = [v if isinstance(v, Tensor) else convert_to_tensor(v) for v in values]
    if any(isinstance(v, RaggedTensor) for v in values) or any(r.ndim != 1 for r in rows):
        raise ValueError("kiln.ragged.stack: takes 1-D tensors (a stack of RaggedTensors "
                         "would be ragged in two dimensions)")
    return RaggedTensor.from_row_lengths(ops.concat(rows, 0), [r.shape[0] for r in rows])


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
    _same_rows("ragged.map_flat_values", ragged)

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


# --- Kiln's ops on RaggedTensors (registered with kiln._dispatch) -----------
#
# As TensorFlow's ragged dispatch: elementwise ops run on the values and
# keep the rows; reductions along the ragged dimension are segment
# reductions over the row of each value (along the first dimension, over
# the position within the row); concat, gather and the embedding lookup
# move whole rows. The row structure lives on the host, so everything
# computed here is an op on the values: it runs eagerly, records on
# gradient tapes, and traces into a @kiln.function like any other.

def _row_ids(rt):
    """The row of each value (int32)."""
    ids = rt._cache.get("rows")
    if ids is None:
        ids = rt._cache["rows"] = np.repeat(np.arange(len(rt), dtype=np.int32),
                                            np.diff(rt._splits))
    return ids


def _row_id_tensor(rt):
    """The row of each value as an int32 tensor (of the trace for a
    RaggedTensor argument of a @kiln.function)."""
    if rt._traced is not None:
        return rt._traced[0]
    ids = rt._cache.get("row tensor")
    if ids is None:
        ids = rt._cache["row tensor"] = convert_to_tensor(_row_ids(rt))
    return ids


def _position_tensor(rt):
    """Each value's position within its row as an int32 tensor."""
    if rt._traced is not None:
        return rt._traced[1]
    return convert_to_tensor(_positions(rt))


def _positions(rt):
    """Each value's position within its row (int32)."""
    positions = rt._cache.get("positions")
    if positions is None:
        starts = np.repeat(rt._splits[:-1], np.diff(rt._splits))
        positions = rt._cache["positions"] = \
            (np.arange(rt._splits[-1], dtype=np.int64) - starts).astype(np.int32)
    return positions


@functools.lru_cache(maxsize=None)
def _parameters(op):
    return list(inspect.signature(op).parameters)


def _operands(op, count, args, kwargs):
    """(names, bound arguments) of `op`'s call, whose first `count`
    parameters are its tensor operands."""
    bound = dict(zip(_parameters(op), args))
    bound.update(kwargs)
    return _parameters(op)[:count], bound


def _same_rows(what, ragged):
    if any(r._traced is not None for r in ragged):
        token = ragged[0]._traced[3] if ragged[0]._traced is not None else None
        if any(r._traced is None or r._traced[3] is not token for r in ragged):
            raise RowsUnknownError(
                f"kiln.{what}: inside a @kiln.function, RaggedTensor operands must share "
                "their rows (one made from the other, e.g. with_values or an elementwise "
                "op); rows of different arguments are not known to match",
                errors.user_location())
        return ragged[0]
    splits = ragged[0]._splits
    for r in ragged[1:]:
        if not np.array_equal(r._splits, splits):
            raise errors.InvalidArgumentError(
                f"kiln.{what}: RaggedTensor operands with different rows (row lengths "
                f"{np.diff(splits).tolist()} and {np.diff(r._splits).tolist()})",
                errors.user_location())
    return ragged[0]


def _on_values(what, rt, dense):
    """A dense operand of an elementwise op with `rt`, as an operand of
    the op on rt.values (TensorFlow's broadcasting of a dense tensor with
    a ragged one: a dimension of 1 in place of the ragged dimension, and
    either 1 or one entry per row in place of the rows)."""
    if not isinstance(dense, Tensor):
        if isinstance(dense, (bool, int, float)):
            return dense  # (a Python number takes the other operand's dtype)
        dense = convert_to_tensor(dense)
    rank, d = rt.ndim, dense.ndim
    if d <= rank - 2:  # (the values' inner dimensions)
        return dense
    shape = list(dense.shape)
    ragged_dim = shape[d - rank + 1]
    if d <= rank and ragged_dim == 1 and (d == rank - 1 or shape[0] in (1, len(rt))):
        row_wise = d == rank and shape[0] == len(rt) and len(rt) != 1
        dense = ops.reshape(dense, shape[2:] if d == rank else shape[1:]) if not row_wise \
            else ops.reshape(dense, [shape[0]] + shape[2:])
        if row_wise:  # (each value takes its row's entry)
            return ops.gather(dense, _row_id_tensor(rt))
        return dense
    raise errors.InvalidArgumentError(
        f"kiln.{what}: a dense operand of shape {shape} does not broadcast with a "
        f"RaggedTensor of shape {_shape_text(rt)} (it needs 1 in place of the ragged "
        f"dimension, and 1 or {len(rt)} rows)", errors.user_location())


def _shape_text(rt):
    return "[" + ", ".join("None" if e is None else str(e) for e in rt.shape) + "]"


def _elementwise(what, count):
    """The handler of kiln.`what`, an elementwise op whose first `count`
    parameters are operands: the op on the values, the rows kept."""
    def handler(op, *args, **kwargs):
        names, bound = _operands(op, count, args, kwargs)
        ragged = [bound[n] for n in names if isinstance(bound.get(n), RaggedTensor)]
        if not ragged or any(isinstance(v, RaggedTensor) for k, v in bound.items()
                             if k not in names):
            return NotImplemented
        if what == "where" and (bound.get("x") is None or bound.get("y") is None):
            return NotImplemented  # (where(condition) gives coordinates)
        rt = _same_rows(what, ragged)
        for n in names:
            if n in bound and bound[n] is not None:
                v = bound[n]
                if isinstance(v, RaggedTensor):
                    bound[n] = v.values
                    continue
                if not isinstance(v, (Tensor, bool, int, float)) and n != "condition":
                    v = ops._like(v, rt.dtype)  # (as a dense operand takes the other's)
                bound[n] = _on_values(what, rt, v)
        return rt.with_values(op(**bound))
    return handler


def _axes(rt, axis, what):
    rank = rt.ndim
    axes = list(builtins.range(rank)) if axis is None else \
        [int(a) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    for a in axes:
        if not -rank <= a < rank:
            raise errors.InvalidArgumentError(
                f"kiln.{what}: axis {a} is out of range for a RaggedTensor of rank {rank}",
                errors.user_location())
    return sorted({a % rank for a in axes})


def _segments(rt, outer):
    """(segment id of each value, segment count) for reducing the rows
    (outer == [1]) or the columns (outer == [0])."""
    if outer == [1]:
        return _row_id_tensor(rt), len(rt)
    lengths = np.diff(rt._splits)
    return convert_to_tensor(_positions(rt)), int(lengths.max()) if len(lengths) else 0


def _segment_any(values, ids, n):
    return ops.greater(math_ops.unsorted_segment_sum(ops.cast(values, int32), ids, n), 0)


def _segment_all(values, ids, n):
    return ops.equal(math_ops.unsorted_segment_sum(
        ops.cast(ops.logical_not(values), int32), ids, n), 0)


_SEGMENT_REDUCTIONS = {
    "reduce_sum": math_ops.unsorted_segment_sum, "reduce_max": math_ops.unsorted_segment_max,
    "reduce_min": math_ops.unsorted_segment_min,
    "reduce_prod": math_ops.unsorted_segment_prod, "reduce_any": _segment_any,
    "reduce_all": _segment_all}


def _reduction(what):
    def handler(op, input_tensor, axis=None, keepdims=False, name=None):
        if not isinstance(input_tensor, RaggedTensor):
            return NotImplemented
        return _reduce(what, op, input_tensor, axis, keepdims)
    return handler


def _reduce(what, op, rt, axis, keepdims):
    """kiln.`what` (a reduce_<kind>) of a RaggedTensor, as TensorFlow's:
    reducing the ragged dimension gives a dense tensor; an empty row's
    maximum is the dtype's lowest value, its minimum the largest, its sum
    0, its mean NaN (0 / 0). Complex sums and means reduce the two parts."""
    if rt.dtype.is_complex and what in ("reduce_sum", "reduce_mean"):
        from .complexes import complex as make_complex, imag, real
        re, im = (_reduce(what, op, rt.with_values(part(rt.values)), axis, keepdims)
                  for part in (real, imag))
        if isinstance(re, RaggedTensor):
            return re.with_values(make_complex(re.values, im.values))
        return make_complex(re, im)
    if what == "reduce_mean":  # (TensorFlow's: the sum over the count, with /)
        total_of = functools.partial(_reduce, "reduce_sum", ops.reduce_sum._kiln_undecorated)
        total = total_of(rt, axis, keepdims)
        count = total_of(rt.with_values(math_ops.ones_like(rt.values)), axis, keepdims)
        if isinstance(total, RaggedTensor):
            return total.with_values(ops.truediv(total.values, count.values))
        return ops.truediv(total, count)
    axes = _axes(rt, axis, what)
    values = rt.values
    inner = [a - 1 for a in axes if a >= 2]
    if inner:
        values = op(values, axis=inner, keepdims=bool(keepdims))
    outer = [a for a in axes if a < 2]
    if not outer:
        return rt.with_values(values)
    if outer == [0, 1]:
        out = op(values, axis=0)
        return ops.reshape(out, [1, 1] + list(out.shape)) if keepdims else out
    ids, n = _segments(rt, outer)
    out = _SEGMENT_REDUCTIONS[what](values, ids, n)
    return math_ops.expand_dims(out, outer[0]) if keepdims else out


def _variance(what):
    def handler(op, input_tensor, axis=None, keepdims=False, name=None):
        rt = input_tensor
        if not isinstance(rt, RaggedTensor):
            return NotImplemented
        if not rt.dtype.is_floating:
            raise TypeError(f"{what} takes a floating-point tensor, got {rt.dtype.name}")
        axes = _axes(rt, axis, what)
        mean = _reduce("reduce_mean", ops.reduce_mean._kiln_undecorated, rt, axes, True)
        if isinstance(mean, RaggedTensor):
            deviation = rt - mean
        elif 0 in axes and 1 not in axes:  # (each value less its column's mean)
            column = ops.reshape(mean, list(mean.shape[1:]))
            deviation = rt.with_values(
                rt.values - ops.gather(column, convert_to_tensor(_positions(rt))))
        else:
            deviation = rt - mean
        variance = _reduce("reduce_mean", ops.reduce_mean._kiln_undecorated,
                           ops.square(deviation), axes, keepdims)
        return ops.sqrt(variance) if what == "reduce_std" else variance
    return handler


def _concat(op, values, axis, name=None):
    """Rows one after another (axis 0), each row joined with the same
    row of the others (axis 1), or the values joined (an inner axis)."""
    pieces = list(values)
    if not any(isinstance(p, RaggedTensor) for p in pieces):
        return NotImplemented
    rank = max(p.ndim for p in pieces)
    pieces = [p if isinstance(p, RaggedTensor) else
              RaggedTensor.from_tensor(convert_to_tensor(p)) for p in pieces]
    if any(p.ndim != rank for p in pieces):
        raise errors.InvalidArgumentError(
            f"kiln.concat: operands of ranks {[p.ndim for p in pieces]} (they must match)",
            errors.user_location())
    a = int(axis) % rank if -rank <= int(axis) < rank else None
    if a is None:
        raise errors.InvalidArgumentError(
            f"kiln.concat: axis {axis} is out of range for rank {rank}", errors.user_location())
    joined = op([p.values for p in pieces], 0) if a < 2 else None
    if a == 0 and any(p._traced is not None for p in pieces):
        # (a RaggedTensor argument of a trace: the rows of each piece after
        # the previous pieces' rows; the values stay in row order)
        offsets = np.cumsum([0] + [p._nrows() for p in pieces])
        rows = op([_row_id_tensor(p) + int(o) for p, o in zip(pieces, offsets)], 0)
        positions = op([_position_tensor(p) for p in pieces], 0)
        return RaggedTensor._of_traced(joined, rows, positions, int(offsets[-1]), object(),
                                       max(p._width_bucket() for p in pieces))
    if a == 0:
        lengths = np.concatenate([np.diff(p._splits) for p in pieces])
        return RaggedTensor.from_row_lengths(joined, lengths)
    if a == 1:
        rows = {len(p) for p in pieces}
        if len(rows) != 1:
            raise errors.InvalidArgumentError(
                f"kiln.concat: axis 1 joins rows one by one, but the operands have "
                f"{sorted(rows)} rows", errors.user_location())
        offsets = np.cumsum([0] + [int(p._splits[-1]) for p in pieces])
        order = [np.arange(p._splits[i], p._splits[i + 1]) + offsets[k]
                 for i in builtins.range(len(pieces[0]))
                 for k, p in enumerate(pieces)]
        taken = np.concatenate(order).astype(np.int64) if order else np.zeros(0, np.int64)
        lengths = sum(np.diff(p._splits) for p in pieces)
        return RaggedTensor.from_row_lengths(ops.gather(joined, convert_to_tensor(taken)),
                                             lengths)
    rt = _same_rows("concat", pieces)
    return rt.with_values(op([p.values for p in pieces], a - 1))


def _host_indices(indices, what):
    if isinstance(indices, Tensor) and indices._symbolic:
        raise errors.InvalidArgumentError(
            f"kiln.{what}: row indices of a RaggedTensor must be known values, not "
            "values of a @kiln.function trace", errors.user_location())
    return np.asarray(indices.numpy() if isinstance(indices, Tensor) else indices, np.int64)


def _gather(op, params, indices, axis=None, batch_dims=0, name=None):
    """Rows of a RaggedTensor (axis 0), or a dense tensor's slices at
    ragged indices (the rows kept)."""
    if batch_dims != 0 or axis not in (None, 0):
        return NotImplemented
    if isinstance(indices, RaggedTensor) and not isinstance(params, RaggedTensor):
        return indices.with_values(op(params, indices.values))
    if not isinstance(params, RaggedTensor) or isinstance(indices, RaggedTensor):
        return NotImplemented
    index = _host_indices(indices, "gather")
    n = len(params)
    if ((index < 0) | (index >= n)).any():
        raise errors.InvalidArgumentError(
            f"kiln.gather: a row index in {index.reshape(-1).tolist()} is outside "
            f"[0, {n})", errors.user_location())
    if index.ndim == 0:
        return params[int(index)]
    if index.ndim != 1:
        raise errors.InvalidArgumentError(
            f"kiln.gather: a RaggedTensor's rows are gathered by a vector of indices, "
            f"got shape {list(index.shape)}", errors.user_location())
    return params._take_rows(index)


def _embedding_lookup(op, params, ids, max_norm=None, name=None):
    if not isinstance(ids, RaggedTensor) or isinstance(params, RaggedTensor):
        return NotImplemented
    return ids.with_values(op(params, ids.values, max_norm))


def _size(op, input, out_type=int32, name=None):  # noqa: A002 (TensorFlow's name)
    if not isinstance(input, RaggedTensor):
        return NotImplemented
    return op(input.values, out_type)


_UNARY = ["negative", "abs", "exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos",
          "square", "sign", "stop_gradient", "cast", "logical_not", "log1p", "expm1", "rsqrt",
          "floor", "ceil", "reciprocal", "is_nan", "is_inf", "is_finite", "erf", "erfc",
          "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "lgamma",
          "digamma", "erfinv", "identity", "zeros_like", "ones_like", "round", "rint",
          "softplus", "softsign", "log_sigmoid", "reciprocal_no_nan", "nn.relu",
          "nn.relu6", "nn.leaky_relu", "nn.elu", "nn.selu", "nn.silu", "nn.gelu"]
_BINARY = ["add", "subtract", "multiply", "truediv", "divide", "pow", "maximum", "minimum",
           "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
           "logical_and", "logical_or", "logical_xor", "floordiv", "floormod", "truncatemod",
           "atan2", "squared_difference", "divide_no_nan", "multiply_no_nan", "xlogy",
           "xdivy"]

_dispatch.register(RaggedTensor, {
    **{name: _elementwise(name, 1) for name in _UNARY},
    **{name: _elementwise(name, 2) for name in _BINARY},
    "clip_by_value": _elementwise("clip_by_value", 3), "where": _elementwise("where", 3),
    **{name: _reduction(name) for name in ("reduce_sum", "reduce_mean", "reduce_max",
                                     "reduce_min", "reduce_prod", "reduce_any",
                                     "reduce_all")},
    "reduce_variance": _variance("reduce_variance"), "reduce_std": _variance("reduce_std"),
    "concat": _concat, "gather": _gather, "nn.embedding_lookup": _embedding_lookup,
    "size": _size})


def _operator(api, swapped=False):
    if swapped:
        return lambda self, other: api(other, self)
    return lambda self, other: api(self, other)


for _name, _api in [("add", ops.add), ("sub", ops.subtract), ("mul", ops.multiply),
                    ("truediv", ops.truediv), ("floordiv", ops.floordiv),
                    ("mod", ops.floormod), ("pow", ops.pow)]:
    setattr(RaggedTensor, f"__{_name}__", _operator(_api))
    setattr(RaggedTensor, f"__r{_name}__", _operator(_api, swapped=True))
for _name, _api in [("lt", ops.less), ("le", ops.less_equal), ("gt", ops.greater),
                    ("ge", ops.greater_equal), ("eq", ops.equal), ("ne", ops.not_equal),
                    ("and", ops.logical_and), ("or", ops.logical_or),
                    ("xor", ops.logical_xor)]:
    setattr(RaggedTensor, f"__{_name}__", _operator(_api))
RaggedTensor.__rand__ = _operator(ops.logical_and, swapped=True)
RaggedTensor.__ror__ = _operator(ops.logical_or, swapped=True)
RaggedTensor.__rxor__ = _operator(ops.logical_xor, swapped=True)
RaggedTensor.__neg__ = lambda self: ops.negative(self)
RaggedTensor.__abs__ = lambda self: ops.abs(self)
RaggedTensor.__invert__ = lambda self: ops.logical_not(self)
