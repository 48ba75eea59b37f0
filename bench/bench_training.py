#!/usr/bin/env python3
"""Training steps, side by side in one run (each peer single-threaded):

  - the MLP 784-128-10 (ReLU, softmax cross-entropy, Adam) at batch 64 and
    256: Kiln compiled (@kiln.function), Kiln eager (tape + eager ops + the
    compiled Adam update), PyTorch eager autograd, hand-written NumPy;
  - the seed CNN (two 3x3 convolutions with 16 filters, global average
    pooling, dense) at batch 32 on 28x28x1: the same four.

Prints the median milliseconds per step and Kiln/peer ratios (> 1: Kiln is
slower). Usage: /usr/bin/python3 bench/bench_training.py [--repeats N]
"""

import statistics
import sys
import time

from peers import torch  # noqa: E402  (before NumPy: one thread each)

import numpy as np  # noqa: E402

import kiln  # noqa: E402


def ms_per_step(step, repeats):
    step()
    step()  # compile, warm caches
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


# -- Kiln -------------------------------------------------------------------

def kiln_model(kind):
    if kind == "mlp":
        return kiln.Sequential([kiln.layers.Dense(128, activation="relu"),
                                kiln.layers.Dense(10)])
    return kiln.Sequential([kiln.layers.Conv2D(16, 3, activation="relu"),
                            kiln.layers.Conv2D(16, 3, activation="relu"),
                            kiln.layers.GlobalAveragePooling2D(),
                            kiln.layers.Dense(10)])


def kiln_step(kind, compiled):
    model = kiln_model(kind)
    opt = kiln.optimizers.Adam(1e-3)
    loss_fn = kiln.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(x, y):
        with kiln.GradientTape() as tape:
            loss = loss_fn(y, model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return kiln.function(step) if compiled else step


# -- PyTorch ------------------------------------------------------------------

def torch_step(kind):
    nn = torch.nn
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3),
                              nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(16, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


# -- NumPy, by hand ------------------------------------------------------------

class Adam:
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.p, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        lr = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, g, m, v in zip(self.p, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= lr * m / (np.sqrt(v) + self.eps)


def softmax_xent_grad(logits, y):
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    p[np.arange(n), y] -= 1
    return loss, p / n


def numpy_mlp_step():
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((784, 128)) * 0.05).astype(np.float32)
    b1 = np.zeros(128, np.float32)
    w2 = (rng.standard_normal((128, 10)) * 0.1).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    opt = Adam([w1, b1, w2, b2])

    def step(x, y):
        h = np.maximum(x @ w1 + b1, 0)
        loss, dz = softmax_xent_grad(h @ w2 + b2, y)
        dh = (dz @ w2.T) * (h > 0)
        opt.step([x.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)])
        return loss
    return step


def im2col(x, k=3):
    n, h, w, c = x.shape
    oh, ow = h - k + 1, w - k + 1
    cols = np.empty((n, oh, ow, k, k, c), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, :, i, j, :] = x[:, i:i + oh, j:j + ow, :]
    return cols.reshape(n * oh * ow, k * k * c), (n, oh, ow)


def col2im(dcols, shape, k=3):
    n, h, w, c = shape
    oh, ow = h - k + 1, w - k + 1
    dcols = dcols.reshape(n, oh, ow, k, k, c)
    dx = np.zeros(shape, dcols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, i:i + oh, j:j + ow, :] += dcols[:, :, :, i, j, :]
    return dx


def numpy_cnn_step():
    rng = np.random.default_rng(0)
    k1 = (rng.standard_normal((9, 16)) * 0.3).astype(np.float32)
    c1 = np.zeros(16, np.float32)
    k2 = (rng.standard_normal((144, 16)) * 0.1).astype(np.float32)
    c2 = np.zeros(16, np.float32)
    wd = (rng.standard_normal((16, 10)) * 0.3).astype(np.float32)
    bd = np.zeros(10, np.float32)
    opt = Adam([k1, c1, k2, c2, wd, bd])

    def step(x, y):
        cols1, (n, h1, w1_) = im2col(x)
        a1 = np.maximum(cols1 @ k1 + c1, 0).reshape(n, h1, w1_, 16)
        cols2, (_, h2, w2_) = im2col(a1)
        a2 = np.maximum(cols2 @ k2 + c2, 0)
        pooled = a2.reshape(n, h2 * w2_, 16).mean(1)
        loss, dz = softmax_xent_grad(pooled @ wd + bd, y)
        dpooled = dz @ wd.T
        da2 = np.repeat(dpooled[:, None, :] / (h2 * w2_), h2 * w2_, 1).reshape(-1, 16)
        da2 *= a2 > 0
        da1 = col2im(da2 @ k2.T, a1.shape)
        da1 = da1.reshape(-1, 16) * (a1.reshape(-1, 16) > 0)
        opt.step([cols1.T @ da1, da1.sum(0), cols2.T @ da2, da2.sum(0),
                  pooled.T @ dz, dz.sum(0)])
        return loss
    return step


def main():
    repeats = 15
    if "--repeats" in sys.argv:
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1])
    rng = np.random.default_rng(1)
    kiln.random.set_seed(0)
    rows = []
    for kind, batch in (("mlp", 64), ("mlp", 256), ("cnn", 32)):
        shape = (batch, 784) if kind == "mlp" else (batch, 28, 28, 1)
        x = rng.random(shape, dtype=np.float32)
        y = rng.integers(0, 10, batch)
        kx, ky = kiln.constant(x), kiln.constant(y)
        reps = repeats if kind == "mlp" else max(3, repeats // 3)
        row = {
            "compiled": ms_per_step(lambda s=kiln_step(kind, True): s(kx, ky), reps),
            "eager": ms_per_step(lambda s=kiln_step(kind, False): s(kx, ky), reps),
            "numpy": ms_per_step(
                lambda s=(numpy_mlp_step() if kind == "mlp" else numpy_cnn_step()):
                s(x, y), reps),
        }
        if torch is not None:
            tx = torch.from_numpy(x if kind == "mlp" else x.transpose(0, 3, 1, 2).copy())
            ty = torch.from_numpy(y)
            row["torch"] = ms_per_step(lambda s=torch_step(kind): s(tx, ty), reps)
        rows.append((f"{kind.upper()} step, batch {batch}", row))

    print(f"{'training step':22} {'compiled':>9} {'eager':>9} {'torch':>9} "
          f"{'numpy':>9} {'comp/torch':>10} {'comp/numpy':>10} {'eager/torch':>11}")
    for name, r in rows:
        t = r.get("torch")
        fmt = lambda v: f"{v:9.2f}" if v else "      n/a"  # noqa: E731
        ratio = lambda a, b: f"{a / b:10.2f}" if b else "       n/a"  # noqa: E731
        print(f"{name:22} {fmt(r['compiled'])} {fmt(r['eager'])} {fmt(t)} "
              f"{fmt(r['numpy'])} {ratio(r['compiled'], t)} "
              f"{ratio(r['compiled'], r['numpy'])} {ratio(r['eager'], t):>11}")
    print("(milliseconds per step, median; > 1: Kiln is slower)")


if __name__ == "__main__":
    main()
