"""Kiln's exceptions, as in TensorFlow: every error raised by an op is an
``OpError`` subclass chosen by the runtime's status code, and its message
starts with the user's ``file:line`` that called the op."""

import os
import sys


class OpError(Exception):
    """An op could not run. ``message`` is the text without the location."""

    def __init__(self, message, location=None):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class InvalidArgumentError(OpError, ValueError):
    """Bad shapes, dtypes or attributes."""


class NotFoundError(OpError):
    """A file, entry or variable that does not exist."""


class UnimplementedError(OpError):
    """Something Kiln does not do (yet)."""


class AlreadyExistsError(OpError):
    """Something to be made exists already (tf.errors.AlreadyExistsError)."""


class DataLossError(OpError):
    """A corrupt or truncated file."""


class InternalError(OpError):
    """A failure inside Kiln."""


class ResourceExhaustedError(OpError):
    """Out of memory."""


class IOError_(OpError):
    """A read or write failed."""


class UnavailableError(OpError):
    """Something the op needs is not there: a GPU, the MPI library."""


# kiln_status_code_t values (include/kiln/Runtime/Runtime.h).
_BY_CODE = {
    1: InvalidArgumentError, 2: NotFoundError, 3: ResourceExhaustedError,
    4: IOError_, 5: DataLossError, 6: UnimplementedError, 7: InternalError,
    8: UnavailableError,
}

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _in_package(filename):
    """Whether code from `filename` is part of the kiln package."""
    return os.path.abspath(filename).startswith(_PACKAGE + os.sep)


from . import _kiln  # noqa: E402  (below the classes the binding maps to)

_kiln.register_location_classifier(_in_package)
# The file:line of the innermost frame outside the kiln package (asked for
# every op a gradient tape records: a native frame walk, each file
# classified once).
user_location = _kiln.user_location


def from_native(error):
    """The OpError for a NativeError raised by the _kiln module."""
    code, message = error.args
    cls = _BY_CODE.get(code, OpError)
    return cls(message, user_location())
