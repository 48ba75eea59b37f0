"""kiln.config and kiln.device: where ops run.

Python ops and `@kiln.function`s run on the CPU unless a device scope names
the GPU: `with kiln.device("/gpu:0"):` runs the eager ops inside on the GPU
(each op's inputs are copied there first if they live elsewhere; its
outputs stay there) and compiles the `@kiln.function`s called inside for
the GPU, whose variables then live in GPU memory. Unlike TensorFlow, ops do
not go to the GPU by themselves: the CPU is the default device on every
machine. As in TensorFlow, placement is soft by default: naming a GPU that
this machine does not have runs the ops on the CPU with one warning
(`set_soft_device_placement(False)` makes it an error). '/gpu:N' names
the machine's GPU N (docs/gpu.md).
"""

import re
import sys
import threading as _threading

from . import errors
from ._state import local as _state

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"
GPU = "/job:localhost/replica:0/task:0/device:GPU:0"


def _gpu(index):
    return f"/job:localhost/replica:0/task:0/device:GPU:{index}"

log_device_placement = False
soft_device_placement = True
_warned_soft_placement = False


def set_log_device_placement(enabled):
    """Log each eager op's device to stderr, as TensorFlow does."""
    global log_device_placement
    log_device_placement = bool(enabled)


def get_log_device_placement():
    return log_device_placement


def set_soft_device_placement(enabled):
    """With soft placement (the default, as in TensorFlow), a scope naming a
    device this machine lacks places its ops on the CPU instead of failing."""
    global soft_device_placement
    soft_device_placement = bool(enabled)


def get_soft_device_placement():
    return soft_device_placement


def _gpu_count():
    from . import _kiln
    return _kiln.gpu_count()


def list_physical_devices(device_type=None):
    """The devices the runtime finds: the CPU, and each GPU the CUDA driver
    reports (none without a driver)."""
    if device_type not in (None, "CPU", "GPU"):
        return []
    devices = []
    if device_type in (None, "CPU"):
        devices.append("/physical_device:CPU:0")
    if device_type in (None, "GPU"):
        devices += [f"/physical_device:GPU:{i}" for i in range(_gpu_count())]
    return devices


def _parse(name, soft=None):
    """The full name of device `name`; a GPU this machine lacks is the CPU
    under soft placement (`soft`: None follows the setting) or an error."""
    if soft is None:
        soft = soft_device_placement
    if not isinstance(name, str):
        raise errors.InvalidArgumentError(
            f"a device name is a string such as '/gpu:0', got {name!r}",
            errors.user_location())
    spec = name.strip()
    match = re.fullmatch(r"(?:/job:\w+/replica:\d+/task:\d+)?/?(?:device:)?"
                         r"(cpu|gpu|CPU|GPU)(?::(\d+))?", spec)
    if not match:
        raise errors.InvalidArgumentError(
            f"malformed device name {name!r} (expected '/cpu:0' or "
            "'/device:GPU:0')", errors.user_location())
    kind, index = match.group(1).upper(), int(match.group(2) or 0)
    if kind == "GPU":
        from . import _kiln
        why = None
        if _hidden_gpus:
            # (TensorFlow numbers the visible GPUs from 0: logical GPU i is
            # the i-th visible physical one)
            visible = [i for i in range(_gpu_count()) if i not in _hidden_gpus]
            if index < len(visible):
                index = visible[index]
            else:
                why = (f"kiln.config.set_visible_devices left {len(visible)} GPU(s) "
                       "visible")
        why = why or _kiln.gpu_status(index)
        if why is None:
            return _gpu(index)
        if soft:
            # As TensorFlow does without that device: the CPU, said once.
            global _warned_soft_placement
            if not _warned_soft_placement:
                _warned_soft_placement = True
                import warnings
                warnings.warn(
                    f"device {name!r} is not available ({why}); its ops run "
                    "on the CPU (soft device placement; "
                    "kiln.config.set_soft_device_placement(False) makes "
                    "this an error)", RuntimeWarning, stacklevel=3)
            return CPU
        raise errors.InvalidArgumentError(
            f"device {name!r}: no GPU is available to Kiln here ({why}); "
            "use '/cpu:0', or kiln.config.set_soft_device_placement(True) to "
            "place the ops on the CPU", errors.user_location())
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
        _state.devices.append(self.name)
        _state.runtime_device = runtime_device(self.name)
        return self

    def __exit__(self, *exc):
        stack = _state.devices
        stack.pop()
        _state.runtime_device = runtime_device(stack[-1] if stack else CPU)
        return False


