"""The line protocol between the soak conductor and its worker process.

The conductor writes one command per line to the worker's command pipe; the
worker answers on its result pipe with one JSON object per line. Pipes rather
than stdin/stdout so that whatever the controller under test prints never gets
mixed into the protocol.
"""

from __future__ import annotations

import logging
import os
import select
import time
from typing import Any, BinaryIO

import orjson

logger = logging.getLogger(__name__)

MAX_LINE = 16 * 1024 * 1024
"""The longest message accepted; a sample with thread stacks is a few KiB."""


class ChannelClosed(Exception):
    """The other end closed its pipe (it exited or crashed)."""


class ChannelTimeout(Exception):
    """No message arrived within the deadline."""


def send(stream: BinaryIO, message: dict[str, Any]) -> None:
    """Write ``message`` as one JSON line and flush it."""
    stream.write(orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    stream.flush()


class Receiver:
    """Reads JSON lines from a pipe with a deadline per message.

    It reads with ``os.read`` on the raw descriptor and keeps its own buffer,
    because a buffered reader would hide already-read lines from ``select``.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def receive(self, timeout: float | None) -> dict[str, Any]:
        """Return the next message; raise on timeout or when the pipe closes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            line_end = self._buffer.find(b"\n")
            if line_end >= 0:
                line = bytes(self._buffer[:line_end])
                del self._buffer[: line_end + 1]
                message: dict[str, Any] = orjson.loads(line)
                return message

            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ChannelTimeout
            readable, _, _ = select.select([self._fd], [], [], remaining)
            if not readable:
                raise ChannelTimeout
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise ChannelClosed
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE:
                raise ChannelClosed

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self._fd)
