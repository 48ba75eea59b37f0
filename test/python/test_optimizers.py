"""Optimizers of issue 17 (item 4) against NumPy transcriptions of Keras'
update formulas, eagerly and inside @kiln.function, and gradient clipping."""

import numpy as np
import pytest

import kiln

W0 = np.array([1.0, -2.0, 3.0])
TARGET = 0.5


def _steps(optimizer, steps, compiled):
    """Minimizes sum((w - 0.5)^2) from W0; the weights after each step."""
    return _run_on(optimizer, W0, TARGET, steps, compiled, weighted=False)[0]


def _numpy_run(update, steps, state=None):
    w, state = W0.copy(), dict(state or {})
    out = []
    for t in range(1, steps + 1):
        g = 2 * (w - TARGET)
        w = update(w, g, t, state)
        out.append(w.copy())
    return out


def rmsprop(lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    def update(w, g, t, s):
        s["ms"] = rho * s.get("ms", 0.0) + (1 - rho) * g * g
        denom = s["ms"]
        if centered:
            s["mg"] = rho * s.get("mg", 0.0) + (1 - rho) * g
            denom = denom - s["mg"] ** 2
        inc = lr * g / np.sqrt(denom + eps)
        if momentum:
            s["mom"] = momentum * s.get("mom", 0.0) + inc
            inc = s["mom"]
        return w - inc
    return update


def adagrad(lr, initial=0.1, eps=1e-7):
    def update(w, g, t, s):
        s["acc"] = s.get("acc", initial) + g * g
        return w - lr * g / np.sqrt(s["acc"] + eps)
    return update


def adadelta(lr, rho=0.95, eps=1e-7):
    def update(w, g, t, s):
        s["g2"] = rho * s.get("g2", 0.0) + (1 - rho) * g * g
        delta = np.sqrt(s.get("d2", 0.0) + eps) / np.sqrt(s["g2"] + eps) * g
        s["d2"] = rho * s.get("d2", 0.0) + (1 - rho) * delta * delta
        return w - lr * delta
    return update


def adamax(lr, b1=0.9, b2=0.999, eps=1e-7):
    def update(w, g, t, s):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g))
        return w - lr * s["m"] / ((1 - b1 ** t) * (s["u"] + eps))
    return update


def adamw(lr, wd, b1=0.9, b2=0.999, eps=1e-7):
    def update(w, g, t, s):
        w = w - lr * wd * w
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        return w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * s["m"] / (np.sqrt(s["v"]) + eps)
    return update


def nadam(lr, b1=0.9, b2=0.999, eps=1e-7):
    """Keras' Nadam.update_step (TF 2.11+), with its optimizer-wide running
    product of the momentum schedule."""
    def update(w, g, t, s):
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        s["u_product"] = s.get("u_product", 1.0) * u_t
        u_product_t1 = s["u_product"] * u_t1
        s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
        s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - b2)
        m_hat = u_t1 * s["m"] / (1 - u_product_t1) + (1 - u_t) * g / (1 - s["u_product"])
        v_hat = s["v"] / (1 - b2 ** t)
        return w - m_hat * lr / (np.sqrt(v_hat) + eps)
    return update


def ftrl(lr, power=-0.5, initial=0.1, l1=0.0, l2=0.0, shrinkage=0.0, beta=0.0):
    """Keras' Ftrl.update_step."""
    def update(w, g, t, s):
        accum, linear = s.get("accum", initial), s.get("linear", 0.0)
        l2_reg = l2 + beta / (2.0 * lr)
        grad_to_use = g + 2 * shrinkage * w
        new_accum = accum + g ** 2
        linear = linear + grad_to_use - (new_accum ** -power - accum ** -power) / lr * w
        quadratic = new_accum ** -power / lr + 2 * l2_reg
        w = (np.clip(linear, -l1, l1) - linear) / quadratic
        s["accum"], s["linear"] = new_accum, linear
        return w
    return update


def lion(lr, b1=0.9, b2=0.99, wd=0.0):
    """Keras 3's Lion.update_step, with its decoupled weight decay first."""
    def update(w, g, t, s):
        m = s.get("m", 0.0)
        w = w - lr * wd * w
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        s["m"] = b2 * m + (1 - b2) * g
        return w
    return update