def current_device():
    stack = _state.devices
    return stack[-1] if stack else CPU


def runtime_device(name=None):
    """The runtime's name ("cpu" or "cuda:N") of device `name` (default:
    the current one)."""
    name = name or current_device()
    if name == CPU:
        return "cpu"
    return "cuda:" + name.rpartition(":")[2]


def device_name(runtime_name):
    """The full device name of a runtime device name ("cpu", "cuda:N")."""
    if runtime_name == "cpu":
        return CPU
    return _gpu(int(runtime_name.partition(":")[2] or 0))


def log_op(op, device=None):
    print(f"Executing op {op} in device {device or current_device()}",
          file=sys.stderr)


_run_eagerly = [False]


def run_functions_eagerly(run_eagerly):
    """With True, every @kiln.function runs its Python body eagerly, op by
    op, instead of its compiled code (tf.config.run_functions_eagerly: for
    debugging with print and pdb); False compiles again."""
    _run_eagerly[0] = bool(run_eagerly)


def functions_run_eagerly():
    """Whether run_functions_eagerly(True) is in effect."""
    return _run_eagerly[0]


# GPUs hidden by set_visible_devices (their indices).
_hidden_gpus = set()


def set_visible_devices(devices, device_type=None):
    """Which of the physical devices Kiln may use (tf.config.
    set_visible_devices): GPUs left out are not placed on (`/gpu:N` then
    falls back to the CPU under soft placement, or is an error); the CPU
    always stays visible. Call it before placing anything on a GPU."""
    devices = [devices] if isinstance(devices, str) else list(devices)
    if device_type not in (None, "GPU", "CPU"):
        raise ValueError(f"set_visible_devices: unknown device type {device_type!r}")
    names = [getattr(d, "name", d) for d in devices]
    for name in names:
        if not re.fullmatch(r"/physical_device:(CPU|GPU):\d+", str(name)):
            raise ValueError(f"set_visible_devices: {name!r} is not a physical device "
                             "(see list_physical_devices())")
    if device_type == "CPU":
        return
    wanted = {int(n.rsplit(":", 1)[1]) for n in names if ":GPU:" in n}
    _hidden_gpus.clear()
    _hidden_gpus.update(i for i in range(_gpu_count()) if i not in wanted)


def get_visible_devices(device_type=None):
    """The physical devices set_visible_devices left visible."""
    return [d for d in list_physical_devices(device_type)
            if not (":GPU:" in d and int(d.rsplit(":", 1)[1]) in _hidden_gpus)]


def list_logical_devices(device_type=None):
    """The devices ops can be placed on: one per visible physical device
    (TensorFlow's logical devices; Kiln does not split a device)."""
    visible = get_visible_devices(device_type)
    gpus = [d for d in visible if ":GPU:" in d]
    return [d.replace("/physical_device:", "/device:") for d in visible if ":CPU:" in d] + \
        [f"/device:GPU:{i}" for i in range(len(gpus))]   # (renumbered from 0)


_memory_growth = {}


