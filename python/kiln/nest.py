"""kiln.nest: nested structures of lists, tuples, namedtuples and dicts,
as tf.nest. Everything else (tensors, numbers, strings, None) is a leaf.
Dicts flatten in sorted key order, and are packed back with their own key
order, as TensorFlow does."""

import collections.abc as _abc

__all__ = ["assert_same_structure", "flatten", "is_nested", "map_structure",
           "pack_sequence_as"]


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(structure):
    """Whether `structure` is a list, tuple or mapping (not a leaf)."""
    return isinstance(structure, (list, tuple, _abc.Mapping))


def _sorted_keys(mapping):
    try:
        return sorted(mapping)
    except TypeError:
        raise TypeError("nest: the keys of a dict must be sortable, got "
                        f"{list(mapping)!r}") from None


def _children(structure):
    if isinstance(structure, _abc.Mapping):
        return [structure[k] for k in _sorted_keys(structure)]
    return list(structure)


def flatten(structure, expand_composites=False):
    """The leaves of `structure`, depth first (dict values by sorted key)."""
    out = []
    stack = [structure]
    while stack:
        s = stack.pop()
        if is_nested(s):
            stack.extend(reversed(_children(s)))
        else:
            out.append(s)
    return out


def sequence_like(instance, items):
    """A list, tuple or namedtuple of the same type as `instance` holding
    `items` (a namedtuple takes them as its fields)."""
    items = list(items)
    if _is_namedtuple(instance):
        return type(instance)(*items)
    return type(instance)(items)


def _rebuild(structure, children):
    if isinstance(structure, _abc.Mapping):
        by_key = dict(zip(_sorted_keys(structure), children))
        items = [(k, by_key[k]) for k in structure]
        if isinstance(structure, _abc.MutableMapping) and \
                hasattr(structure, "default_factory"):
            out = type(structure)(structure.default_factory)
            out.update(items)
            return out
        return type(structure)(items)
    return sequence_like(structure, children)


def _pack(structure, leaves, position):
    if not is_nested(structure):
        return leaves[position], position + 1
    children = []
    for child in _children(structure):
        packed, position = _pack(child, leaves, position)
        children.append(packed)
    return _rebuild(structure, children), position


def pack_sequence_as(structure, flat_sequence, expand_composites=False):
    """`flat_sequence` (a list of leaves) shaped like `structure`."""
    if not isinstance(flat_sequence, (list, tuple)):
        raise TypeError("pack_sequence_as: flat_sequence must be a list or "
                        f"tuple, got {type(flat_sequence).__name__}")
    flat_sequence = list(flat_sequence)
    count = len(flatten(structure))
    if count != len(flat_sequence):
        raise ValueError(f"pack_sequence_as: the structure has {count} leaves "
                         f"but flat_sequence has {len(flat_sequence)}")
    return _pack(structure, flat_sequence, 0)[0]


def assert_same_structure(nest1, nest2, check_types=True,
                          expand_composites=False):
    """A ValueError unless both have the same nesting (and the same number
    of leaves); with check_types, a TypeError where the kinds of sequence
    differ (a list against a tuple, namedtuples of other names or fields;
    two classes of one name and fields count as one, as in TF). Dicts must
    have the same keys."""
    _same(nest1, nest2, check_types, "")


def _same(a, b, check_types, path):
    where = f" at {path!r}" if path else ""
    if is_nested(a) != is_nested(b):
        raise ValueError(f"nest: the structures differ{where}: "
                         f"{_kind(a)} against {_kind(b)}")
    if not is_nested(a):
        return
    if check_types and type(a) is not type(b) and not (
            isinstance(a, _abc.Mapping) and isinstance(b, _abc.Mapping)) and not (
            _is_namedtuple(a) and _is_namedtuple(b) and
            type(a).__name__ == type(b).__name__ and a._fields == b._fields):
        raise TypeError(f"nest: the structures differ{where}: "
                        f"{type(a).__name__} against {type(b).__name__}")
    if isinstance(a, _abc.Mapping) != isinstance(b, _abc.Mapping):
        raise ValueError(f"nest: the structures differ{where}: "
                         f"{_kind(a)} against {_kind(b)}")
    if isinstance(a, _abc.Mapping):
        if set(a) != set(b):
            raise ValueError(f"nest: the dicts{where} have different keys: "
                             f"{sorted(map(repr, a))} against {sorted(map(repr, b))}")
        keys = _sorted_keys(a)
        pairs = [(repr(k), a[k], b[k]) for k in keys]
    else:
        if len(a) != len(b):
            raise ValueError(f"nest: the structures differ{where}: "
                             f"{len(a)} items against {len(b)}")
        pairs = [(str(i), x, y) for i, (x, y) in enumerate(zip(a, b))]
    for key, x, y in pairs:
        _same(x, y, check_types, f"{path}/{key}" if path else key)


def _kind(x):
    return f"a {type(x).__name__}" if is_nested(x) else "a leaf"


def map_structure(func, *structure, check_types=True, expand_composites=False):
    """func applied to the leaves in the same place of every structure,
    packed like the first."""
    if not structure:
        raise ValueError("map_structure needs at least one structure")
    for other in structure[1:]:
        assert_same_structure(structure[0], other, check_types=check_types)
    flats = [flatten(s) for s in structure]
    return pack_sequence_as(structure[0], [func(*leaves) for leaves in zip(*flats)])
