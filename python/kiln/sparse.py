"""kiln.sparse: sparse tensors (tf.sparse) in COO form.

    sp = kiln.sparse.SparseTensor(indices=[[0, 1], [2, 0]], values=[5.0, 7.0],
                                  dense_shape=[3, 4])
    kiln.sparse.to_dense(sp)                       # [3, 4], zeros elsewhere
    kiln.sparse.sparse_dense_matmul(sp, w)         # gathers and a segment sum

A SparseTensor holds three tensors: `indices` (int64 [nnz, rank]),
`values` ([nnz]) and `dense_shape` (int64 [rank]), plus the static dense
shape it was made with. Its ops are Kiln ops on those tensors (gathers,
scatters, segment sums, a sort), so they compile and differentiate with
respect to the values and the dense operands; a SparseTensor passes in
and out of a @kiln.function as its three tensors (a new static dense shape
retraces). The ops whose number of entries depends on the values
(from_dense, a sparse + sparse sum, retain, fill_empty_rows, slice) run
eagerly: a clear error says so inside a trace.
"""

import numpy as np

from . import errors, math_ops, ops
from .dtypes import as_dtype, float32, int64, string
from .tensor import Tensor, convert_to_tensor


class SparseTensor:
    """A sparse tensor: `values` at `indices` of a `dense_shape` tensor,
    zero elsewhere (tf.sparse.SparseTensor)."""

    def __init__(self, indices, values, dense_shape):
        self.indices = ops.cast(convert_to_tensor(indices, dtype_hint=int64), int64) \
            if not (isinstance(indices, Tensor) and indices.dtype == int64) else indices
        self.values = convert_to_tensor(values)
        shape = dense_shape.numpy() if isinstance(dense_shape, Tensor) and \
            not dense_shape._symbolic else dense_shape
        if isinstance(shape, Tensor):
            raise errors.InvalidArgumentError(
                "SparseTensor: dense_shape must be known (Python ints or an eager tensor)",
                errors.user_location())
        self._shape = tuple(int(d) for d in np.asarray(shape).reshape(-1))
        self.dense_shape = convert_to_tensor(np.asarray(self._shape, np.int64))
        if self.indices.ndim != 2 or self.indices.shape[1] != len(self._shape):
            raise errors.InvalidArgumentError(
                f"SparseTensor: indices must be [nnz, {len(self._shape)}] for a dense shape "
                f"of rank {len(self._shape)}, got shape {list(self.indices.shape)}",
                errors.user_location())
        if self.values.ndim != 1 or (self.values.shape[0] is not None and
                                     self.indices.shape[0] is not None and
                                     self.values.shape[0] != self.indices.shape[0]):
            raise errors.InvalidArgumentError(
                f"SparseTensor: values must be [nnz] with nnz = {self.indices.shape[0]}, got "
                f"shape {list(self.values.shape)}", errors.user_location())
        if not self.indices._symbolic and self.indices.shape[0]:
            index = self.indices.numpy()
            if (index < 0).any() or (index >= np.asarray(self._shape)).any():
                bad = index[((index < 0) | (index >= np.asarray(self._shape))).any(1)][0]
                raise errors.InvalidArgumentError(
                    f"SparseTensor: index {bad.tolist()} is outside the dense shape "
                    f"{list(self._shape)}", errors.user_location())

    @classmethod
    def from_value(cls, value):
        return value if isinstance(value, SparseTensor) else from_dense(value)

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def ndim(self):
        return len(self._shape)

    _kiln_densify_hint = "make one with kiln.sparse.to_dense(x)"

    def with_values(self, new_values):
        """The same positions holding `new_values`."""
        return SparseTensor(self.indices, new_values, self._shape)

    def __mul__(self, other):
        """Scaled values (a scalar), or the values times the dense tensor
        `other` at their positions (TensorFlow's sparse * dense)."""
        other = convert_to_tensor(other, dtype_hint=self.dtype)
        if other.ndim == 0:
            return self.with_values(self.values * other)
        dense = math_ops.broadcast_to(other, self._shape)
        return self.with_values(self.values * math_ops.gather_nd(dense, self.indices))

    __rmul__ = __mul__

    def __neg__(self):
        return self.with_values(-self.values)

    # Across a @kiln.function boundary: its indices, values and dense
    # shape (the dense shape in the trace's key). The number of entries is
    # part of the trace too: left open, a scatter inside a cond branch
    # would check the entries against the indices only where the branch
    # runs, which the compiler cannot do ahead of the call.
    def _kiln_flatten(self):  # (@kiln.function arguments and results)
        return [self.indices, self.values, self.dense_shape]

    def _kiln_unflatten(self, values):
        out = SparseTensor.__new__(SparseTensor)
        out.indices, out.values, out.dense_shape = values
        out._shape = self._shape
        return out

    def _kiln_trace_key(self):
        return self._shape

    def numpy(self):
        """The dense value as a NumPy array."""
        return to_dense(self).numpy()

    def __repr__(self):
        if self.indices._symbolic:
            return f"kiln.SparseTensor(<symbolic>, dense_shape={list(self._shape)})"
        return (f"kiln.SparseTensor(indices={self.indices.numpy().tolist()}, "
                f"values={self.values.numpy().tolist()}, dense_shape={list(self._shape)})")


