"""Run untrusted candidate code: a pool of warm, isolated workers that fork one limited child per job.

>>> from preflab.discover.sandbox import Limits, Sandbox
>>> dpo = '''
... import torch.nn.functional as F
... def dpo(batch, beta):
...     pi, ref = batch.policy_logps, batch.ref_logps
...     return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))
... '''
>>> with Sandbox(limits=Limits(wall_s=20.0), workers=1) as sb:
...     res = sb.run(dpo, job="preflab.discover.validate:validate", args={"beta": 0.1, "seed": 0})
...     bad = sb.run("import os\\ndef f(batch, beta):\\n    return os.system('true')", job="preflab.discover.validate:validate")
>>> res.ok, res.value["ok"], res.reason
(True, True, None)
>>> bad.ok, bad.reason, bad.error
(False, 'static', "line 1: import of 'os' (rule: only torch, math, torch.nn, torch.nn.functional may be imported)")

Layers, each holding on its own (the security tests switch the static check off to show the rest):

1. the static check (:mod:`preflab.discover.static_check`), in this process, before anything runs;
2. the worker (:mod:`preflab.discover.worker`): a separate ``python -I`` process with an empty
   environment that imported torch once; each job runs in a forked child with its own session, no
   inherited descriptors, a new network namespace (when the kernel permits), rlimits (CPU, address
   space, file size, processes, no core dumps), a fresh scratch directory as working directory, and,
   when started as root, the ``nobody`` user;
3. inside the child, restricted execution (:mod:`preflab.discover.restricted`): restricted builtins,
   proxies of torch and math, and an audit hook that refuses and records escapes;
4. the worker's watch: the wall clock, the output cap, SIGKILL to the process group, reaping every
   descendant, removing the scratch directory.

What the layers protect is the machine, not the honesty of a score: the child writes its job's result to a
pipe it holds, and ``os.write`` raises no audit event, so a candidate that got past the Python-level
restrictions (static check off, then an attribute walk to ``os``) could forge a result. With the static
check on, no known candidate reaches ``os``; a fitness that looks too good deserves a rerun in-process on
code you have read.

A job is a trusted function ``f(loss_fn, **args) -> JSON-able`` named ``"preflab.<module>:<function>"``;
its result comes back over a pipe as JSON.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from .limits import Limits
from .static_check import StaticViolation, check_source
from .worker import NOBODY

__all__ = ["Limits", "Sandbox", "SandboxResult", "REASONS"]

REASONS = ("static", "import", "forbidden", "timeout", "cpu", "memory", "output", "exception", "invalid", "crashed")

_BOOT = "from preflab.discover.worker import main; main()"
_STARTUP_S = 120.0      # torch's first import on a busy machine
_SLACK_S = 30.0         # how long past the child's wall clock the worker may take to answer


@dataclass(frozen=True)
class SandboxResult:
    """How one candidate job ended.

    ``reason`` is None when ``ok``, else one of :data:`REASONS`; ``error`` a readable message (the rule
    hit, the exception's last line and the candidate's line); ``value`` what the job returned (JSON).
    """

    ok: bool
    value: Any = None
    reason: Optional[str] = None
    error: Optional[str] = None
    seconds: float = 0.0
    stdout_tail: str = ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "value": self.value, "reason": self.reason, "error": self.error,
                "seconds": self.seconds, "stdout_tail": self.stdout_tail}


class _Worker:
    """One warm zygote process and its protocol pipes."""

    def __init__(self, root: str, preload: tuple, uid: Optional[int]):
        config = {"path": [str(Path(__file__).resolve().parents[2])], "preload": list(preload), "root": root,
                  "uid": uid}
        self.log = open(os.path.join(root, f"worker-{id(self)}.log"), "wb")
        env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8"}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, json.dumps(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, env=env, cwd=root, start_new_session=True, close_fds=True)
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        first = self._next(_STARTUP_S)
        if first is None or not json.loads(first).get("ready"):
            self.close()
            raise RuntimeError(f"the sandbox worker did not start; see {self.log.name}")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.decode("utf-8"))
        self.lines.put(None)

    def _next(self, timeout: float) -> Optional[str]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def submit(self, message: dict, timeout: float) -> Optional[dict]:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        line = self._next(timeout)
        return None if line is None else json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.reader.join(timeout=5)
        self.log.close()


class Sandbox:
    """A pool of ``workers`` warm sandbox workers; use as a context manager (``close()`` stops them).

    ``preload`` names modules each worker imports once (torch always); ``static_check=False`` skips the
    static check (for tests of the runtime layers only); ``user`` is the uid the children run as when
    this process is root (``nobody`` by default; None keeps root, for debugging).
    """

    def __init__(self, limits: Limits = Limits(), workers: int = 1, preload: Iterable[str] = ("torch",),
                 static_check: bool = True, user: Optional[int] = NOBODY):
        if not isinstance(limits, Limits):
            raise ValueError(f"Sandbox(limits=...) must be a preflab.discover.sandbox.Limits, got {type(limits).__name__}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"Sandbox(workers=...) must be an integer >= 1, got {workers!r}")
        self.limits = limits
        self.static_check = static_check
        self.preload = tuple(preload)
        for name in self.preload:
            if not isinstance(name, str) or not (name in ("torch", "math", "numpy", "scipy") or name.startswith(("preflab.", "torch."))):
                raise ValueError(f"Sandbox(preload=...): {name!r} is not a module the workers may preload "
                                 "(torch, numpy, scipy or a preflab module)")
        self.uid = user if (user is not None and os.geteuid() == 0) else None
        self.root = tempfile.mkdtemp(prefix="preflab-sandbox-")
        os.chmod(self.root, 0o711)
        self._idle: "queue.Queue[_Worker]" = queue.Queue()
        self._all: list = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            with ThreadPoolExecutor(workers) as pool:
                started = list(pool.map(lambda _: self._start_worker(), range(workers)))
        except BaseException:
            self.close()
            raise
        for worker in started:
            self._idle.put(worker)
        self.workers = workers

    def _start_worker(self) -> _Worker:
        worker = _Worker(self.root, self.preload, self.uid)
        with self._lock:
            self._all.append(worker)
        return worker

    # ----------------------------------------------------------------------------------------------
    def run(self, code: str, job: str = "preflab.discover.validate:validate", args: Optional[dict] = None,
            limits: Optional[Limits] = None) -> SandboxResult:
        """Run ``job(loss_fn, **args)`` on the candidate ``code`` in a limited child; never raises for
        anything the candidate does (only for a bad ``job`` name or ``args``, a ValueError)."""
        if self._closed:
            raise ValueError("this Sandbox is closed; open a new one (`with Sandbox(...) as sb:`)")
        limits = limits or self.limits
        _check_job(job, args)
        start = time.monotonic()
        if self.static_check:
            try:
                check_source(code)
            except StaticViolation as e:
                return SandboxResult(ok=False, reason="static", error=str(e), seconds=time.monotonic() - start)
        elif not isinstance(code, str):
            return SandboxResult(ok=False, reason="static", error=f"a candidate is source text, got {type(code).__name__}")
        message = {"code": code, "job": job, "args": args or {}, "limits": limits.as_dict()}
        worker = self._take()
        try:
            reply = worker.submit(message, limits.wall_s + _SLACK_S)
            if reply is None:        # the worker died or hung: replace it
                self._replace(worker)
                worker = None
                return SandboxResult(ok=False, reason="crashed", error="the sandbox worker stopped answering; "
                                     "it was killed and restarted", seconds=time.monotonic() - start)
        finally:
            if worker is not None:
                self._idle.put(worker)
        return SandboxResult(ok=bool(reply.get("ok")), value=reply.get("value"), reason=reply.get("reason"),
                             error=reply.get("error"), seconds=float(reply.get("seconds", 0.0)),
                             stdout_tail=reply.get("stdout_tail", ""))

    def map(self, items: Iterable[tuple]) -> list:
        """Run ``(code, job, args)`` triples in parallel over the workers; results in the same order."""
        items = [tuple(item) for item in items]
        for i, item in enumerate(items):
            if len(item) != 3:
                raise ValueError(f"Sandbox.map: item {i} must be (code, job, args), got {len(item)} values")
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(lambda item: self.run(*item), items))

    def _take(self) -> _Worker:
        while True:
            try:
                return self._idle.get(timeout=1.0)
            except queue.Empty:
                with self._lock:
                    if not self._all:
                        raise RuntimeError(f"no sandbox worker is running (a restart failed; see the logs in {self.root})")

    def _replace(self, worker: _Worker) -> None:
        worker.close()
        with self._lock:
            self._all.remove(worker)
        if not self._closed:
            try:
                self._idle.put(self._start_worker())
            except RuntimeError:
                pass                 # the next run() reports it once no worker is left

    def close(self) -> None:
        """Stop every worker (SIGKILL to its process group) and remove the scratch root."""
        self._closed = True
        with self._lock:
            workers, self._all = list(self._all), []
        for worker in workers:
            worker.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.close()


def _check_job(job: str, args: Optional[dict]) -> None:
    module, sep, func = job.partition(":") if isinstance(job, str) else ("", "", "")
    if not sep or not module.startswith("preflab.") or not func.isidentifier():
        raise ValueError(f"job {job!r} must be a trusted function named 'preflab.<module>:<function>', "
                         "e.g. 'preflab.discover.validate:validate'")
    if args is not None:
        if not isinstance(args, dict):
            raise ValueError(f"job args must be a dict of JSON values, got {type(args).__name__}")
        try:
            json.dumps(args, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"job args for {job} must be JSON values: {e}") from None
