"""tf.test: what TensorFlow's own test helpers give user tests (a
unittest.TestCase with array assertions, GPU queries)."""

import unittest

import numpy as np

from . import config


def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None):
    """Whether a GPU is visible to Kiln (tf.test.is_gpu_available)."""
    return bool(config.list_logical_devices("GPU"))


def gpu_device_name():
    """The first visible GPU's device name, or "" without one."""
    gpus = config.list_logical_devices("GPU")
    return gpus[0] if gpus else ""


def is_built_with_cuda():
    """Kiln always has its CUDA code generator (the runtime loads the
    driver when there is one)."""
    return True


def main(argv=None):
    unittest.main(argv=argv)


def _array(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value)


class TestCase(unittest.TestCase):
    """unittest.TestCase with tf.test.TestCase's array assertions (NumPy's
    comparisons on the tensors' values; TensorFlow's default tolerances)."""

    def evaluate(self, tensors):
        """The tensors' values as NumPy (nested structures kept)."""
        from . import nest
        return nest.map_structure(_array, tensors)

    def assertAllClose(self, a, b, rtol=1e-6, atol=1e-6, msg=None):   # noqa: N802
        np.testing.assert_allclose(_array(a), _array(b), rtol=rtol, atol=atol,
                                   err_msg=msg or "")

    def assertAllEqual(self, a, b, msg=None):   # noqa: N802
        np.testing.assert_array_equal(_array(a), _array(b), err_msg=msg or "")

    def assertNotAllClose(self, a, b, rtol=1e-6, atol=1e-6, msg=None):   # noqa: N802
        if np.allclose(_array(a), _array(b), rtol=rtol, atol=atol):
            self.fail(msg or "the arrays are close")

    def assertAllGreater(self, a, comparison_target):   # noqa: N802
        self.assertTrue(np.all(_array(a) > comparison_target))

    def assertAllLess(self, a, comparison_target):   # noqa: N802
        self.assertTrue(np.all(_array(a) < comparison_target))

    def assertAllInRange(self, target, lower_bound, upper_bound):   # noqa: N802
        self.assertTrue(np.all((_array(target) >= lower_bound) &
                               (_array(target) <= upper_bound)))

    def assertNear(self, f1, f2, err, msg=None):   # noqa: N802
        self.assertTrue(abs(float(f1) - float(f2)) <= err, msg or f"{f1} != {f2} +/- {err}")

    def assertShapeEqual(self, np_array, tf_tensor, msg=None):   # noqa: N802
        self.assertEqual(tuple(np.shape(np_array)), tuple(tf_tensor.shape), msg)

    def assertDTypeEqual(self, target, expected_dtype):   # noqa: N802
        from .dtypes import as_dtype
        self.assertEqual(as_dtype(target.dtype), as_dtype(expected_dtype))
