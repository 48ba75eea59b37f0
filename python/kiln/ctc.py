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
from .ops import (_check_at_run_time, argmax, cast, concat, equal, exp, gather, greater,
                  less, log,
                  logical_and,
                  logical_not, maximum, not_equal, one_hot, reduce_sum, reshape, stack,
                  stop_gradient, transpose, where)
from .math_ops import ones_like, scatter_nd, unsorted_segment_sum
from .sparse import SparseTensor, reorder as sparse_reorder
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
    frames' logits (tf.nn.ctc_loss): labels [batch, max_label] (int;
    entries past label_length are ignored), or a SparseTensor of them
    (label_length then defaults to each row's entry count), logits
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
    if isinstance(labels, SparseTensor):
        # (TensorFlow's sparse labels: row b's entries are its label; the
        # lengths are the entries per row unless given)
        if labels.ndim != 2:
            raise errors.InvalidArgumentError(
                f"ctc_loss: sparse labels must be [batch, max_label_length], got dense "
                f"shape {list(labels.shape)}", errors.user_location())
        if blank_index is None:
            raise ValueError("ctc_loss: give blank_index with SparseTensor labels (as "
                             "TensorFlow requires)")
        # Each row's values in order, packed to the left whatever their
        # columns (TensorFlow's kernel reads the values row by row).
        ordered = sparse_reorder(labels)
        rows = ordered.indices[:, 0]
        counts = unsorted_segment_sum(ones_like(rows, int32), rows, labels.shape[0])
        starts = cumsum(counts) - counts
        rank = cast(_positions(rows, 0), int32) - gather(starts, rows)
        if label_length is None:
            label_length = counts
        labels = scatter_nd(stack([cast(rows, int32), rank], axis=1),
                            cast(ordered.values, int32), list(labels.shape))
    if label_length is None:
        raise errors.InvalidArgumentError("ctc_loss: dense labels need label_length",
                                          errors.user_location())
    labels = cast(convert_to_tensor(labels), int32)
    if labels.ndim != 2:
        raise errors.InvalidArgumentError(
            f"ctc_loss: labels must be [batch, max_label_length] (dense or a SparseTensor), "
            f"got shape {list(labels.shape)}", errors.user_location())
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


def _log_add(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    top = max(a, b)
    return top + np.log1p(np.exp(-abs(a - b)))


def ctc_beam_search(log_probs, length, blank, beam_width, top_paths):
    """Prefix beam search of one sequence ([frames, classes] log
    probabilities, the first `length` frames): the `top_paths` most likely
    labelings (tuples) and their log probabilities, each summed over the
    alignments that collapse to it (repeats merged between blanks), keeping
    the `beam_width` most likely prefixes after every frame. Exact for a
    beam as wide as the number of prefixes."""
    # prefix -> [log p(ending in blank), log p(ending in its last symbol)]
    beams = {(): [0.0, -np.inf]}
    for t in range(length):
        frame = log_probs[t]
        grown = {}

        def entry(prefix):
            return grown.setdefault(prefix, [-np.inf, -np.inf])
        for prefix, (p_blank, p_symbol) in beams.items():
            total = _log_add(p_blank, p_symbol)
            stay = entry(prefix)
            stay[0] = _log_add(stay[0], total + frame[blank])
            for c in range(len(frame)):
                if c == blank:
                    continue
                longer = entry(prefix + (c,))
                if prefix and prefix[-1] == c:
                    # c again: a new symbol only after a blank; else the
                    # same one held longer.
                    longer[1] = _log_add(longer[1], p_blank + frame[c])
                    stay[1] = _log_add(stay[1], p_symbol + frame[c])
                else:
                    longer[1] = _log_add(longer[1], total + frame[c])
        ranked = sorted(grown.items(), key=lambda kv: (-_log_add(*kv[1]), kv[0]))
        beams = dict(ranked[:beam_width])
    ranked = sorted(beams.items(), key=lambda kv: (-_log_add(*kv[1]), kv[0]))
    return [(prefix, _log_add(*p)) for prefix, p in ranked[:top_paths]]


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1):
    """Keras' ctc_decode. Greedy: ([decoded], log_prob) with decoded
    [batch, width] int32 padded with -1 (width: the longest decoded
    sequence eagerly, as Keras' dense conversion gives; the frame count in
    a compiled function, whose shapes are fixed) and log_prob [batch, 1]
    as Keras returns it (TensorFlow's neg_sum_logits); the blank is the
    last class. Beam search (greedy=False): `top_paths` decodings [batch,
    width] (-1 padded, the longest one's width) and log_prob [batch,
    top_paths], the log probability of each labeling summed over its
    alignments, from a prefix beam search of `beam_width` over log(y_pred)
    normalized per frame (as TensorFlow's decoder normalizes its input);
    it runs eagerly (the labelings' count depends on the values)."""
    y_pred = convert_to_tensor(y_pred)
    if not greedy:
        return _beam_decode(y_pred, input_length, int(beam_width), int(top_paths))
    decoded, score = ctc_greedy_decode(y_pred, reshape(input_length, [-1]),
                                       y_pred.shape[-1] - 1)
    if not decoded._symbolic:
        width = int((decoded.numpy() >= 0).sum(axis=1).max(initial=0))
        decoded = decoded[:, :width]
    return [decoded], score


def _beam_decode(y_pred, input_length, beam_width, top_paths):
    where = errors.user_location()
    lengths = convert_to_tensor(input_length)
    if y_pred._symbolic or lengths._symbolic:
        raise errors.UnimplementedError(
            "ctc_decode: beam search runs eagerly only (the decoded labelings' lengths "
            "depend on the values); call it on the model's output outside "
            "@kiln.function, or use greedy=True", where)
    if beam_width < 1 or not 1 <= top_paths <= beam_width:
        raise errors.InvalidArgumentError(
            f"ctc_decode: needs beam_width >= 1 and 1 <= top_paths <= beam_width, got "
            f"beam_width={beam_width}, top_paths={top_paths}", where)
    probs = y_pred.numpy().astype(np.float64)
    if probs.ndim != 3:
        raise errors.InvalidArgumentError(
            f"ctc_decode: y_pred must be [batch, frames, classes], got {list(probs.shape)}",
            where)
    lengths = np.asarray(lengths.numpy()).reshape(-1)
    if lengths.shape[0] != probs.shape[0] or (lengths < 0).any() or \
            (lengths > probs.shape[1]).any():
        raise errors.InvalidArgumentError(
            f"ctc_decode: input_length {lengths.tolist()} must give each of the "
            f"{probs.shape[0]} sequences a length in [0, {probs.shape[1]}]", where)
    logits = np.log(probs + 1e-7)           # (Keras' input to TensorFlow's decoder)
    paths, scores = _beam_paths(logits, lengths, probs.shape[-1] - 1, beam_width, top_paths)
    decoded = []
    for k in range(top_paths):
        width = max((len(p) for p in paths[k]), default=0)
        dense = np.full((len(paths[k]), width), -1, np.int32)
        for b, path in enumerate(paths[k]):
            dense[b, :len(path)] = path
        decoded.append(constant(dense))
    return decoded, constant(scores)


def _beam_paths(logits, lengths, blank, beam_width, top_paths):
    """Beam search of each sequence of logits [batch, frames, classes]
    (normalized per frame, as TensorFlow's decoder does): the labelings
    per rank k, paths[k][b], and their log probabilities [batch, top_paths]
    (-inf where a sequence has fewer labelings)."""
    top = logits.max(axis=-1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    results = [ctc_beam_search(log_probs[b], int(lengths[b]), blank, beam_width, top_paths)
               for b in range(logits.shape[0])]
    scores = np.full((logits.shape[0], top_paths), -np.inf, np.float32)
    paths = [[r[k][0] if k < len(r) else () for r in results] for k in range(top_paths)]
    for b, r in enumerate(results):
        for k, (_, score) in enumerate(r):
            scores[b, k] = score
    return paths, scores


def _eager_sequences(inputs, sequence_length, what):
    """(logits [batch, frames, classes] float64, lengths) of time-major
    inputs, checked; eager only."""
    x, lengths = convert_to_tensor(inputs), convert_to_tensor(sequence_length)
    if x._symbolic or lengths._symbolic:
        raise errors.UnimplementedError(
            f"{what}: runs eagerly only (the decoded sequences' lengths depend on the "
            "values)", errors.user_location())
    logits = np.asarray(x.numpy(), np.float64)
    if logits.ndim != 3:
        raise errors.InvalidArgumentError(
            f"{what}: inputs must be [max_time, batch, classes], got {list(logits.shape)}",
            errors.user_location())
    logits = logits.transpose(1, 0, 2)
    lengths = np.asarray(lengths.numpy()).reshape(-1)
    if lengths.shape[0] != logits.shape[0] or (lengths < 0).any() or \
            (lengths > logits.shape[1]).any():
        raise errors.InvalidArgumentError(
            f"{what}: sequence_length {lengths.tolist()} must give each of the "
            f"{logits.shape[0]} sequences a length in [0, {logits.shape[1]}]",
            errors.user_location())
    return logits, lengths


def _sparse_paths(paths):
    """SparseTensor [batch, longest] int64 of a list of labelings."""
    index = [[b, i] for b, p in enumerate(paths) for i in range(len(p))]
    values = [c for p in paths for c in p]
    return SparseTensor(np.array(index, np.int64).reshape(-1, 2), np.array(values, np.int64),
                        [len(paths), max((len(p) for p in paths), default=0)])


def ctc_greedy_decoder(inputs, sequence_length, merge_repeated=True, blank_index=None):
    """tf.nn.ctc_greedy_decoder: the best class of each frame of the
    time-major logits [max_time, batch, classes], repeats merged (unless
    merge_repeated=False) and blanks (the last class by default) dropped:
    ([SparseTensor [batch, longest] int64], neg_sum_logits [batch, 1], minus
    the sum over each sequence's frames of its largest logit). Eager."""
    logits, lengths = _eager_sequences(inputs, sequence_length, "ctc_greedy_decoder")
    classes = logits.shape[-1]
    blank = classes - 1 if blank_index is None else int(blank_index) % classes
    paths, scores = [], np.zeros((logits.shape[0], 1), np.float32)
    for b in range(logits.shape[0]):
        best = logits[b, :lengths[b]].argmax(axis=-1)
        path, previous = [], -1
        for c in best.tolist():
            if c != blank and not (merge_repeated and c == previous):
                path.append(c)
            previous = c
        paths.append(path)
        scores[b, 0] = -logits[b, :lengths[b]].max(axis=-1).sum()
    return [_sparse_paths(paths)], constant(scores)


def ctc_beam_search_decoder(inputs, sequence_length, beam_width=100, top_paths=1):
    """tf.nn.ctc_beam_search_decoder: the top_paths most likely labelings
    of the time-major logits [max_time, batch, classes] (blank the last
    class) by a prefix beam search of beam_width: (a SparseTensor
    [batch, longest] int64 per rank, log_probabilities [batch, top_paths]).
    Eager."""
    logits, lengths = _eager_sequences(inputs, sequence_length, "ctc_beam_search_decoder")
    beam_width, top_paths = int(beam_width), int(top_paths)
    if beam_width < 1 or not 1 <= top_paths <= beam_width:
        raise errors.InvalidArgumentError(
            f"ctc_beam_search_decoder: needs beam_width >= 1 and 1 <= top_paths <= "
            f"beam_width, got {beam_width} and {top_paths}", errors.user_location())
    paths, scores = _beam_paths(logits, lengths, logits.shape[-1] - 1, beam_width, top_paths)
    return [_sparse_paths(p) for p in paths], constant(scores)
