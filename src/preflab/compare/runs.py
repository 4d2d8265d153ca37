"""Running the online runs of a comparison: one SFT-only run per seed, then every (method, seed) from that seed's
SFT policy, on parallel local processes (``concurrent.futures`` with the spawn start method) or on Ray tasks.

A job is a plain dict (picklable, the same for both engines) and :func:`run_job` never raises: it returns
``{ok, label, seed, seconds, resumed, error, traceback}``, so one failed run cannot take the others down. Each
job runs :func:`preflab.online.run_online` in its own folder, on one torch thread, with what it prints sent to
``log.txt`` there; a job whose folder already holds every round returns at once (``resumed``), and an
unfinished one resumes where it stopped (``run_online`` reads finished rounds back).

Ray is the engine for many machines; this module only submits tasks (``num_cpus=1`` each) and waits on them.
On a cluster, ``output_dir`` must be a path every node sees (shared storage) and preflab must be installed
on every node.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["run_job", "execute", "RAY_MISSING"]

RAY_MISSING = "--ray needs Ray, which is not installed: pip install 'preflab[ray]'"
# environment a Ray worker should see as the driver does (offline hubs, no telemetry)
_PASSED_ENV = ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "TRANSFORMERS_OFFLINE", "HF_HOME")


def _one_thread() -> None:
    """One torch thread for the job (tiny models on shared cores run fastest so; the worker is ours)."""
    import torch

    torch.set_num_threads(1)


def _init_worker() -> None:
    """A local worker process's initializer: one OpenMP / MKL thread before torch loads, then one torch thread."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    _one_thread()


def _finished(job: dict) -> bool:
    """Whether the job's folder already holds its result: the SFT policy, or every round of the method."""
    out = Path(job["online"]["output_dir"])
    if not job["online"]["methods"]:
        return (out / "sft" / "config.json").exists()
    path = out / "metrics.json"
    if not path.exists():
        return False
    try:
        rows = json.loads(path.read_text())["methods"].get(job["online"]["methods"][0], [])
    except (ValueError, KeyError):
        return False
    return len(rows) >= job["online"]["rounds"]


def run_job(job: dict) -> dict:
    """Run one online job (``job["online"]``: OnlineConfig's keyword arguments); never raises."""
    t0 = time.perf_counter()
    result = {"label": job["label"], "seed": job["seed"], "ok": True, "resumed": False, "error": None}
    out = Path(job["online"]["output_dir"])
    try:
        _one_thread()
        if _finished(job):
            result.update(resumed=True, seconds=time.perf_counter() - t0)
            return result
        from preflab.online import OnlineConfig, run_online

        out.mkdir(parents=True, exist_ok=True)
        with open(out / "log.txt", "a") as fh, redirect_stdout(fh), redirect_stderr(fh):
            run_online(OnlineConfig(**job["online"]), log=lambda s: print(s, file=fh, flush=True))
    except BaseException as err:            # noqa: BLE001 (a job reports every failure, KeyboardInterrupt too)
        result.update(ok=False, error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        try:
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "log.txt", "a") as fh:
                fh.write(result["traceback"])
        except OSError:
            pass
    result["seconds"] = time.perf_counter() - t0
    return result