CASES = {
    # (Steps large enough to overshoot the target: the gradient changes sign
    # against the momentum, where beta_1 decides the step's direction.)
    "lion": (lambda: kiln.optimizers.Lion(0.7), lion(0.7)),
    "lion_decay": (lambda: kiln.optimizers.Lion(0.7, beta_1=0.5, beta_2=0.8,
                                                weight_decay=0.2),
                   lion(0.7, 0.5, 0.8, 0.2)),
    "nadam": (lambda: kiln.optimizers.Nadam(0.1, epsilon=0.3), nadam(0.1, eps=0.3)),
    "ftrl": (lambda: kiln.optimizers.Ftrl(0.5), ftrl(0.5)),
    # (l1 = 0.8 zeroes the first weight's small accumulated gradient.)
    "ftrl_regularized": (
        lambda: kiln.optimizers.Ftrl(0.5, learning_rate_power=-0.7, initial_accumulator_value=0.3,
                                     l1_regularization_strength=0.8,
                                     l2_regularization_strength=0.2,
                                     l2_shrinkage_regularization_strength=0.1, beta=0.4),
        ftrl(0.5, power=-0.7, initial=0.3, l1=0.8, l2=0.2, shrinkage=0.1, beta=0.4)),
    # (Large epsilons, so that where each formula adds it is checked too.)
    "rmsprop": (lambda: kiln.optimizers.RMSprop(0.1, epsilon=0.3), rmsprop(0.1, eps=0.3)),
    "rmsprop_momentum_centered": (
        lambda: kiln.optimizers.RMSprop(0.05, rho=0.8, momentum=0.5, centered=True),
        rmsprop(0.05, rho=0.8, momentum=0.5, centered=True)),
    "adagrad": (lambda: kiln.optimizers.Adagrad(0.3, initial_accumulator_value=0.2, epsilon=0.3),
                adagrad(0.3, initial=0.2, eps=0.3)),
    "adamax": (lambda: kiln.optimizers.Adamax(0.2, epsilon=0.3), adamax(0.2, eps=0.3)),
    "adadelta": (lambda: kiln.optimizers.Adadelta(1.0, rho=0.9, epsilon=0.01),
                 adadelta(1.0, rho=0.9, eps=0.01)),
    "adamw": (lambda: kiln.optimizers.AdamW(0.1, weight_decay=0.05, epsilon=0.3),
              adamw(0.1, 0.05, eps=0.3)),
}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_matches_its_formula(name, compiled):
    make, update = CASES[name]
    got = _steps(make(), 4, compiled)
    for g, w in zip(got, _numpy_run(update, 4)):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)


def test_clipping():
    # clipnorm: the gradient 2 * (w - 0.5) = [1, -5, 5] has norm sqrt(51).
    g = 2 * (W0 - TARGET)
    (w,) = _steps(kiln.optimizers.SGD(0.1, clipnorm=1.0), 1, True)
    np.testing.assert_allclose(w, W0 - 0.1 * g / np.linalg.norm(g), rtol=1e-5)
    (w,) = _steps(kiln.optimizers.SGD(0.1, clipvalue=2.0), 1, False)
    np.testing.assert_allclose(w, W0 - 0.1 * np.clip(g, -2, 2), rtol=1e-5)
    (w,) = _steps(kiln.optimizers.SGD(0.1, global_clipnorm=2.0), 1, True)
    np.testing.assert_allclose(w, W0 - 0.1 * g * 2 / np.linalg.norm(g), rtol=1e-5)
    with pytest.raises(ValueError, match="at most one"):
        kiln.optimizers.SGD(0.1, clipnorm=1.0, clipvalue=1.0)


def test_optimizer_names_and_slots(tmp_path):
    for name, cls in (("rmsprop", kiln.optimizers.RMSprop), ("adagrad", kiln.optimizers.Adagrad),
                      ("adamax", kiln.optimizers.Adamax), ("adamw", kiln.optimizers.AdamW),
                      ("adadelta", kiln.optimizers.Adadelta), ("nadam", kiln.optimizers.Nadam),
                      ("ftrl", kiln.optimizers.Ftrl)):
        assert type(kiln.optimizers.get(name)) is cls
    with pytest.raises(ValueError, match="unknown optimizer 'sgdw'"):
        kiln.optimizers.get("sgdw")
    # Slots reach checkpoints, and a restored optimizer continues the same.
    opt = kiln.optimizers.RMSprop(0.1, momentum=0.9)
    w = kiln.Variable(W0.astype(np.float32))
    opt.apply_gradients([(kiln.constant([1.0, 1.0, 1.0]), w)])
    assert sorted(opt.get_slot_names()) == ["momentum", "rms"]
    path = kiln.train.Checkpoint(w=w, opt=opt).write(str(tmp_path / "c.safetensors"))
    w2, opt2 = kiln.Variable(np.zeros(3, np.float32)), kiln.optimizers.RMSprop(0.1, momentum=0.9)
    kiln.train.Checkpoint(w=w2, opt=opt2).restore(path)
    for o, v in ((opt, w), (opt2, w2)):
        o.apply_gradients([(kiln.constant([0.5, -1.0, 2.0]), v)])
    np.testing.assert_allclose(w2.numpy(), w.numpy(), rtol=1e-6)
    # Both against Keras' RMSprop formula in NumPy, over the same two gradients.
    update, state, want = rmsprop(0.1, momentum=0.9), {}, W0.copy()
    for t, g in enumerate(([1.0, 1.0, 1.0], [0.5, -1.0, 2.0]), start=1):
        want = update(want, np.array(g), t, state)
    np.testing.assert_allclose(w2.numpy(), want, rtol=1e-5, atol=1e-6)
    # Keras' default compile optimizer exists now.
    model = kiln.Sequential([kiln.layers.Dense(1)])
    model.compile(loss="mse")
    assert isinstance(model.optimizer, kiln.optimizers.RMSprop)


