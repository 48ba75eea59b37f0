"""TensorFlow/Keras semantics that a review of the sweep fixes found
broken or incomplete: each test was seen failing before its fix."""

import numpy as np
import pytest

import kiln
from kiln import layers


def test_training_passed_by_position_is_the_calls_own():
    """`layer(x, True)`: a training flag given by position is the call's
    (the call context must not add it again as a keyword), also for the
    layers it calls."""
    class Noisy(layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.5)

        def call(self, x, training=False):
            return self.drop(x)

    noisy = Noisy()
    x = kiln.ones([64])
    assert not np.array_equal(noisy(x, True).numpy(), noisy(x, True).numpy())
    np.testing.assert_array_equal(noisy(x, False).numpy(), x.numpy())


def test_seeded_initializers_repeat_their_values():
    """Keras: an initializer with an integer seed gives the same values on
    every call and in every instance (two models built alike start alike),
    while a seeded random op draws its sequence."""
    init = kiln.keras.initializers.GlorotUniform(seed=1)
    first = init([3, 2]).numpy()
    np.testing.assert_array_equal(init([3, 2]).numpy(), first)
    np.testing.assert_array_equal(kiln.keras.initializers.GlorotUniform(seed=1)([3, 2]).numpy(),
                                  first)


def test_open_shaped_variables_train_and_checkpoint(tmp_path):
    """A variable declared with shape=[None] keeps working with optimizers
    and checkpoints (they see its value's shape)."""
    v = kiln.Variable(np.ones(3, np.float32), shape=[None])
    kiln.keras.optimizers.SGD(0.5).apply_gradients([(kiln.ones([3]), v)])
    np.testing.assert_array_equal(v.numpy(), [0.5, 0.5, 0.5])
    assert v.shape == (3,)
    path = kiln.train.Checkpoint(v=v).save(str(tmp_path / "open"))
    v.assign(np.zeros(3, np.float32))
    kiln.train.Checkpoint(v=v).restore(path)
    np.testing.assert_array_equal(v.numpy(), [0.5, 0.5, 0.5])


def test_shape_invariants_pair_with_their_variables():
    """tf.while_loop(shape_invariants=[TensorShape([None, 2])] * 2): each
    invariant goes with its variable (a TensorShape is one invariant)."""
    a, b = kiln.zeros([4, 2]), kiln.ones([4, 2])
    out = kiln.while_loop(lambda x, y: kiln.reduce_sum(x) < 3.0,
                          lambda x, y: (x + 1.0 / 8, y), [a, b],
                          shape_invariants=[kiln.TensorShape([None, 2])] * 2)
    assert float(kiln.reduce_sum(out[0])) == 3.0


def test_element_spec_of_stages_of_unknown_length():
    """element_spec through shuffle/filter and batch of a generator (whose
    length is unknown) is the signature's, batched."""
    def rows():
        for i in range(5):
            yield np.full(2, i, np.float32)

    spec = kiln.TensorSpec([2], kiln.float32)
    ds = kiln.data.Dataset.from_generator(rows, output_signature=spec)
    assert ds.shuffle(3).batch(2).element_spec == kiln.TensorSpec([None, 2], kiln.float32)
    assert ds.filter(lambda r: r[0] > 1).batch(2, drop_remainder=True).element_spec == \
        kiln.TensorSpec([2, 2], kiln.float32)


def test_tensor_array_rows_written_before_a_loop_are_replaced_exactly():
    """A row written (with inf) before a compiled loop that writes every
    row at its counter, and a loop writing rows i % 2 twice: the last write
    of each row is its value exactly (adding the difference made NaN and
    rounded)."""
    @kiln.function
    def before_the_loop(x):
        ta = kiln.TensorArray(kiln.float32, size=3)
        ta = ta.write(0, kiln.constant(np.inf))
        for i in kiln.range(3):
            ta = ta.write(i, x * kiln.cast(i + 1, kiln.float32))
        return ta.stack()

    @kiln.function
    def twice(x):
        ta = kiln.TensorArray(kiln.float32, size=2)
        for i in kiln.range(4):
            ta = ta.write(i % 2, x * 1e8 * kiln.cast(i < 2, kiln.float32) + kiln.cast(i, kiln.float32))
        return ta.stack()

    np.testing.assert_array_equal(before_the_loop(kiln.constant(2.0)).numpy(), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(twice(kiln.constant(1.0)).numpy(), [2.0, 3.0])


def test_a_value_escaping_an_inner_loop_is_a_clear_error_when_nested():
    """A tensor made in an inner loop body and used in the enclosing loop's
    body: the error names the problem (the trace's blocks are left in
    order, no crash)."""
    @kiln.function
    def nested(x):
        total = kiln.constant(0.0)
        for i in kiln.range(2):
            kept = []
            for j in kiln.range(2):
                kept.append(x * kiln.cast(j, kiln.float32))
            total += kept[-1]
        return total

    with pytest.raises(kiln.errors.InvalidArgumentError, match="use kiln.TensorArray"):
        nested(kiln.constant(1.0))
    assert float(kiln.function(lambda x: x * 2.0)(kiln.constant(1.0))) == 2.0


def test_one_empty_dynamic_array_starts_two_loops():
    """The same empty dynamic_size TensorArray as the start of two loops of
    different ranges: each loop's result has its own size (a loop does not
    change the caller's array)."""
    start = kiln.TensorArray(kiln.float32, size=0, dynamic_size=True)

    @kiln.function
    def two(x):
        a, b = start, start
        for i in kiln.range(3):
            a = a.write(i, x)
        for j in kiln.range(5):
            b = b.write(j, x)
        return a.stack(), b.stack()

    a, b = two(kiln.constant(1.0))
    assert a.shape == (3,) and b.shape == (5,)
    assert start.size().numpy() == 0


def test_early_stopping_waits_while_the_loss_improves_above_the_baseline():
    """Keras 3: an improvement that does not beat the baseline keeps the
    wait counting but never stops at that epoch; patience 2, baseline 0.1,
    a loss falling 1.0, 0.9, 0.8 does not stop."""
    model = kiln.keras.Sequential([layers.Dense(1)])
    model.build((None, 1))
    stop = kiln.keras.callbacks.EarlyStopping(monitor="loss", patience=2, baseline=0.1)
    stop.set_model(model)
    model.stop_training = False
    stop.on_train_begin({})
    for epoch, loss in enumerate([1.0, 0.9, 0.8]):
        stop.on_epoch_end(epoch, {"loss": loss})
    assert not model.stop_training


def test_ftrl_config_round_trips_and_complex_norms_are_real():
    """Ftrl's get_config keeps its arguments; norm(ord=1) of a complex
    tensor is real (TensorFlow takes moduli first), the euclidean complex."""
    ftrl = kiln.keras.optimizers.Ftrl(0.1, l1_regularization_strength=0.3, beta=0.2)
    again = kiln.keras.optimizers.Ftrl.from_config(ftrl.get_config())
    assert again.get_config() == ftrl.get_config()
    assert again.get_config()["l1_regularization_strength"] == 0.3
    z = kiln.constant(np.array([3 + 4j, 1j], np.complex64))
    one = kiln.norm(z, ord=1)
    assert not one.dtype.is_complex and float(one) == pytest.approx(6.0)
    assert kiln.norm(z).dtype.is_complex
