"""kiln.lookup: key-value tables (tf.lookup).

    init = kiln.lookup.KeyValueTensorInitializer(["emerson", "lake"], [0, 1],
                                                 value_dtype=kiln.int64)
    table = kiln.lookup.StaticVocabularyTable(init, num_oov_buckets=2)
    table.lookup(kiln.constant(["lake", "king"]))      # [1, 2 or 3]

Tables are built on the host from their initializer. A StaticHashTable
with integer keys and numeric values looks up by a binary search of its
sorted keys (gathers and compares), so it also runs inside @kiln.function
and compiles; string keys (and string values) are looked up on the host,
as the rest of Kiln's string handling is. Out-of-vocabulary buckets are
TensorFlow's: Fingerprint64 of the key (of its decimal string for
integers) modulo the number of buckets, after the vocabulary.
"""

import numpy as np

from . import _hashing, errors, math_ops, ops, strings
from .dtypes import as_dtype, int64, string
from .tensor import Tensor, convert_to_tensor


class TextFileIndex:
    WHOLE_LINE = -2
    LINE_NUMBER = -1


def _host_array(values, dtype, what):
    """values (a list, array or eager tensor) as a flat NumPy array of
    `dtype` (object arrays of bytes for strings)."""
    if isinstance(values, Tensor) and values._symbolic:
        raise errors.InvalidArgumentError(f"{what}: table contents must be known when the "
                                          "table is made", errors.user_location())
    t = convert_to_tensor(values, dtype) if dtype is not None else convert_to_tensor(values)
    if t.dtype is string:
        return t._impl.array.reshape(-1), string
    return np.asarray(t.numpy()).reshape(-1), t.dtype


class KeyValueTensorInitializer:
    """A table's keys and values from two vectors (tf.lookup's)."""

    def __init__(self, keys, values, key_dtype=None, value_dtype=None, name=None):
        self._keys, self.key_dtype = _host_array(keys, key_dtype, "KeyValueTensorInitializer")
        self._values, self.value_dtype = _host_array(values, value_dtype,
                                                     "KeyValueTensorInitializer")
        if len(self._keys) != len(self._values):
            raise errors.InvalidArgumentError(
                f"KeyValueTensorInitializer: {len(self._keys)} keys and {len(self._values)} "
                "values", errors.user_location())


class TextFileInitializer:
    """A table's keys and values from the lines of a text file: the whole
    line (TextFileIndex.WHOLE_LINE), the line number (LINE_NUMBER, plus
    value_index_offset) or a column split at `delimiter`; only the first
    vocab_size lines when given."""

    def __init__(self, filename, key_dtype, key_index, value_dtype, value_index,
                 vocab_size=None, delimiter="\t", name=None, value_index_offset=0):
        path = filename.numpy().decode() if isinstance(filename, Tensor) else str(filename)
        try:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        except FileNotFoundError:
            raise errors.NotFoundError(f"TextFileInitializer: {path}: no such file",
                                       errors.user_location()) from None
        if lines and lines[-1] == b"":
            lines.pop()
        lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        if vocab_size is not None:
            if len(lines) < int(vocab_size):
                raise errors.InvalidArgumentError(
                    f"TextFileInitializer: {path} has {len(lines)} lines, fewer than "
                    f"vocab_size {vocab_size}", errors.user_location())
            lines = lines[:int(vocab_size)]
        delim = delimiter.encode() if isinstance(delimiter, str) else bytes(delimiter)

        def column(index, dtype, offset, what):
            dtype = as_dtype(dtype)
            if index == TextFileIndex.LINE_NUMBER:
                return np.arange(len(lines), dtype=np.int64) + offset, dtype
            out = []
            for number, line in enumerate(lines):
                if index == TextFileIndex.WHOLE_LINE:
                    field = line
                else:
                    fields = line.split(delim)
                    if index >= len(fields):
                        raise errors.InvalidArgumentError(
                            f"TextFileInitializer: line {number + 1} of {path} has "
                            f"{len(fields)} fields, no {what} column {index}",
                            errors.user_location())
                    field = fields[index]
                out.append(field)
            if dtype is string:
                array = np.empty(len(out), dtype=object)
                array[:] = out
                return array, string
            try:
                return np.array([(float if dtype.is_floating else int)(f) for f in out],
                                dtype.as_numpy_dtype), dtype
            except ValueError as e:
                raise errors.InvalidArgumentError(
                    f"TextFileInitializer: a {what} in {path} is not a {dtype.name} ({e})",
                    errors.user_location()) from None
        self._keys, self.key_dtype = column(int(key_index), key_dtype, 0, "key")
        self._values, self.value_dtype = column(int(value_index), value_dtype,
                                                int(value_index_offset), "value")