def test_nadam_keeps_its_schedule_product_in_checkpoints(tmp_path):
    opt = kiln.optimizers.Nadam(0.1)
    w = kiln.Variable(W0.astype(np.float32))
    step = kiln.function(lambda: opt.apply_gradients([(kiln.constant([1.0, -1.0, 2.0]), w)]))
    step()
    step()
    # u_1 * u_2 of Dozat's schedule
    u = [0.9 * (1 - 0.5 * 0.96 ** t) for t in (1, 2)]
    np.testing.assert_allclose(float(opt.u_product), u[0] * u[1], rtol=1e-6)
    assert opt.u_product in opt.variables
    path = kiln.train.Checkpoint(w=w, opt=opt).write(str(tmp_path / "n.safetensors"))
    w2, opt2 = kiln.Variable(np.zeros(3, np.float32)), kiln.optimizers.Nadam(0.1)
    kiln.train.Checkpoint(w=w2, opt=opt2).restore(path)
    assert float(opt2.u_product) == float(opt.u_product)
    for o, v in ((opt, w), (opt2, w2)):
        o.apply_gradients([(kiln.constant([0.5, -1.0, 2.0]), v)])
    np.testing.assert_allclose(w2.numpy(), w.numpy(), rtol=1e-6)
    # Both against Keras' Nadam formula in NumPy, over the same three gradients.
    update, state, want = nadam(0.1), {}, W0.copy()
    for t, g in enumerate(([1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.5, -1.0, 2.0]), start=1):
        want = update(want, np.array(g), t, state)
    np.testing.assert_allclose(w2.numpy(), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="learning_rate_power must be <= 0"):
        kiln.optimizers.Ftrl(0.1, learning_rate_power=0.5)
    with pytest.raises(ValueError, match="l1_regularization_strength must be >= 0"):
        kiln.optimizers.Ftrl(0.1, l1_regularization_strength=-1.0)


def test_schedules_reach_compiled_steps():
    """The rate of step t (0-based) is schedule(t), read from the step
    counter inside the compiled update: NumPy replays the SGD steps."""
    sched = kiln.optimizers.schedules
    cases = [
        (sched.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5),
         lambda t: 0.1 * 0.5 ** (t / 2)),
        (sched.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True),
         lambda t: 0.1 * 0.5 ** (t // 2)),
        (sched.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01]),
         lambda t: 0.1 if t <= 1 else 0.05 if t <= 3 else 0.01),
        (sched.CosineDecay(0.1, decay_steps=4, alpha=0.1),
         lambda t: 0.1 * (0.9 * 0.5 * (1 + np.cos(np.pi * min(t, 4) / 4)) + 0.1)),
        (sched.PolynomialDecay(0.1, decay_steps=3, end_learning_rate=0.01, power=2.0),
         lambda t: (0.1 - 0.01) * (1 - min(t, 3) / 3) ** 2 + 0.01),
        # Keras 3's warmup: 0.02 -> 0.2 over 2 steps, then the cosine from 0.2
        # over 3 steps (held after).
        (sched.CosineDecay(0.02, decay_steps=3, alpha=0.1, warmup_target=0.2,
                           warmup_steps=2),
         lambda t: 0.02 + 0.18 * t / 2 if t < 2 else
         0.2 * (0.9 * 0.5 * (1 + np.cos(np.pi * min(t - 2, 3) / 3)) + 0.1)),
        (sched.CosineDecay(0.02, decay_steps=3, warmup_target=0.2),   # (no warmup steps)
         lambda t: 0.2 * 0.5 * (1 + np.cos(np.pi * min(t, 3) / 3))),
    ]
    for schedule, rate in cases:
        for compiled in (True, False):
            got = _steps(kiln.optimizers.SGD(schedule), 6, compiled)
            w = W0.copy()
            for t, g in enumerate(got):
                w = w - rate(t) * 2 * (w - TARGET)
                np.testing.assert_allclose(g, w, rtol=1e-5, err_msg=f"{schedule} step {t}")


def test_tensorflow_1_names():
    got = _steps(kiln.train.MomentumOptimizer(0.1, 0.9), 3, True)
    w, acc = W0.copy(), np.zeros(3)
    for g in got:
        acc = 0.9 * acc + 2 * (w - TARGET)     # TF1's accumulation
        w = w - 0.1 * acc
        np.testing.assert_allclose(g, w, rtol=1e-5)
    opt = kiln.train.AdamOptimizer(0.01)
    assert opt.epsilon == 1e-8 and isinstance(opt, kiln.optimizers.Adam)


