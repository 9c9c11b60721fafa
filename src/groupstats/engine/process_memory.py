"""Memory settings for a process that runs one command and ends (the console script).

A command allocates and frees large numpy arrays many times (columns of ~10M rows, model matrices).
Two defaults of a Linux process make each such allocation touch fresh pages that the kernel must
supply and zero:

* numpy asks for transparent huge pages for every array of 4 MB or more (``madvise(MADV_HUGEPAGE)``).
  Where the kernel defragments on such a request (``/sys/kernel/mm/transparent_hugepage/defrag`` is
  ``madvise``, a common default), each first touch of 2 MB may compact memory and then zeroes it.
* glibc's ``malloc`` serves blocks over 32 MB with their own ``mmap`` and hands them back to the
  kernel when freed, so the next array of that size faults its pages in again.
* Arrow's own allocator (mimalloc in the pyarrow wheels; every engine result passes through Arrow) also
  returns freed memory to the kernel. With ``ARROW_DEFAULT_MEMORY_POOL=system`` Arrow allocates with
  ``malloc``, which then keeps it: ``groupstats churn`` on the many-groups shape took 18.4-18.7 s instead of
  19.6-20.0 s (kernel time 2.7-2.8 s instead of 3.8-4.6 s; 3 interleaved runs each, 2026-12-06).

Measured with ``/usr/bin/time`` on 2 shared cores (issue 13's many-groups shape, ``groupstats churn``):
17-20 s of the process's 65 s CPU were the kernel's, ~26% of its samples in ``clear_page_erms``; with
huge pages off and freed memory kept for reuse, 7.8 s, and the wall time fell from ~43 s to ~33 s.
The numbers computed are the same (the churn scores' CSV is byte-identical): only where memory comes
from changes. The cost is a higher resident size at the end of the process (freed memory is not
returned; the peak rose by 0.1-0.15 GB in the same runs).

Only the console script applies this (:func:`groupstats.cli.root.main` with no ``argv``), since it
owns its process; importing groupstats changes nothing in a notebook's or an application's process.
Set ``GROUPSTATS_SYSTEM_MEMORY_DEFAULTS=1`` to keep the system's defaults (an
``ARROW_DEFAULT_MEMORY_POOL`` set in the environment is kept too).
"""
from __future__ import annotations

import ctypes
import os
import sys

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: the largest value ``mallopt`` takes (a C int): free memory at the heap's top beyond it is returned
_TRIM_THRESHOLD_BYTES = 2**31 - 1

OPT_OUT_VARIABLE = "GROUPSTATS_SYSTEM_MEMORY_DEFAULTS"


def keep_freed_memory() -> dict[str, bool]:
    """Turn off numpy's huge-page requests, keep freed ``malloc`` memory in the process, and have Arrow
    allocate with ``malloc``.

    Returns what was applied, e.g. ``{"numpy_huge_pages_off": True, "malloc_keeps_freed": True,
    "arrow_uses_malloc": True}``; a platform without the function (not Linux, not glibc, an older numpy)
    leaves that setting alone, and an ``ARROW_DEFAULT_MEMORY_POOL`` already in the environment is kept.
    Nothing is applied when the environment variable ``GROUPSTATS_SYSTEM_MEMORY_DEFAULTS`` is ``1``.
    """
    applied = {"numpy_huge_pages_off": False, "malloc_keeps_freed": False, "arrow_uses_malloc": False}
    if os.environ.get(OPT_OUT_VARIABLE, "").strip() == "1":
        return applied
    if sys.platform.startswith("linux") and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        # read by pyarrow when it is first imported (the console script has not imported it yet)
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
        if "pyarrow" in sys.modules:
            import pyarrow

            pyarrow.set_memory_pool(pyarrow.system_memory_pool())
        applied["arrow_uses_malloc"] = True
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy < 2
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            _set_madvise_hugepage = None
    if _set_madvise_hugepage is not None:
        _set_madvise_hugepage(False)
        applied["numpy_huge_pages_off"] = True
    if sys.platform.startswith("linux"):
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):  # no C library symbol table, or a libc without mallopt
            return applied
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
        # no block gets its own mmap (glibc still maps memory when the heap cannot grow), and free memory
        # at the heap's top stays in the process up to 2 GB; mallopt returns 1 on success
        ok = mallopt(_M_MMAP_MAX, 0) == 1
        ok = mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES) == 1 and ok
        applied["malloc_keeps_freed"] = ok
    return applied
