"""Sub-millisecond waits on the event loop without spinning (Linux ``timerfd``).

asyncio's selector rounds its ``epoll_wait`` timeout *up* to whole milliseconds, so a timer of
3.646 ms (Modbus t3.5 at 9600 baud) fires after 4-4.7 ms. The link used to sleep the whole
milliseconds and then yield (``sleep(0)``) until the deadline: exact, but each yield is a full
loop iteration, about a hundred of them per sub-millisecond rest. A ``timerfd`` armed for an
absolute ``CLOCK_MONOTONIC`` time (the clock of :func:`time.monotonic`) becomes readable at that
time to the microsecond, and the loop's descriptor watcher wakes for it like for any other read.

:func:`fine_timer` returns ``None`` where there is no ``timerfd`` (not Linux, no libc); callers keep
their own fallback. Python 3.13 has ``os.timerfd_create``; 3.11 and 3.12 reach libc via ctypes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import os
import sys

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return libc


class FineTimer:
    """One ``timerfd`` watched by the running loop; :meth:`sleep_until` waits for a monotonic time.

    One sleeper at a time (the link's requests take turns). Close it on the loop it was used on.
    """

    fd = -1  # until timerfd_create succeeds: __del__ of a timer whose creation failed closes nothing

    def __init__(self, libc: ctypes.CDLL) -> None:
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        self._libc = libc
        self.fd = fd
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def sleep_until(self, when: float) -> None:
        """Return at ``when`` (seconds on :func:`time.monotonic`), or at once if that has passed."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                self._loop.remove_reader(self.fd)
            loop.add_reader(self.fd, self._expired)
            self._loop = loop
        value = self._spec.it_value
        value.tv_sec = int(when)
        value.tv_nsec = int((when - int(when)) * 1e9)
        if value.tv_sec <= 0 and value.tv_nsec <= 0:  # an all-zero value would disarm the timer
            return
        if self._libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        self._waiter = waiter = loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _expired(self) -> None:
        try:
            os.read(self.fd, 8)  # the expiration count; reading it makes the fd unreadable again
        except BlockingIOError:
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __del__(self) -> None:  # dropped without close(): at least release the descriptor
        if self.fd >= 0:
            os.close(self.fd)

    def close(self) -> None:
        """Stop watching and release the descriptor (idempotent)."""
        if self.fd < 0:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
        self._loop = None
        os.close(self.fd)
        self.fd = -1


def fine_timer() -> FineTimer | None:
    """A new :class:`FineTimer`, or None where ``timerfd`` is not available."""
    libc = _libc()
    if libc is None:
        return None
    try:
        return FineTimer(libc)
    except OSError:
        return None
