"""kiln.summary: scalars per step, written to a CSV file that a plot can be
made from (one row per value: step, name, value, wall time), and to a
TensorBoard event file in the same directory with histograms and images.

    writer = kiln.summary.create_file_writer("logs/run1")
    with writer.as_default():
        kiln.summary.scalar("loss", loss, step=step)
        kiln.summary.histogram("weights", w, step=step)
"""

import csv
import os
import threading
import time

_local = threading.local()


class SummaryWriter:
    def __init__(self, logdir):
        self.logdir = str(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        self.path = os.path.join(self.logdir, "scalars.csv")
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        self._file = open(self.path, "a", newline="")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(["step", "name", "value", "wall_time"])
        self._file.flush()
        # The CSV's rows are mirrored into a TensorBoard event file at each
        # flush, those compiled code appended included (from here on).
        self._mirrored = os.path.getsize(self.path)
        self._events = None

    def _event_file(self):
        if self._events is None:
            from .tensorboard import EventFileWriter
            self._events = EventFileWriter(self.logdir)
        return self._events

    def _check_open(self):
        if self._file.closed:
            raise ValueError(f"the summary writer for {self.logdir} is closed")

    def scalar(self, name, data, step):
        self._check_open()
        self._csv.writerow([int(step), name, float(data), f"{time.time():.3f}"])

    def _mirror(self):
        """The CSV rows written since the last flush, as event records."""
        with open(self.path, newline="") as f:
            f.seek(self._mirrored)
            text = f.read()
        complete = text[:text.rfind("\n") + 1]   # (whole rows only)
        self._mirrored += len(complete.encode())
        for row in csv.reader(complete.splitlines()):
            if len(row) == 4 and row[0] != "step":
                self._event_file().scalars(int(row[0]), {row[1]: float(row[2])},
                                           wall_time=float(row[3]))

    def as_default(self):
        writer = self

        class _Default:
            def __enter__(self):
                self._previous = getattr(_local, "writer", None)
                _local.writer = writer
                return writer

            def __exit__(self, *exc):
                _local.writer = self._previous
                writer.flush()
                return False
        return _Default()

    def set_as_default(self):
        _local.writer = self

    def flush(self):
        if not self._file.closed:
            self._file.flush()
            self._mirror()

    def close(self):
        if not self._file.closed:
            self.flush()
            self._file.close()
            if self._events is not None:
                self._events.close()


def create_file_writer(logdir):
    return SummaryWriter(logdir)


def scalar(name, data, step):
    """Records `data` under `name` at `step` in the default writer; returns
    False if there is none (as TensorFlow does). Inside @kiln.function the
    default writer when tracing is the one the compiled code appends to,
    each time it runs (a kiln.summary_scalar op)."""
    writer = getattr(_local, "writer", None)
    if writer is None:
        return False
    from . import errors, tracing
    from .core import attributes, widen
    from .tensor import Tensor, convert_to_tensor
    from .variables import Variable
    trace = tracing.current_trace()
    if trace is None:
        writer.scalar(name, data, step)
        return True
    # Inside a trace: values known only when the code runs (a variable
    # such as optimizer.iterations is read in the trace).
    data = data.value() if isinstance(data, Variable) else data
    step = step.value() if isinstance(step, Variable) else step
    if not any(isinstance(v, Tensor) and v._symbolic for v in (data, step)):
        writer.scalar(name, data, step)  # (constants: written while tracing)
        return True
    value = convert_to_tensor(data)
    if not (value.dtype.is_floating or value.dtype.is_integer) or value.shape:
        raise errors.InvalidArgumentError(
            f"kiln.summary.scalar({name!r}): the value must be a number, got "
            f"{value.dtype.name}{list(value.shape)}", errors.user_location())
    step = convert_to_tensor(step)
    if step.shape or not step.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"kiln.summary.scalar({name!r}): the step must be an integer scalar",
            errors.user_location())
    value, step = widen(value), widen(step)
    writer.flush()
    trace.summary_writers.add(writer)
    trace.op("summary_scalar", [value, step],
             attributes(tag=str(name), path=str(writer.path)),
             [], errors.user_location())
    return True


