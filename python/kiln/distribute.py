"""Data-parallel training over processes: Horovod's model on Kiln's
collectives.

Launch one process per worker with Open MPI's ``mpirun -np N python3
train.py``; each process runs the same program on its shard of the data::

    kiln.distribute.init()
    data = data.shard(kiln.distribute.size(), kiln.distribute.rank())
    opt = kiln.distribute.DistributedOptimizer(kiln.optimizers.SGD(0.1))
    kiln.distribute.broadcast_variables(model.variables, root=0)

    @kiln.function
    def step(x, y):
        with kiln.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))

Inside a ``@kiln.function`` the all-reduce of the gradients is part of the
one compiled step (``kiln.all_reduce`` ops before the updates); eagerly each
collective runs at once. A process not launched by mpirun is a world of one
process: the same program runs unchanged, and MPI is never loaded.

The collectives are ops (``all_reduce``, ``broadcast``, ``all_gather``,
``reduce_scatter``) with gradients: the gradient of an all-reduce-sum is an
all-reduce-sum of the cotangents, and so on. Every process must run the
same collectives in the same order on tensors of the same type; processes
that disagree get an error naming the op, and one that never arrives makes
the others give up after ``KILN_COLLECTIVE_TIMEOUT`` seconds (600 by
default) and abort the job.
"""

from . import _kiln, errors
from .callbacks import Callback
from .core import attributes, bind1, enum_case, tensor_type
from .optimizers import Optimizer
from .tensor import convert_to_tensor

WORLD = "world"
_REDUCTIONS = ("sum", "mean", "max", "min")
_initialized = False


def _native(fn, *args):
    try:
        return fn(*args)
    except _kiln.NativeError as e:
        raise errors.from_native(e) from None


def init():
    """Sets up the collectives: under mpirun, loads Open MPI and joins the
    job (errors.UnavailableError naming the library when it cannot);
    otherwise a world of one process. Checkpoints are then written by rank
    0 only. Safe to call more than once."""
    global _initialized
    _native(_kiln.collectives_init)
    _initialized = True


def is_initialized():
    return _initialized


def rank(group=WORLD):
    """This process's rank in `group` (hvd.rank()); -1 outside it."""
    return _native(_kiln.group_info, group)[0]


def size(group=WORLD):
    """The number of processes in `group` (hvd.size())."""
    return _native(_kiln.group_info, group)[1]


def local_rank():
    """This process's rank among those on its machine (mpirun's
    OMPI_COMM_WORLD_LOCAL_RANK; 0 outside mpirun)."""
    import os
    return int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", "0"))


def is_chief():
    """Whether this process writes what the job writes once (checkpoints,
    summaries): rank 0, or any process before init()."""
    return not _initialized or rank() == 0


def new_group(name, ranks):
    """Defines group `name`: the world's processes `ranks`, in that order
    (its rank i is world rank ranks[i]). Every process of the world must
    call it with the same arguments; one outside the group gets rank -1
    there and may not run its collectives. Returns the name."""
    _native(_kiln.group_define, str(name), [int(r) for r in ranks])
    return name


def _reduction(op):
    if op not in _REDUCTIONS:
        raise ValueError(f"reduction {op!r} is not one of {', '.join(_REDUCTIONS)}")
    return enum_case("collective_reduction", op)


def all_reduce(x, op="mean", group=WORLD):
    """The elementwise sum, mean, max or min of `x` over the processes of
    `group`, on every one of them (hvd.allreduce, tf's all_reduce, psum)."""
    x = convert_to_tensor(x)
    return bind1("all_reduce", [x], attributes(reduction=_reduction(op), group=group))


def broadcast(x, root=0, group=WORLD):
    """Process `root`'s `x`, on every process of `group`."""
    x = convert_to_tensor(x)
    return bind1("broadcast_from", [x], attributes(root=int(root), group=group))


def _axis(x, axis):
    rank_ = len(x.shape)
    if not -rank_ <= axis < rank_:
        raise ValueError(f"axis {axis} is out of range for a tensor of rank {rank_}")
    return axis % rank_


