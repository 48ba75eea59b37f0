"""kiln.strings: operations on string tensors (tf.strings).

String tensors hold bytes in host memory (str values are encoded as
UTF-8), and these ops run on the host, element by element, as the text
preprocessing of an input pipeline: lower-casing, splitting into tokens,
n-grams, hashing into buckets, parsing numbers. Their numeric results are
ordinary tensors for the compiled code. Regular expressions are Python's
`re` on bytes (RE2's syntax for the common constructs: classes,
alternation, groups, repetition; `\\1` in a rewrite).
"""

import re

import numpy as np

from . import _hashing, errors
from . import errors as _errors
from .dtypes import as_dtype, float32, int32, int64, string
from .printing import _element, _format
from .ragged import RaggedTensor
from .tensor import HostStrings, Tensor, convert_to_tensor


def _values(x, what):
    """The object array of bytes of string tensor (or strings) `x`."""
    if isinstance(x, RaggedTensor):
        raise TypeError(f"kiln.strings.{what}: takes a dense string tensor; for a "
                        "RaggedTensor apply it to .values and use with_values")
    t = convert_to_tensor(x, string) if not isinstance(x, Tensor) else x
    if t.dtype is not string:
        raise TypeError(f"kiln.strings.{what}: expects a string tensor, got "
                        f"{t.dtype.name}")
    return t._impl.array


def _tensor(array):
    """A string tensor of an object array of bytes."""
    array = np.array(array, dtype=object, copy=True)
    array.flags.writeable = False
    return Tensor(HostStrings(array))


def _each(fn, x, what, out=None):
    """fn applied to every element of string tensor `x`: a string tensor,
    or a tensor of dtype `out`; a RaggedTensor's values, in place. Text
    that is not UTF-8 where the op decodes it is an InvalidArgumentError."""
    if isinstance(x, RaggedTensor):
        return x.with_values(_each(fn, x.values, what, out))
    values = _values(x, what)
    result = np.empty(values.shape, dtype=object)
    if values.size:
        try:
            result[...] = np.frompyfunc(fn, 1, 1)(values)
        except UnicodeDecodeError as e:
            raise errors.InvalidArgumentError(
                f"kiln.strings.{what}: a string is not valid UTF-8 ({e})",
                errors.user_location()) from None
    if out is None:
        return _tensor(result)
    return convert_to_tensor(result.astype(as_dtype(out).as_numpy_dtype), out)


def _check_encoding(encoding, what):
    if encoding not in ("", "utf-8", "UTF-8"):
        raise ValueError(f"kiln.strings.{what}: encoding must be '' (ASCII) or 'utf-8', "
                         f"got {encoding!r}")
    return bool(encoding)


def lower(input, encoding="", name=None):  # noqa: A002 (TensorFlow's names)
    """Lower-cased strings: ASCII letters only, or every letter with
    encoding="utf-8"."""
    if _check_encoding(encoding, "lower"):
        return _each(lambda b: b.decode("utf-8").lower().encode("utf-8"), input, "lower")
    return _each(bytes.lower, input, "lower")


def upper(input, encoding="", name=None):  # noqa: A002
    """Upper-cased strings (as lower)."""
    if _check_encoding(encoding, "upper"):
        return _each(lambda b: b.decode("utf-8").upper().encode("utf-8"), input, "upper")
    return _each(bytes.upper, input, "upper")


def strip(input, name=None):  # noqa: A002
    """The strings without leading and trailing ASCII whitespace."""
    return _each(bytes.strip, input, "strip")


def _utf8_length(b):
    return len(b) - sum(1 for c in b if c & 0xC0 == 0x80)


def length(input, unit="BYTE", name=None):  # noqa: A002
    """Each string's length (int32) in bytes, or in UTF-8 characters
    with unit="UTF8_CHAR"."""
    if unit == "BYTE":
        return _each(len, input, "length", int32)
    if unit == "UTF8_CHAR":
        return _each(_utf8_length, input, "length", int32)
    raise ValueError(f"kiln.strings.length: unit must be 'BYTE' or 'UTF8_CHAR', got {unit!r}")


