"""The console script turns off numpy's huge-page requests, keeps freed malloc memory for reuse and has
Arrow allocate with malloc (groupstats.engine.process_memory); an opt-out variable keeps the system's
defaults, an Arrow pool chosen in the environment is kept, and a call of ``main([...])`` (tests,
notebooks) leaves the process alone."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from groupstats.cli import main

# runs in a fresh interpreter: reports numpy's huge-page setting and how many bytes glibc served with
# their own mmap for a 64 MB array, before and after keep_freed_memory()
PROBE = r"""
import ctypes, json, sys
import numpy as np
from numpy._core.multiarray import _set_madvise_hugepage

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def mapped_for_big_array():
    before = libc.mallinfo2().hblkhd
    a = np.ones(8 * 2**20)  # 64 MB
    after = libc.mallinfo2().hblkhd
    del a
    return after - before

out = {"mapped_before": mapped_for_big_array()}
if "--pyarrow-first" in sys.argv:
    import pyarrow
from groupstats.engine.process_memory import keep_freed_memory
out["applied"] = keep_freed_memory()
out["mapped_after"] = mapped_for_big_array()
was = _set_madvise_hugepage(True)  # returns the setting it replaces
out["huge_pages_were_on"] = bool(was)
import pyarrow
out["arrow_pool"] = pyarrow.default_memory_pool().backend_name
print(json.dumps(out))
"""

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt and mallinfo2 are glibc's")


def _probe(env_extra=None, *args):
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("GROUPSTATS_SYSTEM_MEMORY_DEFAULTS", "ARROW_DEFAULT_MEMORY_POOL")}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@glibc
def test_big_arrays_come_from_the_heap_and_numpy_stops_asking_for_huge_pages():
    got = _probe()
    assert got["mapped_before"] >= 64 * 2**20  # glibc's default: a block of its own, unmapped when freed
    assert got["applied"] == {"numpy_huge_pages_off": True, "malloc_keeps_freed": True, "arrow_uses_malloc": True}
    assert got["mapped_after"] == 0
    assert got["huge_pages_were_on"] is False
    assert got["arrow_pool"] == "system"


@glibc
def test_arrow_allocates_with_malloc_unless_the_environment_chose_its_pool():
    assert _probe({}, "--pyarrow-first")["arrow_pool"] == "system"  # (pyarrow imported before the call)
    for pool in ("jemalloc", "mimalloc"):
        got = _probe({"ARROW_DEFAULT_MEMORY_POOL": pool})
        assert got["applied"]["arrow_uses_malloc"] is False and got["applied"]["malloc_keeps_freed"] is True
        assert got["arrow_pool"] == pool


@glibc
def test_the_opt_out_variable_keeps_the_system_defaults():
    got = _probe({"GROUPSTATS_SYSTEM_MEMORY_DEFAULTS": "1"})
    assert got["applied"] == {"numpy_huge_pages_off": False, "malloc_keeps_freed": False, "arrow_uses_malloc": False}
    assert got["mapped_after"] >= 64 * 2**20
    assert got["huge_pages_were_on"] is True
    assert got["arrow_pool"] != "system"


def test_only_the_console_script_changes_the_process_memory_settings(monkeypatch):
    import atexit
    import gc

    calls = []
    monkeypatch.setattr("groupstats.engine.process_memory.keep_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(atexit, "register", lambda fn, *a, **k: None)
    monkeypatch.setattr(gc, "set_threshold", lambda *t: None)
    assert main(["--version"]) == 0
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["groupstats", "--version"])
    assert main() == 0
    assert calls == [1]
