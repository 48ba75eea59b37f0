"""kiln.sets: set operations along the last dimension (tf.sets).

Each row of the last dimension of `a` (and `b`) is a set of integers or
strings; a dense tensor's row holds all its values, a SparseTensor's row
the values present. The results are SparseTensors of the sorted unique
values per row (size: a dense count), as TensorFlow's. They run on the
host, eagerly: their number of entries depends on the values.

    kiln.sets.intersection([[1, 2, 3], [4, 5, 6]], [[2, 3, 9], [7, 8, 9]])
    # SparseTensor(indices=[[0, 0], [0, 1]], values=[2, 3], dense_shape=[2, 2])
"""

import numpy as np

from . import errors
from .dtypes import int32, string
from .sparse import SparseTensor
from .tensor import Tensor, convert_to_tensor


def _rows(value, what):
    """(leading shape, list of Python sets per row, dtype) of a dense
    tensor or a SparseTensor of rank >= 2."""
    if isinstance(value, SparseTensor):
        if value.indices._symbolic:
            raise errors.UnimplementedError(f"kiln.sets.{what} runs eagerly only",
                                            errors.user_location())
        shape = value.shape
        if len(shape) < 2:
            raise errors.InvalidArgumentError(
                f"kiln.sets.{what}: needs rank >= 2, got {list(shape)}", errors.user_location())
        lead = shape[:-1]
        rows = [set() for _ in range(int(np.prod(lead, dtype=np.int64)))]
        index = np.asarray(value.indices.numpy())
        values = value.values._impl.array if value.dtype is string else \
            np.asarray(value.values.numpy())
        flat = np.ravel_multi_index(tuple(index[:, :-1].T), lead) if len(index) else []
        for r, v in zip(np.asarray(flat).tolist(), values.tolist()):
            rows[r].add(v)
        return tuple(lead), rows, value.dtype
    x = value if isinstance(value, Tensor) else convert_to_tensor(value)
    if x._symbolic:
        raise errors.UnimplementedError(f"kiln.sets.{what} runs eagerly only",
                                        errors.user_location())
    if x.ndim < 2:
        raise errors.InvalidArgumentError(
            f"kiln.sets.{what}: needs rank >= 2, got {list(x.shape)}", errors.user_location())
    if not (x.dtype is string or x.dtype.is_integer):
        raise TypeError(f"kiln.sets.{what}: sets hold integers or strings, got {x.dtype.name}")
    array = x._impl.array if x.dtype is string else np.asarray(x.numpy())
    lead = tuple(x.shape[:-1])
    return lead, [set(row.tolist()) for row in array.reshape(-1, x.shape[-1])], x.dtype


def _sparse_of(lead, rows, dtype):
    """A SparseTensor of the sorted rows (values of `dtype`)."""
    ordered = [sorted(r) for r in rows]
    width = max((len(r) for r in ordered), default=0)
    index = []
    for flat, row in enumerate(ordered):
        position = list(np.unravel_index(flat, lead)) if lead else []
        index.extend(position + [k] for k in range(len(row)))
    values = [v for row in ordered for v in row]
    if dtype is string:
        array = np.empty(len(values), dtype=object)
        array[:] = values
    else:
        array = np.array(values, dtype.as_numpy_dtype)
    return SparseTensor(np.array(index, np.int64).reshape(-1, len(lead) + 1),
                        convert_to_tensor(array, dtype), list(lead) + [width])


def _pair(a, b, what):
    lead_a, rows_a, dtype_a = _rows(a, what)
    lead_b, rows_b, dtype_b = _rows(b, what)
    if dtype_a != dtype_b:
        raise TypeError(f"kiln.sets.{what}: {dtype_a.name} and {dtype_b.name} sets")
    if lead_a != lead_b:
        raise errors.InvalidArgumentError(
            f"kiln.sets.{what}: the leading shapes {list(lead_a)} and {list(lead_b)} differ",
            errors.user_location())
    return lead_a, rows_a, rows_b, dtype_a


def size(a, validate_indices=True):
    """The number of distinct values of each row (int32, the leading
    shape)."""
    lead, rows, _ = _rows(a, "size")
    return convert_to_tensor(np.array([len(r) for r in rows], np.int32).reshape(lead), int32)


def intersection(a, b, validate_indices=True):
    lead, rows_a, rows_b, dtype = _pair(a, b, "intersection")
    return _sparse_of(lead, [x & y for x, y in zip(rows_a, rows_b)], dtype)


def union(a, b, validate_indices=True):
    lead, rows_a, rows_b, dtype = _pair(a, b, "union")
    return _sparse_of(lead, [x | y for x, y in zip(rows_a, rows_b)], dtype)


def difference(a, b, aminusb=True, validate_indices=True):
    """a - b per row (b - a with aminusb=False)."""
    lead, rows_a, rows_b, dtype = _pair(a, b, "difference")
    return _sparse_of(lead, [x - y if aminusb else y - x for x, y in zip(rows_a, rows_b)],
                      dtype)


set_size, set_intersection, set_union, set_difference = size, intersection, union, difference
