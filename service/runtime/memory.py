"""Memory back to the OS after a peak (issue 16). ONNX Runtime's arenas keep the largest batch
each engine has run, and glibc keeps freed heap pages: after 100 clients for 30 s the server
held 1.0 GB against 0.45 GB warm. Once the server has been idle for ``idle_s``, each engine
that can gives its arena's free memory back (``release_memory``, on its own worker thread) and
glibc trims its heap (``malloc_trim(0)``). Idle only: as an option of every run, arena
shrinkage cost ~20 % of detector time (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def _libc(name: str) -> Callable[..., int] | None:
    """A glibc function, or None where the C library lacks it (musl, macOS)."""
    try:
        fn: Callable[..., int] = ctypes.CDLL(ctypes.util.find_library("c"))[name]
    except (OSError, AttributeError, TypeError):
        return None
    return fn


_TRIM = _libc("malloc_trim")
_MALLOPT = _libc("mallopt")
M_MMAP_THRESHOLD = -3  # mallopt parameters (malloc.h)
M_ARENA_MAX = -8


def set_malloc_policy(mmap_threshold: int, arena_max: int) -> None:
    """glibc, before the engines and request threads start (0 = leave glibc's own policy):

    - ``mmap_threshold``: every allocation of this many bytes or more gets its own mapping,
      returned to the OS when freed. glibc's own threshold rises to 32 MB after the first large
      free, after which freed pages and detector inputs stay in the heap: with ONNX Runtime's
      arena off a 1 MiB threshold cut the lean profile's peak by ~50 MB.
    - ``arena_max``: malloc arenas shared by all threads (glibc's own: 8 per core). Each request
      thread otherwise frees its buffers into its own arena, where they stay: at 8 clients,
      one arena and a 4 MiB threshold cut the default server's peak by ~100 MB
      (docs/benchmarks.md)."""
    if _MALLOPT is None:
        return
    if mmap_threshold > 0:
        _MALLOPT(M_MMAP_THRESHOLD, mmap_threshold)
    if arena_max > 0:
        _MALLOPT(M_ARENA_MAX, arena_max)


def trim_heap() -> None:
    """Return glibc's free heap memory (every arena, not only the top) to the OS."""
    if _TRIM is not None:
        _TRIM(0)


class IdleRelease:
    """Calls ``release`` once the server has had no work for ``idle_s`` after some work."""

    def __init__(self, idle_s: float, release: Callable[[], Awaitable[None]]) -> None:
        self.idle_s = idle_s
        self._release = release
        self._busy = 0  # requests computing
        self._task: asyncio.Task[None] | None = None

    def started(self) -> None:
        self._busy += 1
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def finished(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        try:
            await asyncio.sleep(self.idle_s)
            await self._release()
        except Exception:  # never fatal: the memory stays where it was
            log.exception("releasing memory after a peak failed")
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