class SparseTensorSpec:
    """The type of a SparseTensor: its dense shape and dtype
    (tf.SparseTensorSpec; what a dataset's element_spec shows)."""

    def __init__(self, shape=None, dtype=float32):
        self.shape = None if shape is None else tuple(shape)
        self.dtype = as_dtype(dtype)

    def __eq__(self, other):
        return isinstance(other, SparseTensorSpec) and (self.shape, self.dtype) == \
            (other.shape, other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype.name))

    def __repr__(self):
        return f"SparseTensorSpec(shape={self.shape}, dtype=kiln.{self.dtype.name})"


def _sparse(x, what):
    if not isinstance(x, SparseTensor):
        raise TypeError(f"kiln.sparse.{what}: expects a SparseTensor, got {type(x).__name__}")
    return x


def _eager_only(what, *tensors):
    if any(t._symbolic for t in tensors):
        raise errors.UnimplementedError(
            f"kiln.sparse.{what}: the number of entries of the result depends on the "
            "values, so it runs eagerly only (not inside @kiln.function)",
            errors.user_location())


def from_dense(tensor, name=None):
    """The non-zero entries of a dense tensor, in row-major order (eager)."""
    x = convert_to_tensor(tensor)
    _eager_only("from_dense", x)
    value = np.asarray(x.numpy())
    index = np.argwhere(value != 0).astype(np.int64)
    return SparseTensor(index.reshape(-1, value.ndim),
                        convert_to_tensor(value[value != 0], x.dtype), value.shape)


def to_dense(sp_input, default_value=None, validate_indices=True, name=None):
    """The dense tensor: values at their indices, `default_value` (zero)
    elsewhere. With validate_indices, a repeated index is an error (as
    TensorFlow's); repeated entries would otherwise add up."""
    sp = _sparse(sp_input, "to_dense")
    dtype = sp.dtype
    message = "kiln.sparse.to_dense: indices repeat (validate_indices=False adds repeated " \
        "entries up)"
    if validate_indices and not sp.indices._symbolic and sp.indices.shape[0]:
        index = sp.indices.numpy()
        if len(np.unique(index, axis=0)) != len(index):
            raise errors.InvalidArgumentError(message, errors.user_location())
    elif validate_indices and sp.indices._symbolic and sp.indices.shape[0] is None:
        # (compiled, the number of entries open: no position counted twice)
        hits = math_ops.scatter_nd(sp.indices, ops.cast(math_ops.ones_like(sp.values),
                                                        "int32"), sp._shape)
        ops._check_at_run_time(ops.less_equal(hits, 1), message)
    elif validate_indices and sp.indices._symbolic and sp.indices.shape[0] != 0:
        # (compiled: the sorted positions must all differ from their neighbours)
        ordered = math_ops.sort(_linear(sp))
        ops._check_at_run_time(ops.not_equal(ordered[1:], ordered[:-1]), message)
    if dtype is string:  # (a host value: filled with NumPy)
        if sp.indices._symbolic:
            raise errors.InvalidArgumentError("kiln.sparse.to_dense: string values are "
                                              "host values", errors.user_location())
        fill = b"" if default_value is None else (
            default_value.encode() if isinstance(default_value, str) else default_value)
        dense = np.full(sp._shape, fill, dtype=object)
        dense[tuple(sp.indices.numpy().T)] = sp.values._impl.array
        return convert_to_tensor(dense, string)
    if dtype.mlir == "i1":
        dense = math_ops.scatter_nd(sp.indices, ops.cast(sp.values, "int32"), sp._shape)
        dense = ops.greater(dense, 0)
        if default_value:
            mask = math_ops.scatter_nd(sp.indices, math_ops.ones_like(sp.values, "int32"),
                                       sp._shape)
            dense = ops.where(ops.greater(mask, 0), dense, True)
        return dense
    dense = math_ops.scatter_nd(sp.indices, sp.values, sp._shape)
    if default_value is not None and default_value != 0:
        mask = math_ops.scatter_nd(sp.indices, math_ops.ones_like(sp.values), sp._shape)
        fill = convert_to_tensor(default_value, dtype)
        dense = ops.where(ops.greater(mask, 0), dense, fill)
    return dense


