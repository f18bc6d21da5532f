"""Which link a URL names, opened: ``sim://NAME`` in memory, anything else through pyserial,
on the event loop or (``blocking``) without one. Each kind is imported only when used, so a
read on a serial port loads no event loop."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from pumpctl.link.errors import LinkError
from pumpctl.link.timing import DEFAULT_BAUD

if TYPE_CHECKING:
    from pumpctl.link.blocking import BlockingLink
    from pumpctl.link.transport import SerialLink
    from pumpctl.protocol.frames import Frame

SCHEME = "sim://"


def is_memory_url(url: str) -> bool:
    return url.startswith(SCHEME)


async def open_link(
    url: str,
    on_frame: Callable[[Frame], None],
    on_bytes: Callable[[bytes], None] = lambda _: None,
    baud: int = DEFAULT_BAUD,
    *,
    exclusive: bool = True,
    blocking: bool = False,
) -> SerialLink | BlockingLink:
    """The link ``url`` names. A ``blocking`` link waits for its answers in the calling
    thread, so nothing awaited on it ever suspends (``pumpctl.link.blocking``); it takes a
    device path, never a URL."""
    if blocking:
        from pumpctl.link.blocking import BlockingLink

        return BlockingLink.open(url, on_frame, on_bytes, baud, exclusive=exclusive)
    if is_memory_url(url):
        from pumpctl.link.memory import MemoryLink

        return await MemoryLink.open(url, on_frame, on_bytes, baud, exclusive=exclusive)
    from pumpctl.link.transport import SerialLink

    return await SerialLink.open(url, on_frame, on_bytes, baud, exclusive=exclusive)


def port_error(url: str, error: BaseException, exclusive: bool) -> LinkError:
    """The one line for a port that would not open."""
    if exclusive and getattr(error, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
        return LinkError(
            f"port {url} is in use by another program (another programmer?): close it and try again"
        )
    return LinkError(f"cannot open port {url}: {_reason(error)}")


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and isinstance(error.errno, int):
        return os.strerror(error.errno)
    return str(error) or type(error).__name__
