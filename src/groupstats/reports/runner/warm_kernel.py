"""Warm kernels: one Jupyter kernel runs many reports, reset between them.

Starting a kernel and importing pandas, matplotlib, scipy, scikit-learn and statsmodels in it
costs several seconds per report, more than a small report's own work. A :class:`WarmKernel` is
started once and reused: before each notebook it runs
:func:`groupstats.reports.kernel_reset.reset` silently (namespace, execution counter,
matplotlib state, "once" warnings, working directory), so each report still starts from a fresh
kernel's state. Papermill still runs the notebook (parameters cell injection, error markers,
cell metadata): :class:`WarmKernelEngine` is a papermill engine that executes in the warm
kernel instead of starting one.

A kernel that timed out, died or failed its reset is shut down, never reused. The kernels of a
process are kept in :data:`KERNELS` between batches (at most :data:`KEEP_IDLE` idle ones, for the
same kernel name and environment) and shut down when the process exits.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

#: Idle warm kernels a process keeps between batches (each holds the imported libraries in memory).
KEEP_IDLE = 2
#: Name of the papermill engine that executes in a warm kernel.
ENGINE_NAME = "groupstats-warm-kernel"
#: Seconds the reset before a notebook may take at least (whatever the cells' timeout).
RESET_TIMEOUT = 300.0
_RESET_CODE = "__import__('groupstats.reports.kernel_reset', fromlist=['reset']).reset({cwd!r})"


class KernelResetError(RuntimeError):
    """The silent reset before a notebook failed: the kernel is not used again."""


#: Variables that change while a process runs and that no report reads (pytest's current test).
_VOLATILE_ENVIRONMENT = ("PYTEST_CURRENT_TEST",)


def _environment_key() -> str:
    """A kernel inherits the environment at its start: reuse it only while that is unchanged."""
    items = sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE_ENVIRONMENT)
    return hashlib.sha1(repr(items).encode()).hexdigest()


class WarmKernel:
    """One Jupyter kernel (``kernel_name``) that runs reports one after the other.

    Its stderr (the kernel's own warnings and crash messages) goes to a log file;
    :meth:`log_since` gives what a report added to it.
    """

    def __init__(self, kernel_name: str):
        self.kernel_name = kernel_name
        self.environment = _environment_key()
        self.km = None
        self.broken = False
        self.n_runs = 0
        self._log_dir = Path(tempfile.mkdtemp(prefix="groupstats-kernel-"))
        self.log_path = self._log_dir / "kernel.log"
        self.log_path.write_bytes(b"")

    # -------------------------------------------------------------------- lifecycle
    def start(self, cwd: str | Path) -> None:
        """Start the kernel process in ``cwd`` (no-op when it is running)."""
        if self.km is not None:
            return
        from jupyter_client import AsyncKernelManager
        from jupyter_core.utils import run_sync

        log_path = self.log_path

        class _LoggedKernelManager(AsyncKernelManager):
            async def _async_launch_kernel(self, kernel_cmd, **kw):
                with open(log_path, "ab") as log:
                    kw["stderr"] = log
                    return await super()._async_launch_kernel(kernel_cmd, **kw)

        km = _LoggedKernelManager(kernel_name=self.kernel_name)
        # as nbclient starts its kernels: no history file on disk
        run_sync(km.start_kernel)(cwd=str(cwd), extra_arguments=["--HistoryManager.hist_file=:memory:"])
        self.km = km

    def alive(self) -> bool:
        if self.km is None or self.broken:
            return False
        from jupyter_core.utils import run_sync

        try:
            return bool(run_sync(self.km.is_alive)())
        except Exception:
            return False

    def shutdown(self) -> None:
        """Kill the kernel process (if any) and remove its log folder."""
        km, self.km = self.km, None
        if km is not None:
            from jupyter_core.utils import run_sync

            try:
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # already dead
                pass
            try:
                run_sync(km.cleanup_resources)()
            except Exception:
                pass
        shutil.rmtree(self._log_dir, ignore_errors=True)

    # -------------------------------------------------------------------- the kernel's log
    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> bytes:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read()
        except OSError:
            return b""

    def reset_code(self, cwd: str | Path) -> str:
        return _RESET_CODE.format(cwd=str(cwd))


class KernelPool:
    """The warm kernels of this process: :meth:`acquire` one per report, :meth:`release` it after."""

    def __init__(self, keep_idle: int = KEEP_IDLE):
        self.keep_idle = keep_idle
        self._idle: list[WarmKernel] = []
        self._busy: set[WarmKernel] = set()
        self._lock = threading.Lock()
        atexit.register(self.shutdown_all)

    def acquire(self, kernel_name: str, fresh: bool = False) -> WarmKernel:
        """The most recently used idle kernel of that name started in this environment, or a new (not
        yet started) one.

        ``fresh``: always a new kernel (release it with ``keep=False``).
        """
        stale = []
        found = None
        if not fresh:
            key = _environment_key()
            with self._lock:
                for kernel in list(reversed(self._idle)):  # the most recently used first
                    if kernel.kernel_name == kernel_name and kernel.environment == key and found is None:
                        self._idle.remove(kernel)
                        found = kernel
                    elif kernel.environment != key:
                        self._idle.remove(kernel)
                        stale.append(kernel)
        for kernel in stale:
            kernel.shutdown()
        if found is not None and not found.alive():
            found.shutdown()
            found = None
        kernel = found or WarmKernel(kernel_name)
        with self._lock:
            self._busy.add(kernel)
        return kernel

    def release(self, kernel: WarmKernel, keep: bool = True) -> None:
        """Give a kernel back for the next report, or shut it down (``keep=False``, broken or dead)."""
        with self._lock:
            self._busy.discard(kernel)
        if not keep or self.keep_idle <= 0 or not kernel.alive():
            kernel.shutdown()
            return
        with self._lock:
            self._idle.append(kernel)
            extra = self._idle[:-self.keep_idle] if len(self._idle) > self.keep_idle else []
            del self._idle[:len(extra)]
        for old in extra:
            old.shutdown()

    def shutdown_all(self) -> None:
        """Shut down every kernel of the pool, idle or running a report (that report then fails)."""
        with self._lock:
            kernels, self._idle = self._idle + list(self._busy), []
            self._busy.clear()
        for kernel in kernels:
            kernel.broken = True
            kernel.shutdown()


#: The process's warm kernels (shared by every batch the process runs).
KERNELS = KernelPool()


# ------------------------------------------------------------------------ the papermill engine
async def _wait_until_connected(kc, timeout: float | None) -> None:
    """Return once the new client ``kc`` hears its kernel on both channels.

    As jupyter_client's ``wait_for_ready`` (a ``kernel_info`` request until the reply comes on the
    shell channel and IOPub, whose subscription may take a moment, carries its messages; else
    again), but done as soon as IOPub brings that request's ``idle`` status, instead of then
    waiting for 0.2 s of silence on IOPub (0.2 s of every report in a warm kernel). Messages of
    other requests are left alone: cells only read the messages of their own request.
    """
    import time
    from queue import Empty

    from jupyter_core.utils import ensure_async

    deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
    while True:
        msg_id = kc.kernel_info()
        reply = None
        try:
            while reply is None:  # (replies to earlier requests of this loop are passed over)
                msg = await ensure_async(kc.shell_channel.get_msg(timeout=1))
                reply = msg if msg["parent_header"].get("msg_id") == msg_id else None
        except Empty:
            pass
        if reply is not None:
            kc._handle_kernel_info_reply(reply)
            try:
                while True:  # this request's status messages (busy, then idle)
                    msg = await ensure_async(kc.iopub_channel.get_msg(timeout=0.2))
                    if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                            and msg["content"].get("execution_state") == "idle"):
                        return
            except Empty:  # IOPub not subscribed yet when they were sent: ask again
                pass
        if not await ensure_async(kc.is_alive()):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


def _engine_class():
    from jupyter_core.utils import ensure_async, run_sync
    from nbclient.util import run_hook
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class WarmKernelClient(PapermillNotebookClient):
        """Papermill's client on a kernel that is already running: reset it first, and leave it
        running afterwards (its channels are closed)."""

        def __init__(self, nb_man, warm_kernel: WarmKernel, reset_cwd: str, **kw):
            super().__init__(nb_man, km=warm_kernel.km, **kw)
            self.warm_kernel = warm_kernel
            self.on_notebook_start = self._reset_kernel
            self._reset_cwd = reset_cwd

        async def async_start_new_kernel_client(self):
            """nbclient's, with a quicker wait for the kernel (:func:`_wait_until_connected`)."""
            self.kc = self.km.client()
            await ensure_async(self.kc.start_channels())
            try:
                await _wait_until_connected(self.kc, self.startup_timeout)
            except Exception:
                self.warm_kernel.broken = True  # no answer: shut down by the pool, never reused
                await ensure_async(self.kc.stop_channels())
                self.kc = None
                raise
            self.kc.allow_stdin = False
            await run_hook(self.on_notebook_start, notebook=self.nb)
            return self.kc

        # nbclient's setup_kernel calls the blocking form, bound to nbclient's coroutine: bind it to this one
        start_new_kernel_client = run_sync(async_start_new_kernel_client)

        async def _reset_kernel(self, notebook=None, **_):
            msg_id = await ensure_async(self.kc.execute(self.warm_kernel.reset_code(self._reset_cwd),
                                                        silent=True, store_history=False))
            cell_timeout = self.timeout  # the first reset imports matplotlib: not a cell of the report
            self.timeout = None if cell_timeout is None else max(cell_timeout, RESET_TIMEOUT)
            try:
                reply = await self.async_wait_for_reply(msg_id)
            finally:
                self.timeout = cell_timeout
            content = (reply or {}).get("content", {})
            if content.get("status") != "ok":
                self.warm_kernel.broken = True
                raise KernelResetError(f"resetting the kernel before the notebook failed: "
                                       f"{content.get('ename', '')}: {content.get('evalue', '')}")

        def execute(self, **kwargs):
            try:
                return super().execute(**kwargs)
            finally:
                if self.kc is not None:
                    self.kc.stop_channels()
                    self.kc = None

    class WarmKernelEngine(NBClientEngine):
        """Papermill engine that executes in a :class:`WarmKernel` (``warm_kernel=``, ``reset_cwd=``)."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            warm_kernel = kwargs.pop("warm_kernel")
            reset_cwd = kwargs.pop("reset_cwd")
            warm_kernel.start(cwd=reset_cwd)  # after papermill saved the parameterised notebook
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                                        kernel_name=kernel_name, log=logger, log_output=log_output,
                                        stdout_file=stdout_file, stderr_file=stderr_file)
            return WarmKernelClient(nb_man, warm_kernel, reset_cwd, **final_kwargs).execute()

    return WarmKernelEngine


_REGISTERED = threading.Lock()


def engine_name() -> str:
    """Register the warm-kernel engine with papermill (once) and return its name."""
    from papermill.engines import papermill_engines

    with _REGISTERED:
        if ENGINE_NAME not in papermill_engines._engines:
            papermill_engines.register(ENGINE_NAME, _engine_class())
    return ENGINE_NAME