def _linear(sp):
    """Each entry's row-major position in the dense shape (int64)."""
    strides = np.cumprod((list(sp._shape[1:]) + [1])[::-1])[::-1].astype(np.int64)
    return ops.reduce_sum(sp.indices * convert_to_tensor(strides), axis=1)


def reorder(sp_input, name=None):
    """The entries in row-major order (tf.sparse.reorder)."""
    sp = _sparse(sp_input, "reorder")
    if sp.indices.shape[0] == 0:
        return sp
    order = math_ops.argsort(_linear(sp), stable=True)
    return SparseTensor(ops.gather(sp.indices, order), ops.gather(sp.values, order), sp._shape)


def transpose(sp_input, perm=None, name=None):
    """The entries with their coordinates permuted, reordered."""
    sp = _sparse(sp_input, "transpose")
    perm = list(range(sp.ndim))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(sp.ndim)):
        raise errors.InvalidArgumentError(
            f"kiln.sparse.transpose: perm {perm} is not a permutation of {sp.ndim} axes",
            errors.user_location())
    return reorder(SparseTensor(ops.gather(sp.indices, perm, axis=1), sp.values,
                                [sp._shape[p] for p in perm]))


def reshape(sp_input, shape, name=None):
    """The same entries in a dense shape of as many elements (one extent
    may be -1)."""
    sp = _sparse(sp_input, "reshape")
    shape = [int(d) for d in (shape.numpy() if isinstance(shape, Tensor) else shape)]
    size = int(np.prod(sp._shape, dtype=np.int64))
    if shape.count(-1) == 1:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        shape[shape.index(-1)] = size // known if known else 0
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise errors.InvalidArgumentError(
            f"kiln.sparse.reshape: {list(sp._shape)} has {size} elements, "
            f"{shape} does not", errors.user_location())
    linear = _linear(sp)
    strides = np.cumprod((shape[1:] + [1])[::-1])[::-1].astype(np.int64)
    columns = [ops.floormod(ops.floordiv(linear, int(s)), d) for s, d in zip(strides, shape)]
    return SparseTensor(ops.stack(columns, axis=1), sp.values, shape)


def expand_dims(sp_input, axis=None, name=None):
    """A new extent of 1 at `axis`."""
    sp = _sparse(sp_input, "expand_dims")
    axis = -1 if axis is None else int(axis)
    axis = axis + sp.ndim + 1 if axis < 0 else axis
    zeros = math_ops.zeros_like(sp.indices[:, :1])
    indices = ops.concat([sp.indices[:, :axis], zeros, sp.indices[:, axis:]], 1)
    return SparseTensor(indices, sp.values, sp._shape[:axis] + (1,) + sp._shape[axis:])


def concat(axis, sp_inputs, expand_nonconcat_dims=False, name=None):
    """The sparse tensors joined along `axis` (the other extents equal)."""
    parts = [_sparse(s, "concat") for s in sp_inputs]
    rank = parts[0].ndim
    axis = int(axis) % rank
    for p in parts:
        if p.ndim != rank or any(a != b for i, (a, b) in enumerate(zip(p._shape, parts[0]._shape))
                                 if i != axis):
            raise errors.InvalidArgumentError(
                f"kiln.sparse.concat: shapes {[list(q._shape) for q in parts]} differ off "
                f"axis {axis}", errors.user_location())
    indices, offset = [], 0
    for p in parts:
        shift = np.zeros(rank, np.int64)
        shift[axis] = offset
        indices.append(p.indices + convert_to_tensor(shift))
        offset += p._shape[axis]
    shape = list(parts[0]._shape)
    shape[axis] = offset
    return reorder(SparseTensor(ops.concat(indices, 0),
                                ops.concat([p.values for p in parts], 0), shape))


