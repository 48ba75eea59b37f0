"""kiln.Module and kiln.name_scope, as tf.Module and tf.name_scope.

A Module finds its variables by walking its attributes: Variables and other
Modules, also inside lists, tuples and dicts, in the order of the attribute
names (dict entries by key), each variable once. Layers are Modules whose
weights come from ``add_weight`` and tracked attributes (layers.py).
Checkpoints name a module's variables by their attribute paths.
"""

import contextlib
import functools
import re

from ._state import local


_SCOPE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def current_name_scope():
    """The innermost name scope: "" at the root, else "outer/inner/"."""
    return local.name_scope


class name_scope:
    """tf.name_scope: names Variables created inside ``<scope>/<name>``.
    A name ending in "/" is a full scope (re-entered as it is); "" is the
    root. Kiln's ops have no names, so only variables see the scope.
    ``with kiln.name_scope("block") as scope:`` gives "block/"."""

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError(f"name_scope: the name must be a string, got {name!r}")
        if name and not name.endswith("/") and not _SCOPE_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid scope name: use letters, "
                             "digits and . _ - / > (not starting with _ - / >)")
        self._name = name
        self._saved = []

    def __enter__(self):
        name = self._name
        if not name or name.endswith("/"):
            scope = name
        else:
            scope = f"{local.name_scope}{name}/"
        self._saved.append(local.name_scope)
        local.name_scope = scope
        return scope

    def __exit__(self, *exc):
        local.name_scope = self._saved.pop()
        return False


def _snake(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _leaves(value, path):
    """(path, Variable or Module) found in a nest of lists, tuples and dicts."""
    from .variables import Variable
    if isinstance(value, (Variable, Module)):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}/{i}")
    elif isinstance(value, dict):
        try:
            keys = sorted(value)
        except TypeError:  # (keys of mixed types: insertion order)
            keys = list(value)
        for key in keys:
            yield from _leaves(value[key], f"{path}/{key}")


class Module:
    """tf.Module: a named container whose variables, trainable variables and
    submodules are found from its attributes.

        class Dense(kiln.Module):
            def __init__(self, n_in, n_out, name=None):
                super().__init__(name=name)
                with self.name_scope:
                    self.w = kiln.Variable(kiln.random.normal([n_in, n_out]), name="w")
                    self.b = kiln.Variable(kiln.zeros([n_out]), name="b")

            def __call__(self, x):
                return kiln.nn.relu(x @ self.w + self.b)
    """

    # Attributes the walk skips (what Module itself keeps).
    _ignored_attributes = frozenset(("_name", "_scope_name"))

    def __init__(self, name=None):
        if name is None:
            name = _snake(type(self).__name__)
        elif not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{name!r} is not a valid module name: module "
                             "names must be Python identifiers (as in "
                             "TensorFlow)")
        self._name = name
        with name_scope(name) as scope:
            self._scope_name = scope

    @property
    def name(self):
        return self._name

    @property
    def name_scope(self):
        """The module's scope (entered again as it was when the module was
        made): Variables created inside are named "<module>/<name>"."""
        return name_scope(self._scope_name)

    @classmethod
    def with_name_scope(cls, method):
        """Decorator: runs the method inside the module's name scope."""
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)
        return wrapper

    def _tracked_attributes(self):
        """(attribute path, Variable or Module) of this module's own
        attributes, in attribute-name order."""
        ignored = type(self)._ignored_attributes
        for attr in sorted(vars(self)):
            if attr not in ignored:
                yield from _leaves(vars(self)[attr], attr)

    def _named_variables(self, prefix="", _visiting=None):
        """(path, Variable) of this module and its submodules; a module
        shared by two attributes gives both paths, one that refers back to
        a module being walked (a cycle) none."""
        from .variables import Variable
        with _walking(self, _visiting) as visiting:
            if visiting is None:
                return
            children = []
            for path, leaf in self._tracked_attributes():
                if isinstance(leaf, Variable):
                    yield prefix + path, leaf
                else:
                    children.append((path, leaf))
            for path, child in children:
                yield from child._named_variables(f"{prefix}{path}/", visiting)

    def _unique_variables(self, keep=lambda v: True):
        seen, out = set(), []
        for _, v in self._named_variables():
            if id(v) not in seen and keep(v):
                seen.add(id(v))
                out.append(v)
        return tuple(out)

    @property
    def variables(self):
        """Every variable of the module and its submodules, once each."""
        return self._unique_variables()

    @property
    def trainable_variables(self):
        return self._unique_variables(lambda v: v.trainable)

    @property
    def non_trainable_variables(self):
        return self._unique_variables(lambda v: not v.trainable)

    @property
    def submodules(self):
        """Every module reachable from this one's attributes (not itself),
        once each, in tf.Module's order: a module's direct children (by
        attribute name), then each child's own, child by child."""
        seen, out = {id(self)}, []

        def walk(module):
            children = []
            for _, leaf in Module._tracked_attributes(module):
                if isinstance(leaf, Module) and id(leaf) not in seen:
                    seen.add(id(leaf))
                    out.append(leaf)
                    children.append(leaf)
            for child in children:
                walk(child)
        walk(self)
        return tuple(out)

    def __repr__(self):
        return f"<{type(self).__name__} '{self.name}'>"


@contextlib.contextmanager
def _walking(module, visiting):
    """The modules on the path of a variable walk, `module` added while the
    walk is inside it; None when `module` is already on it (a cycle)."""
    visiting = set() if visiting is None else visiting
    if id(module) in visiting:
        yield None
        return
    visiting.add(id(module))
    try:
        yield visiting
    finally:
        visiting.discard(id(module))
