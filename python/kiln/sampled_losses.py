"""Losses over a sample of the classes (tf.nn.sampled_softmax_loss,
tf.nn.nce_loss, tf.nn.compute_accidental_hits): for vocabularies too
large for a full softmax, each step scores the true classes and a few
sampled ones (by default log-uniform: classes ordered by falling
frequency), each logit corrected by the log of its expected count."""

import numpy as np

from . import errors, math_ops, ops, random
from .core import attributes, bind1
from .dtypes import float32, int64
from .tensor import convert_to_tensor


def compute_accidental_hits(true_classes, sampled_candidates, num_true, seed=None,
                            name=None):
    """(indices, ids, weights) of every sampled candidate equal to one of
    its row's true classes (tf.nn.compute_accidental_hits): the row, the
    candidate's position, and weight -FLT_MAX (added to those logits they
    drop out of a softmax). The classes' values must be known (eagerly,
    or constant while tracing)."""
    labels = np.asarray(ops._known_values(convert_to_tensor(true_classes),
                                          "compute_accidental_hits"))
    sampled = np.asarray(ops._known_values(convert_to_tensor(sampled_candidates),
                                           "compute_accidental_hits"))
    # (each class at its last position in the sample; hits row by row, in
    # the order of the row's true classes, as TensorFlow lists them)
    position = {int(c): j for j, c in enumerate(sampled)}
    rows, ids = [], []
    for i in range(labels.shape[0]):
        for c in labels[i]:
            if int(c) in position:
                rows.append(i)
                ids.append(position[int(c)])
    lowest = float(np.finfo(np.float32).min)
    return (convert_to_tensor(np.array(rows, np.int32)),
            convert_to_tensor(np.array(ids, np.int64)),
            convert_to_tensor(np.full(len(rows), lowest, np.float32)))


def _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                    sampled_values, subtract_log_q, remove_accidental_hits, seed, what):
    """TensorFlow's _compute_sampled_logits: (logits [batch, num_true +
    num_sampled], targets) for the true classes then the sampled ones."""
    if isinstance(weights, (list, tuple)):
        if len(weights) != 1:
            raise errors.UnimplementedError(
                f"{what}: weights split into shards are not supported; pass one "
                "[num_classes, dim] tensor", errors.user_location())
        weights = weights[0]
    weights = convert_to_tensor(weights)
    inputs = convert_to_tensor(inputs, weights.dtype)
    biases = convert_to_tensor(biases, weights.dtype)
    labels = ops.cast(convert_to_tensor(labels), int64)
    num_true = int(num_true)
    if labels.ndim == 1:
        labels = math_ops.expand_dims(labels, -1)
    if labels.ndim != 2 or labels.shape[1] != num_true:
        raise errors.InvalidArgumentError(
            f"{what}: labels must be [batch, num_true={num_true}], got "
            f"{list(labels.shape)}", errors.user_location())
    if sampled_values is None:
        sampled_values = random.log_uniform_candidate_sampler(
            labels, num_true, num_sampled, True, num_classes, seed=seed)
    sampled, true_expected, sampled_expected = (
        ops.stop_gradient(convert_to_tensor(v)) for v in sampled_values)
    sampled = ops.cast(sampled, int64)
    dim = weights.shape[1]
    true_w = ops.gather(weights, ops.reshape(labels, [-1]))
    true_w = ops.reshape(true_w, [-1, num_true, dim])                 # [b, t, d]
    true_b = ops.reshape(ops.gather(biases, ops.reshape(labels, [-1])), [-1, num_true])
    true_logits = ops.reduce_sum(math_ops.expand_dims(inputs, 1) * true_w, axis=-1) + true_b
    sampled_w = ops.gather(weights, sampled)     # [s, d]
    sampled_logits = ops.matmul(inputs, sampled_w, transpose_b=True) + \
        ops.gather(biases, sampled)
    if remove_accidental_hits:
        # A sampled class that is one of the row's true classes drops out:
        # its last position in the sample only, as TensorFlow's
        # compute_accidental_hits maps each class to one position.
        later = ops.less(math_ops.expand_dims(math_ops._positions(sampled, 0), 1),
                         math_ops.expand_dims(math_ops._positions(sampled, 0), 0))
        repeated_later = math_ops.reduce_any(ops.logical_and(
            ops.equal(math_ops.expand_dims(sampled, 1), math_ops.expand_dims(sampled, 0)),
            later), axis=1)
        hit = math_ops.reduce_any(ops.equal(math_ops.expand_dims(labels, 2),
                                            ops.reshape(sampled, [1, 1, -1])), axis=1)
        hit = ops.logical_and(hit, ops.logical_not(math_ops.expand_dims(repeated_later, 0)))
        lowest = float(np.finfo(sampled_logits.dtype.as_numpy_dtype).min)
        sampled_logits = ops.where(hit, sampled_logits + lowest, sampled_logits)
    if subtract_log_q:
        true_logits = true_logits - ops.log(ops.cast(true_expected, true_logits.dtype))
        sampled_logits = sampled_logits - ops.log(ops.cast(sampled_expected,
                                                           sampled_logits.dtype))
    logits = ops.concat([true_logits, sampled_logits], axis=1)
    targets = ops.concat([true_logits * 0.0 + 1.0 / num_true, sampled_logits * 0.0], axis=1)
    return logits, ops.stop_gradient(targets)


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, partition_strategy="mod",
             name="nce_loss"):
    """Noise-contrastive estimation (tf.nn.nce_loss): per example, the
    logistic loss of telling its true classes (targets 1 / num_true) from
    the sampled ones (targets 0), logits corrected by the log of the
    expected counts. weights [num_classes, dim], biases [num_classes],
    labels [batch, num_true], inputs [batch, dim]; returns [batch]."""
    logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled,
                                      num_classes, num_true, sampled_values, True,
                                      remove_accidental_hits, None, "nce_loss")
    # sigmoid cross-entropy, in TensorFlow's stable form
    losses = ops.maximum(logits, 0.0) - logits * targets + \
        math_ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.reduce_sum(losses, axis=1)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                         num_true=1, sampled_values=None, remove_accidental_hits=True,
                         partition_strategy="mod", name="sampled_softmax_loss", seed=None):
    """The softmax cross-entropy over the true classes and a sample of the
    others (tf.nn.sampled_softmax_loss), each logit less the log of its
    expected count; sampled classes equal to a true one drop out
    (remove_accidental_hits). Returns [batch]; at evaluation use the full
    softmax."""
    logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled,
                                      num_classes, num_true, sampled_values, True,
                                      remove_accidental_hits, seed, "sampled_softmax_loss")
    log_probs = bind1("log_softmax", [logits], attributes(axis=-1))
    return -ops.reduce_sum(targets * log_probs, axis=1)