def add(a, b, threshold=0, name=None):
    """a + b: a dense tensor when one of them is dense; a SparseTensor
    (entries at the same index added, those whose magnitude is below
    `threshold` dropped; eager) when both are sparse."""
    if not isinstance(a, SparseTensor):
        a, b = b, a
    a = _sparse(a, "add")
    if not isinstance(b, SparseTensor):
        return to_dense(a) + convert_to_tensor(b, a.dtype)
    if a._shape != b._shape:
        raise errors.InvalidArgumentError(
            f"kiln.sparse.add: dense shapes {list(a._shape)} and {list(b._shape)} differ",
            errors.user_location())
    _eager_only("add of two SparseTensors", a.values, b.values)
    index = np.concatenate([a.indices.numpy(), b.indices.numpy()])
    values = np.concatenate([a.values.numpy(), b.values.numpy()])
    unique, inverse = np.unique(index, axis=0, return_inverse=True)
    summed = np.zeros(len(unique), values.dtype)
    np.add.at(summed, inverse.reshape(-1), values)
    keep = np.abs(summed) >= threshold if threshold else np.ones(len(unique), bool)
    return SparseTensor(unique[keep].reshape(-1, len(a._shape)),
                        convert_to_tensor(summed[keep], a.dtype), a._shape)


def retain(sp_input, to_retain, name=None):
    """The entries where the bool vector `to_retain` is true (eager)."""
    sp = _sparse(sp_input, "retain")
    keep = convert_to_tensor(to_retain)
    _eager_only("retain", keep, sp.values)
    mask = np.asarray(keep.numpy(), bool)
    return SparseTensor(sp.indices.numpy()[mask], convert_to_tensor(sp.values.numpy()[mask],
                                                                     sp.dtype), sp._shape)


def reduce_sum(sp_input, axis=None, keepdims=False, output_is_sparse=False, name=None):
    """The sum over `axis` (every axis when None), a dense tensor."""
    sp = _sparse(sp_input, "reduce_sum")
    if output_is_sparse:
        return from_dense(reduce_sum(sp, axis, keepdims))
    if axis is None and not keepdims:
        return ops.reduce_sum(sp.values)
    return ops.reduce_sum(to_dense(sp, validate_indices=False), axis=axis, keepdims=keepdims)


def reduce_max(sp_input, axis=None, keepdims=False, output_is_sparse=False, name=None):
    """The maximum over `axis` of the entries present (TensorFlow's
    sparse_reduce_max: absent entries do not count; a slice with none gives
    0, as TensorFlow's kernel)."""
    sp = _sparse(sp_input, "reduce_max")
    lowest = sp.dtype.min
    base = convert_to_tensor(np.full(sp._shape, lowest, sp.dtype.as_numpy_dtype), sp.dtype)
    dense = math_ops.tensor_scatter_nd_max(base, sp.indices, sp.values)
    present = math_ops.scatter_nd(sp.indices, math_ops.ones_like(sp.values, "int32"),
                                  sp._shape)
    out = ops.reduce_max(dense, axis=axis, keepdims=keepdims)
    any_present = ops.greater(ops.reduce_max(present, axis=axis, keepdims=keepdims), 0)
    out = ops.where(any_present, out, math_ops.zeros_like(out))
    return from_dense(out) if output_is_sparse else out


def sparse_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """sp_a (2-D) @ b as a dense tensor: the rows of b picked by the
    entries' columns, scaled by their values and summed per row (a
    gather and a segment sum: differentiable in the values and in b)."""
    sp = _sparse(sp_a, "sparse_dense_matmul")
    if sp.ndim != 2:
        raise errors.InvalidArgumentError(
            f"kiln.sparse.sparse_dense_matmul: needs a 2-D SparseTensor, got shape "
            f"{list(sp._shape)}", errors.user_location())
    b = convert_to_tensor(b, dtype_hint=sp.dtype)
    if adjoint_b:
        b = ops.transpose(b)
    rows, cols = sp.indices[:, 0], sp.indices[:, 1]
    n_rows, inner = sp._shape
    if adjoint_a:
        rows, cols, n_rows, inner = cols, rows, inner, n_rows
    if b.ndim != 2 or b.shape[0] != inner:
        raise errors.InvalidArgumentError(
            f"kiln.sparse.sparse_dense_matmul: {n_rows}x{inner} (sparse) @ "
            f"{list(b.shape)} do not fit", errors.user_location())
    picked = ops.gather(b, cols) * ops.reshape(sp.values, [-1, 1])
    return math_ops.unsorted_segment_sum(picked, rows, n_rows)


matmul = sparse_dense_matmul


def eye(num_rows, num_columns=None, dtype=float32, name=None):
    """The identity matrix as a SparseTensor."""
    num_columns = num_rows if num_columns is None else int(num_columns)
    n = min(int(num_rows), num_columns)
    index = np.repeat(np.arange(n, dtype=np.int64)[:, None], 2, axis=1)
    dtype = as_dtype(dtype)
    return SparseTensor(index, convert_to_tensor(np.ones(n, dtype.as_numpy_dtype), dtype),
                        [int(num_rows), num_columns])


