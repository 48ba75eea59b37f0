"""A dynamic RNN over time steps with kiln.range and a TensorArray, compiled
by @kiln.function, with gradients of every weight.

    PYTHONPATH=build/python_packages /usr/bin/python3 examples/python/dynamic_rnn.py
"""

import numpy as np

import kiln

BATCH, STEPS, FEATURES, HIDDEN = 4, 6, 3, 5

kiln.random.set_seed(1)
w = kiln.Variable(kiln.random.normal((FEATURES, HIDDEN), stddev=0.5), name="w")
u = kiln.Variable(kiln.random.normal((HIDDEN, HIDDEN), stddev=0.5), name="u")


def rnn(inputs, steps):
    """inputs: [time, batch, features]; runs `steps` steps (a tensor)."""
    h = kiln.zeros((BATCH, HIDDEN))
    # As in TensorFlow: the element shape comes from the first write (the
    # loop body is traced once to learn it).
    outputs = kiln.TensorArray(kiln.float32, size=STEPS)
    for t in kiln.range(steps):
        h = kiln.tanh(inputs[t] @ w + h @ u)
        outputs = outputs.write(t, h)
    return outputs.stack(), h


@kiln.function
def train_step(inputs, targets, steps):
    with kiln.GradientTape() as tape:
        _, h = rnn(inputs, steps)
        loss = kiln.reduce_mean(kiln.square(h - targets))
    gw, gu = tape.gradient(loss, [w, u])
    w.assign_sub(0.5 * gw)
    u.assign_sub(0.5 * gu)
    return loss


def main():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(STEPS, BATCH, FEATURES)).astype(np.float32)
    targets = np.tanh(rng.normal(size=(BATCH, HIDDEN))).astype(np.float32) * 0.5
    for step in range(1, 201):
        loss = train_step(inputs, targets, kiln.constant(STEPS))
        if step % 50 == 0:
            print(f"step {step}: loss {float(loss):.4f}")
    return float(loss)


if __name__ == "__main__":
    main()