def _adafactor_numpy(w, grads, lr, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0):
    """Keras 3's Adafactor.update_step transcribed, over the given gradient
    function (of w) for len(grads) steps; the weights after each."""
    w = w.astype(np.float64)
    r = np.zeros(w.shape[:-1]) if w.ndim >= 2 else None
    c = np.zeros(w.shape[:-2] + w.shape[-1:]) if w.ndim >= 2 else None
    v = np.zeros(w.shape)
    rms = lambda x: np.sqrt(np.mean(np.square(x)))  # noqa: E731
    out = []
    for t, grad in enumerate(grads, start=1):
        g = grad(w)
        rho = min(min(lr, 1 / np.sqrt(t)), 1 / np.sqrt(t))
        alpha = max(eps2, rms(w)) * rho
        sq = g * g + eps1
        beta = 1 - t ** decay
        if w.ndim >= 2:
            r = beta * r + (1 - beta) * sq.mean(axis=-1)
            c = beta * c + (1 - beta) * sq.mean(axis=-2)
            v = np.expand_dims(r / r.mean(axis=-1, keepdims=True), -1) * np.expand_dims(c, -2)
        else:
            v = beta * v + (1 - beta) * sq
        u = g / np.sqrt(v)
        u = u / max(1.0, rms(u) / clip)
        w = w - alpha * u
        out.append(w)
    return out


def _lamb_numpy(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3's Lamb.update_step transcribed."""
    w = w.astype(np.float64)
    m, v, out = np.zeros(w.shape), np.zeros(w.shape), []
    for t, grad in enumerate(grads, start=1):
        g = grad(w)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        update = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        wn, un = np.linalg.norm(w), np.linalg.norm(update)
        ratio = wn / un if wn > 0 and un > 0 else 1.0
        w = w - ratio * lr * update
        out.append(w)
    return out


def _run_on(optimizer, w0, target, steps, compiled, weighted=True):
    """Minimizes sum(k * (w - target)^2) with `optimizer` (k growing along
    the last axis where `weighted`, so rows and columns see different
    gradients; else 1); the weights after each step, and the gradient."""
    w = kiln.Variable(w0.astype(np.float32))
    k = np.arange(1, w0.shape[-1] + 1, dtype=np.float32) if w0.ndim and weighted \
        else np.float32(1)

    def step():
        with kiln.GradientTape() as tape:
            loss = kiln.reduce_sum(kiln.constant(k) * kiln.square(w - target))
        (g,) = tape.gradient(loss, [w])
        optimizer.apply_gradients([(g, w)])
    run = kiln.function(step) if compiled else step
    out = []
    for _ in range(steps):
        run()
        out.append(w.numpy().copy())
    return out, (lambda x: 2 * k * (x - target))


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (4,), ()])
def test_adafactor_matches_keras_formula(shape, compiled):
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=shape).astype(np.float32)
    opt = kiln.optimizers.Adafactor(0.3, clip_threshold=0.8)
    got, grad = _run_on(opt, w0, 0.25, 5, compiled)
    want = _adafactor_numpy(w0, [grad] * 5, 0.3, clip=0.8)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
    # Factored slots: the row and column means (scalars below rank 2).
    (variable, _), = {(v, 0) for v, _ in opt._slots.values()}
    factored = len(shape) >= 2
    assert opt.get_slot(variable, "r").shape == (shape[:-1] if factored else ())
    assert opt.get_slot(variable, "c").shape == (shape[:-2] + shape[-1:] if factored else ())


@pytest.mark.parametrize("compiled", [False, True])
def test_lamb_matches_keras_formula(compiled):
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(3, 4)).astype(np.float32)
    got, grad = _run_on(kiln.optimizers.Lamb(0.05, beta_1=0.8, epsilon=1e-3), w0, 0.5, 4,
                        compiled)
    want = _lamb_numpy(w0, [grad] * 4, 0.05, b1=0.8, eps=1e-3)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)
    # A zero variable has norm 0: the trust ratio is 1, not a NaN.
    got, grad = _run_on(kiln.optimizers.Lamb(0.05), np.zeros((2, 2), np.float32), 0.5, 2,
                        compiled)
    want = _lamb_numpy(np.zeros((2, 2)), [grad] * 2, 0.05)
    np.testing.assert_allclose(got[-1], want[-1], rtol=2e-5, atol=1e-6)