class StaticHashTable:
    """A fixed map of keys to values with a default for missing keys
    (tf.lookup.StaticHashTable). Integer keys with numeric values also
    work in compiled code."""

    def __init__(self, initializer, default_value, name=None, experimental_is_anonymous=False):
        self.key_dtype, self.value_dtype = initializer.key_dtype, initializer.value_dtype
        if self.key_dtype is not string and not self.key_dtype.is_integer:
            raise TypeError(f"StaticHashTable: keys must be integers or strings, got "
                            f"{self.key_dtype.name}")
        keys, values = initializer._keys, initializer._values
        unique, counts = np.unique(keys, return_counts=True)
        if (counts > 1).any():
            raise errors.InvalidArgumentError(
                f"StaticHashTable: the keys repeat {unique[counts > 1][:5].tolist()}",
                errors.user_location())
        self._keys, self._values = keys, values
        self.default_value = convert_to_tensor(default_value, self.value_dtype)
        if self.key_dtype is string:
            self._index = {k: i for i, k in enumerate(keys.tolist())}
        else:
            order = np.argsort(keys, kind="stable")
            self._sorted_keys = keys[order].astype(np.int64)
            self._sorted_values = values[order]

    def size(self, name=None):
        return convert_to_tensor(np.int64(len(self._keys)))

    def export(self, name=None):
        """(keys, values) as tensors."""
        return (convert_to_tensor(self._keys, self.key_dtype),
                convert_to_tensor(self._values, self.value_dtype))

    def _positions(self, keys, what):
        """Each key's row in the table and whether it is there."""
        if self.key_dtype is string:
            x = keys if isinstance(keys, Tensor) else convert_to_tensor(keys, string)
            if x.dtype is not string:
                raise TypeError(f"{what}: the table's keys are strings, got {x.dtype.name}")
            flat = x._impl.array.reshape(-1)
            rows = np.fromiter((self._index.get(k, -1) for k in flat), np.int64, len(flat))
            return rows.reshape(x.shape), x
        x = convert_to_tensor(keys, dtype_hint=self.key_dtype)
        if not x.dtype.is_integer:
            raise TypeError(f"{what}: the table's keys are {self.key_dtype.name}, got "
                            f"{x.dtype.name}")
        return ops.cast(x, int64), x

    def lookup(self, keys, name=None):
        """The value of each key, default_value for missing ones. A
        SparseTensor's or RaggedTensor's values are looked up in place."""
        if hasattr(keys, "with_values"):
            return keys.with_values(self.lookup(keys.values))
        found, values = self._find(keys, "StaticHashTable.lookup")
        return ops.where(found, values, self.default_value) if self.value_dtype is not string \
            else _where_strings(found, values, self.default_value)

    __getitem__ = lookup

    def _find(self, keys, what):
        """(found: bool tensor, values where found) for `keys`."""
        if self.key_dtype is string:
            rows, x = self._positions(keys, what)
            found = rows >= 0
            picked = self._values[np.where(found, rows, 0)] if len(self._values) else \
                np.zeros(rows.shape, self._values.dtype)
            return convert_to_tensor(found), convert_to_tensor(picked, self.value_dtype)
        tokens, x = self._positions(keys, what)
        if len(self._sorted_keys) == 0:   # (an empty table: nothing is found)
            zeros = math_ops.zeros_like(tokens)
            if self.value_dtype is string:
                return ops.equal(zeros, 1), convert_to_tensor(
                    np.full(x.shape, b"", dtype=object), string)
            return ops.equal(zeros, 1), ops.cast(zeros, self.value_dtype)
        flat = ops.reshape(tokens, [-1])
        at = ops.minimum(math_ops.lower_bound_search(self._sorted_keys, flat),
                         len(self._sorted_keys) - 1)
        found = ops.equal(ops.gather(convert_to_tensor(self._sorted_keys), at), flat)
        found = ops.reshape(found, math_ops.shape(tokens))
        if self.value_dtype is string:
            if x._symbolic:
                raise errors.InvalidArgumentError(
                    f"{what}: a table of string values is looked up on the host, not inside "
                    "@kiln.function", errors.user_location())
            picked = self._sorted_values[np.asarray(at.numpy())].reshape(x.shape)
            return found, convert_to_tensor(picked, string)
        values = ops.gather(convert_to_tensor(self._sorted_values, self.value_dtype), at)
        return found, ops.reshape(values, math_ops.shape(tokens))


def _where_strings(found, values, default):
    out = np.where(np.asarray(found.numpy()), values._impl.array, default._impl.array[()])
    return convert_to_tensor(out.astype(object), string)


