"""Threads at the lowest scheduling priority, and back to their own.

The dataset checks that run beside a command (:func:`groupstats.data.loading.load_dataset_checking`
with ``checks_on_idle_cores``) lower their thread to nice 19 before their DuckDB connection opens,
so that DuckDB's workers, which start then, inherit it: they take only the cores the command leaves
idle. Once the command waits for them, or they end, every thread they started is put back to the
priority it came from (:meth:`LoweredPriority.restore`). Without that, other programs busy on every
core would starve the rest of the checks while the command waits (a thread at nice 19 gets ~1.5% of
a core against one at nice 0).

Linux lets a process lower a thread's priority but raise it again only with the privilege to
(``CAP_SYS_NICE``, or an ``RLIMIT_NICE`` that allows it; a container's root often has neither):
:func:`can_restore` tries it once in a throwaway thread, and where it fails the checks keep the
normal priority.
"""
from __future__ import annotations

import functools
import os
import threading

#: the nice value of a lowered thread (the lowest priority)
LOWEST = 19


def _tasks() -> set[int]:
    """The ids of this process's threads (Linux); empty elsewhere."""
    try:
        return {int(task) for task in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _nice(tid: int) -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except (AttributeError, OSError):  # no per-thread priority here, or the thread has ended
        return None


@functools.cache
def can_restore() -> bool:
    """Whether a thread of this process lowered to nice 19 can be put back (tried once, in a thread
    of its own); False where threads have no priorities of their own (not Linux)."""
    if not hasattr(os, "setpriority") or not _tasks():
        return False
    result: list[bool] = []

    def attempt() -> None:
        tid = threading.get_native_id()
        original = _nice(tid)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, LOWEST)
            os.setpriority(os.PRIO_PROCESS, tid, original)
            result.append(_nice(tid) == original)
        except OSError:
            result.append(False)

    probe = threading.Thread(target=attempt, name="groupstats-priority-probe")
    probe.start()
    probe.join()
    return bool(result and result[0])


class LoweredPriority:
    """The calling thread lowered to nice 19 (and the threads it starts after, which inherit it) until
    :meth:`restore`. Create it in the thread to lower."""

    def __init__(self) -> None:
        self.thread_id = threading.get_native_id()
        self.original = _nice(self.thread_id)
        self._before = _tasks() - {self.thread_id}
        os.setpriority(os.PRIO_PROCESS, self.thread_id, LOWEST)

    def restore(self) -> list[int]:
        """Put the lowered thread and every thread started since that is still at nice 19 back to the
        original priority; returns their ids. Threads that ended meanwhile are skipped."""
        restored = []
        for tid in sorted(_tasks() - self._before):
            if _nice(tid) == LOWEST and self.original is not None:
                try:
                    os.setpriority(os.PRIO_PROCESS, tid, self.original)
                    restored.append(tid)
                except OSError:  # ended meanwhile
                    pass
        return restored
