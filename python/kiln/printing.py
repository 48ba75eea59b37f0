"""kiln.print: tf.print's counterpart. Eagerly it prints at once; inside
@kiln.function it becomes a kiln.print op that the compiled code runs each
time it runs, in program order (the runtime formats and writes the
tensors)."""

import sys

import numpy as np

from . import errors
from .core import attributes, current_trace, widen
from .tensor import Tensor, convert_to_tensor


def _element(value):
    """An element as TensorFlow's summaries write it: strings as their text,
    bools as 1/0, floats
    with %.6g, or %.9g when that does not read back as the same float
    (doubles: %.15g / %.17g; half and bfloat16 widened to float), as
    FloatToBuffer; the runtime's printer writes the same."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    wide = isinstance(value, (np.float64, float))
    value = float(value)
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "-inf" if value < 0 else "inf"
    short, long_, kind = (15, 17, np.float64) if wide else (6, 9, np.float32)
    text = "%.*g" % (short, value)
    return text if kind(text) == kind(value) else "%.*g" % (long_, value)


def _format(array, summarize, element=_element):
    """A tensor's text as tf.print writes it (and the runtime, in compiled
    code; TensorFlow's SummarizeValue with print_v2): nested brackets,
    spaces between elements, NumPy's line breaks, and at each end of a
    dimension at most `limit` elements, where limit is `summarize` (-1:
    all) capped by the element count, with `...` between when the
    dimension is longer than twice that (so an empty tensor with rows
    shows `...`, and a scalar with summarize=0 is `...` alone; a bool
    tensor with nothing to print is empty text)."""
    rank = array.ndim
    if rank and array.dtype.kind in "SUO" and element is _element:
        # (the elements of a string tensor in quotes, as TensorFlow's)
        element = lambda v: '"' + _element(v) + '"'   # noqa: E731
    limit = array.size if summarize < 0 else min(summarize, array.size)
    if limit == 0 and array.dtype == np.bool_:
        return ""   # (TensorFlow's SummarizeArray<bool> with no data to read)
    if rank == 0:
        return element(array[()]) if limit > 0 else "..."

    def dims(d, index):
        if d == rank:
            return element(array[index])
        n = array.shape[d]
        separator = " " if d + 1 == rank else "\n" * (rank - d - 1) + " " * (d + 1)
        text = separator.join(dims(d + 1, index + (i,)) for i in range(min(limit, n)))
        if n > 2 * limit:
            text += separator + "..."
        for i in range(max(limit, n - limit), n):
            text += separator + dims(d + 1, index + (i,))
        return "[" + text + "]"

    return dims(0, ())


def _stream_number(stream):
    """1 or 2 for standard output or error (however Python wraps them),
    else None."""
    if stream is None or stream == "stderr" or stream is sys.stderr or \
            stream is sys.__stderr__:
        return 2
    if stream == "stdout" or stream is sys.stdout or stream is sys.__stdout__:
        return 1
    try:
        number = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return number if number in (1, 2) else None


class _Slot:
    """A tensor's place in the text of a structure (see _unfold)."""

    def __init__(self, k):
        self.k = k

    def __repr__(self):
        return f"\x00{self.k}\x00"


def _unfold(inputs):
    """The inputs with each list, tuple or dict holding tensors turned into
    its Python text around the tensors (TensorFlow prints a structure as
    Python does, its tensors formatted as tensors): texts and tensors,
    with "" separators joining the pieces (a _Joined marks them)."""
    out = []
    for v in inputs:
        if not isinstance(v, (list, tuple, dict)):
            out.append(v)
            continue
        found = []

        def mark(x):
            if isinstance(x, (Tensor, np.ndarray)):
                found.append(x)
                return _Slot(len(found) - 1)
            if isinstance(x, dict):
                return type(x)((k, mark(e)) for k, e in x.items()) \
                    if type(x) is dict else {k: mark(e) for k, e in x.items()}
            if isinstance(x, (list, tuple)):
                items = [mark(e) for e in x]
                return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
            return x
        marked = mark(v)
        text = repr(marked) if found else str(v)
        if not found:
            out.append(text)
            continue
        pieces = text.split("\x00")
        joined = []
        for i, piece in enumerate(pieces):
            joined.append(found[int(piece)] if i % 2 else piece)
        out.append(_Joined(joined))
    return out


class _Joined(list):
    """Pieces of one printed input, written with nothing between them."""


def print(*inputs, output_stream=None, summarize=3, sep=" ", end="\n", name=None):
    """Prints `inputs` (tensors and Python values) separated by `sep` and
    followed by `end`, as tf.print: tensors in full up to `summarize`
    elements at each end of every dimension (None or -1: all), to
    `output_stream` (standard error by default). Inside @kiln.function the
    printing happens when the compiled code runs (to standard output or
    standard error)."""
    summarize = -1 if summarize is None else int(summarize)
    inputs = _unfold(inputs)
    trace = current_trace()
    if trace is None:
        if output_stream is None or isinstance(output_stream, str):
            output_stream = sys.stdout if output_stream == "stdout" else sys.stderr
        def text(v):
            if isinstance(v, _Joined):
                return "".join(text(p) for p in v)
            if isinstance(v, (Tensor, np.ndarray)):
                return _format(np.asarray(v.numpy() if isinstance(v, Tensor) else v), summarize)
            return str(v)
        parts = [text(v) for v in inputs]
        output_stream.write(sep.join(parts) + end)
        if hasattr(output_stream, "flush"):
            output_stream.flush()
        return None
    stream = _stream_number(output_stream)
    if stream is None:
        raise errors.UnimplementedError(
            "kiln.print inside @kiln.function writes to sys.stdout or "
            "sys.stderr only", errors.user_location())
    texts, tensors, pending = [], [], ""
    for i, v in enumerate(inputs):
        if i:
            pending += sep
        for piece in (v if isinstance(v, _Joined) else [v]):
            if isinstance(piece, (Tensor, np.ndarray)):
                texts.append(pending)
                tensors.append(widen(convert_to_tensor(piece)))  # (uint8: as its values)
                pending = ""
            else:
                pending += str(piece)
    texts.append(pending + end)
    trace.op("print", tensors,
             attributes(texts=texts, stream=stream, summarize=summarize), [],
             errors.user_location())
    return None