def substr(input, pos, len, unit="BYTE", name=None):  # noqa: A002
    """`len` bytes (or UTF-8 characters) of each string from `pos` (from
    the end when negative); `pos` and `len` broadcast with `input`. A
    position outside a string is an error, as TensorFlow's."""
    values = _values(input, "substr")
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise ValueError(f"kiln.strings.substr: unit must be 'BYTE' or 'UTF8_CHAR', got "
                         f"{unit!r}")
    pos, count = np.asarray(pos, np.int64), np.asarray(len, np.int64)
    try:
        values, pos, count = np.broadcast_arrays(values, pos, count)
    except ValueError:
        raise errors.InvalidArgumentError(
            f"kiln.strings.substr: pos {list(pos.shape)} and len {list(count.shape)} do "
            f"not broadcast with the strings' shape {list(values.shape)}",
            errors.user_location()) from None
    out = np.empty(values.shape, dtype=object)
    for index in np.ndindex(values.shape):
        b = values[index]
        text = b.decode("utf-8") if unit == "UTF8_CHAR" else b
        p, n = int(pos[index]), int(count[index])
        size = builtins_len(text)
        if p < 0:
            p += size
        if not 0 <= p <= size:
            raise errors.InvalidArgumentError(
                f"kiln.strings.substr: pos {int(pos[index])} is out of range for "
                f"{b!r} (length {size})", errors.user_location())
        piece = text[p:p + max(n, 0)]
        out[index] = piece.encode("utf-8") if unit == "UTF8_CHAR" else piece
    return _tensor(out)


builtins_len = len


def join(inputs, separator="", name=None):
    """The strings of `inputs` (a list of string tensors, broadcast
    together) joined element by element with `separator`."""
    arrays = [_values(x, "join") for x in inputs]
    if not arrays:
        raise ValueError("kiln.strings.join: needs at least one input")
    sep = separator.encode("utf-8") if isinstance(separator, str) else bytes(separator)
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        raise errors.InvalidArgumentError(
            "kiln.strings.join: shapes " + ", ".join(str(list(a.shape)) for a in arrays) +
            " do not broadcast", errors.user_location()) from None
    out = np.empty(arrays[0].shape, dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = sep.join(a[index] for a in arrays)
    return _tensor(out)


def _quoted(value):
    """A string element as TensorFlow's tensor summaries write it: in
    double quotes, C-escaped (\\n, \\", octal for other control bytes),
    bytes of 0x80 and above as they are (Utf8SafeCEscape)."""
    out = []
    for b in bytes(value):
        if b in _ESCAPES:
            out.append(_ESCAPES[b])
        elif b < 0x20 or b == 0x7F:
            out.append("\\%03o" % b)
        else:
            out.append(bytes([b]).decode("latin-1") if b < 0x80 else
                       bytes([b]).decode("utf-8", "surrogateescape"))
    return '"' + "".join(out) + '"'


_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'",
            0x5C: "\\\\"}


def _number(value):
    """A number as TensorFlow's summaries write it (printing._element);
    complex values as "?"."""
    if isinstance(value, (np.complexfloating, complex)):
        return "?"
    return _element(value)


def format(template, inputs, placeholder="{}", summarize=3, name=None):  # noqa: A001
    """`template` with each `placeholder` replaced by the next tensor of
    `inputs` written as tf.print writes it (`summarize` elements at each
    end of a long dimension, -1 for all; strings in double quotes): a
    scalar string tensor (tf.strings.format)."""
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    pieces = str(template).split(placeholder)
    if len(pieces) - 1 != len(items):
        raise ValueError(f"kiln.strings.format: the template expects {len(pieces) - 1} "
                         f"tensors, but the inputs have {len(items)}")
    limit = -1 if summarize is None else int(summarize)
    texts = []
    for item in items:
        t = convert_to_tensor(item)
        if t.dtype is string:
            texts.append(_format(t._impl.array, limit, _quoted))
        else:
            texts.append(_format(np.asarray(t.numpy()), limit, _number))
    out = pieces[0] + "".join(text + piece for text, piece in zip(texts, pieces[1:]))
    return _tensor(np.array(out.encode("utf-8", "surrogateescape"), dtype=object))