def test_adafactor_and_lamb_in_keras_models_and_checkpoints(tmp_path):
    for name, cls in (("adafactor", kiln.optimizers.Adafactor),
                      ("lamb", kiln.optimizers.Lamb), ("lion", kiln.optimizers.Lion)):
        assert type(kiln.optimizers.get(name)) is cls
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 1))).astype(np.float32)
    kiln.random.set_seed(1)
    model = kiln.Sequential([kiln.Input((5,)), kiln.layers.Dense(8, activation="relu"),
                             kiln.layers.Dense(1)])
    model.compile(optimizer=kiln.optimizers.Adafactor(0.05), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=6, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    # The factored slots go into checkpoints and come back: a restored
    # optimizer takes the same next step.
    w = kiln.Variable(rng.normal(size=(3, 4)).astype(np.float32))
    opt = kiln.optimizers.Adafactor(0.1)
    g = kiln.constant(rng.normal(size=(3, 4)).astype(np.float32))
    opt.apply_gradients([(g, w)])
    path = kiln.train.Checkpoint(w=w, opt=opt).write(str(tmp_path / "a.safetensors"))
    w2, opt2 = kiln.Variable(np.zeros((3, 4), np.float32)), kiln.optimizers.Adafactor(0.1)
    kiln.train.Checkpoint(w=w2, opt=opt2).restore(path)
    np.testing.assert_array_equal(opt2.get_slot(w2, "c").numpy(), opt.get_slot(w, "c").numpy())
    for o, v in ((opt, w), (opt2, w2)):
        o.apply_gradients([(g * 0.5, v)])
    np.testing.assert_allclose(w2.numpy(), w.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="beta_2_decay must be <= 0"):
        kiln.optimizers.Adafactor(beta_2_decay=0.5)


def test_weight_decay_for_every_optimizer_and_its_exclusions():
    # Keras 3: w -= lr * weight_decay * w, then the optimizer's own step.
    for compiled in (False, True):
        got = _steps(kiln.optimizers.SGD(0.1, momentum=0.5, weight_decay=0.2), 3, compiled)
        w, m = W0.copy(), np.zeros(3)
        for g in got:
            grad = 2 * (w - TARGET)
            w = w - 0.1 * 0.2 * w
            m = 0.5 * m - 0.1 * grad
            w = w + m
            np.testing.assert_allclose(g, w, rtol=1e-5)
    got = _steps(kiln.optimizers.RMSprop(0.1, weight_decay=0.3), 2, True)
    update, state, w = rmsprop(0.1), {}, W0.copy()
    for t, g in enumerate(got, start=1):
        w = update(w - 0.1 * 0.3 * w, 2 * (w - TARGET), t, state)
        np.testing.assert_allclose(g, w, rtol=1e-5)
    # Excluded by name: plain SGD.
    opt = kiln.optimizers.SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["Variable"])
    (w,) = _steps(opt, 1, True)
    np.testing.assert_allclose(w, W0 - 0.1 * 2 * (W0 - TARGET), rtol=1e-6)
    adamw = kiln.optimizers.AdamW(0.1, weight_decay=0.5)
    adamw.exclude_from_weight_decay(var_names=["Variable"])
    (w,) = _steps(adamw, 1, False)
    (plain,) = _steps(kiln.optimizers.Adam(0.1), 1, False)
    np.testing.assert_allclose(w, plain, rtol=1e-6)


def test_moving_average_of_the_weights():
    # use_ema: average = w after the first step, then 0.8 avg + 0.2 w; every
    # 3rd step the weights become the average; fit ends with the averages.
    for compiled in (False, True):
        opt = kiln.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8,
                                  ema_overwrite_frequency=3)
        got = _steps(opt, 4, compiled)
        w, avg = W0.copy(), None
        for t, g in enumerate(got, start=1):
            w = w - 0.1 * 2 * (w - TARGET)
            avg = w.copy() if avg is None else 0.8 * avg + 0.2 * w
            if t % 3 == 0:
                w = avg.copy()
            np.testing.assert_allclose(g, w, rtol=1e-5, err_msg=f"step {t}")
        (variable, average), = opt._slots.values()
        np.testing.assert_allclose(average.numpy(), avg, rtol=1e-5)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 2)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = kiln.Sequential([kiln.Input((2,)), kiln.layers.Dense(1)])
    model.compile(optimizer=kiln.optimizers.SGD(0.05, use_ema=True), loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    opt = model.optimizer
    for v in model.trainable_weights:
        np.testing.assert_array_equal(v.numpy(), opt.get_slot(v, "average").numpy())


def test_moving_averages_survive_save_load_and_resume(tmp_path):
    # model.save writes use_ema, weight_decay and the averages; load_model
    # gives an optimizer that goes on the same; a Checkpoint restores the
    # averages of a fresh optimizer.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(16, 2)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)

    def make():
        kiln.random.set_seed(2)
        m = kiln.Sequential([kiln.Input((2,)), kiln.layers.Dense(1)])
        m.compile(optimizer=kiln.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.9,
                                                weight_decay=0.1), loss="mse")
        return m
    model = make()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = kiln.keras.models.load_model(tmp_path / "m.keras")
    opt = loaded.optimizer
    assert opt.use_ema and opt.ema_momentum == 0.9 and opt.weight_decay == 0.1
    for v, w in zip(loaded.trainable_weights, model.trainable_weights):
        np.testing.assert_array_equal(opt.get_slot(v, "average").numpy(),
                                      model.optimizer.get_slot(w, "average").numpy())
    for m in (model, loaded):
        m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    path = kiln.train.Checkpoint(model=model, opt=model.optimizer).write(
        str(tmp_path / "c.safetensors"))
    fresh = make()
    kiln.train.Checkpoint(model=fresh, opt=fresh.optimizer).restore(path)
    w = model.trainable_weights[0]
    np.testing.assert_array_equal(
        fresh.optimizer.get_slot(fresh.trainable_weights[0], "average").numpy(),
        model.optimizer.get_slot(w, "average").numpy())


