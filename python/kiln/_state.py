"""Per-thread front-end state, read on every op: the trace being built (if
any) and the active gradient tapes. A threading.local subclass whose
attributes always exist, so reading them is a plain attribute access."""

import threading


class _State(threading.local):
    def __init__(self):
        self.trace = None
        self.tapes = []


local = _State()