class experimental:
    """TensorFlow's `tf.config.experimental` functions that apply to Kiln."""

    set_visible_devices = staticmethod(set_visible_devices)
    get_visible_devices = staticmethod(get_visible_devices)
    list_physical_devices = staticmethod(list_physical_devices)
    list_logical_devices = staticmethod(list_logical_devices)

    @staticmethod
    def set_memory_growth(device, enable):
        """Accepted for TensorFlow's notebooks: Kiln's buffer pool always
        grows on demand (it never takes a GPU's memory up front), so this
        only records the setting get_memory_growth reports."""
        name = getattr(device, "name", device)
        if name not in list_physical_devices():
            raise ValueError(f"set_memory_growth: {name!r} is not a physical device")
        _memory_growth[name] = bool(enable)

    @staticmethod
    def get_memory_growth(device):
        return _memory_growth.get(getattr(device, "name", device), True)

    @staticmethod
    def enable_tensor_float_32_execution(enabled):
        """Lets f32 matrix products (matmuls, and convolutions, which become
        them) compiled for a GPU from now on run on its tensor cores with
        operands rounded to TensorFloat-32 (10 bits of mantissa instead of
        23; sums stay f32): sm_80 and newer. Eager kernels compile again and
        @kiln.function retraces when it changes. Off by default, unlike
        TensorFlow's (on) and like PyTorch's `allow_tf32` for matmuls: f32
        keeps f32 precision unless asked. CPU code is unaffected."""
        from . import _kiln
        _kiln.set_allow_tf32(bool(enabled))

    @staticmethod
    def tensor_float_32_execution_enabled():
        """Whether GPU f32 products may use TF32 (see
        `enable_tensor_float_32_execution`)."""
        from . import _kiln
        return _kiln.allow_tf32()

    @staticmethod
    def get_memory_info(device="CPU:0"):
        """Memory of the runtime's buffer pool of `device` ("CPU:0" or
        "GPU:0"), which serves every tensor and every temporary of compiled
        code there.

        Returns a dict: `current` (bytes of live buffers, by size class, as
        TensorFlow's key), `cached` (bytes of freed buffers kept for reuse),
        `allocations` (blocks taken from the system so far) and `reuses`
        (blocks served from the cache so far). A training step that has
        warmed up takes no new blocks: `allocations` stays put across steps.
        TensorFlow's `peak` is not tracked.
        """
        from . import _kiln
        name = device if device.startswith("/") else "/" + device
        runtime = runtime_device(_parse(name, soft=False))
        stats = _kiln.pool_stats(runtime)
        return {"current": stats["bytes_in_use"],
                "cached": stats["bytes_cached"],
                "allocations": stats["allocations"],
                "reuses": stats["reuses"]}


class threading:
    """TensorFlow's `tf.config.threading`: how many threads compiled code
    uses. Kiln's generated code runs its parallel loops (the tiles of a
    matrix product, of a convolution) on the runtime's thread pool; the
    results are bitwise the same for any thread count."""

    @staticmethod
    def get_intra_op_parallelism_threads():
        """The pool's thread count, the calling thread included."""
        from . import _kiln
        return _kiln.num_threads()

    @staticmethod
    def set_intra_op_parallelism_threads(num_threads):
        """Sets the pool's thread count; 0 restores the default (the
        KILN_NUM_THREADS environment variable, else every CPU this process
        may run on). Takes effect for the next parallel loop."""
        import os
        from . import _kiln
        if not isinstance(num_threads, int) or isinstance(num_threads, bool) \
                or num_threads < 0:
            raise errors.InvalidArgumentError(
                f"set_intra_op_parallelism_threads: expected a thread count "
                f">= 0, got {num_threads!r}", errors.user_location())
        if num_threads == 0:
            env = os.environ.get("KILN_NUM_THREADS", "")
            num_threads = int(env) if env.isdigit() and int(env) >= 1 \
                else len(os.sched_getaffinity(0))
        try:
            _kiln.set_num_threads(num_threads)
        except ValueError as e:
            raise errors.InvalidArgumentError(
                f"set_intra_op_parallelism_threads: {e}",
                errors.user_location()) from None
