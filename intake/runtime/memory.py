"""Give freed memory back to the system between batches.

glibc keeps large freed blocks in its heap (and, after the first large free,
raises the size above which it uses mmap), so the resident size of a process
that parses one 28 MB message after another keeps growing though Python holds
no more. A fixed mmap threshold and malloc_trim after each batch keep the
worker's peak near what one batch needs. Elsewhere than glibc: nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 256 * 1024

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim = _libc.malloc_trim
    _mallopt = _libc.mallopt
except (OSError, AttributeError):  # not glibc
    _trim = _mallopt = None


def keep_large_blocks_apart() -> None:
    """Large blocks (a message, a body) get pages of their own, returned when freed."""
    if _mallopt is not None:
        _mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def release() -> None:
    """After a batch: collect cycles and hand free heap pages back to the system."""
    gc.collect()
    if _trim is not None:
        _trim(0)