class _Pool:
    """Local processes: ``workers`` spawned interpreters, one torch thread each."""

    def __init__(self, workers: int):
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_init_worker)
        self.engine = f"{workers} local processes"

    def submit(self, job: dict) -> cf.Future:
        return self.pool.submit(run_job, job)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Ray:
    """Ray tasks of one CPU each; ``address``: "auto" (the cluster this machine belongs to, else a local Ray with
    ``workers`` CPUs), "local" (a local Ray), or a cluster address (``ray://host:10001``, ``host:6379``)."""

    def __init__(self, address: str, workers: int, log: Callable[[str], None]):
        try:
            import ray
        except ImportError:
            raise ValueError(RAY_MISSING) from None
        self.ray, self.owned = ray, not ray.is_initialized()
        env = {"env_vars": {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}}
        # a Ray started here binds to the loopback interface only: its processes talk over 127.0.0.1
        local = dict(num_cpus=workers, runtime_env=env, include_dashboard=False, _node_ip_address="127.0.0.1")
        if not self.owned:
            where = "the Ray this process had already started"
        elif address == "local":
            ray.init(**local)
            where = f"a local Ray with {workers} CPUs"
        elif address == "auto":
            try:
                ray.init(address="auto", runtime_env=env)
                where = "the running Ray cluster"
            except ConnectionError:
                log(f"no running Ray cluster found (ray start --head starts one); starting a local Ray with "
                    f"{workers} CPUs")
                ray.init(**local)
                where = f"a local Ray with {workers} CPUs"
        else:
            ray.init(address=address, runtime_env=env)
            where = f"the Ray cluster at {address}"
        self.task = ray.remote(num_cpus=1, max_retries=0)(run_job)
        self.engine = f"Ray ({where}, {int(ray.cluster_resources().get('CPU', 0))} CPUs)"

    def submit(self, job: dict) -> cf.Future:
        return self.task.remote(job).future()

    def close(self) -> None:
        if self.owned:
            self.ray.shutdown()


def _engine(ray: Optional[str], workers: int, log):
    return _Ray(ray, workers, log) if ray else _Pool(workers)


def _failure(job: dict, error: str) -> dict:
    return {"label": job["label"], "seed": job["seed"], "ok": False, "resumed": False, "error": error,
            "traceback": None, "seconds": 0.0}


def execute(sft_jobs: List[dict], method_jobs: List[dict], workers: int, ray: Optional[str] = None,
            log: Callable[[str], None] = print, on_result: Optional[Callable[[dict], None]] = None
            ) -> Dict[Tuple[str, int], dict]:
    """Run every SFT job, and each seed's method jobs once that seed's SFT policy exists; returns
    (label, seed) -> :func:`run_job`'s result. A failed SFT fails its seed's method jobs without running them.
    Jobs whose folders already hold their result are read back here, without starting a worker."""
    by_seed: Dict[int, List[dict]] = {}
    for job in method_jobs:
        by_seed.setdefault(job["seed"], []).append(job)
    total = len(sft_jobs) + len(method_jobs)
    results: Dict[Tuple[str, int], dict] = {}
    engine = None
    pending: Dict[cf.Future, dict] = {}
    t0 = time.perf_counter()
    log(f"{total} runs ({len(sft_jobs)} SFT, {len(method_jobs)} method x seed) in {len(sft_jobs)} seeds")

    def finish(job: dict, result: dict) -> None:
        results[(job["label"], job["seed"])] = result
        status = ("resumed (already done)" if result["resumed"] else f"done in {result['seconds']:.0f} s"
                  ) if result["ok"] else f"FAILED: {result['error']}"
        log(f"[{len(results)}/{total}, {time.perf_counter() - t0:.0f} s] {job['label']} seed {job['seed']}: {status}")
        if on_result is not None:
            on_result(result)
        if job["kind"] == "sft":
            for follow in by_seed.get(job["seed"], []):
                if result["ok"]:
                    submit(follow)
                else:
                    finish(follow, _failure(follow, f"the SFT run of seed {job['seed']} failed: {result['error']}"))

    def submit(job: dict) -> None:
        nonlocal engine
        if _finished(job):
            finish(job, {"label": job["label"], "seed": job["seed"], "ok": True, "resumed": True, "error": None,
                         "seconds": 0.0})
            return
        try:
            if engine is None:
                engine = _engine(ray, workers, log)
                log(f"running on {engine.engine}")
            pending[engine.submit(job)] = job
        except ValueError:
            raise                           # a setup error (Ray missing): nothing can run
        except Exception as err:            # noqa: BLE001 (a broken pool refuses new work)
            finish(job, _failure(job, f"could not start: {type(err).__name__}: {err}"))

    try:
        for job in sft_jobs:
            submit(job)
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as err:    # noqa: BLE001 (a worker that died: BrokenProcessPool, a Ray task error)
                    result = _failure(job, f"the worker died: {type(err).__name__}: {err}")
                finish(job, result)
    finally:
        if engine is not None:
            engine.close()
    return results
