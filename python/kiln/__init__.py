"""Kiln: tensor programs the TensorFlow-eager way, compiled through MLIR.

Eager tensors and ops (every op runs at once on a kernel that the C++
compiler built for it; NumPy only converts values in and out), gradient
tapes, @kiln.function, and Keras-style layers, losses, optimizers, data
pipelines, metrics and checkpoints on top.
"""

from . import errors
from .dtypes import (DType, as_dtype, bfloat16, bool as bool, float16, float32, float64,
                     int32, int64, int8, int16, string, uint8, uint16, uint32)
from .tensor import Tensor, TensorShape, TensorSpec, constant, convert_to_tensor
from .ops import bitcast
from .ops import (abs, add, argmax, cast, concat, cos, divide, equal, exp, truediv,
                  stop_gradient,
                  floordiv, floormod, truncatemod, gather, greater, greater_equal, less, less_equal,
                  log, logical_and, logical_not, logical_or, logical_xor, mod,
                  not_equal, matmul, maximum, minimum,
                  multiply, negative, one_hot, pow, reduce_max, reduce_mean,
                  reduce_min, reduce_sum, reshape, sigmoid, sign, sin, sqrt,
                  square, stack, subtract, tanh, transpose, where)
from .math_ops import (argmin, broadcast_to, ceil, clip_by_global_norm, clip_by_norm,
                       clip_by_value, cumprod, cumsum, einsum, expand_dims, fill, floor, gather_nd,
                       identity, linspace, scatter_nd, tensor_scatter_nd_add,
                       tensor_scatter_nd_max, tensor_scatter_nd_min, tensor_scatter_nd_sub,
                       tensor_scatter_nd_update,
                       norm, ones_like, pad, rank, reduce_all, reduce_any,
                       reduce_logsumexp, reduce_prod, repeat, reverse, round,
                       rsqrt, shape, size, split, squeeze, tensordot, tile,
                       unstack, zeros, zeros_like, ones)
from .math_ops import argsort, boolean_mask, dynamic_partition, dynamic_stitch, sort, unique
from .variables import init_scope
from .math_ops import ensure_shape, eye, meshgrid, roll, sequence_mask
from .math_ops import histogram_fixed_width, searchsorted
from .math_ops import (acos, acosh, add_n, asin, asinh, atan, atan2, atanh, cosh,
                       invert_permutation, sinh, tan, unravel_index)
from .math_ops import (broadcast_dynamic_shape, broadcast_static_shape, get_static_value,
                       group, identity_n, is_tensor, no_op, numpy_function, py_function,
                       realdiv, reverse_sequence, saturate_cast, scalar_mul, shape_n,
                       strided_slice, truncatediv, unique_with_counts)
from .math_ops import slice_ as slice, tuple_ as tuple  # noqa: A001 (TensorFlow's names)
from .control_flow import case, control_dependencies, switch_case
from .image import extract_volume_patches
from .math_ops import (batch_to_space, histogram_fixed_width_bins, space_to_batch,
                       space_to_batch_nd, timestamp)
from .ops import stack as parallel_stack  # noqa: F401 (tf.parallel_stack)
from .initializers import (Constant as constant_initializer, Ones as ones_initializer,
                           RandomNormal as random_normal_initializer,
                           RandomUniform as random_uniform_initializer,
                           Zeros as zeros_initializer)

newaxis = None  # x[:, kiln.newaxis] inserts a dimension, as tf.newaxis
from . import bitwise, math, linalg, signal, strings, ragged
from .ragged import RaggedTensor, RaggedTensorSpec
from . import sparse
from . import audio, io, lookup, sets
from .sparse import SparseTensor, SparseTensorSpec
from .strings import as_string
from . import complexes as _complexes  # (the rules for complex tensors)
from .complexes import complex, conj, imag, real  # noqa: A004 (TensorFlow's names)
from .dtypes import complex64, complex128
from . import nn
from . import image
from . import random
from .gradients import grad_pass_through, hessians, recompute_grad
from .gradients import (GradientTape, UnconnectedGradients, custom_gradient, gradients_function,
                        implicit_gradients,
                        implicit_value_and_gradients,
                        value_and_gradients_function)
from .variables import Variable, VariableAggregation, VariableSynchronization
from .module import Module, name_scope
from .tracing import ConcreteFunction, Function, executing_eagerly, function, inside_function
from .control_flow import (TensorArray, cond, foldl, foldr, for_loop, map_fn, range, scan,
                           vectorized_map, while_loop)
from . import nest
from . import debugging
from .debugging import Assert, assert_equal, assert_greater, assert_less, assert_rank
from . import config
from .config import device
from . import autograph
from .printing import print  # noqa: A001 (tf.print)
from . import activations, callbacks, mixed_precision, regularizers, saved_model
from . import (aot, data, datasets, distribute, initializers, layers, losses,
               metrics, optimizers, summary, train)
from . import keras
from . import keras_h5  # (Keras' HDF5 files: registers itself with saving and training)
from . import test  # (tf.test)
from .layers import Input, Model, Network, Sequential

