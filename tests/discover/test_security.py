"""Hostile candidates are contained: each ends with its expected reason, the parent keeps serving, no process is
left behind, nothing outside the scratch directory changes, no connection is made, no secret leaks.

Every file in ``hostile/`` genuinely tries its attack; each runs twice: with the static check, and with it
switched off (``Sandbox(static_check=False)``), so the runtime layers are shown to hold on their own.
"""

import os
import re
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from preflab.discover.sandbox import Limits, Sandbox

HOSTILE = sorted((Path(__file__).parent / "hostile").glob("*.py"))
SECRET = "preflab-test-secret-7f3a9c"
DPO = (
    "import torch.nn.functional as F\n"
    "def dpo(batch, beta):\n"
    "    pi, ref = batch.policy_logps, batch.ref_logps\n"
    "    return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))\n"
)
JOB = "preflab.discover.validate:validate"
LIMITS = Limits(wall_s=2.0, cpu_s=1.0, memory_mb=1024, file_mb=1, processes=0, output_kb=64)


def header(path: Path) -> dict:
    fields = dict(re.findall(r"^# (attack|static|runtime): (.+)$", path.read_text(), re.M))
    return {"attack": fields["attack"], "static": set(fields["static"].split("|")),
            "runtime": set(fields["runtime"].split("|"))}


@pytest.fixture(scope="module")
def canary():
    """A world-writable directory in /tmp (only the sandbox, not file permissions, keeps nobody out) with a
    world-writable sentinel file."""
    d = Path(tempfile.mkdtemp(prefix="preflab-canary-", dir="/tmp"))
    d.chmod(0o777)
    sentinel = d / "sentinel"
    sentinel.write_text("keep")
    sentinel.chmod(0o666)
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


@pytest.fixture(scope="module")
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def sandboxes():
    os.environ["PREFLAB_TEST_SECRET"] = SECRET      # the workers start with an empty environment
    boxes = {}
    try:
        with ThreadPoolExecutor(2) as pool:        # both start at once: each worker imports torch
            futures = {"static": pool.submit(Sandbox, limits=LIMITS, workers=1),
                       "runtime": pool.submit(Sandbox, limits=LIMITS, workers=1, static_check=False)}
        errors = [f.exception() for f in futures.values() if f.exception() is not None]
        boxes.update({k: f.result() for k, f in futures.items() if f.exception() is None})
        if errors:
            raise errors[0]
        yield boxes
    finally:
        os.environ.pop("PREFLAB_TEST_SECRET", None)
        for box in boxes.values():
            box.close()


def descendants(pid: int) -> set:
    """Every process below ``pid`` (read from /proc)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def processes_in(root: str) -> list:
    """Processes whose working directory lies under ``root`` (a sandbox child sits in its scratch dir)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(os.path.join(root, "job-")):
                out.append(int(entry))
    return out


def worker_pids(box: Sandbox) -> set:
    return {w.proc.pid for w in box._all}


def test_at_least_15_hostile_candidates_each_with_its_expectation():
    assert len(HOSTILE) >= 15
    attacks = " ".join(header(p)["attack"] for p in HOSTILE)
    for word in ("outside the scratch", "socket", "fork bomb", "50 GB", "endless loop", "__import__", "attribute walking",
                 "environment", "ctypes", "subprocess", "SIGXCPU", "unpickle", "gigabytes", "delete", "sleep forever"):
        assert word in attacks, word


@pytest.mark.parametrize("layer", ["static", "runtime"])
@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_hostile_candidate_is_contained(path, layer, sandboxes, canary, listener):
    box = sandboxes[layer]
    sentinel = canary / "sentinel"
    before = (sentinel.read_text(), sentinel.stat().st_mtime_ns, sorted(os.listdir(canary)))
    code = (path.read_text().replace("CANARY_DIR", str(canary)).replace("SENTINEL", str(sentinel))
            .replace("PORT", str(listener.getsockname()[1])))
    workers = worker_pids(sandboxes["static"]) | worker_pids(sandboxes["runtime"])
    others = descendants(os.getpid()) - workers     # what earlier tests left (multiprocessing's resource tracker)
    res = box.run(code, job=JOB, args={"beta": 0.1, "seed": 0})

    expected = header(path)[layer]
    assert not res.ok and res.value is None
    assert res.reason in expected, (res.reason, res.error)
    assert res.error and SECRET not in res.error and SECRET not in res.stdout_tail
    if res.reason == "static":
        assert re.match(r"line \d+: .*rule", res.error), res.error
    elif res.reason in ("forbidden", "import"):
        assert "not allowed" in res.error or "not available" in res.error, res.error
    elif res.reason == "timeout":
        assert res.seconds >= LIMITS.wall_s and "killed" in res.error
    elif res.reason == "cpu":
        assert "CPU time" in res.error
    elif res.reason == "memory":
        assert "allocate" in res.error
    elif res.reason == "output":
        assert "64 KiB" in res.error and len(res.stdout_tail) <= 4000
    elif res.reason == "exception":     # the environment leaked into the error message is empty
        assert "LEAK {}None" in res.error, res.error

    # nothing outside scratch changed, nothing connected
    assert (sentinel.read_text(), sentinel.stat().st_mtime_ns, sorted(os.listdir(canary))) == before
    with pytest.raises(BlockingIOError):
        listener.accept()
    # no process left behind: below this test only the idle workers remain, none sits in a scratch dir
    assert descendants(os.getpid()) - others == worker_pids(sandboxes["static"]) | worker_pids(sandboxes["runtime"])
    assert processes_in(box.root) == []
    assert [p.name for p in Path(box.root).iterdir() if p.name.startswith("job-")] == []
    # the parent keeps running: the worker that ran it still serves a normal candidate (a static
    # rejection never reached a worker)
    if res.reason != "static":
        after = box.run(DPO, job=JOB, args={"beta": 0.1, "seed": 0})
        assert after.ok and after.value["ok"] is True


def test_a_refusal_the_candidate_catches_is_still_reported(sandboxes, canary):
    code = (Path(__file__).parent / "hostile" / "swallow_refusal.py").read_text().replace("CANARY_DIR", str(canary))
    res = sandboxes["runtime"].run(code, job=JOB, args={"beta": 0.1, "seed": 0})
    # the loss itself is DPO and would validate; the recorded import refusal decides
    assert (res.ok, res.reason) == (False, "import")
    assert "import of 'os'" in res.error


def test_closing_leaves_no_process_and_no_scratch():
    box = Sandbox(limits=LIMITS, workers=1, static_check=False)
    root = box.root
    pids = worker_pids(box)
    res = box.run((Path(__file__).parent / "hostile" / "sleep_forever.py").read_text(), job=JOB,
                  limits=Limits(wall_s=1.0))
    assert res.reason == "timeout"
    box.close()
    assert not os.path.exists(root)
    assert descendants(os.getpid()) & pids == set()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
