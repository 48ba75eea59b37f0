"""kiln.mixed_precision (Keras' mixed precision): dtype policies, layers that
compute in float16/bfloat16 with float32 variables, and loss scaling.
Oracles: NumPy in float64 on the half-rounded values, and the documented
rules of Keras' LossScaleOptimizer written out here."""

import os

import numpy as np
import pytest

import kiln
from test_bfloat16 import bf16

mp = kiln.mixed_precision


@pytest.fixture(autouse=True)
def float32_policy_after():
    yield
    mp.set_global_policy(None)


def test_policies():
    assert mp.global_policy().name == "float32"
    p = mp.Policy("mixed_float16")
    assert (p.name, p.compute_dtype, p.variable_dtype) == \
        ("mixed_float16", "float16", "float32")
    b = mp.Policy("mixed_bfloat16")
    assert (b.compute_dtype, b.variable_dtype) == ("bfloat16", "float32")
    assert mp.Policy(kiln.float64).compute_dtype == "float64"
    assert repr(p) == '<Policy "mixed_float16">' and p == mp.Policy(p)
    with pytest.raises(ValueError, match="mixed_float16"):
        mp.Policy("mixed_float17")
    mp.set_global_policy("mixed_bfloat16")
    layer = kiln.layers.Dense(2)
    assert layer.dtype_policy == b and layer.compute_dtype == "bfloat16"
    assert layer.dtype == "float32"  # (Keras: the variables' dtype)
    assert kiln.layers.Dense(2, dtype="float32").compute_dtype == "float32"
    mp.set_global_policy(None)
    assert kiln.layers.Dense(2).dtype_policy.name == "float32"
    assert layer.compute_dtype == "bfloat16"  # made earlier: keeps its policy
    # Keras 3's names.
    mp.set_dtype_policy(mp.DTypePolicy("mixed_float16"))
    assert mp.dtype_policy().name == "mixed_float16"
    assert kiln.layers.Dense(2).compute_dtype == "float16"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_dense_computes_in_the_half_type_with_float32_variables(policy):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    layer = kiln.layers.Dense(4, activation="relu", dtype=policy,
                              bias_initializer="ones")
    y = layer(x)
    compute = kiln.as_dtype(layer.compute_dtype)
    assert y.dtype == compute
    assert layer.kernel.dtype == kiln.float32 and layer.bias.dtype == kiln.float32
    # Outside the layer's call the variable reads as float32.
    assert kiln.convert_to_tensor(layer.kernel).dtype == kiln.float32

    def rounded(v):
        # NumPy's float16, or bfloat16 from the format's definition.
        if compute == kiln.float16:
            return np.asarray(v).astype(np.float16).astype(np.float64)
        return bf16(v)
    k = rounded(layer.kernel.numpy())
    want = np.maximum(rounded(x) @ k + 1.0, 0)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-2, atol=1e-2)

    # Gradients reach the float32 variables as float32: d sum(x @ k + b)/dk
    # is x^T @ 1 (in the half-rounded x).
    linear = kiln.layers.Dense(3, dtype=policy)
    linear.build((6, 5))
    with kiln.GradientTape() as tape:
        out = kiln.reduce_sum(kiln.cast(linear(x), kiln.float32))
    gk, gb = tape.gradient(out, [linear.kernel, linear.bias])
    assert gk.dtype == kiln.float32 and gb.dtype == kiln.float32
    np.testing.assert_allclose(gk.numpy(), np.repeat(rounded(x).sum(0)[:, None], 3, 1),
                               rtol=1e-2)
    np.testing.assert_allclose(gb.numpy(), np.full(3, 6.0))


