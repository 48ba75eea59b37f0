"""Connectionist temporal classification (tf.nn.ctc_loss, Keras'
ctc_batch_cost, ctc_decode and the CTC loss).

The loss is the forward (alpha) recursion of Graves et al. in log space
over the label sequence with blanks between and around its symbols, one
step per frame: a kiln.foldl, so eagerly a Python loop and compiled one
kiln.for, differentiated by the compiler like any loop (the gradient is
that of the recursion, the textbook alpha-beta gradient). States that no
path reaches hold -1e30 instead of -inf, so no infinity or NaN enters the
gradient; a label sequence that no alignment of the frames can produce
(too long for its frames, with its repeats) has loss +inf and gradient 0.
The frame count must be known while tracing; batches may be open.
"""

import numpy as np

from . import errors
from .control_flow import foldl
from .core import attributes, bind1
from .dtypes import float32, float64, int32
from .math_ops import _positions, cumsum, einsum, expand_dims, pad, reduce_max
from .ops import (_check_at_run_time, argmax, cast, concat, equal, exp, greater, less, log,
                  logical_and,
                  logical_not, maximum, not_equal, one_hot, reduce_sum, reshape, stack,
                  stop_gradient, transpose, where)
from .tensor import constant, convert_to_tensor

_UNREACHED = -1e30


def _logsumexp(terms):
    """log(sum(exp(t))) of same-shaped tensors, shifted by their maximum
    (held constant: the result does not depend on it)."""
    top = terms[0]
    for t in terms[1:]:
        top = maximum(top, t)
    top = stop_gradient(top)
    total = exp(terms[0] - top)
    for t in terms[1:]:
        total = total + exp(t - top)
    return top + log(total)


def _shift(alpha, k):
    """alpha moved k positions along its last axis, UNREACHED coming in."""
    return pad(alpha, [[0, 0], [k, 0]], constant_values=_UNREACHED)[:, :alpha.shape[-1]]


def ctc_loss(labels, logits, label_length, logit_length, logits_time_major=True,
             unique=None, blank_index=None, name=None):
    """The negative log probability of each label sequence given the
    frames' logits (tf.nn.ctc_loss with dense labels): labels [batch,
    max_label] (int; entries past label_length are ignored), logits
    [frames, batch, classes] (or [batch, frames, classes] without
    logits_time_major; log_softmax is applied here), label_length and
    logit_length [batch]. blank_index defaults to 0 (negative counts from
    the end, -1 being the last class). Returns [batch]."""
    if unique is not None:
        raise errors.UnimplementedError(
            "ctc_loss: `unique` (TensorFlow's precomputed label deduplication) is not "
            "supported; pass the labels alone", errors.user_location())
    logits = convert_to_tensor(logits)
    if not logits.dtype.is_floating or logits.ndim != 3:
        raise errors.InvalidArgumentError(
            f"ctc_loss: logits must be a float tensor of rank 3, got {logits.dtype.name} "
            f"{list(logits.shape)}", errors.user_location())
    if logits.dtype not in (float32, float64):
        logits = cast(logits, float32)
    if not logits_time_major:
        logits = transpose(logits, [1, 0, 2])
    frames, _, classes = logits.shape
    if frames is None or classes is None:
        raise errors.UnimplementedError(
            "ctc_loss: the number of frames and of classes must be known while tracing "
            f"(logits of shape {list(logits.shape)})", errors.user_location())
    blank = 0 if blank_index is None else int(blank_index)
    if not -classes <= blank < classes:
        raise errors.InvalidArgumentError(
            f"ctc_loss: blank_index {blank_index} is outside the {classes} classes",
            errors.user_location())
    blank %= classes
    labels = cast(convert_to_tensor(labels), int32)
    if labels.ndim != 2:
        raise errors.InvalidArgumentError(
            f"ctc_loss: labels must be dense [batch, max_label_length], got shape "
            f"{list(labels.shape)} (sparse labels are not supported)",
            errors.user_location())
    if labels.shape[1] is None:
        raise errors.UnimplementedError(
            "ctc_loss: the labels' length must be known while tracing",
            errors.user_location())
    label_length = cast(convert_to_tensor(label_length), int32)
    logit_length = cast(convert_to_tensor(logit_length), int32)
    _check_at_run_time(
        logical_and(less(label_length, labels.shape[1] + 1), less(label_length * 0 - 1,
                                                                  label_length)),
        f"ctc_loss: a label_length is outside [0, {labels.shape[1]}] (the labels' width)")
    dtype = logits.dtype
    # The extended sequence: blank, l1, blank, l2, ..., lL, blank.
    final_blank = expand_dims(label_length * 0 + blank, -1)             # [b, 1]
    if labels.shape[1]:
        blanks = labels * 0 + blank
        extended = reshape(stack([blanks, labels], axis=-1), [-1, 2 * labels.shape[1]])
        extended = concat([extended, final_blank], axis=1)             # [b, s]
    else:
        extended = final_blank
    states = extended.shape[1]
    log_probs = bind1("log_softmax", [logits], attributes(axis=-1))    # [t, b, c]
    emissions = einsum("tbc,bsc->tbs", log_probs, one_hot(extended, classes, dtype=dtype))
    # A symbol may follow the symbol two states back (skipping a blank)
    # unless it repeats it.
    position = _positions(extended, 1)
    two_back = pad(extended, [[0, 0], [2, 0]], constant_values=blank)[:, :states]
    skip = logical_and(logical_and(not_equal(extended, blank), not_equal(extended, two_back)),
                       greater(position, 1))
    start = where(less(position, 2), emissions[0], _UNREACHED + emissions[0] * 0.0)
    running = expand_dims(logit_length, -1)

    def step(alpha, element):
        emission, t = element
        came = [alpha, _shift(alpha, 1),
                where(skip, _shift(alpha, 2), alpha * 0.0 + _UNREACHED)]
        new = _logsumexp(came) + emission
        return where(less(t, running), new, alpha)   # (frames past the sequence's)

    frame_numbers = constant(np.arange(1, frames, dtype=np.int32))
    alpha = foldl(step, (emissions[1:], frame_numbers), initializer=start) \
        if frames > 1 else start
    # The last label or the final blank of each sequence's own length.
    end = 2 * label_length
    last = [reduce_sum(where(equal(position, expand_dims(k, -1)), alpha, alpha * 0.0), -1)
            for k in (end, end - 1)]
    last[1] = where(greater(end, 0), last[1], last[1] * 0.0 + _UNREACHED)
    log_likelihood = _logsumexp(last)
    reached = greater(log_likelihood, 0.5 * _UNREACHED)
    loss = where(reached, -log_likelihood, log_likelihood * 0.0 + np.inf)
    # (a sequence with no frames: the empty label has probability 1)
    return where(greater(logit_length, 0), loss,
                 where(equal(label_length, 0), loss * 0.0, loss * 0.0 + np.inf))


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """Keras' ctc_batch_cost: y_pred softmax probabilities [batch, frames,
    classes] with the blank last, y_true [batch, max_label], input_length
    and label_length [batch, 1]; the loss [batch, 1]."""
    y_pred = convert_to_tensor(y_pred)
    classes = y_pred.shape[-1]
    loss = ctc_loss(y_true, log(y_pred + 1e-7), reshape(label_length, [-1]),
                    reshape(input_length, [-1]), logits_time_major=False,
                    blank_index=classes - 1)
    return expand_dims(loss, -1)