def embedding_lookup_sparse(params, sp_ids, sp_weights, combiner="mean", max_norm=None,
                            name=None, allow_fast_lookup=False):
    return _lookup_sparse(params, sp_ids, sp_weights, combiner, max_norm)


def safe_embedding_lookup_sparse(embedding_weights, sparse_ids, sparse_weights=None,
                                 combiner="mean", default_id=None, max_norm=None, name=None,
                                 allow_fast_lookup=False):
    """embedding_lookup_sparse that ignores negative ids and entries
    whose weight is not positive, and gives a row without valid ids the
    embedding of `default_id` (zeros when None)."""
    return _lookup_sparse(embedding_weights, sparse_ids, sparse_weights, combiner, max_norm,
                          safe=True, default_id=default_id)


def _one_shard(params, what):
    """The table of `params` given as a tensor or a list of one (a table
    split into several shards is not supported)."""
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise errors.UnimplementedError(f"{what}: a table split in several shards",
                                            errors.user_location())
        return params[0]
    return params


def _rows(params, ids, max_norm):
    """params' rows at ids, each clipped to norm max_norm if given
    (nn.embedding_lookup's rule)."""
    rows = ops.gather(params, ids)
    return rows if max_norm is None else math_ops.clip_by_norm(rows, max_norm, axes=[-1])


def _lookup_sparse(params, sp_ids, sp_weights, combiner, max_norm, safe=False,
                   default_id=None):
    """tf.nn.embedding_lookup_sparse: for each row of sp_ids (a [batch, k]
    SparseTensor of ids), its rows of `params` weighted by sp_weights'
    values (1 when None) and combined: "sum", "mean" (divided by the
    weights' sum) or "sqrtn" (by the root of their squares' sum). A row
    without ids gives zeros."""
    if combiner not in ("sum", "mean", "sqrtn"):
        raise ValueError(f"embedding_lookup_sparse: combiner must be 'sum', 'mean' or "
                         f"'sqrtn', got {combiner!r}")
    ids = _sparse(sp_ids, "embedding_lookup_sparse")
    params = convert_to_tensor(_one_shard(params, "embedding_lookup_sparse"))
    # (ids of rank > 2, as safe_embedding_lookup_sparse takes them: the
    # leading dimensions are the rows, restored on the result)
    lead = ids._shape[:-1]
    batch = int(np.prod(lead, dtype=np.int64))
    if len(lead) == 1:
        rows = ids.indices[:, 0]
    else:
        strides = np.cumprod((list(lead[1:]) + [1])[::-1])[::-1].astype(np.int64)
        rows = ops.reduce_sum(ids.indices[:, :-1] * convert_to_tensor(strides), axis=1)
    if sp_weights is None:
        weights = math_ops.ones_like(ids.values, params.dtype)
    else:
        weights = ops.cast(_sparse(sp_weights, "embedding_lookup_sparse").values, params.dtype)
    id_values = ids.values
    valid = None
    if safe:  # (invalid entries weigh nothing and read row 0)
        valid = ops.greater_equal(id_values, 0)
        if sp_weights is not None and combiner != "sum":  # (TensorFlow's pruning)
            valid = ops.logical_and(valid, ops.greater(weights, 0))
        weights = ops.where(valid, weights, 0.0)
        id_values = ops.where(valid, id_values, 0)
    vectors = _rows(params, id_values, max_norm)
    total = math_ops.unsorted_segment_sum(vectors * ops.reshape(weights, [-1, 1]), rows, batch)
    out = total
    if combiner != "sum":  # (TensorFlow's div_no_nan: a zero sum gives 0)
        scale = math_ops.unsorted_segment_sum(weights if combiner == "mean" else
                                              weights * weights, rows, batch)
        if combiner == "sqrtn":
            scale = ops.sqrt(scale)
        nonzero = ops.not_equal(scale, 0)
        out = ops.where(ops.reshape(nonzero, [-1, 1]),
                        total / ops.reshape(ops.where(nonzero, scale, 1.0), [-1, 1]), 0.0)
    if default_id is not None:  # (rows without a valid entry)
        counted = ops.cast(valid, "int32") if valid is not None else \
            math_ops.ones_like(id_values, "int32")
        has = ops.greater(math_ops.unsorted_segment_sum(counted, rows, batch), 0)
        fill = ops.reshape(_rows(params, [int(default_id)], max_norm), [1, -1])
        out = ops.where(ops.reshape(has, [-1, 1]), out, fill)
    if len(lead) > 1:
        out = ops.reshape(out, list(lead) + [out.shape[-1]])
    return out