def test_normalization_layers_compute_in_float32():
    """As in Keras: under a 16-bit policy BatchNormalization and
    LayerNormalization keep float32 weights and normalize in float32, and
    their output has the compute dtype."""
    mp.set_global_policy("mixed_float16")
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((16, 6)) * 300 + 1000).astype(np.float32)
    bn = kiln.layers.BatchNormalization()
    y = bn(x, training=True)
    assert y.dtype == kiln.float16
    assert all(v.dtype == kiln.float32 for v in bn.variables)
    x16 = x.astype(np.float16).astype(np.float64)
    want = (x16 - x16.mean(0)) / np.sqrt(x16.var(0) + 1e-3)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x16.mean(0), rtol=1e-5)
    ln = kiln.layers.LayerNormalization()
    z = ln(x)
    assert z.dtype == kiln.float16 and ln.gamma.dtype == kiln.float32
    want = (x16 - x16.mean(1, keepdims=True)) / np.sqrt(x16.var(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(z.numpy(), want, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, "bfloat16"])
def test_is_finite_is_nan_is_inf(dtype):
    values = [0.0, -1.5, np.inf, -np.inf, np.nan, 3e38 if dtype != np.float16 else 6e4]
    x = kiln.constant(values, dtype=kiln.bfloat16) if dtype == "bfloat16" \
        else kiln.constant(np.array(values, dtype))
    v = np.array(values, np.float64)
    for name, ref in (("is_finite", np.isfinite), ("is_nan", np.isnan), ("is_inf", np.isinf)):
        fn = getattr(kiln.math, name)
        np.testing.assert_array_equal(fn(x).numpy(), ref(v))
        np.testing.assert_array_equal(kiln.function(fn)(x).numpy(), ref(v))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="is_nan.*int32"):
        kiln.math.is_nan(kiln.constant([1, 2]))


def keras_rule(scale, good, finite, growth):
    """Keras' dynamic loss scale after one step (tf.keras' DynamicLossScale):
    (scale, good steps, applied). The scale doubles only to a finite
    float32."""
    if not finite:
        return max(scale / 2, 1.0), 0, False
    good += 1
    if good == growth:
        with np.errstate(over="ignore"):
            doubled = np.float32(scale) * np.float32(2)
        return (float(doubled) if np.isfinite(doubled) else scale), 0, True
    return scale, good, True


@pytest.mark.parametrize("compiled", [False, True])
def test_loss_scale_optimizer_follows_keras_rule(compiled):
    w = kiln.Variable([1.0, -2.0])
    opt = mp.LossScaleOptimizer(kiln.optimizers.SGD(0.5), initial_scale=4.0,
                                dynamic_growth_steps=2)
    assert float(opt.loss_scale) == 4.0 and opt.dynamic_growth_steps == 2

    def step(g):
        opt.apply_gradients([(g, w)])
    if compiled:
        step = kiln.function(step)
    grads = [[1.0, 1.0], [np.inf, 0.0], [0.5, 0.5], [1.0, 2.0], [np.nan, 1.0],
             [np.nan, 1.0], [np.nan, 1.0], [2.0, 0.0]]
    scale, good, want = 4.0, 0, np.array([1.0, -2.0])
    for steps, g in enumerate(grads, 1):
        step(kiln.constant(g))
        finite = bool(np.isfinite(g).all())
        scale, good, applied = keras_rule(scale, good, finite, 2)
        if applied:
            want = want - 0.5 * np.array(g, np.float32)
        np.testing.assert_array_equal(w.numpy(), want.astype(np.float32))
        assert float(opt.loss_scale) == scale
        assert int(opt.dynamic_counter) == good
        # As in tf.keras, a skipped step counts (schedules go on).
        assert int(opt.iterations.numpy()) == steps


def test_loss_scale_never_doubles_to_infinity():
    """2**127 doubled is float32's infinity: the scale stays (else every
    later scaled gradient would be infinite and every step skipped)."""
    w = kiln.Variable([1.0])
    opt = mp.LossScaleOptimizer(kiln.optimizers.SGD(1.0), initial_scale=2.0 ** 126,
                                dynamic_growth_steps=1)
    scale, good = 2.0 ** 126, 0
    for _ in range(3):
        opt.apply_gradients([(kiln.constant([0.0]), w)])
        scale, good, _ = keras_rule(scale, good, True, 1)
        assert float(opt.loss_scale) == scale
    assert scale == 2.0 ** 127
    opt.apply_gradients([(kiln.constant([0.5]), w)])
    np.testing.assert_array_equal(w.numpy(), [0.5])


def test_scaled_loss_and_unscaled_gradients():
    opt = mp.LossScaleOptimizer(kiln.optimizers.SGD(0.1), dynamic=False,
                                initial_scale=1024)
    assert opt.dynamic is False and opt.dynamic_growth_steps is None
    np.testing.assert_allclose(opt.get_scaled_loss(kiln.constant(0.5)).numpy(), 512.0)
    np.testing.assert_allclose(opt.scale_loss(kiln.constant(0.25)).numpy(), 256.0)
    half = kiln.constant([2048.0], dtype=kiln.float16)
    assert opt.get_scaled_loss(half).dtype == kiln.float16
    g, none = opt.get_unscaled_gradients([kiln.constant([2048.0, 1.0]), None])
    np.testing.assert_allclose(g.numpy(), [2.0, 1.0 / 1024])
    assert none is None
    # Without dynamic scaling every step is applied.
    w = kiln.Variable([1.0])
    opt.apply_gradients([(kiln.constant([np.inf]), w)])
    assert np.isinf(w.numpy()[0])
    for bad in (dict(dynamic=False), dict(initial_scale=0.5),
                dict(dynamic_growth_steps=0), dict(dynamic=False, initial_scale=2,
                                                     dynamic_growth_steps=3)):
        with pytest.raises(ValueError, match="LossScaleOptimizer"):
            mp.LossScaleOptimizer(kiln.optimizers.SGD(0.1), **bad)