def unsorted_segment_join(inputs, segment_ids, num_segments, separator="", name=None):
    """The strings of each segment joined with `separator`, in the order
    they come (tf.strings.unsorted_segment_join): `segment_ids` is a prefix
    of the inputs' shape; the result is [num_segments] + the rest; an
    empty segment is b"", a negative id drops its strings."""
    values = _values(inputs, "unsorted_segment_join")
    ids = np.asarray(segment_ids.numpy() if isinstance(segment_ids, Tensor) else segment_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError("kiln.strings.unsorted_segment_join: segment_ids must be integers")
    if ids.ndim == 0 or ids.shape != values.shape[:ids.ndim]:
        raise errors.InvalidArgumentError(
            f"kiln.strings.unsorted_segment_join: segment_ids of shape {list(ids.shape)} "
            f"must be a prefix of the inputs' shape {list(values.shape)}",
            errors.user_location())
    n = int(num_segments.numpy() if isinstance(num_segments, Tensor) else num_segments)
    if (ids >= n).any():
        raise errors.InvalidArgumentError(
            f"kiln.strings.unsorted_segment_join: a segment id {int(ids.max())} is not "
            f"below num_segments = {n}", errors.user_location())
    sep = separator.encode("utf-8") if isinstance(separator, str) else bytes(separator)
    rest = values.shape[ids.ndim:]
    flat_ids, flat = ids.reshape(-1), values.reshape((-1,) + rest)
    members = [[] for _ in range(n)]
    for k, s in enumerate(flat_ids.tolist()):
        if s >= 0:
            members[s].append(k)
    out = np.empty((n,) + rest, dtype=object)
    for index in np.ndindex(rest):
        for s in range(n):
            out[(s,) + index] = sep.join(flat[(k,) + index] for k in members[s])
    return _tensor(out)


def reduce_join(inputs, axis=None, keepdims=False, separator="", name=None):
    """The strings joined with `separator` along `axis` (every axis when
    None), in order; a RaggedTensor's rows joined along its last axis."""
    if isinstance(inputs, RaggedTensor):
        sep = separator.encode("utf-8") if isinstance(separator, str) else bytes(separator)
        if axis is None:
            return _tensor(np.array(sep.join(_values(inputs.values, "reduce_join")),
                                    dtype=object))
        if int(axis) not in (1, -1):
            raise ValueError("kiln.strings.reduce_join: a RaggedTensor is joined along its "
                             "rows (axis -1) or whole (axis None)")
        rows = np.empty(len(inputs), dtype=object)
        rows[:] = [sep.join(_values(row, "reduce_join")) for row in inputs]
        return _tensor(rows.reshape(-1, 1) if keepdims else rows)
    values = _values(inputs, "reduce_join")
    sep = separator.encode("utf-8") if isinstance(separator, str) else bytes(separator)
    axes = tuple(range(values.ndim)) if axis is None else \
        tuple(int(a) % max(values.ndim, 1) for a in np.atleast_1d(np.asarray(axis)))
    for a in axes:
        if not 0 <= a < values.ndim:
            raise errors.InvalidArgumentError(
                f"kiln.strings.reduce_join: axis {axis} is out of range for rank "
                f"{values.ndim}", errors.user_location())
    kept = [a for a in range(values.ndim) if a not in axes]
    moved = np.transpose(values, kept + list(axes)) if values.ndim else values
    shape = [values.shape[a] for a in kept]
    flat = moved.reshape(int(np.prod(shape, dtype=np.int64)) if shape else 1, -1)
    out = np.empty(flat.shape[0], dtype=object)
    for i, row in enumerate(flat):
        out[i] = sep.join(row)
    out = out.reshape(shape)
    if keepdims:
        out = out.reshape([1 if a in axes else values.shape[a] for a in range(values.ndim)])
    return _tensor(out)


def _pattern(pattern, what):
    if isinstance(pattern, Tensor):
        pattern = pattern.numpy()
    if isinstance(pattern, str):
        pattern = pattern.encode("utf-8")
    try:
        return re.compile(bytes(pattern))
    except re.error as e:
        raise errors.InvalidArgumentError(
            f"kiln.strings.{what}: invalid regular expression {pattern!r}: {e}",
            errors.user_location()) from None


def regex_full_match(input, pattern, name=None):  # noqa: A002
    """Whether each whole string matches `pattern` (bool)."""
    compiled = _pattern(pattern, "regex_full_match")
    return _each(lambda b: compiled.fullmatch(b) is not None, input, "regex_full_match",
                 "bool")


def regex_replace(input, pattern, rewrite, replace_global=True, name=None):  # noqa: A002
    """Each string with the matches of `pattern` replaced by `rewrite`
    (`\\1` for a group; only the first match unless replace_global)."""
    compiled = _pattern(pattern, "regex_replace")
    rewrite = _rewrite(rewrite.encode("utf-8") if isinstance(rewrite, str) else bytes(rewrite))
    count = 0 if replace_global else 1
    return _each(lambda b: compiled.sub(rewrite, b, count=count), input, "regex_replace")


static_regex_replace = regex_replace


def _rewrite(rewrite):
    """RE2's rewrite string in Python's syntax: \\0-\\9 are the groups (the
    whole match for 0, where Python would read a NUL), \\\\ a backslash."""
    out, i = [], 0
    while i < len(rewrite):
        c = rewrite[i:i + 1]
        if c == b"\\" and i + 1 < len(rewrite):
            nxt = rewrite[i + 1:i + 2]
            out.append(b"\\g<" + nxt + b">" if nxt.isdigit() else b"\\\\" if nxt == b"\\"
                       else c + nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return b"".join(out)


def _split_one(b, sep, maxsplit):
    # (with a separator an empty string is one empty piece, as SplitV2)
    return b.split(sep, maxsplit)


def split(input, sep=None, maxsplit=-1, name=None):  # noqa: A002
    """The strings split at `sep` (at runs of whitespace, dropping empty
    pieces, when None; at most `maxsplit` splits): a 1-D string tensor for
    a scalar, a RaggedTensor (one row per string) for a vector."""
    values = _values(input, "split")
    if isinstance(sep, str):
        sep = sep.encode("utf-8")
    if sep == b"":
        raise ValueError("kiln.strings.split: sep must not be empty (use bytes_split)")
    if values.ndim == 0:
        return _tensor(np.array(_split_one(values[()], sep, maxsplit) or [], dtype=object)
                       .reshape(-1))
    if values.ndim != 1:
        raise ValueError(f"kiln.strings.split: takes a scalar or a vector of strings, got "
                         f"shape {list(values.shape)} (Kiln's RaggedTensor has one ragged "
                         "dimension)")
    return _ragged([_split_one(b, sep, maxsplit) for b in values])


def _ragged(rows):
    lengths = [len(r) for r in rows]
    flat = np.empty(sum(lengths), dtype=object)
    flat[:] = [e for r in rows for e in r]
    return RaggedTensor.from_row_lengths(_tensor(flat), lengths)


def bytes_split(input, name=None):  # noqa: A002
    """Each string as its single bytes (a RaggedTensor for a vector)."""
    values = _values(input, "bytes_split")
    pieces = (lambda b: [b[i:i + 1] for i in range(len(b))])
    if values.ndim == 0:
        return _tensor(np.array(pieces(values[()]) or [], dtype=object).reshape(-1))
    if values.ndim != 1:
        raise ValueError("kiln.strings.bytes_split: takes a scalar or a vector of strings")
    return _ragged([pieces(b) for b in values])


def unicode_split(input, input_encoding, errors="replace",  # noqa: A002
                  replacement_char=65533, name=None):
    """Each string as its UTF-8 characters (a RaggedTensor for a vector);
    invalid bytes become replacement_char ("replace"), are dropped
    ("ignore") or are an error ("strict")."""
    if input_encoding not in ("UTF-8", "utf-8"):
        raise ValueError(f"kiln.strings.unicode_split: input_encoding must be UTF-8, got "
                         f"{input_encoding!r}")
    if errors not in ("replace", "ignore", "strict"):
        raise ValueError(f"kiln.strings.unicode_split: errors must be 'replace', 'ignore' or "
                         f"'strict', got {errors!r}")
    values = _values(input, "unicode_split")
    mode, replacement = errors, chr(int(replacement_char))

    def pieces(b):
        try:
            text = b.decode("utf-8", "strict" if mode == "strict" else "replace")
        except UnicodeDecodeError as e:
            raise _errors.InvalidArgumentError(
                f"kiln.strings.unicode_split: invalid UTF-8 in {b!r} ({e})",
                _errors.user_location()) from None
        if mode == "ignore":
            text = b.decode("utf-8", "ignore")
        elif replacement != "\ufffd":
            text = text.replace("\ufffd", replacement)
        return [c.encode("utf-8") for c in text]
    if values.ndim == 0:
        return _tensor(np.array(pieces(values[()]) or [], dtype=object).reshape(-1))
    if values.ndim != 1:
        raise ValueError("kiln.strings.unicode_split: takes a scalar or a vector of strings")
    return _ragged([pieces(b) for b in values])


def _utf8(what, encoding):
    if encoding not in ("UTF-8", "utf-8"):
        raise ValueError(f"kiln.strings.{what}: only UTF-8 is supported, got {encoding!r}")


def unicode_decode(input, input_encoding, errors="replace",  # noqa: A002
                   replacement_char=65533, replace_control_characters=False, name=None):
    """Each string's code points (int32): a vector for a scalar, a
    RaggedTensor of rows for a vector (tf.strings.unicode_decode); invalid
    bytes become replacement_char, are dropped ("ignore") or are an error
    ("strict")."""
    _utf8("unicode_decode", input_encoding)
    chars = unicode_split(input, input_encoding, errors, replacement_char)

    def points(values):
        out = np.array([ord(c.decode("utf-8")) for c in _values(values, "unicode_decode")],
                       np.int32)
        if replace_control_characters:
            out = np.where((out < 32) | ((out >= 127) & (out < 160)), replacement_char, out)
        return out
    if isinstance(chars, RaggedTensor):
        return chars.with_values(convert_to_tensor(points(chars.values)))
    return convert_to_tensor(points(chars))


def unicode_encode(input, output_encoding, errors="replace",  # noqa: A002
                   replacement_char=65533, name=None):
    """Strings of code points (tf.strings.unicode_encode): a vector gives a
    scalar string, [n, k] or a RaggedTensor of rows n strings; a value
    that is no code point becomes replacement_char, or is an error with
    errors="strict"."""
    _utf8("unicode_encode", output_encoding)

    def encode(row):
        out = []
        for value in np.asarray(row).reshape(-1).tolist():
            if not (0 <= value <= 0x10FFFF) or 0xD800 <= value <= 0xDFFF:
                if errors == "strict":
                    raise _errors.InvalidArgumentError(
                        f"kiln.strings.unicode_encode: {value} is not a code point",
                        _errors.user_location())
                if errors == "ignore":
                    continue
                value = int(replacement_char)
            out.append(chr(value))
        return "".join(out).encode("utf-8")
    if isinstance(input, RaggedTensor):
        rows = np.empty(len(input), dtype=object)
        rows[:] = [encode(r.numpy()) for r in input]
        return _tensor(rows)
    x = np.asarray(convert_to_tensor(input).numpy())
    if x.ndim == 1:
        return _tensor(np.array(encode(x), dtype=object))
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(len(flat), dtype=object)
    out[:] = [encode(r) for r in flat]
    return _tensor(out.reshape(x.shape[:-1]))


def _ngrams_of(tokens, widths, sep, pad, padding_width, preserve_short):
    tokens = list(tokens)
    out = []
    for n in widths:
        width = n - 1 if padding_width is None else min(int(padding_width), n - 1)
        row = [pad[0]] * width + tokens + [pad[1]] * width if pad else tokens
        out.extend(sep.join(row[i:i + n]) for i in range(len(row) - n + 1))
    if not out and preserve_short and tokens:
        # (TensorFlow's kernel: one n-gram of the whole row, padded by
        # padding_width on each side, when no width gave any)
        width = int(padding_width) if pad and padding_width is not None else 0
        out = [sep.join([pad[0]] * width + tokens + [pad[1]] * width) if pad
               else sep.join(tokens)]
    return out


def ngrams(data, ngram_width, separator=" ", pad_values=None, padding_width=None,
           preserve_short_sequences=False, name=None):
    """The n-grams of each row of tokens (a 1-D string tensor, or a
    RaggedTensor of rows), for each width of `ngram_width` in turn, joined
    with `separator`; `pad_values` (a string or a (left, right) pair)
    pads each row with `padding_width` (n - 1 by default) tokens per side;
    preserve_short_sequences keeps a row too short for any n-gram as one."""
    widths = [int(ngram_width)] if np.ndim(ngram_width) == 0 else [int(w) for w in ngram_width]
    if any(w < 1 for w in widths):
        raise ValueError(f"kiln.strings.ngrams: widths must be positive, got {widths}")
    sep = separator.encode("utf-8") if isinstance(separator, str) else bytes(separator)
    pad = None
    if pad_values is not None:
        pair = (pad_values, pad_values) if isinstance(pad_values, (str, bytes)) \
            else tuple(pad_values)
        pad = tuple(p.encode("utf-8") if isinstance(p, str) else bytes(p) for p in pair)
    elif padding_width is not None:
        raise ValueError("kiln.strings.ngrams: padding_width needs pad_values")
    if isinstance(data, RaggedTensor):
        values = _values(data.values, "ngrams")
        rows = [values[a:b] for a, b in zip(data._splits[:-1], data._splits[1:])]
        return _ragged([_ngrams_of(r, widths, sep, pad, padding_width,
                                   preserve_short_sequences) for r in rows])
    values = _values(data, "ngrams")
    if values.ndim != 1:
        raise ValueError(f"kiln.strings.ngrams: takes a vector of tokens or a RaggedTensor "
                         f"of rows, got shape {list(values.shape)}")
    grams = _ngrams_of(values, widths, sep, pad, padding_width, preserve_short_sequences)
    return _tensor(np.array(grams, dtype=object).reshape(-1))


def to_number(string_tensor, out_type=float32, name=None):
    """The numbers the strings spell (float32 by default; an integer
    out_type takes integers only); an unparsable string is an
    InvalidArgumentError naming it."""
    out = as_dtype(out_type)
    if out.mlir not in ("f32", "f64", "i32", "i64"):
        raise TypeError(f"kiln.strings.to_number: out_type must be float32, float64, int32 "
                        f"or int64, got {out.name}")
    values = _values(string_tensor, "to_number")
    result = np.empty(values.shape, out.as_numpy_dtype)
    for index in np.ndindex(values.shape):
        b = values[index]
        try:
            text = b.decode("ascii").strip()
            if not text or "_" in text:  # (Python's literals allow 1_000)
                raise ValueError
            number = float(text) if out.is_floating else int(text, 10)
            if out.is_integer and not np.iinfo(out.as_numpy_dtype).min <= number <= \
                    np.iinfo(out.as_numpy_dtype).max:
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise errors.InvalidArgumentError(
                f"kiln.strings.to_number: {b!r} is not a valid {out.name} number",
                errors.user_location()) from None
        result[index] = number
    return convert_to_tensor(result, out)


string_to_number = to_number


def as_string(input, precision=-1, scientific=False, shortest=False, width=-1,  # noqa: A002
              fill="", name=None):
    """The numbers as strings, formatted as TensorFlow's as_string does
    (printf's %f, %e with scientific, %g with shortest, `precision` digits;
    padded to `width` with spaces, or zeros with fill="0"; bools as
    "true"/"false")."""
    x = convert_to_tensor(input)
    if x.dtype is string:
        return x
    if x.dtype.is_complex:  # ("(re,im)", each part formatted alike)
        parts = [as_string(p, precision, scientific, shortest, width, fill)._impl.array
                 for p in (x._impl.real, x._impl.imag)]
        joined = np.empty(parts[0].shape, dtype=object)
        for index in np.ndindex(joined.shape):
            joined[index] = b"(" + parts[0][index] + b"," + parts[1][index] + b")"
        return _tensor(joined)
    if scientific and shortest:
        raise ValueError("kiln.strings.as_string: scientific and shortest are exclusive")
    if fill not in ("", " ", "0"):
        raise ValueError(f"kiln.strings.as_string: fill must be '', ' ' or '0', got {fill!r}")
    flags = ("0" if fill == "0" else "") + (str(width) if width >= 0 else "")
    values = np.asarray(x.numpy())
    if x.dtype.is_floating:
        spec = "%" + flags + (f".{precision}" if precision >= 0 else "") + \
            ("e" if scientific else "g" if shortest else "f")
        fmt = (lambda v: (spec % v).encode())
    elif x.dtype.is_integer:
        if precision >= 0 or scientific or shortest:
            raise ValueError("kiln.strings.as_string: precision, scientific and shortest "
                             "are for floating-point inputs")
        spec = "%" + flags + "d"
        fmt = (lambda v: (spec % v).encode())
    else:
        fmt = (lambda v: b"true" if v else b"false")
    out = np.empty(values.shape, dtype=object)
    for index in np.ndindex(values.shape):
        out[index] = fmt(values[index])
    return _tensor(out)


def _buckets(num_buckets, what):
    n = int(num_buckets)
    if n < 1:
        raise ValueError(f"kiln.strings.{what}: num_buckets must be >= 1, got {n}")
    return n


def to_hash_bucket_fast(input, num_buckets, name=None):  # noqa: A002
    """Each string's bucket: Fingerprint64 (farmhash, TensorFlow's) modulo
    num_buckets, int64; the same bucket TensorFlow gives."""
    n = _buckets(num_buckets, "to_hash_bucket_fast")
    if isinstance(input, RaggedTensor):
        return input.with_values(to_hash_bucket_fast(input.values, n))
    return convert_to_tensor(_hashing.to_hash_bucket_fast(
        _values(input, "to_hash_bucket_fast"), n).astype(np.int64), int64)


def to_hash_bucket_strong(input, num_buckets, key, name=None):  # noqa: A002
    """Each string's bucket: SipHash-2-4 with the 128-bit `key` (two
    integers) modulo num_buckets, int64; TensorFlow's keyed hash."""
    n = _buckets(num_buckets, "to_hash_bucket_strong")
    key = [int(k) for k in key]
    if len(key) != 2 or any(not 0 <= k < 1 << 64 for k in key):
        raise ValueError(f"kiln.strings.to_hash_bucket_strong: key must be two integers in "
                         f"[0, 2**64), got {key}")
    return convert_to_tensor(_hashing.to_hash_bucket_strong(
        _values(input, "to_hash_bucket_strong"), n, key).astype(np.int64), int64)

