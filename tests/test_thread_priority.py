"""The checks' threads at the lowest priority while a command computes, and back once it waits for them
(groupstats.engine.thread_priority, data.loading.PendingValidation)."""
from __future__ import annotations

import os
import threading

import pytest

from groupstats.data.loading import PendingValidation
from groupstats.engine import thread_priority

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux threads only")


def _nice(tid: int | None = None) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid or threading.get_native_id())


def _may_raise_again() -> bool:
    """Tried directly, in a thread of its own: lowered to 19, may a thread go back to its priority?"""
    result: list = []

    def attempt():
        tid = threading.get_native_id()
        original = _nice(tid)
        os.setpriority(os.PRIO_PROCESS, tid, 19)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, original)
            result.append(_nice(tid) == original)
        except PermissionError:
            result.append(False)

    probe = threading.Thread(target=attempt)
    probe.start()
    probe.join()
    return result[0]


#: the tests of lowering and restoring need a process that may raise a priority again (CAP_SYS_NICE or
#: RLIMIT_NICE); elsewhere the checks never lower theirs (test_no_lowering_... covers that)
needs_restore = pytest.mark.skipif(not _may_raise_again(), reason="this process may not raise a priority again")


def test_the_probe_says_what_this_process_may_do():
    assert thread_priority.can_restore() is _may_raise_again()


@needs_restore
def test_lowered_thread_and_the_threads_it_starts_are_restored_others_untouched():
    normal = _nice()
    seen: dict = {}
    release = threading.Event()
    other_ready = threading.Event()

    def other():  # a thread of the process started before, at nice 19 of its own accord
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        seen["other"] = threading.get_native_id()
        other_ready.set()
        release.wait(10)

    def child():
        seen["child_nice"] = _nice()
        seen["child"] = threading.get_native_id()
        release.wait(10)

    def lowered():
        handle = thread_priority.LoweredPriority()
        seen["own_nice"] = _nice()
        kid = threading.Thread(target=child)
        kid.start()
        while "child" not in seen:
            pass
        seen["restored"] = handle.restore()
        seen["own_after"] = _nice()
        seen["child_after"] = _nice(seen["child"])
        seen["other_after"] = _nice(seen["other"])
        release.set()
        kid.join()

    bystander = threading.Thread(target=other)
    bystander.start()
    other_ready.wait(10)
    worker = threading.Thread(target=lowered)
    worker.start()
    worker.join(20)
    bystander.join(10)
    assert seen["own_nice"] == 19 and seen["child_nice"] == 19  # inherited
    assert seen["own_after"] == normal and seen["child_after"] == normal
    assert seen["other_after"] == 19  # started before: not the checks'
    assert sorted(seen["restored"]) == sorted([worker.native_id, seen["child"]])
    assert _nice() == normal


def _until(predicate, seconds: float = 20.0) -> bool:
    """Whether ``predicate()`` became true within ``seconds`` (polled every millisecond)."""
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.001)
    return False


@needs_restore
def test_waiting_for_the_checks_puts_them_back_to_normal_priority_while_they_run():
    normal = _nice()
    lowered = threading.Event()
    trace: list = []

    def check(pending):
        trace.append(pending.lower_priority())
        trace.append(_nice())
        lowered.set()
        # still running when the caller waits: back to the normal priority then
        trace.append(_until(lambda: _nice() == normal))

    pending = PendingValidation(check)
    assert lowered.wait(10)
    pending.wait()
    assert trace == [True, 19, True]


@needs_restore
def test_checks_that_end_first_leave_no_thread_lowered():
    normal = _nice()
    started: dict = {}
    stop = threading.Event()

    def check(pending):
        assert pending.lower_priority()
        kid = threading.Thread(target=stop.wait, args=(10,), daemon=True)
        kid.start()  # e.g. a pool a library starts on first use, and keeps
        started["kid"] = kid.native_id
        started["kid_nice"] = _nice(kid.native_id)

    pending = PendingValidation(check)
    pending._thread.join()  # the checks ended before anyone waited
    assert started["kid_nice"] == 19 and _nice(started["kid"]) == normal
    stop.set()
    pending.wait()


def test_no_lowering_once_the_caller_waits_or_where_it_could_not_be_undone(monkeypatch):
    normal = _nice()
    go = threading.Event()
    trace: list = []

    def late_check(pending):
        go.wait(10)
        trace.append(pending.lower_priority())
        trace.append(_nice())

    pending = PendingValidation(late_check)
    pending._restore_priority(waited=True)  # (what waiting does first)
    go.set()
    pending.wait()
    assert trace == [False, normal]

    monkeypatch.setattr(thread_priority, "can_restore", lambda: False)
    trace.clear()
    pending = PendingValidation(lambda p: trace.extend([p.lower_priority(), _nice()]))
    pending.wait()
    assert trace == [False, normal]


def test_can_restore_is_false_where_raising_a_priority_is_refused(monkeypatch):
    real = os.setpriority

    def refuse_raising(which, who, value):
        if value < os.getpriority(which, who):
            raise PermissionError(1, "Operation not permitted")
        return real(which, who, value)

    thread_priority.can_restore.cache_clear()
    try:
        monkeypatch.setattr(os, "setpriority", refuse_raising)
        assert thread_priority.can_restore() is False
    finally:
        monkeypatch.undo()
        thread_priority.can_restore.cache_clear()
    assert thread_priority.can_restore() is _may_raise_again()
