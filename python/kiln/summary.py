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
    False if there is none (as TensorFlow does)."""
    writer = getattr(_local, "writer", None)
    if writer is None:
        return False
    writer.scalar(name, data, step)
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