def all_gather(x, axis=0, group=WORLD):
    """The `x` of every process of `group`, in rank order, concatenated
    along `axis`."""
    x = convert_to_tensor(x)
    a = _axis(x, axis)
    shape = list(x.shape)
    shape[a] = None if shape[a] is None else shape[a] * size(group)
    return bind1("all_gather", [x], attributes(axis=a, group=group),
                 [tensor_type(shape, x.dtype)])


def reduce_scatter(x, op="sum", axis=0, group=WORLD):
    """The sum (mean, max, min) of `x` over `group`, split along `axis` into
    one part per process: this process's part."""
    x = convert_to_tensor(x)
    a = _axis(x, axis)
    n = size(group)
    shape = list(x.shape)
    if shape[a] is not None:
        if shape[a] % n:
            raise errors.InvalidArgumentError(
                f"reduce_scatter: extent {shape[a]} along axis {a} does not split "
                f"into {n} equal parts (the processes of group '{group}')",
                errors.user_location())
        shape[a] //= n
    return bind1("reduce_scatter", [x],
                 attributes(reduction=_reduction(op), axis=a, group=group),
                 [tensor_type(shape, x.dtype)])


def broadcast_variables(variables, root=0, group=WORLD):
    """Assigns every variable process `root`'s value (call it once after
    the model is built, so that every process starts from the same
    weights)."""
    for v in variables:
        v.assign(broadcast(v.value(), root, group))


class DistributedOptimizer:
    """Wraps an optimizer so that `apply_gradients` first averages (op
    "mean", Horovod's default) or sums each gradient over `group`; inside a
    @kiln.function the all-reduces are part of the compiled step. Anything
    else is the wrapped optimizer's."""

    def __init__(self, optimizer, op="mean", group=WORLD):
        _reduction(op)
        self._optimizer = optimizer
        self._op = op
        self._group = group

    @property
    def wrapped_optimizer(self):
        """The optimizer that applies the averaged gradients (what
        model.compile and checkpoints see through this wrapper)."""
        return self._optimizer

    def apply_gradients(self, grads_and_vars):
        return self._optimizer.apply_gradients(self._reduce_gradients(grads_and_vars))

    def _reduce_gradients(self, grads_and_vars):
        """The pairs with each gradient all-reduced (a LossScaleOptimizer
        around this one reduces before it checks them)."""
        return [(None if g is None else all_reduce(g, self._op, self._group), v)
                for g, v in grads_and_vars]

    # The wrapped optimizer's, applying through the all-reduce above.
    minimize = Optimizer.minimize

    def __getattr__(self, name):
        return getattr(self._optimizer, name)


class BroadcastVariablesCallback(Callback):
    """For model.fit: broadcasts process `root`'s weights (Horovod's
    BroadcastGlobalVariablesCallback) when training begins, or, for a model
    that fit builds on its first batch, after that batch; from then on every
    process holds the same model."""

    def __init__(self, root=0, group=WORLD):
        super().__init__()
        self.root = root
        self.group = group
        self._done = False

    def _broadcast(self):
        variables = self.model.variables
        if variables and not self._done:
            broadcast_variables(variables, self.root, self.group)
            self._done = True

    def on_train_begin(self, logs=None):
        self._broadcast()

    def on_train_batch_end(self, batch, logs=None):
        self._broadcast()


def reduce_metric(metric, group=WORLD):
    """`metric`'s result over every process of `group`: its state variables
    (totals and counts; every Kiln metric's state adds up) are summed across
    the processes, the result computed, and the local state put back."""
    local = [v.value() for v in metric.variables]
    try:
        for v, value in zip(metric.variables, local):
            v.assign(all_reduce(value, "sum", group))
        return metric.result()
    finally:
        for v, value in zip(metric.variables, local):
            v.assign(value)


__all__ = ["WORLD", "init", "is_initialized", "rank", "size", "local_rank", "is_chief",
           "new_group", "all_reduce", "broadcast", "all_gather", "reduce_scatter",
           "broadcast_variables", "BroadcastVariablesCallback", "DistributedOptimizer",
           "reduce_metric"]


