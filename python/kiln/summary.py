"""kiln.summary: scalars per step, written to a CSV file that a plot can be
made from (one row per value: step, name, value, wall time).

    writer = kiln.summary.create_file_writer("logs/run1")
    with writer.as_default():
        kiln.summary.scalar("loss", loss, step=step)
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

    def scalar(self, name, data, step):
        if self._file.closed:
            raise ValueError(f"the summary writer for {self.logdir} is closed")
        self._csv.writerow([int(step), name, float(data), f"{time.time():.3f}"])

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

    def close(self):
        if not self._file.closed:
            self._file.close()


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


def read_scalars(logdir):
    """{name: ([steps], [values])} from a writer's file (for plotting)."""
    out = {}
    with open(os.path.join(str(logdir), "scalars.csv"), newline="") as f:
        for row in csv.DictReader(f):
            steps, values = out.setdefault(row["name"], ([], []))
            steps.append(int(row["step"]))
            values.append(float(row["value"]))
    return out