class StaticVocabularyTable:
    """Keys to int64 ids: the table's for known keys, size + bucket for the
    others, the bucket Fingerprint64 of the key (its decimal string for an
    integer) modulo num_oov_buckets (tf.lookup.StaticVocabularyTable). It
    hashes on the host, so it runs eagerly (as input preprocessing)."""

    def __init__(self, initializer, num_oov_buckets, lookup_key_dtype=None, name=None,
                 experimental_is_anonymous=False):
        if int(num_oov_buckets) <= 0:
            raise ValueError("StaticVocabularyTable: num_oov_buckets must be > 0")
        self._buckets = int(num_oov_buckets)
        self._table = None
        if initializer is not None:
            if initializer.value_dtype != int64:
                raise TypeError(f"StaticVocabularyTable: the values must be int64, got "
                                f"{initializer.value_dtype.name}")
            if initializer.key_dtype not in (int64, string) and \
                    not initializer.key_dtype.is_integer:
                raise TypeError(f"StaticVocabularyTable: the keys must be integers or "
                                f"strings, got {initializer.key_dtype.name}")
            self._table = StaticHashTable(initializer, -1)
        self.key_dtype = self._table.key_dtype if self._table else string
        self.value_dtype = int64

    def size(self, name=None):
        known = len(self._table._keys) if self._table else 0
        return convert_to_tensor(np.int64(known + self._buckets))

    def lookup(self, keys, name=None):
        if hasattr(keys, "with_values"):
            return keys.with_values(self.lookup(keys.values))
        x = keys if isinstance(keys, Tensor) else convert_to_tensor(
            keys, string if self.key_dtype is string else None)
        if x._symbolic:
            raise errors.InvalidArgumentError(
                "StaticVocabularyTable.lookup hashes keys on the host: call it eagerly "
                "(e.g. in Dataset.map), not inside @kiln.function", errors.user_location())
        if (x.dtype is string) != (self.key_dtype is string):
            raise TypeError(f"StaticVocabularyTable.lookup: the keys are "
                            f"{self.key_dtype.name}, got {x.dtype.name}")
        text = x._impl.array if x.dtype is string else strings.as_string(x)._impl.array
        known = len(self._table._keys) if self._table else 0
        buckets = _hashing.to_hash_bucket_fast(np.asarray(text, dtype=object).reshape(x.shape),
                                               self._buckets) + known
        if self._table is None:
            return convert_to_tensor(buckets.astype(np.int64))
        found, values = self._table._find(x, "StaticVocabularyTable.lookup")
        return convert_to_tensor(np.where(np.asarray(found.numpy()), np.asarray(values.numpy()),
                                          buckets).astype(np.int64))

    __getitem__ = lookup


class MutableHashTable:
    """A map that insert() and remove() change, with a default for
    missing keys (tf.lookup.experimental.MutableHashTable). It lives on the
    host: its methods run eagerly."""

    def __init__(self, key_dtype, value_dtype, default_value, name=None,
                 checkpoint=True, experimental_is_anonymous=False):
        self.key_dtype, self.value_dtype = as_dtype(key_dtype), as_dtype(value_dtype)
        self.default_value = convert_to_tensor(default_value, self.value_dtype)
        self._entries = {}

    def _flat(self, values, dtype, what):
        if isinstance(values, Tensor) and values._symbolic:
            raise errors.InvalidArgumentError(
                f"MutableHashTable.{what} runs eagerly (the table lives on the host)",
                errors.user_location())
        t = convert_to_tensor(values, dtype)
        return (t._impl.array if dtype is string else np.asarray(t.numpy())), t.shape

    def insert(self, keys, values, name=None):
        k, _ = self._flat(keys, self.key_dtype, "insert")
        v, _ = self._flat(values, self.value_dtype, "insert")
        if k.shape != v.shape[:k.ndim]:
            raise errors.InvalidArgumentError(
                f"MutableHashTable.insert: keys {list(k.shape)} and values {list(v.shape)}",
                errors.user_location())
        for key, value in zip(k.reshape(-1).tolist(),
                              v.reshape((k.size,) + v.shape[k.ndim:])):
            self._entries[key] = value

    def remove(self, keys, name=None):
        k, _ = self._flat(keys, self.key_dtype, "remove")
        for key in k.reshape(-1).tolist():
            self._entries.pop(key, None)

    def lookup(self, keys, dynamic_default_values=None, name=None):
        k, shape = self._flat(keys, self.key_dtype, "lookup")
        default = np.asarray(self.default_value._impl.array if self.value_dtype is string
                             else self.default_value.numpy())
        rows = [self._entries.get(key, default) for key in k.reshape(-1).tolist()]
        inner = default.shape
        out = np.empty((len(rows),) + inner, dtype=object if self.value_dtype is string
                       else self.value_dtype.as_numpy_dtype)
        for i, row in enumerate(rows):
            out[i] = row
        return convert_to_tensor(out.reshape(tuple(shape) + inner), self.value_dtype)

    __getitem__ = lookup

    def size(self, name=None):
        return convert_to_tensor(np.int64(len(self._entries)))

    def export(self, name=None):
        keys = list(self._entries)
        values = [self._entries[k] for k in keys]
        key_array = np.empty(len(keys), dtype=object) if self.key_dtype is string else \
            np.array(keys, self.key_dtype.as_numpy_dtype)
        if self.key_dtype is string:
            key_array[:] = keys
        return (convert_to_tensor(key_array, self.key_dtype),
                convert_to_tensor(np.array(values, dtype=object if self.value_dtype is string
                                           else self.value_dtype.as_numpy_dtype),
                                  self.value_dtype))


class experimental:  # noqa: N801 (TensorFlow's namespace)
    MutableHashTable = MutableHashTable