# -- tf.distribute's strategy API, for one replica --------------------------
#
# Kiln's data parallelism is one process per worker (above). TensorFlow
# programs often wrap a single-device program in a strategy anyway
# (`with tf.distribute.MirroredStrategy().scope(): model = ...`): these run
# it as one replica on one device, which is what such a program computes
# on a machine with one GPU or none.

class ReduceOp:
    """tf.distribute.ReduceOp."""
    SUM = "sum"
    MEAN = "mean"


class InputContext:
    """What distribute_datasets_from_function passes: one input pipeline."""
    num_input_pipelines, input_pipeline_id, num_replicas_in_sync = 1, 0, 1

    def get_per_replica_batch_size(self, global_batch_size):
        return global_batch_size


_strategy_stack = []


class Strategy:
    """One replica on one device (TensorFlow's default strategy):
    `scope()` places what is made inside on that device, `run(fn, args)`
    calls fn, `reduce` combines a replica's value (along `axis` when
    given), datasets are used as they are."""

    num_replicas_in_sync = 1

    def __init__(self, device=None):
        from . import config
        self._device = None if device is None else config._parse(device)

    def scope(self):
        import contextlib
        from . import config
        strategy = self

        @contextlib.contextmanager
        def entered():
            _strategy_stack.append(strategy)
            try:
                if strategy._device is None:
                    yield strategy
                else:
                    with config.device(strategy._device):
                        yield strategy
            finally:
                _strategy_stack.pop()
        return entered()

    def run(self, fn, args=(), kwargs=None):
        return fn(*args, **(kwargs or {}))

    def reduce(self, reduce_op, value, axis=None):
        from . import math_ops
        op = str(getattr(reduce_op, "value", reduce_op)).lower()
        if op not in (ReduceOp.SUM, ReduceOp.MEAN):
            raise ValueError(f"reduce: reduce_op must be SUM or MEAN, got {reduce_op!r}")
        if axis is None:
            return value   # (one replica: its value is the whole)
        reduce = math_ops.reduce_sum if op == ReduceOp.SUM else math_ops.reduce_mean
        return reduce(value, axis=axis)

    def gather(self, value, axis):
        return value

    def experimental_local_results(self, value):
        return (value,)

    def experimental_distribute_dataset(self, dataset, options=None):
        return dataset

    def distribute_datasets_from_function(self, dataset_fn, options=None):
        return dataset_fn(InputContext())

    @property
    def extended(self):
        return self


class OneDeviceStrategy(Strategy):
    """tf.distribute.OneDeviceStrategy(device)."""

    def __init__(self, device):
        super().__init__(device)


class MirroredStrategy(Strategy):
    """tf.distribute.MirroredStrategy on one device: the first visible GPU
    (or the CPU without one), or the one device given. Mirroring over
    several GPUs in one process is not supported: an error that says to
    run one process per GPU with kiln.distribute (mpirun)."""

    def __init__(self, devices=None, cross_device_ops=None):
        from . import config
        if devices is None:
            gpus = config.list_logical_devices("GPU")
            devices = gpus or ["/device:CPU:0"]
        devices = [devices] if isinstance(devices, str) else list(devices)
        if len(devices) != 1:
            raise errors.UnimplementedError(
                f"MirroredStrategy over {len(devices)} devices: Kiln runs one replica per "
                "process; launch one process per GPU with mpirun and use kiln.distribute "
                "(DistributedOptimizer, shard the data)", errors.user_location())
        super().__init__(devices[0])


def _multi_worker(*args, **kwargs):
    raise errors.UnimplementedError(
        "this tf.distribute strategy is not supported: Kiln's data parallelism is one "
        "process per worker with mpirun and kiln.distribute (see its docstring)",
        errors.user_location())


MultiWorkerMirroredStrategy = TPUStrategy = ParameterServerStrategy = _multi_worker


def get_strategy():
    """The strategy whose scope is entered, else the default (one replica
    where the ops are placed)."""
    return _strategy_stack[-1] if _strategy_stack else Strategy()


def has_strategy():
    return bool(_strategy_stack)


def in_cross_replica_context():
    return True
