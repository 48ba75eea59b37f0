"""kiln.sets (tf.sets). Oracles: Python sets, and TensorFlow's documented
intersection example."""

import numpy as np
import pytest

import kiln
from kiln import errors

S = kiln.sets


def test_tensorflow_intersection_example():
    a = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    b = [[[1, 3], [2, 2]], [[5, 5], [7, 8]]]
    got = S.intersection(a, b)
    assert got.indices.numpy().tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert got.values.numpy().tolist() == [1, 5, 7, 8]
    assert got.shape == (2, 2, 2)


def test_set_operations_against_python_sets():
    rng = np.random.default_rng(6)
    a = rng.integers(0, 6, (4, 5))
    b = rng.integers(0, 6, (4, 3))
    for op, fn in ((S.intersection, lambda x, y: x & y), (S.union, lambda x, y: x | y),
                   (S.difference, lambda x, y: x - y)):
        got = op(a, b)
        rows = [sorted(fn(set(x), set(y))) for x, y in zip(a.tolist(), b.tolist())]
        width = max(len(r) for r in rows)
        assert got.shape == (4, width)
        assert [[v for i, v in zip(got.indices.numpy().tolist(), got.values.numpy().tolist())
                 if i[0] == r] for r in range(4)] == rows
    flipped = S.difference(a, b, aminusb=False)
    assert flipped.values.numpy().tolist() == [v for x, y in zip(a.tolist(), b.tolist())
                                               for v in sorted(set(y) - set(x))]
    assert S.size(a).numpy().tolist() == [len(set(r)) for r in a.tolist()]
    words = S.union([["a", "b"], ["c", "c"]], [["b", "z"], ["a", "c"]])
    assert words.values.numpy().tolist() == [b"a", b"b", b"z", b"a", b"c"]
    sparse = kiln.SparseTensor([[0, 0], [0, 3], [1, 1]], [7, 7, 2], [2, 4])
    assert S.size(sparse).numpy().tolist() == [1, 1]
    assert S.intersection(sparse, [[7, 1], [3, 4]]).values.numpy().tolist() == [7]
    with pytest.raises(errors.InvalidArgumentError, match="leading shapes"):
        S.union(a, b[:2])
    with pytest.raises(TypeError, match="integers or strings"):
        S.size(np.ones((2, 2), np.float32))
