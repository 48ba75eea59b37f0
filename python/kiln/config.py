"""kiln.config and kiln.device: where ops run.

Kiln runs on the CPU today; GPU code generation comes in a later issue. A
device scope names the device for the ops inside it, and naming a GPU is an
error until there is one to run on.
"""

import re
import sys
import threading

from . import errors

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"

_placement = threading.local()
log_device_placement = False


def set_log_device_placement(enabled):
    """Log each eager op's device to stderr, as TensorFlow does."""
    global log_device_placement
    log_device_placement = bool(enabled)


def get_log_device_placement():
    return log_device_placement


def list_physical_devices(device_type=None):
    if device_type in (None, "CPU"):
        return ["/physical_device:CPU:0"]
    return []


def _parse(name):
    spec = name.strip()
    match = re.fullmatch(r"(?:/job:\w+/replica:\d+/task:\d+)?/?(?:device:)?"
                         r"(cpu|gpu|CPU|GPU)(?::(\d+))?", spec)
    if not match:
        raise errors.InvalidArgumentError(
            f"malformed device name {name!r} (expected '/cpu:0' or "
            "'/device:GPU:0')", errors.user_location())
    kind, index = match.group(1).upper(), int(match.group(2) or 0)
    if kind == "GPU":
        raise errors.InvalidArgumentError(
            f"device {name!r}: no GPU is available to Kiln here (GPU code "
            "generation is not supported yet); use '/cpu:0'",
            errors.user_location())
    if index != 0:
        raise errors.InvalidArgumentError(
            f"device {name!r}: there is one CPU device, '/cpu:0'",
            errors.user_location())
    return CPU


class device:
    """`with kiln.device("/cpu:0"):` runs the ops inside on that device."""

    def __init__(self, name):
        self.name = _parse(name)

    def __enter__(self):
        stack = getattr(_placement, "stack", None)
        if stack is None:
            stack = _placement.stack = []
        stack.append(self.name)
        return self

    def __exit__(self, *exc):
        _placement.stack.pop()
        return False


def current_device():
    stack = getattr(_placement, "stack", None)
    return stack[-1] if stack else CPU


def log_op(op):
    print(f"Executing op {op} in device {current_device()}", file=sys.stderr)


class experimental:
    """TensorFlow's `tf.config.experimental` functions that apply to Kiln."""

    @staticmethod
    def get_memory_info(device="CPU:0"):
        """Memory of the runtime's buffer pool, which serves every tensor and
        every temporary of compiled code on the CPU.

        Returns a dict: `current` (bytes of live buffers, by size class, as
        TensorFlow's key), `cached` (bytes of freed buffers kept for reuse),
        `allocations` (blocks taken from the system so far) and `reuses`
        (blocks served from the cache so far). A training step that has
        warmed up takes no new blocks: `allocations` stays put across steps.
        TensorFlow's `peak` is not tracked.
        """
        _parse(device)
        from . import _kiln
        stats = _kiln.pool_stats()
        return {"current": stats["bytes_in_use"],
                "cached": stats["bytes_cached"],
                "allocations": stats["allocations"],
                "reuses": stats["reuses"]}
