"""Constructor arguments noted as objects are made: what model.save writes
for layers and compiled metrics, and load_model passes to their classes
again."""

import functools
import inspect


def recording_init(init):
    """`init` that first notes the arguments the object was made with (the
    outermost constructor's, in `_init_arguments`: a subclass's `__init__`
    calling its base's keeps the subclass's)."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def recording(self, *args, **kwargs):
        if "_init_arguments" not in self.__dict__:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:
                bound = None  # (init itself reports the mistake)
            if bound is not None:
                arguments = dict(bound.arguments)
                arguments.pop(next(iter(signature.parameters)))  # (self)
                for name, parameter in signature.parameters.items():
                    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                        arguments.update(arguments.pop(name, {}))
                    elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                        arguments["*args"] = list(arguments.pop(name, ()))
                object.__setattr__(self, "_init_arguments", arguments)
        return init(self, *args, **kwargs)
    recording._kiln_records = True
    return recording


def record_subclass(cls):
    """For __init_subclass__: wraps the class's own __init__ (once)."""
    init = cls.__dict__.get("__init__")
    if inspect.isfunction(init) and not getattr(init, "_kiln_records", False):
        cls.__init__ = recording_init(init)
