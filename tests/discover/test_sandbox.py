"""The Sandbox API: results equal to the job run in-process, order kept over workers, reasons and messages,
limits, the child's user / directory / network, a dead worker replaced, throughput, as_objective."""

import os
import sys
import signal

import numpy as np
import pytest
import torch.nn.functional as F

from preflab.discover.candidate import as_objective
from preflab.discover.sandbox import REASONS, Limits, Sandbox, SandboxResult
from preflab.discover.validate import validate

JOB = "preflab.discover.validate:validate"
DPO = (
    "import torch.nn.functional as F\n"
    "def dpo(batch, beta):\n"
    "    pi, ref = batch.policy_logps, batch.ref_logps\n"
    "    return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))\n"
)
SCALAR = DPO.replace("return -F", "return (-F").rstrip() + ").mean()\n"
RAISES = "def f(batch, beta):\n    x = 1\n    return x / 0\n"
WALK = (
    "def f(batch, beta):\n"
    "    for c in ().__class__.__base__.__subclasses__():\n"
    "        if c.__name__ == '_wrap_close':\n"
    "            g = c.__init__.__globals__\n"
    "            BODY\n"
)


def dpo(batch, beta):
    pi, ref = batch.policy_logps, batch.ref_logps
    return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))


@pytest.fixture(scope="module")
def sb():
    with Sandbox(limits=Limits(wall_s=20.0, cpu_s=20.0), workers=2) as box:
        yield box


@pytest.fixture(scope="module")
def raw():
    """No static check: the runtime layers alone."""
    with Sandbox(limits=Limits(wall_s=20.0, cpu_s=20.0, file_mb=1), workers=1, static_check=False) as box:
        yield box


def test_dpo_result_equals_the_job_run_in_process(sb):
    res = sb.run(DPO, job=JOB, args={"beta": 0.1, "seed": 5})
    assert isinstance(res, SandboxResult) and res.ok and res.reason is None and res.error is None
    here = validate(dpo, beta=0.1, seed=5)
    assert res.value["checks"]["shape"] == here["checks"]["shape"]
    assert res.value["checks"]["margin"]["mean_drop"] == pytest.approx(here["checks"]["margin"]["mean_drop"], rel=1e-9)
    assert 0 < res.seconds < 20


def test_map_keeps_order_and_maps_each_end_to_its_reason(sb):
    items = [(DPO, JOB, {"beta": 0.1, "seed": 0}), (SCALAR, JOB, {"beta": 0.1}), (DPO, JOB, {"beta": 0.2, "seed": 1}),
             ("import os\ndef f(batch, beta):\n    return 0\n", JOB, {}), (RAISES, JOB, {})]
    results = sb.map(items)
    assert [r.reason for r in results] == [None, "invalid", None, "static", "exception"]
    for r, seed, beta in ((results[0], 0, 0.1), (results[2], 1, 0.2)):
        want = validate(dpo, beta=beta, seed=seed)["checks"]["margin"]["mean_drop"]
        assert r.value["checks"]["margin"]["mean_drop"] == pytest.approx(want, rel=1e-9)
    assert results[1].error.startswith("shape: returned a scalar (shape ()) for a batch of 1 pairs")
    assert results[3].error == "line 1: import of 'os' (rule: only torch, math, torch.nn, torch.nn.functional may be imported)"
    assert results[4].error == "ZeroDivisionError: division by zero (candidate line 3)"
    assert set(r.reason for r in results if r.reason) <= set(REASONS)


def test_bad_job_args_and_limits_are_value_errors(sb):
    with pytest.raises(ValueError, match="must be a trusted function named 'preflab.<module>:<function>'"):
        sb.run(DPO, job="os:system")
    with pytest.raises(ValueError, match="must be a trusted function"):
        sb.run(DPO, job="preflab.discover.validate.validate")
    with pytest.raises(ValueError, match="job args for .* must be JSON values"):
        sb.run(DPO, job=JOB, args={"beta": object()})
    with pytest.raises(ValueError, match=r"Limits.memory_mb must be a number > 0 \(MiB\), got -1"):
        Limits(memory_mb=-1)
    with pytest.raises(ValueError, match="preload"):
        Sandbox(preload=("os",))


def test_memory_limit_is_added_to_the_warm_worker(sb):
    grab = "import torch\ndef f(batch, beta):\n    x = torch.ones(N)\n    return batch.policy_logps[:, 0] * x[0]\n"
    small = Limits(wall_s=20.0, memory_mb=64)
    big = sb.run(grab.replace("N", str(50_000_000)), job=JOB, limits=small)          # 200 MB
    assert big.reason == "memory" and "200000000 bytes" in big.error
    ok = sb.run(grab.replace("N", str(2_000_000)), job=JOB, limits=small)             # 8 MB: then fails validation
    assert ok.reason == "invalid" and ok.error.startswith("margin:")


def test_cpu_limit_ends_a_busy_loop(sb):
    res = sb.run("def f(batch, beta):\n    while True:\n        pass\n", job=JOB, limits=Limits(wall_s=15.0, cpu_s=1.0))
    assert res.reason == "cpu" and res.error.startswith("CPU time: 1.")   # the CPU limit, not the wall clock
    assert res.seconds > 0                          # how soon it ends: benchmarks/discovery.py cpu-limit


