"""Per-thread front-end state, read on every op: the trace being built (if
any), the active gradient tapes, and the device scopes (full names) with the
runtime's name of the innermost ("cpu" or "cuda:N", what eager ops run on).
A threading.local subclass whose attributes always exist, so reading them
is a plain attribute access."""

import threading


class _State(threading.local):
    def __init__(self):
        self.trace = None
        self.tapes = []
        self.devices = []
        self.runtime_device = "cpu"
        # Inside a layer's call under a mixed dtype policy: the dtype that
        # the layer's float32 variables read as (kiln.mixed_precision).
        self.autocast = None
        # kiln.name_scope: "" or "outer/inner/" (a prefix of Variable names).
        self.name_scope = ""


local = _State()