def _eager_value(what, name, data, step):
    """`data` and `step` as NumPy values, or a clear error inside a trace
    (histograms and images are written by Python, not by compiled code)."""
    from . import errors
    from .tensor import Tensor
    from .variables import Variable
    import numpy as np
    values = []
    for v in (data, step):
        v = v.value() if isinstance(v, Variable) else v
        if isinstance(v, Tensor) and v._symbolic:
            raise errors.UnimplementedError(
                f"kiln.summary.{what}({name!r}) inside @kiln.function: histograms and "
                "images are written eagerly; return the tensor and call it outside "
                "(scalars work inside)", errors.user_location())
        values.append(np.asarray(v.numpy() if isinstance(v, Tensor) else v))
    return values


def histogram(name, data, step, buckets=None, description=None):
    """Records a histogram of `data` (30 equal-width buckets between its
    minimum and maximum, or `buckets`, as TensorFlow 2's) in the default
    writer's event file; returns False if there is no writer."""
    writer = getattr(_local, "writer", None)
    if writer is None:
        return False
    values, step = _eager_value("histogram", name, data, step)
    writer._check_open()
    writer.flush()   # (earlier scalars first)
    writer._event_file().histograms(int(step), {name: values},
                                    buckets=30 if buckets is None else int(buckets))
    return True


def image(name, data, step, max_outputs=3, description=None):
    """Records up to `max_outputs` images of `data` ([k, height, width,
    channels] with 1, 3 or 4 channels: floats in [0, 1] or uint8) as PNG
    in the default writer's event file, tagged `name/image/i` (TensorFlow
    1's form, which TensorBoard shows); returns False if there is no
    writer."""
    writer = getattr(_local, "writer", None)
    if writer is None:
        return False
    images, step = _eager_value("image", name, data, step)
    from . import errors
    import numpy as np
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise errors.InvalidArgumentError(
            f"kiln.summary.image({name!r}): needs [k, height, width, 1|3|4], got shape "
            f"{list(images.shape)}", errors.user_location())
    if images.dtype != np.uint8:
        images = np.clip(np.round(images.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    from .io import encode_png
    from .tensor import convert_to_tensor
    writer._check_open()
    writer.flush()
    count = min(int(max_outputs), images.shape[0])
    tags = [f"{name}/image" if count == 1 else f"{name}/image/{i}" for i in range(count)]
    writer._event_file().images(int(step), {
        tag: (img.shape[0], img.shape[1], img.shape[2],
              encode_png(convert_to_tensor(img)).numpy())
        for tag, img in zip(tags, images[:count])})
    return True


def text(name, data, step, description=None):
    """Records the string `data` (a Python str or bytes, or a scalar string
    tensor) in the default writer's event file, as TensorBoard's text
    plugin reads it; returns False if there is no writer."""
    writer = getattr(_local, "writer", None)
    if writer is None:
        return False
    value, step = _eager_value("text", name, data, step)
    value = value.item() if value.shape == () else value
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes):
        from . import errors
        raise errors.InvalidArgumentError(
            f"kiln.summary.text({name!r}): needs one string, got {value!r}",
            errors.user_location())
    writer._check_open()
    writer.flush()
    writer._event_file().texts(int(step), {name: value})
    return True


def read_scalars(logdir):
    """{name: ([steps], [values])} from a writer's file (for plotting)."""
    out = {}
    with open(os.path.join(str(logdir), "scalars.csv"), newline="") as f:
        for row in csv.DictReader(f):
            steps, values = out.setdefault(row["name"], ([], []))
            steps.append(int(row["step"]))
            values.append(float(row["value"]))
    return out
