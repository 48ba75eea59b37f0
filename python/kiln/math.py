"""kiln.math: TensorFlow's tf.math names for Kiln's elementwise ops,
reductions and comparisons."""

from .ops import (abs, add, argmax, cos, divide, equal, exp, floordiv, floormod,
                  greater, greater_equal, less, less_equal, log, logical_and,
                  logical_not, logical_or, logical_xor, maximum, minimum,
                  multiply, negative, not_equal, pow, reduce_max, reduce_mean,
                  reduce_min, reduce_sum, sigmoid, sign, sin, sqrt, square,
                  subtract, tanh, truediv)
from .ops import floormod as mod  # noqa: F401
from .ops import truncatemod
from .math_ops import (argmin, ceil, cumprod, cumsum, erf, erfc, expm1, floor, is_finite,
                       is_inf, is_nan, l2_normalize, log1p, log_sigmoid,
                       reciprocal, reduce_all, reduce_any, reduce_logsumexp,
                       reduce_prod, reduce_std, reduce_variance, round, rsqrt,
                       softplus, softsign, squared_difference, top_k, in_top_k)
from .math_ops import (acos, acosh, add_n, asin, asinh, atan, atan2, atanh, bincount,
                       confusion_matrix, cosh, count_nonzero, cumulative_logsumexp,
                       divide_no_nan, invert_permutation, is_non_decreasing,
                       is_strictly_increasing, multiply_no_nan, polyval, reciprocal_no_nan,
                       reduce_euclidean_norm, rint, sinh, tan, xdivy, xlog1py, xlogy,
                       zero_fraction)
from .math_ops import scalar_mul, truncatediv, unique_with_counts  # noqa: F401
from .math_ops import digamma, erfinv, lbeta, lgamma, log_ndtr, ndtri, polygamma
from .math_ops import approx_max_k, approx_min_k, erfcinv, nextafter
from . import special  # noqa: F401  (tf.math.special)
from .special import (bessel_i0, bessel_i0e, bessel_i1, bessel_i1e, betainc, igamma, igammac,
                      zeta)
from .math_ops import accumulate_n
from .nn import log_softmax, softmax
from .math_ops import (segment_max, segment_mean, segment_min, segment_prod, segment_sum,
                       sparse_segment_mean, sparse_segment_sqrt_n, sparse_segment_sum,
                       unsorted_segment_max, unsorted_segment_mean, unsorted_segment_min,
                       unsorted_segment_prod, unsorted_segment_sqrt_n, unsorted_segment_sum)

__all__ = [
    "abs", "acos", "acosh", "add", "add_n", "argmax", "argmin", "asin", "asinh", "atan",
    "atan2", "atanh", "bincount", "ceil", "confusion_matrix", "cosh", "count_nonzero",
    "cumulative_logsumexp", "divide_no_nan", "invert_permutation", "is_non_decreasing",
    "is_strictly_increasing", "log_softmax", "multiply_no_nan", "polyval",
    "reciprocal_no_nan", "reduce_euclidean_norm", "rint", "sinh", "softmax", "tan",
    "xdivy", "xlog1py", "xlogy", "zero_fraction", "scalar_mul", "truncatediv",
    "approx_max_k", "approx_min_k", "erfcinv", "nextafter", "igamma", "igammac",
    "bessel_i0", "bessel_i0e", "bessel_i1", "bessel_i1e", "betainc", "zeta", "accumulate_n",
    "special", "digamma", "erfinv", "lbeta", "lgamma", "log_ndtr", "ndtri", "polygamma", "cos", "cumprod", "cumsum", "divide",
    "equal", "erf", "erfc", "exp", "expm1",
    "floor", "floordiv", "floormod", "greater", "greater_equal", "is_finite",
    "is_inf", "is_nan", "l2_normalize",
    "less", "less_equal", "log", "log1p", "log_sigmoid", "logical_and",
    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod",
    "multiply", "negative", "not_equal", "pow", "reciprocal", "reduce_all",
    "reduce_any", "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min",
    "reduce_prod", "reduce_std", "reduce_sum", "reduce_variance", "round",
    "rsqrt", "sigmoid", "sign", "sin", "softplus", "softsign", "sqrt", "square",
    "squared_difference", "subtract", "tanh", "top_k", "in_top_k", "truediv", "truncatemod",
    "segment_max", "segment_mean", "segment_min", "segment_prod", "segment_sum",
    "sparse_segment_mean", "sparse_segment_sqrt_n", "sparse_segment_sum",
    "unsorted_segment_max", "unsorted_segment_mean", "unsorted_segment_min",
    "unsorted_segment_prod", "unsorted_segment_sqrt_n", "unsorted_segment_sum",
]
from .complexes import angle, conj, imag, real  # noqa: F401
