"""Python on the GPU, against the runtime's test double of the CUDA driver
(test/unit/fake_cuda.c: the driver's API on host memory; it loads modules
and records launches but runs no kernel). What is checked is what does not
need a kernel to run: placement, the copies between host and GPU memory
(exact), that eager ops, @kiln.function, tape gradients and variables go
to the GPU and compile for it, and checkpoints of variables in GPU memory.
The numbers GPU kernels compute are checked on a GPU machine by
scripts/gpu-check.sh (docs/gpu.md)."""

import json
import os
import struct

import numpy as np

from conftest import BUILD, run_fresh_process

FAKE = os.path.join(BUILD, "test", "unit", "libkiln_fake_cuda.so")

SCRIPT = r"""
import json, sys
import numpy as np
import kiln

cpu = "/job:localhost/replica:0/task:0/device:CPU:0"
gpu = "/job:localhost/replica:0/task:0/device:GPU:0"
report = {}
def mark(name):
    # Separates the driver calls of each step in the trace on stderr.
    print(f"== {name}", file=sys.stderr, flush=True)

# Copies: exact both ways, the source unchanged.
x = kiln.constant(np.array([[1.5, -2.0, 3.0], [4.0, 5.5, -6.25]], np.float32))
mark("copies")
g = x.gpu()
report["copies"] = [x.device, g.device, g.numpy().tolist(), g.cpu().device,
                    g.cpu().numpy().tolist(), g.gpu() is g, x.cpu() is x]
ints = kiln.constant(np.arange(5, dtype=np.int64)).gpu()
report["ints"] = [ints.dtype.name, ints.numpy().tolist()]

# An eager op in a GPU scope: the host input is copied to the GPU, the op
# is compiled for the GPU and runs there; its result stays there.
kiln.config.set_log_device_placement(True)
mark("eager")
with kiln.device("/gpu:0"):
    y = x * 2.0
kiln.config.set_log_device_placement(False)
report["eager"] = [y.device, y.shape, y.dtype.name]

# A variable created in a GPU scope lives there; its value reads back.
mark("variable")
with kiln.device("/gpu:0"):
    v = kiln.Variable(np.array([0.5, 1.0, 2.0], np.float32), name="v")
report["variable"] = [v.device, v.numpy().tolist()]
kiln.train.Checkpoint(v=v).write(sys.argv[1])

# A variable made on the CPU moves to the GPU with the first GPU function
# that uses it, and back to the CPU with a CPU one (a retrace).
w = kiln.Variable(np.ones(3, np.float32), name="w")
@kiln.function
def step(a):
    w.assign_add(a[0])
    return kiln.reduce_sum(w * a)
mark("function")
with kiln.device("/gpu:0"):
    r = step(x)
    concrete = step.get_concrete_function(x)
report["function"] = [w.device, r.device, concrete.device, step.trace_count]
mark("function-cpu")
step(x)
report["function_cpu"] = [w.device, step.trace_count, step.retrace_reason]

# Tape gradients run where the loss was computed.
mark("gradient")
with kiln.device("/gpu:0"):
    z = kiln.Variable([1.0, 2.0], name="z")
    with kiln.GradientTape() as tape:
        loss = kiln.reduce_sum(z * z)
    grad = tape.gradient(loss, [z])[0]
report["gradient"] = [loss.device, grad.device, grad.shape]

# The second GPU: copies there, an eager op and a function (and its
# variable) run there.
mark("second")
g1 = x.gpu(1)
with kiln.device("/gpu:1"):
    y1 = g1 + 1.0
    r1 = step(x)
report["second"] = [g1.device, g1.numpy().tolist(), y1.device, r1.device, w.device,
                    step.trace_count]

info = kiln.config.experimental.get_memory_info("GPU:0")
report["memory"] = info["current"] > 0 and info["allocations"] > 0
print(json.dumps(report))
"""