def test_the_child_runs_as_nobody_in_its_scratch_dir_without_network(raw):
    body = ("raise ValueError(repr((g['getuid'](), g['getcwd'](), g['__builtins__']['open']('/proc/self/net/dev').read(), "
            "g['listdir']('/tmp'))))")
    res = raw.run(WALK.replace("BODY", body), job=JOB)
    assert res.reason == "exception"
    uid, cwd, net, tmp = eval(res.error[len("ValueError: "):res.error.index(" (candidate line")])
    assert cwd.startswith(os.path.join(raw.root, "job-"))
    assert uid == (65534 if os.geteuid() == 0 else os.geteuid())
    interfaces = sorted(line.split(":")[0].strip() for line in net.splitlines()[2:])
    if os.geteuid() == 0:   # root may create namespaces: only loopback; a private /tmp holding only the sandbox
        assert interfaces == ["lo"]  # (and, when this checkout lies under /tmp, the import path bound back read-only)
        imports = {os.path.realpath(p) for p in sys.path if p and os.path.isabs(p)} | {sys.prefix, sys.base_prefix}
        under_tmp = {os.path.relpath(p, "/tmp").split(os.sep)[0] for p in imports if p.startswith("/tmp/")}
        assert sorted(tmp) == sorted({os.path.basename(raw.root)} | under_tmp)
    assert not os.path.exists(cwd)                     # the scratch directory is gone


def test_scratch_is_writable_up_to_file_mb(raw):
    write = ("h = g['__builtins__']['open']('out.bin', 'wb'); h.write(b'x' * N); h.close(); "
             "raise ValueError(g['path'].getsize('out.bin'))")
    small = raw.run(WALK.replace("BODY", write.replace("N", "1000")), job=JOB)
    assert small.error == "ValueError: 1000 (candidate line 5)"
    big = raw.run(WALK.replace("BODY", write.replace("N", str(2 << 20))), job=JOB)
    assert big.reason == "exception" and "File too large" in big.error


def test_a_child_that_exits_without_a_result_is_crashed(raw):
    res = raw.run(WALK.replace("BODY", "g['_exit'](3)"), job=JOB)
    assert (res.reason, res.error) == ("crashed", "the child exited with status 3 without a result")


def test_a_dead_worker_is_replaced(raw):
    worker = raw._all[0]
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait()
    res = raw.run(DPO, job=JOB)
    assert res.reason == "crashed" and "restarted" in res.error
    again = raw.run(DPO, job=JOB)
    assert again.ok and raw._all[0] is not worker


def test_many_validate_jobs_over_two_workers_all_succeed_in_order(sb):
    # the time they take: benchmarks/discovery.py throughput --jobs 40
    results = sb.map([(DPO, JOB, {"beta": 0.1, "seed": i}) for i in range(40)])
    assert all(r.ok for r in results)
    for i in (0, 39):
        want = validate(dpo, beta=0.1, seed=i)["checks"]["margin"]["mean_drop"]
        assert results[i].value["checks"]["margin"]["mean_drop"] == pytest.approx(want, rel=1e-9)


def test_as_objective_trains_on_a_game_exactly_like_dpo():
    from preflab.games import random_preference, train_objective
    from preflab.objectives.registry import _ALIASES, _REGISTRY

    name = "test_sandbox_dpo_clone"
    try:
        obj = as_objective(dpo, name, beta=0.2)
        assert obj.spec.data == "pairwise" and obj.spec.needs_reference and obj.hparams == {"beta": 0.2}
        assert as_objective(dpo, name).hparams == {"beta": 0.1}        # the same function again: rebound
        with pytest.raises(ValueError, match="is taken"):
            as_objective(lambda b, beta: dpo(b, beta), name)
        P = random_preference(5, seed=1)
        mine = train_objective(P, name, beta=0.2, iterations=40, seed=3)
        theirs = train_objective(P, "dpo", beta=0.2, iterations=40, seed=3)
        np.testing.assert_allclose(mine.policies[-1], theirs.policies[-1], rtol=1e-12, atol=1e-15)
    finally:
        _REGISTRY.pop(name, None)
        _ALIASES.pop(name, None)


def test_as_objective_refuses_source_outside_the_sandbox():
    with pytest.raises(ValueError, match="refusing to run candidate source outside the sandbox"):
        as_objective(DPO, "test_sandbox_never_registered")
    from preflab.objectives import get_spec

    with pytest.raises(ValueError, match="unknown objective"):
        get_spec("test_sandbox_never_registered")


def test_a_loss_using_common_torch_calls_validates_in_the_sandbox(sb):
    lrml = (
        "import torch\n"
        "import math\n"
        "import torch.nn.functional as F\n"
        "def lrml(batch, beta):\n"
        "    pi, ref = batch.policy_logps, batch.ref_logps\n"
        "    z = beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1]))\n"
        "    tau = torch.tensor(0.05, dtype=z.dtype)\n"
        "    gate = torch.sigmoid(z / tau)\n"
        "    floor = torch.zeros_like(z) + math.log(1.0)\n"
        "    return torch.where(gate >= 0, (1 - gate) * -F.logsigmoid(z) + gate * torch.exp(-z), floor)\n"
    )
    res = sb.run(lrml, job=JOB, args={"beta": 0.05, "seed": 0})
    assert res.ok, res.error
    from preflab.objectives import get_objective

    registry = get_objective("discopop", beta=0.05)
    here = validate(lambda b, beta: registry(b).per_example, beta=0.05, seed=0)
    assert res.value["checks"]["margin"]["mean_drop"] == pytest.approx(here["checks"]["margin"]["mean_drop"], rel=1e-6)