def _adam_accumulated_numpy(w, grads, n, lr, clipnorm=None, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3's gradient accumulation around Adam: every n-th call
    (counting every call) updates with the mean of the n gradients since the
    last update (clipped after averaging), its bias correction at that
    call's count; the others only add to the sums."""
    w = w.astype(np.float64)
    m, v, acc, out = np.zeros(w.shape), np.zeros(w.shape), np.zeros(w.shape), []
    for t, grad in enumerate(grads, start=1):
        g = grad(w)
        if t % n:
            acc = acc + g
        else:
            g = (g + acc) / n
            acc = np.zeros(w.shape)
            if clipnorm is not None and np.linalg.norm(g) > clipnorm:
                g = g * clipnorm / np.linalg.norm(g)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            w = w - alpha * m / (np.sqrt(v) + eps)
        out.append((w, acc))
    return out


@pytest.mark.parametrize("compiled", [False, True])
def test_gradient_accumulation_matches_keras(compiled):
    w0 = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]])
    opt = kiln.optimizers.Adam(0.1, clipnorm=1.5, gradient_accumulation_steps=3)
    got, grad = _run_on(opt, w0, TARGET, 8, compiled)
    want = _adam_accumulated_numpy(w0, [grad] * 8, 3, 0.1, clipnorm=1.5)
    for t, (g, (w, _)) in enumerate(zip(got, want), start=1):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6, err_msg=f"step {t}")
    (variable, _), = [v for k, v in opt._slots.items() if k[1] == "m"]
    np.testing.assert_allclose(opt.get_slot(variable, "accumulated").numpy(), want[-1][1],
                               rtol=2e-5)
    assert int(opt.iterations.numpy()) == 8
    assert opt.get_slot_names() == ["m", "v", "accumulated"]


def test_gradient_accumulation_in_fit_equals_a_larger_batch(tmp_path):
    # Plain SGD on a mean loss: two accumulated batches of 8 are one batch
    # of 16 (same order, no shuffling), so the weights after 2k calls with
    # gradient_accumulation_steps=2 are those after k calls with batches
    # of 16; mid-cycle sums survive model.save and load_model.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)

    def make(**accumulate):
        kiln.random.set_seed(7)
        m = kiln.Sequential([kiln.Input((3,)), kiln.layers.Dense(4, activation="tanh"),
                             kiln.layers.Dense(1)])
        m.compile(optimizer=kiln.optimizers.SGD(0.1, **accumulate), loss="mse")
        return m
    big, small = make(), make(gradient_accumulation_steps=2)
    big.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    small.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(small.get_weights(), big.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(small.optimizer.iterations.numpy()) == 16
    # One more batch: half a cycle, held in the sums.
    small.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)
    sums = [small.optimizer.get_slot(v, "accumulated").numpy()
            for v in small.trainable_weights]
    assert any(np.abs(s).max() > 0 for s in sums)
    small.save(tmp_path / "m.keras")
    loaded = kiln.keras.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.gradient_accumulation_steps == 2
    for v, s in zip(loaded.trainable_weights, sums):
        np.testing.assert_array_equal(loaded.optimizer.get_slot(v, "accumulated").numpy(), s)
    for m in (small, loaded):
        m.fit(x[8:16], y[8:16], batch_size=8, epochs=1, verbose=0)
    for a, b in zip(loaded.get_weights(), small.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_gradient_accumulation_steps_is_checked():
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="gradient_accumulation_steps must be an "
                                             "integer >= 2"):
            kiln.optimizers.Adam(gradient_accumulation_steps=bad)


