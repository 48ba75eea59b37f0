"""kiln.debugging against tf.debugging's rules: each check passes where
NumPy says the condition holds and raises an InvalidArgumentError naming
the line (eagerly with the failing values, compiled when the code runs)."""

import numpy as np
import pytest

import kiln

CHECKS = {
    "assert_equal": np.equal, "assert_none_equal": np.not_equal,
    "assert_less": np.less, "assert_less_equal": np.less_equal,
    "assert_greater": np.greater, "assert_greater_equal": np.greater_equal,
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_comparisons_follow_numpy(name):
    check = getattr(kiln.debugging, name)
    compiled = kiln.function(lambda a, b: (check(a, b, message="step 3"), a + b)[1])
    rng = np.random.default_rng(len(name))
    # Random cases, then the boundaries: equal values, and one entry
    # above / below (where < and <= part ways).
    same = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], np.float32)
    row = np.array([1.0, 2.0, 3.0], np.float32)
    cases = [(rng.integers(0, 3, (2, 3)).astype(np.float32),
              rng.integers(0, 3, (3,)).astype(np.float32)) for _ in range(6)]
    cases += [(same, row), (same - 1, row), (same + 1, row),
              (same + np.array([[0, 0, 1], [0, 0, 0]], np.float32), row)]
    for x, y in cases:  # (y broadcasts)
        holds = bool(CHECKS[name](x, y).all())
        for run in (lambda a, b: check(a, b, message="step 3"), compiled):
            if holds:
                run(kiln.constant(x), kiln.constant(y))
            else:
                with pytest.raises(kiln.errors.InvalidArgumentError,
                                   match=rf"test_debugging.py:\d+: .*step 3: {name}: x .* y did not hold"):
                    run(kiln.constant(x), kiln.constant(y))


def test_eager_messages_show_the_failing_values_and_signs():
    with pytest.raises(kiln.errors.InvalidArgumentError,
                       match=r"x < y did not hold \(first failing: \[1\]: x=5, y=2; \[2\]: x=3, y=2\)"):
        kiln.debugging.assert_less([1, 5, 3], [2, 2, 2])
    with pytest.raises(kiln.errors.InvalidArgumentError, match=r"first failing: \[0\]: x=5, y=2\)"):
        kiln.debugging.assert_less([5, 5], 2, summarize=1)
    kiln.debugging.assert_positive([1.0, 2.0])
    kiln.debugging.assert_non_negative([0, 2])
    kiln.debugging.assert_non_positive([0.0, -1.0])
    for check, value in ((kiln.debugging.assert_positive, [1.0, 0.0]),
                         (kiln.debugging.assert_negative, [-1.0, 0.0]),
                         (kiln.debugging.assert_non_negative, [-1, 2]),
                         (kiln.debugging.assert_non_positive, [0.5])):
        with pytest.raises(kiln.errors.InvalidArgumentError, match=check.__name__):
            check(value)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="do not broadcast"):
        kiln.debugging.assert_equal([1, 2], [1, 2, 3])
    # Top-level aliases, as tf.assert_equal.
    assert kiln.assert_equal is kiln.debugging.assert_equal


def test_assert_near_uses_tfs_default_tolerances():
    eps32 = np.finfo(np.float32).eps
    x = np.array([1.0, 2.0], np.float32)
    kiln.debugging.assert_near(x, x + 5 * eps32)          # within 10 eps (+ 10 eps |y|)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="assert_near"):
        kiln.debugging.assert_near(x, x * (1 + 100 * eps32))
    kiln.debugging.assert_near(np.array([1.0]), np.array([1.05]), atol=0.1)
    compiled = kiln.function(lambda a, b: (kiln.debugging.assert_near(a, b, rtol=0.01), a)[1])
    compiled(kiln.constant([100.0]), kiln.constant([100.5]))
    with pytest.raises(kiln.errors.InvalidArgumentError, match="assert_near"):
        compiled(kiln.constant([100.0]), kiln.constant([102.0]))
    with pytest.raises(TypeError, match="floating-point"):
        kiln.debugging.assert_near([1], [1])


def test_check_numerics_and_static_checks():
    good = kiln.constant([1.0, 2.0])
    assert kiln.debugging.check_numerics(good, "ok") is good
    for values, kind in (([1.0, np.nan], "NaN"), ([np.inf, 1.0], "Inf"),
                         ([np.inf, np.nan], "Inf and NaN")):
        with pytest.raises(kiln.errors.InvalidArgumentError,
                           match=rf"^.*loss : Tensor had {kind} values$"):
            kiln.debugging.check_numerics(kiln.constant(values), "loss")
    logs = kiln.function(lambda v: kiln.debugging.check_numerics(kiln.math.log(v), "log"))
    np.testing.assert_allclose(logs(kiln.constant([1.0, np.e])).numpy(), [0.0, 1.0], rtol=1e-6)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="log : Tensor had Inf or NaN"):
        logs(kiln.constant([0.0, 1.0]))
    # The gradient passes through.
    x = kiln.constant([3.0])
    with kiln.GradientTape() as tape:
        tape.watch(x)
        y = kiln.debugging.check_numerics(x * x, "sq")
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [6.0])
    kiln.debugging.assert_rank(good, 1)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="rank 1 .*not 2"):
        kiln.debugging.assert_rank(good, 2)
    with pytest.raises(kiln.errors.InvalidArgumentError, match="not 0"):
        kiln.debugging.assert_scalar(good)
    kiln.debugging.assert_type(good, kiln.float32)
    with pytest.raises(TypeError, match="float32, not int32"):
        kiln.debugging.assert_type(good, kiln.int32)
    with pytest.raises(TypeError, match="not an integer type"):
        kiln.debugging.assert_integer(good)
    with pytest.raises(TypeError, match="floating-point"):
        kiln.debugging.check_numerics(kiln.constant([1]), "ints")
