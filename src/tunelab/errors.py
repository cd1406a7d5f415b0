"""One exception type for bad user input.

Everything a user can get wrong (a missing file, a malformed line, an unknown key) raises
``TunelabError`` with a one-line message that names the file, line or config key. The CLI
entry points print it as ``error: <message>`` and exit non-zero instead of a traceback.
"""

from __future__ import annotations


class TunelabError(Exception):
    """A user-facing error whose message is a single line naming what is wrong and where."""

    def __init__(self, message: str) -> None:
        # Keep it one line even if a caller interpolated a multi-line value.
        super().__init__(" ".join(str(message).split("\n")))


class DataError(TunelabError):
    """Bad or missing data: message starts with ``<path>:<line>:`` where a line is known."""


class ConfigError(TunelabError):
    """A bad config value: message names the key, e.g. ``data.text_column``."""