# The ops on kiln.Input tensors (the functional API): each call with a
# symbolic tensor becomes an op layer of the graph (Keras' TFOpLambda), as
# `tf.concat([a, b], -1)` or `keras.ops.mean(x, axis=1)` on Keras tensors.
# (The ops that dispatch on RaggedTensors do so through their own wrapper.)
from . import _dispatch as _dispatch_module, keras_ops as _keras_ops
from .layers import KerasTensor as _KerasTensor
# (The elementwise binary ops and comparisons dispatch on composites in
# their own slow path, so they need no wrapper: kiln.add stays one frame.)
_SYMBOLIC_OPS = [
    "matmul", "reshape", "transpose",
    "expand_dims", "squeeze", "stack", "unstack", "split", "tile", "pad",
    "one_hot", "argmax", "argmin", "shape", "einsum", "gather_nd", "cumsum",
    "cumprod", "reduce_logsumexp", "tensordot", "repeat", "reverse", "norm", "fill",
    "boolean_mask", "sort", "argsort", "broadcast_to", "linspace", "rank", "size",
    "sequence_mask", "roll", "clip_by_norm", "add_n", "scatter_nd", "strided_slice"]
_dispatch_module.intercepting(globals(), _SYMBOLIC_OPS, _KerasTensor)
_dispatch_module.intercepting(vars(math), _SYMBOLIC_OPS, _KerasTensor, "math.")
_dispatch_module.intercepting(
    vars(_keras_ops), [n for n, v in vars(_keras_ops).items()
                       if callable(v) and not n.startswith("_") and not isinstance(v, type)
                       and getattr(v, "__module__", "").startswith("kiln")
                       # (these answer from the static shape, as Keras 3's)
                       and n not in ("shape", "ndim", "is_tensor", "convert_to_numpy",
                                     "dtype", "standardize_dtype", "result_type")],
    _KerasTensor, "keras.ops.")

# Kiln's own version (not TensorFlow's: the API it follows is TensorFlow 2's
# and Keras 3's, see docs/python.md).
__version__ = "0.18.0"


def get_logger():
    """The `logging` logger Kiln's messages go to (tf.get_logger():
    `kiln.get_logger().setLevel("ERROR")` quiets them)."""
    import logging
    return logging.getLogger("kiln")

__all__ = [
    "ConcreteFunction", "DType", "get_logger", "Function", "TensorSpec", "TensorShape", "GradientTape", "Module", "name_scope", "UnconnectedGradients", "function", "Tensor", "Variable", "VariableAggregation", "VariableSynchronization", "gradients_function",
    "custom_gradient", "implicit_gradients", "implicit_value_and_gradients",
    "value_and_gradients_function", "abs", "add", "argmax", "as_dtype", "bool", "cast",
    "concat", "TensorArray", "cond", "constant", "convert_to_tensor", "for_loop",
    "while_loop", "gather", "one_hot", "stack", "cos", "divide", "truediv", "stop_gradient", "equal", "errors", "exp",
    "bfloat16", "float16", "float32", "float64", "greater", "int32", "int64", "int8", "int16", "uint8", "uint16", "uint32", "less",
    "floordiv", "floormod", "truncatemod", "greater_equal", "less_equal", "mod", "not_equal", "log", "logical_and", "logical_not", "logical_or", "logical_xor", "matmul", "maximum", "minimum", "multiply", "negative", "nn", "image",
    "ones", "pow", "random", "reduce_max", "reduce_mean", "reduce_min", "reduce_sum",
    "reshape", "sigmoid", "sign", "sin", "sqrt", "square", "subtract", "tanh",
    "transpose", "where", "zeros", "config", "device", "data", "datasets",
    "distribute", "initializers", "layers", "losses", "metrics", "optimizers", "summary",
    "train", "Model", "Network", "Sequential", "aot", "autograph", "print",
    "argmin", "ceil", "clip_by_global_norm", "clip_by_norm", "clip_by_value",
    "expand_dims", "fill", "floor", "identity", "linspace", "norm", "ones_like",
    "pad", "rank", "reduce_all", "reduce_any", "reduce_logsumexp", "reduce_prod",
    "repeat", "reverse", "round", "rsqrt", "shape", "size", "split", "squeeze",
    "tensordot", "tile", "unstack", "zeros_like", "math", "linalg", "einsum",
    "gather_nd", "scatter_nd", "tensor_scatter_nd_add", "tensor_scatter_nd_max",
    "tensor_scatter_nd_min", "tensor_scatter_nd_sub", "tensor_scatter_nd_update",
    "callbacks", "mixed_precision", "regularizers", "Input", "cumsum", "cumprod", "saved_model",
    "sort", "argsort", "unique", "boolean_mask", "dynamic_partition", "dynamic_stitch",
    "init_scope",
    "range", "newaxis",
    "ensure_shape", "eye", "meshgrid", "roll", "sequence_mask", "histogram_fixed_width",
    "searchsorted", "acos", "acosh", "add_n", "asin", "asinh", "atan", "atan2", "atanh",
    "cosh", "invert_permutation", "sinh", "tan", "unravel_index", "scan", "foldl", "foldr",
    "broadcast_dynamic_shape", "broadcast_static_shape", "get_static_value", "group",
    "identity_n", "is_tensor", "no_op", "numpy_function", "py_function", "realdiv",
    "reverse_sequence", "saturate_cast", "scalar_mul", "shape_n", "strided_slice",
    "truncatediv", "unique_with_counts", "case", "switch_case", "control_dependencies", "batch_to_space",
    "histogram_fixed_width_bins", "space_to_batch", "space_to_batch_nd", "timestamp",
    "parallel_stack", "constant_initializer", "ones_initializer", "random_normal_initializer",
    "random_uniform_initializer", "zeros_initializer", "grad_pass_through", "executing_eagerly",
    "inside_function", "extract_volume_patches", "bitcast",
    "activations", "keras",
    "map_fn", "vectorized_map", "nest", "debugging", "Assert", "assert_equal",
    "assert_greater", "assert_less", "assert_rank",
]