def test_loss_scaling_keeps_tiny_float16_gradients():
    """A gradient of 1e-9 per element is below float16's smallest
    subnormal (6e-8): unscaled it becomes zero in the float16 backward
    pass; with the loss scaled by 2**15 it survives and, unscaled in
    float32, equals the float32 gradient."""
    x = np.full((4, 3), 0.5, np.float32)

    def grads(optimizer):
        layer = kiln.layers.Dense(1, dtype="mixed_float16", use_bias=False,
                                  kernel_initializer="ones")
        with kiln.GradientTape() as tape:
            loss = kiln.cast(kiln.reduce_sum(layer(x)), kiln.float32) * 2e-9
            scaled = optimizer._scale_loss(loss)
        (g,) = optimizer._unscale_gradients(tape.gradient(scaled, [layer.kernel]))
        return g.numpy()

    plain = grads(kiln.optimizers.SGD(0.1))
    scaled = grads(mp.LossScaleOptimizer(kiln.optimizers.SGD(0.1)))
    want = np.full((3, 1), 4 * 0.5 * 2e-9)
    np.testing.assert_array_equal(plain, np.zeros((3, 1)))
    np.testing.assert_allclose(scaled, want, rtol=2e-3)


def test_fit_with_regularizers_and_a_16_bit_output():
    """The compiled loss and the regularizers' terms come in float16 and
    float32; fit adds them in float32 (Keras casts losses to a common
    dtype) and reports that."""
    mp.set_global_policy("mixed_float16")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 2)).astype(np.float32)
    model = kiln.Sequential([
        kiln.layers.Dense(8, activation="relu", activity_regularizer="l2",
                          kernel_regularizer="l2"),
        kiln.layers.Dense(2)])  # float16 output
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert model(x).dtype == kiln.float16
    assert np.isfinite(model.evaluate(x, y, verbose=0))


def test_minimize_scales_the_loss():
    opt = mp.LossScaleOptimizer(kiln.optimizers.SGD(1.0), initial_scale=2.0 ** 20)
    w = kiln.Variable([3.0])
    opt.minimize(lambda: kiln.reduce_sum(w * w), [w])
    np.testing.assert_allclose(w.numpy(), [3.0 - 6.0])
    opt.minimize(lambda: kiln.reduce_sum(w * np.float32(3e38) * 10), [w])  # inf
    np.testing.assert_allclose(w.numpy(), [-3.0])
    assert float(opt.loss_scale) == 2.0 ** 19


def test_fit_under_mixed_float16(tmp_path):
    """compile wraps the optimizer in a LossScaleOptimizer (as Keras does);
    fit trains; the scale and its counter are checkpointed."""
    mp.set_global_policy("mixed_float16")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((128, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    model = kiln.Sequential([kiln.layers.Dense(16, activation="relu"),
                             kiln.layers.Dense(2),
                             kiln.layers.Activation("softmax", dtype="float32")])
    model.compile(optimizer=kiln.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(model.optimizer, mp.LossScaleOptimizer)
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert model(x).dtype == kiln.float32
    assert all(v.dtype == kiln.float32 for v in model.variables)
    assert int(model.optimizer.iterations.numpy()) == 32
    ckpt = kiln.train.Checkpoint(model=model, optimizer=model.optimizer)
    path = ckpt.save(os.path.join(tmp_path, "ckpt"))
    scale = float(model.optimizer.loss_scale)
    model.optimizer._scale.assign(1.0)
    ckpt.restore(path)
    assert float(model.optimizer.loss_scale) == scale
    mp.set_global_policy("mixed_bfloat16")
    other = kiln.Sequential([kiln.layers.Dense(2)])
    other.compile(optimizer="sgd", loss="mse")
    assert not isinstance(other.optimizer, mp.LossScaleOptimizer)