def ctc_greedy_decode(y_pred, input_length, blank_index):
    """The best path of each sequence ([batch, frames] int32: the argmax
    class per frame, repeats merged, blanks and frames past input_length
    dropped, packed to the left and padded with -1) and TensorFlow's
    neg_sum_logits [batch, 1] (minus the sum over the frames of the log of
    the largest probability)."""
    y_pred = convert_to_tensor(y_pred)                  # [b, t, c] probabilities
    frames = y_pred.shape[1]
    best = cast(argmax(y_pred, axis=-1), int32)         # [b, t]
    inside = less(_positions(best, 1), expand_dims(cast(convert_to_tensor(input_length),
                                                        int32), -1))
    previous = pad(best, [[0, 0], [1, 0]], constant_values=-1)[:, :frames]
    keep = logical_and(logical_and(not_equal(best, blank_index),
                                   not_equal(best, previous)), inside)
    # Packed: kept symbol k goes to column (number kept before it).
    column = cumsum(cast(keep, int32), axis=1) - 1
    slots = one_hot(where(keep, column, column * 0 - 1), frames, dtype=int32)  # [b, t, t]
    decoded = reduce_sum(slots * expand_dims(best + 1, -1), axis=1) - 1
    top = log(reduce_max(y_pred, axis=-1) + 1e-7)
    score = -reduce_sum(where(inside, top, top * 0.0), axis=1)
    return decoded, expand_dims(score, -1)


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1):
    """Keras' ctc_decode, greedy: ([decoded], log_prob) with decoded
    [batch, width] int32 padded with -1 (width: the longest decoded
    sequence eagerly, as Keras' dense conversion gives; the frame count in
    a compiled function, whose shapes are fixed) and log_prob [batch, 1]
    as Keras returns it (TensorFlow's neg_sum_logits); the blank is the
    last class. Beam search is not implemented (an UnimplementedError)."""
    if not greedy:
        raise errors.UnimplementedError(
            "ctc_decode: beam search is not implemented; use greedy=True",
            errors.user_location())
    y_pred = convert_to_tensor(y_pred)
    decoded, score = ctc_greedy_decode(y_pred, reshape(input_length, [-1]),
                                       y_pred.shape[-1] - 1)
    if not decoded._symbolic:
        width = int((decoded.numpy() >= 0).sum(axis=1).max(initial=0))
        decoded = decoded[:, :width]
    return [decoded], score
