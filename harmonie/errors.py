"""Errors a user can act on.

Anything raised as :class:`HarmonieError` is shown by the command line as one line
(``error: ...``) with a non-zero exit, never as a traceback. Messages must not carry
secrets or plaintext identifiers: name the file, column or parameter, not the value.
"""


class HarmonieError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class InvalidParameter(HarmonieError, ValueError):
    """A parameter is out of range or inconsistent with another one."""


class OutputNotWritable(HarmonieError, OSError):
    """An output location cannot be created or written."""
