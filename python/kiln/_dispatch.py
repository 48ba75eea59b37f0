"""Ops on values that are not tensors (RaggedTensor), as TensorFlow's
dispatch for ragged tensors: `kiln.reduce_sum(ragged, axis=1)`.

An op library marks its public functions with `dispatching(globals(),
names, prefix)`: each becomes a wrapper that, when an argument (or the
first element of a list argument) is of a registered composite type,
calls that type's handler for the op instead; otherwise the op itself.
The composite's module registers its handlers with `register`: a
handler is called as handler(op, *args, **kwargs), `op` being the
undecorated function (to apply to the composite's parts); it returns
NotImplemented for arguments it does not take, which is a TypeError
naming the op.

This module imports nothing of Kiln: the op libraries below the
composite types' modules call it, and those modules register into it.
"""

import functools

_TYPES = set()      # the registered composite classes
_HANDLERS = {}      # (class, op key) -> handler
_DEFAULTS = {}      # class -> the handler of every op it has none of its own for


def register(cls, handlers, default=None):
    """Registers `handlers` ({op key: handler}) for values of `cls`, and a
    `default` handler, called as default(key, op, *args, **kwargs), for
    the other ops (the functional API's symbolic tensors: any op becomes a
    node of the graph)."""
    _TYPES.add(cls)
    for key, handler in handlers.items():
        _HANDLERS[(cls, key)] = handler
    if default is not None:
        _DEFAULTS[cls] = default


def composite_of(args, kwargs=None):
    """The first registered composite among the arguments (looking into
    list and tuple arguments too), or None."""
    for a in args:
        t = type(a)
        if t in _TYPES:
            return t
        if t is list or t is tuple:
            for e in a:
                if type(e) in _TYPES:
                    return type(e)
    if kwargs:
        return composite_of(kwargs.values())
    return None


def call(cls, key, op, args, kwargs):
    """`op` (kiln.`key`) on arguments that include a `cls` value."""
    handler = _HANDLERS.get((cls, key))
    if handler is None and cls in _DEFAULTS:
        return _DEFAULTS[cls](key, op, *args, **kwargs)
    out = NotImplemented if handler is None else handler(op, *args, **kwargs)
    if out is NotImplemented:
        raise TypeError(
            f"kiln.{key} does not take a {cls.__name__} here: pad it into a tensor "
            f"(.to_tensor()) or apply the op to its values (kiln.ragged.map_flat_values)")
    return out


def _wrapped(op, key):
    @functools.wraps(op)
    def api(*args, **kwargs):
        if _TYPES:
            cls = composite_of(args, kwargs)
            if cls is not None:
                return call(cls, key, op, args, kwargs)
        return op(*args, **kwargs)
    api._kiln_undecorated = op
    return api


def dispatching(namespace, names, prefix=""):
    """Replaces each of `names` in a module's `namespace` by its
    dispatching wrapper (kiln.<prefix><name> for the handlers)."""
    for name in names:
        op = namespace[name]
        if not hasattr(op, "_kiln_undecorated"):
            namespace[name] = _wrapped(op, prefix + name)


def intercepting(namespace, names, cls, prefix=""):
    """Replaces each of `names` in `namespace` by a wrapper that hands calls
    with a `cls` argument to cls's default handler and leaves every other
    call to the function itself (public entry points of ops that otherwise
    take no composites)."""
    for name in names:
        op = namespace.get(name)
        # (an op that dispatches already reaches cls's default handler)
        if op is None or getattr(op, "_kiln_intercepts", None) is cls or \
                hasattr(op, "_kiln_undecorated") or getattr(op, "_kiln_dispatches", False):
            continue

        def make(op, key):
            @functools.wraps(op)
            def api(*args, **kwargs):
                if composite_of(args, kwargs) is cls:
                    return _DEFAULTS[cls](key, op, *args, **kwargs)
                return op(*args, **kwargs)
            api._kiln_intercepts = cls
            # (pickle finds the wrapper where it lives: kiln.reshape)
            api.__module__ = namespace.get("__name__", api.__module__)
            api.__qualname__ = name
            return api
        namespace[name] = make(op, prefix + name)