def test_learning_rate_is_a_variable_as_in_keras():
    K = kiln.keras.backend
    opt = kiln.keras.optimizers.SGD(0.1)
    w = kiln.Variable(np.ones(2, np.float32))
    rate = opt.learning_rate
    assert isinstance(rate, kiln.Variable) and np.isclose(rate.numpy(), 0.1)
    assert np.isclose(float(opt.lr), 0.1) and np.isclose(K.get_value(opt.learning_rate), 0.1)
    g = kiln.constant([1.0, 1.0])
    expected = 1.0
    for change, step in ((lambda: None, 0.1), (lambda: opt.learning_rate.assign(0.5), 0.5),
                         (lambda: K.set_value(opt.learning_rate, 0.25), 0.25),
                         (lambda: setattr(opt, "learning_rate", 0.125), 0.125),
                         (lambda: setattr(opt, "lr", 0.0625), 0.0625)):
        change()
        opt.apply_gradients([(g, w)])
        expected -= step
        np.testing.assert_allclose(w.numpy(), [expected] * 2, rtol=1e-6)
    schedule = kiln.keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    opt.learning_rate = schedule
    assert opt.learning_rate is schedule


def test_weight_constraints_after_each_step(tmp_path):
    """Keras' constraints (NumPy formulas as the oracle), applied by the
    compiled update after every step: layer arguments, add_weight, a
    Variable's own; kept by model.save."""
    C = kiln.keras.constraints
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)) * 3
    norms = np.linalg.norm(w, axis=0)
    np.testing.assert_allclose(C.MaxNorm(2.0)(kiln.constant(w)).numpy(),
                               w * np.minimum(norms, 2.0) / (1e-7 + norms), rtol=1e-12)
    np.testing.assert_allclose(C.UnitNorm(axis=1)(kiln.constant(w)).numpy(),
                               w / (1e-7 + np.linalg.norm(w, axis=1, keepdims=True)), rtol=1e-12)
    clipped = np.clip(norms, 0.5, 1.5)
    np.testing.assert_allclose(C.MinMaxNorm(0.5, 1.5, rate=0.5)(kiln.constant(w)).numpy(),
                               w * (0.5 * clipped + 0.5 * norms) / (1e-7 + norms), rtol=1e-12)
    np.testing.assert_array_equal(C.get("non_neg")(kiln.constant(w)).numpy(), np.maximum(w, 0))

    model = kiln.keras.Sequential([kiln.keras.Input((4,)), kiln.keras.layers.Dense(
        3, kernel_constraint=C.MaxNorm(0.5), bias_constraint="non_neg")])
    model.compile(kiln.keras.optimizers.SGD(1.0), "mse")
    x = rng.random((16, 4)).astype(np.float32)
    model.fit(x, rng.random((16, 3)).astype(np.float32) * 10, epochs=3, verbose=0)
    dense = model.layers[-1]
    assert np.all(np.linalg.norm(dense.kernel.numpy(), axis=0) <= 0.5 + 1e-6)
    assert np.all(dense.bias.numpy() >= 0)
    lstm = kiln.keras.layers.LSTM(3, recurrent_constraint=C.UnitNorm())
    seq = kiln.keras.Sequential([kiln.keras.Input((5, 2)), lstm, kiln.keras.layers.Dense(1)])
    seq.compile("adam", "mse")
    seq.fit(rng.random((8, 5, 2)).astype(np.float32), rng.random((8, 1)).astype(np.float32),
            verbose=0)
    np.testing.assert_allclose(np.linalg.norm(lstm.cell.recurrent_kernel.numpy(), axis=0), 1.0,
                               rtol=1e-5)
    v = kiln.Variable([-1.0, 2.0], constraint=C.NonNeg())
    kiln.keras.optimizers.SGD(1.0).apply_gradients([(kiln.constant([1.0, 1.0]), v)])
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = kiln.keras.models.load_model(path)
    assert isinstance(loaded.layers[-1].kernel.constraint, C.MaxNorm)
    assert loaded.layers[-1].kernel.constraint.max_value == 0.5
    with pytest.raises(ValueError, match="unknown constraint"):
        kiln.keras.layers.Dense(2, kernel_constraint="nope")


def test_amsgrad_divides_by_the_largest_second_moment():
    """Adam(amsgrad=True) and AdamW(amsgrad=True) against Keras' update
    written in NumPy (v_hat = max(v_hat, v); AdamW decays first), eagerly
    and compiled; a large first gradient then small ones makes v_hat stay
    above v, so plain Adam differs."""
    K = kiln.keras

    def oracle(w, grads, lr=0.1, b1=0.9, b2=0.5, eps=1e-7, wd=0.0):
        m, v, vhat = (np.zeros_like(w) for _ in range(3))
        for t, g in enumerate(grads, 1):
            w = w - lr * wd * w
            m = m + (g - m) * (1 - b1)
            v = v + (g * g - v) * (1 - b2)
            vhat = np.maximum(vhat, v)
            w = w - m * lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(vhat) + eps)
        return w

    w0 = np.array([1.0, -2.0, 3.0], np.float32)
    grads = [np.array([10.0, -5.0, 2.0], np.float32)] + \
        [np.array([0.01, 0.02, -0.01], np.float32)] * 4
    for cls, extra, decay in ((K.optimizers.Adam, {}, 0.0),
                              (K.optimizers.AdamW, {"weight_decay": 0.01}, 0.01)):
        want = oracle(w0.astype(np.float64), grads, wd=decay)
        for compiled in (False, True):
            v = kiln.Variable(w0)
            opt = cls(0.1, beta_2=0.5, amsgrad=True, **extra)
            step = lambda g: opt.apply_gradients([(g, v)])   # noqa: E731
            step = kiln.function(step) if compiled else step
            for g in grads:
                step(kiln.constant(g))
            np.testing.assert_allclose(v.numpy(), want, rtol=1e-5, atol=1e-6)
        plain = kiln.Variable(w0)
        opt = cls(0.1, beta_2=0.5, **extra)
        for g in grads:
            opt.apply_gradients([(kiln.constant(g), plain)])
        assert np.abs(plain.numpy() - want).max() > 1e-3


