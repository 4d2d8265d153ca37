"""The warm zygote: one process per sandbox worker that imports torch once and forks a limited child per job.

Started by :class:`preflab.discover.sandbox.Sandbox` as ``python -I -c ...`` with an empty environment;
it reads one JSON job per line on stdin and writes one JSON result per line on stdout. For each job it
forks a child that makes itself a session leader, closes inherited descriptors, leaves the network
(a new network namespace when permitted), applies the rlimits, moves into a fresh scratch directory,
drops to the sandbox user (``nobody`` when started as root), installs the audit hook, compiles the
candidate with restricted builtins and runs the trusted job on it. The worker enforces the wall clock
(SIGKILL to the child's process group), caps the output it reads, kills and reaps anything the child left
behind (it is a child subreaper), removes the scratch directory and maps how the child ended to a reason.

>>> from preflab.discover.worker import reason_of_signal
>>> reason_of_signal(24, cpu_used=0.5, cpu_limit=10.0)   # SIGXCPU
'cpu'
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback

__all__ = ["main", "reason_of_signal", "NOBODY"]

NOBODY = 65534
_CLONE_NEWNET, _CLONE_NEWNS = 0x40000000, 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 1, 36, 38
_RESULT_CAP = 8 << 20
_MEMORY_MESSAGES = ("can't allocate memory", "not enough memory", "cannot allocate memory", "out of memory")


def reason_of_signal(sig: int, cpu_used: float, cpu_limit: float) -> str:
    """The reason for a child killed by ``sig`` (not by the worker): CPU limit, or a crash."""
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= cpu_limit - 0.05):
        return "cpu"
    return "crashed"


# --------------------------------------------------------------------------------------------------
# The worker loop (trusted, unrestricted)
# --------------------------------------------------------------------------------------------------


def main() -> None:
    config = json.loads(sys.argv[1])
    for path in reversed(config.get("path", [])):
        sys.path.insert(0, path)
    os.environ.clear()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    for name in config.get("preload", []):
        importlib.import_module(name)
    importlib.import_module("preflab.discover.validate")
    readable = tuple(sorted({p for p in sys.path if p and os.path.isabs(p)} | {sys.prefix, sys.base_prefix}))
    if config.get("uid") is not None and os.geteuid() == 0:
        _private_mounts(readable, config["root"], libc)
    proto_out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)                     # nothing else may write on the protocol channel
    os.close(devnull)
    proto_out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        job = json.loads(line)
        try:
            result = _run_job(job, config, readable, libc)
        except Exception as e:  # the worker itself failed: report it, keep serving
            result = {"ok": False, "reason": "crashed", "error": f"sandbox worker error: {type(e).__name__}: {e}",
                      "seconds": 0.0, "stdout_tail": ""}
        proto_out.write(json.dumps(result) + "\n")


def _closed_ancestor(path: str):
    """The first directory on the way to ``path`` that other users may not enter (e.g. /root), or None."""
    parts = os.path.realpath(path).split(os.sep)[1:]
    current = os.sep
    for part in parts:
        current = os.path.join(current, part)
        try:
            st = os.stat(current)
        except OSError:
            return None
        if not st.st_mode & 0o001:
            return current
    return None


def _private_mounts(paths: tuple, root: str, libc) -> str:
    """The worker's own mount namespace (root only; nothing changes outside this worker):

    - the world-writable places (/tmp, /var/tmp, /dev/shm) become fresh empty tmpfs, with only the
      sandbox's root bound back, so an unprivileged child has nowhere to write but its scratch directory
      even if every Python-level guard failed;
    - when the Python installation lies under a closed directory (pyenv under /root), a tmpfs hides that
      directory and only the needed entries are bound back, so the children can still import lazily.

    Returns what was done, or why not (the kernel may refuse; the other layers still hold).
    """
    closed = {}
    for p in paths:
        top = _closed_ancestor(p)
        if top is not None:
            rest = os.path.relpath(os.path.realpath(p), top).split(os.sep)[0]
            closed.setdefault(top, set()).add(rest)
    needed = [os.path.realpath(root)] + [os.path.realpath(p) for p in paths]
    for shared in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(shared) and not os.path.islink(shared):
            keep = {os.path.relpath(p, shared).split(os.sep)[0] for p in needed if p.startswith(shared + os.sep)}
            closed.setdefault(shared, set()).update(keep)
    if libc.unshare(_CLONE_NEWNS) != 0:
        return "no mount namespace (not permitted)"
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return "no private mounts (not permitted)"
    for top, names in sorted(closed.items()):
        fds = {name: os.open(os.path.join(top, name), os.O_PATH) for name in names}
        mode = b"mode=1777,size=64m" if top in ("/tmp", "/var/tmp", "/dev/shm") else b"mode=0711,size=1m"
        if libc.mount(b"tmpfs", top.encode(), b"tmpfs", 0, mode) != 0:
            for fd in fds.values():
                os.close(fd)
            continue
        for name, fd in fds.items():
            target = os.path.join(top, name)
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(target)
            else:
                open(target, "w").close()
            libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, _MS_BIND | _MS_REC, None)
            os.close(fd)
    return "private /tmp, /var/tmp, /dev/shm"


def _run_job(job: dict, config: dict, readable: tuple, libc) -> dict:
    limits = job["limits"]
    uid = config.get("uid")
    importlib.import_module(job["job"].partition(":")[0])   # imported once here, cached in every child
    scratch = tempfile.mkdtemp(prefix="job-", dir=config["root"])
    if uid is not None:
        os.chown(scratch, uid, uid)
    os.chmod(scratch, 0o700)
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(out_r)
            os.close(res_r)
            _child(job, scratch, readable, uid, out_w, res_w, libc)
        finally:
            os._exit(70)
    os.close(out_w)
    os.close(res_w)
    try:
        return _watch(pid, out_r, res_r, limits, start)
    finally:
        os.close(out_r)
        os.close(res_r)
        _reap_all()
        shutil.rmtree(scratch, ignore_errors=True)


def _watch(pid: int, out_r: int, res_r: int, limits: dict, start: float) -> dict:
    deadline = start + limits["wall_s"]
    cap = limits["output_kb"] * 1024
    output, result = bytearray(), bytearray()
    open_fds = {out_r, res_r}
    ended = None  # "timeout" | "output" | None
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            ended = "timeout"
            break
        ready, _, _ = select.select(list(open_fds), [], [], left)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
            elif fd == out_r:
                output += chunk
                if len(output) > cap:
                    ended = "output"
            else:
                result += chunk
                if len(result) > _RESULT_CAP:
                    ended = "output"
        if ended:
            break
    if ended:
        _killpg(pid)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    tail = output[-cap:].decode("utf-8", "replace")[-4000:]
    base = {"seconds": seconds, "stdout_tail": tail, "cpu_s": cpu}
    if ended == "timeout":
        return {**base, "ok": False, "reason": "timeout",
                "error": f"wall clock: still running after {limits['wall_s']:g} s; the process group was killed"}
    if ended == "output":
        what = "the job's result" if len(result) > _RESULT_CAP else "stdout/stderr"
        return {**base, "ok": False, "reason": "output",
                "error": f"output: {what} passed {cap // 1024 if what == 'stdout/stderr' else _RESULT_CAP >> 20} "
                         f"{'KiB' if what == 'stdout/stderr' else 'MiB'}; the process group was killed"}
    if result:
        try:
            return {**base, **json.loads(result.decode("utf-8"))}
        except ValueError:
            return {**base, "ok": False, "reason": "crashed", "error": "the child's result was not valid JSON"}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        reason = reason_of_signal(sig, cpu, limits["cpu_s"])
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if reason == "cpu":
            return {**base, "ok": False, "reason": "cpu",
                    "error": f"CPU time: {cpu:.1f} s used, limit {limits['cpu_s']:g} s (killed by {name})"}
        return {**base, "ok": False, "reason": "crashed", "error": f"the child was killed by {name} without a result"}
    code = os.WEXITSTATUS(status)
    return {**base, "ok": False, "reason": "crashed", "error": f"the child exited with status {code} without a result"}


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap_all() -> None:
    """Kill and reap every remaining descendant (orphans are re-parented here: the worker is a subreaper)."""
    me = os.getpid()
    for _ in range(100):
        kids = _children_of(me)
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in kids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break


def _children_of(ppid: int) -> list:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid:
            kids.append(int(entry))
    return kids


# --------------------------------------------------------------------------------------------------
# The child
# --------------------------------------------------------------------------------------------------


def _child(job, scratch, readable, uid, out_w, res_w, libc) -> None:
    from preflab.discover.limits import Limits, address_space_bytes
    from preflab.discover.restricted import Guard, SandboxViolation, compile_candidate

    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a too-large write fails with EFBIG instead
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    keep = {0, 1, 2, res_w}
    for fd in [int(f) for f in os.listdir("/proc/self/fd")]:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    network = "namespace" if libc.unshare(_CLONE_NEWNET) == 0 else "audit hook only"
    module_name, _, func_name = job["job"].partition(":")
    job_fn = getattr(importlib.import_module(module_name), func_name)
    limits = Limits(**job["limits"])
    os.chdir(scratch)
    limits.apply(address_space_bytes())
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    guard = Guard(scratch, readable).install()
    result: dict
    try:
        fn = compile_candidate(job["code"], guard)
        loss_fn = _guarded_call(fn, guard)
        value = job_fn(loss_fn, **job.get("args", {}))
        result = {"ok": True, "value": value, "error": None, "reason": None}
    except SandboxViolation as e:
        result = {"ok": False, "reason": e.kind, "error": str(e)}
    except BaseException as e:  # noqa: BLE001 -- every way a candidate fails becomes a reason
        result = _classify(e)
    first = guard.first_violation()
    if first is not None:   # a refusal the candidate caught still counts
        result = {"ok": False, "reason": first[0], "error": first[1]}
    result["network"] = network
    try:
        payload = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as e:
        payload = json.dumps({"ok": False, "reason": "exception",
                              "error": f"the job {job['job']} returned a value that is not JSON: {e}"})
    data = payload.encode("utf-8")
    while data:
        data = data[os.write(res_w, data):]
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _guarded_call(fn, guard):
    def loss_fn(*args, **kwargs):
        guard.candidate_running = True
        try:
            return fn(*args, **kwargs)
        finally:
            guard.candidate_running = False

    loss_fn.__name__ = getattr(fn, "__name__", "candidate")
    return loss_fn


def _classify(e: BaseException) -> dict:
    from preflab.discover.restricted import CANDIDATE_FILENAME

    name = type(e).__name__
    text = f"{name}: {e}".strip()
    line = None
    for frame, lineno in traceback.walk_tb(e.__traceback__):
        if frame.f_code.co_filename == CANDIDATE_FILENAME:
            line = lineno
    where = f" (candidate line {line})" if line is not None else ""
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(m in str(e).lower() for m in _MEMORY_MESSAGES)):
        return {"ok": False, "reason": "memory", "error": f"memory: {text.splitlines()[0][:300]}{where}"}
    if name == "CandidateInvalid":
        return {"ok": False, "reason": "invalid", "error": str(e)}
    if isinstance(e, SyntaxError):
        return {"ok": False, "reason": "static", "error": f"line {e.lineno}: syntax error: {e.msg}"}
    last = text.splitlines()[-1] if text else name
    if isinstance(e, ImportError) and line is None:
        last += (" (a module the job imports lazily cannot be read in the sandbox; list it in "
                 "Sandbox(preload=...))")
    return {"ok": False, "reason": "exception", "error": f"{last[:500]}{where}"}


if __name__ == "__main__":
    main()