def run(tmp_path, script=SCRIPT):
    import subprocess
    import sys
    env = dict(os.environ, KILN_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(sys.path), KILN_CUDA_DRIVER=FAKE,
               FAKE_CUDA_TRACE="1")
    ckpt = tmp_path / "v.safetensors"
    proc = subprocess.run([sys.executable, "-c", script, str(ckpt)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps, name = {}, None
    for line in proc.stderr.splitlines():
        if line.startswith("== "):
            name = line[3:]
            steps[name] = []
        elif name:
            steps[name].append(line)
    return json.loads(proc.stdout.splitlines()[-1]), steps, ckpt


def read_safetensors(path):
    data = open(path, "rb").read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        out[name] = np.frombuffer(data[8 + size + start:8 + size + end], dtype)
    return out


def test_python_on_the_gpu_with_the_driver_double(tmp_path):
    report, steps, ckpt = run(tmp_path)
    cpu = "/job:localhost/replica:0/task:0/device:CPU:0"
    gpu = "/job:localhost/replica:0/task:0/device:GPU:0"
    values = [[1.5, -2.0, 3.0], [4.0, 5.5, -6.25]]
    assert report["copies"] == [cpu, gpu, values, cpu, values, True, True]
    assert report["ints"] == ["int64", [0, 1, 2, 3, 4]]

    assert report["eager"] == [gpu, [2, 3], "float32"]
    eager = "\n".join(steps["eager"])
    assert "Executing op mul in device " + gpu in eager
    assert "fake-cuda: load .target sm_80" in eager  # PTX for sm_80 and newer
    assert "fake-cuda: launch kernel_kernel" in eager

    # The variable's bytes went to the GPU and came back for the checkpoint.
    assert report["variable"] == [gpu, [0.5, 1.0, 2.0]]
    saved = read_safetensors(ckpt)
    assert sorted(saved) == ["save_counter", "v"]
    np.testing.assert_array_equal(saved["v"], [0.5, 1.0, 2.0])

    assert report["function"] == [gpu, gpu, gpu, 1]
    assert any("launch step_kernel" in c for c in steps["function"])
    assert report["function_cpu"] == [cpu, 2, "device changed from cuda:0 to cpu"]
    assert not any("launch" in c for c in steps["function-cpu"])

    assert report["gradient"] == [gpu, gpu, [2]]
    assert any("launch gradient_kernel" in c for c in steps["gradient"])
    assert report["memory"] is True

    gpu1 = "/job:localhost/replica:0/task:0/device:GPU:1"
    assert report["second"] == [gpu1, values, gpu1, gpu1, gpu1, 3]
    second = "\n".join(steps["second"])
    assert "launch kernel_kernel 1x1x1 256x1x1 0 on device 1" in second, second
    assert "launch step_kernel" in second and "on device 0" not in second


TENSOR_CORES = r"""
import json, sys
import numpy as np
import kiln

report = {}
def mark(name):
    print(f"== {name}", file=sys.stderr, flush=True)

a = np.ones((20, 30), np.float32)
b = np.ones((30, 10), np.float32)

@kiln.function
def product(x, y):
    return kiln.matmul(x, y)

report["default"] = kiln.config.experimental.tensor_float_32_execution_enabled()
with kiln.device("/gpu:0"):
    mark("f32")
    kiln.matmul(a, b)
    mark("f16")
    kiln.matmul(a.astype(np.float16), b.astype(np.float16))
    mark("bf16")
    a16 = kiln.constant(a * 1.00390625, dtype=kiln.bfloat16)  # a tie: 1.0
    kiln.matmul(a16, kiln.constant(b, dtype=kiln.bfloat16))
    report["bf16"] = [a16.device, a16.dtype.name, float(a16.numpy()[0, 0]),
                      str(a16.numpy().dtype)]
    mark("mixed")
    kiln.mixed_precision.set_global_policy("mixed_bfloat16")
    dense = kiln.layers.Dense(8)
    report["mixed"] = [dense(a).dtype.name, dense.kernel.dtype.name]
    kiln.mixed_precision.set_global_policy(None)
    kiln.config.experimental.enable_tensor_float_32_execution(True)
    report["enabled"] = kiln.config.experimental.tensor_float_32_execution_enabled()
    mark("tf32")
    kiln.matmul(a, b)
    mark("function-tf32")
    product(a, b)
    report["traces"] = [product.trace_count, product.retrace_reason]
    kiln.config.experimental.enable_tensor_float_32_execution(False)
    mark("function-f32")
    product(a, b)
    report["retrace"] = [product.trace_count, product.retrace_reason]
mark("cpu")
kiln.config.experimental.enable_tensor_float_32_execution(True)
product(a, b)
product(a, b)
report["cpu"] = [product.trace_count, product.retrace_reason]
print(json.dumps(report))
"""


def test_tensor_cores_and_tf32_from_python(tmp_path):
    """f16 and bf16 products compile to the tensor cores' mma.sync; f32 ones only
    once TF32 is enabled (TensorFlow's switch, off by default here), which
    recompiles eager kernels and retraces functions on the GPU only."""
    report, steps, _ = run(tmp_path, TENSOR_CORES)
    assert report["default"] is False and report["enabled"] is True
    text = {name: "\n".join(lines) for name, lines in steps.items()}
    assert "mma.sync" not in text["f32"] and "launch" in text["f32"]
    assert "module uses mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in text["f16"]
    assert "module uses mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" in text["bf16"]
    # Under mixed_bfloat16 a Dense layer's product runs on the tensor cores.
    assert report["mixed"] == ["bfloat16", "float32"]
    assert "module uses mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32" in text["mixed"]
    # A bfloat16 tensor lives on the GPU and comes back as float32 values.
    assert report["bf16"] == ["/job:localhost/replica:0/task:0/device:GPU:0",
                              "bfloat16", 1.0, "float32"]
    assert "module uses mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32" in text["tf32"]
    assert "tf32" in text["function-tf32"]
    assert report["traces"] == [1, "first call"]
    assert report["retrace"] == [2, "TF32 execution disabled"]
    assert "mma.sync" not in text["function-f32"]
    # On the CPU the switch changes nothing: one trace for the CPU.
    assert report["cpu"] == [3, "device changed from cuda:0 to cpu"]


def test_the_demo_trains_on_the_gpu_with_the_driver_double(tmp_path):
    """`train_fashion_mnist.py --device gpu` goes through: its compiled step,
    predictions, metrics, summaries and checkpoint with the weights in GPU
    memory (the double runs no kernel, so the numbers mean nothing)."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, KILN_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(sys.path), KILN_CUDA_DRIVER=FAKE,
               FAKE_CUDA_TRACE="1")
    proc = subprocess.run(
        [sys.executable, os.path.join(root, "examples", "python", "train_fashion_mnist.py"),
         "--device", "gpu", "--epochs", "1", "--train-limit", "128", "--no-progress",
         "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on /job:localhost/replica:0/task:0/device:GPU:0" in proc.stdout
    assert "fake-cuda: launch train_step_kernel" in proc.stderr
    assert os.path.exists(tmp_path / "out" / "checkpoints" / "ckpt-1.safetensors")