def test_optimizer_config_round_trips():
    """Keras' get_config / from_config / serialize / deserialize, a
    schedule as {"class_name", "config"}."""
    K = kiln.keras
    schedule = K.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    opt = K.optimizers.SGD(schedule, momentum=0.9, nesterov=True, clipnorm=1.0)
    config = opt.get_config()
    assert config["momentum"] == 0.9 and config["nesterov"] and config["clipnorm"] == 1.0
    assert config["learning_rate"] == {"class_name": "ExponentialDecay", "config": {
        "initial_learning_rate": 0.1, "decay_steps": 10.0, "decay_rate": 0.5,
        "staircase": True}}
    again = K.optimizers.deserialize(K.optimizers.serialize(opt))
    assert type(again) is K.optimizers.SGD and again.get_config() == config
    adam = K.optimizers.Adam(0.003, amsgrad=True)
    assert K.optimizers.get(K.optimizers.serialize(adam)).get_config() == adam.get_config()
    assert adam.get_config()["learning_rate"] == pytest.approx(0.003)
    with pytest.raises(ValueError, match="unknown optimizer class"):
        K.optimizers.deserialize({"class_name": "Mystery", "config": {}})


def test_minimize_a_loss_tensor_with_its_tape():
    """TensorFlow 2.11+'s minimize(loss, var_list, tape=tape) and
    compute_gradients, also through a LossScaleOptimizer (its scaling
    recorded on the same tape): d(sum v^2) = 2v, one SGD step."""
    K = kiln.keras
    for opt in (K.optimizers.SGD(0.1),
                K.mixed_precision.LossScaleOptimizer(K.optimizers.SGD(0.1))):
        v = kiln.Variable([1.0, 2.0])
        with kiln.GradientTape() as tape:
            loss = kiln.reduce_sum(v * v)
        assert float(opt.minimize(loss, [v], tape=tape)) == 5.0
        np.testing.assert_allclose(v.numpy(), [0.8, 1.6], rtol=1e-6)
        (grad, var), = opt.compute_gradients(lambda: kiln.reduce_sum(v * 3.0), [v])
        assert var is v
        np.testing.assert_allclose(grad.numpy(), [3.0, 3.0])
    with pytest.raises(TypeError, match="with the tape that recorded it"):
        K.optimizers.SGD(0.1).minimize(kiln.constant(1.0), [v])


def test_checkpoint_restores_what_it_has_into_a_fresh_optimizer(tmp_path):
    """TensorFlow's partial restore: a checkpoint of a model alone restores
    into Checkpoint(model=..., optimizer=Adam()) (the optimizer keeps its
    fresh state); the status names what is missing, its asserts raise, and
    a warning says so unless expect_partial() is called. TensorFlow's
    prefix form of the path (no suffix) restores too; a file with none of
    the variables is still an error."""
    K = kiln.keras

    def model():
        m = K.Sequential([K.layers.Dense(2)])
        m.build((None, 3))
        return m

    trained = model()
    path = kiln.train.Checkpoint(model=trained).save(str(tmp_path / "ckpt"))
    fresh = model()
    optimizer = K.optimizers.Adam()
    checkpoint = kiln.train.Checkpoint(model=fresh, optimizer=optimizer)
    status = checkpoint.restore(path).expect_partial()
    for a, b in zip(fresh.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert status.missing and int(optimizer.iterations.numpy()) == 0
    with pytest.raises(AssertionError, match="without a value in the checkpoint"):
        status.assert_existing_objects_matched()
    with pytest.warns(UserWarning, match="expect_partial"):
        unchecked = checkpoint.restore(path.removesuffix(".safetensors"))
        del unchecked
        import gc
        gc.collect()
    other = kiln.Variable(np.zeros(3, np.float32))
    with pytest.raises(kiln.errors.NotFoundError, match="none of these objects' variables"):
        kiln.train.Checkpoint(thing=other).restore(path)
