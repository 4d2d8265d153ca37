"""The discovery loop: propose, score in the sandbox (games, then tiny for the best), archive, export, report.

Each generation the proposer offers up to ``per_generation`` candidates (the LLM proposer one at a time, so
its errors are fed back at once); those whose hash is already archived are skipped (a rerun on the same run
folder resumes), the rest run the job ``preflab.discover.fitness:games`` in the sandbox (validation, then
the exact games) and every fitness or error goes into ``archive.db``. When ``budget`` candidates are
archived, the ``top_k`` by games fitness move up to the tiny model (``preflab.discover.tiny:tiny``), the loss
curves of the best are computed (``:curve``), and the run folder gets ``best.json``, ``best/<name>.py``
(files ``preflab train`` accepts as ``objective.name=file:<path>:<name>``) and ``report.html``.

Candidate code never runs in this process: only in sandbox children.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from preflab.discover.archive import Archive
from preflab.discover.sandbox import Limits, Sandbox

__all__ = ["DiscoverConfig", "discover", "make_proposer", "FIDELITIES", "PROPOSERS"]

FIDELITIES = ("games", "tiny")
PROPOSERS = ("program", "llm", "file")
GAMES_JOB = "preflab.discover.fitness:games"
TINY_JOB = "preflab.discover.tiny:tiny"
CURVE_JOB = "preflab.discover.fitness:curve"


@dataclass
class DiscoverConfig:
    proposer: str = "program"
    budget: int = 200                       # candidates archived in all (errors included)
    fidelity: tuple = ("games",)
    out: str = "runs/discover"
    seed: int = 0
    workers: int = 2
    per_generation: int = 16
    top_k: int = 4                          # how many move up from games to tiny
    file: Optional[str] = None              # --proposer file
    endpoint: Optional[str] = None          # --proposer llm: an OpenAI-compatible base URL
    model: Optional[str] = None
    api_key: Optional[str] = None
    games_args: dict = field(default_factory=dict)   # overrides of fitness.games' knobs
    tiny_args: dict = field(default_factory=dict)    # overrides of tiny.tiny's knobs
    wall_s: float = 60.0                    # per games job
    progress: bool = True

    def check(self) -> None:
        if self.proposer not in PROPOSERS:
            raise ValueError(f"--proposer must be one of {', '.join(PROPOSERS)}, got {self.proposer!r}")
        bad = [f for f in self.fidelity if f not in FIDELITIES]
        if bad or not self.fidelity or self.fidelity[0] != "games":
            raise ValueError(f"--fidelity must be 'games' or 'games,tiny', got {','.join(self.fidelity)!r}")
        for key in ("budget", "workers", "per_generation", "top_k"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{key.replace('_', '-')} must be an integer >= 1, got {value!r}")
        if self.proposer == "file" and not self.file:
            raise ValueError("--proposer file needs --file PATH (a .py file or a folder of candidate losses)")
        if self.proposer == "llm" and not (self.endpoint and self.model):
            raise ValueError("--proposer llm needs --endpoint URL (OpenAI-compatible, e.g. http://127.0.0.1:8000/v1) "
                             "and --model NAME")


def make_proposer(config: DiscoverConfig):
    if config.proposer == "program":
        from preflab.discover.program_search import ProgramSearch
        return ProgramSearch(seed=config.seed)
    if config.proposer == "file":
        from preflab.discover.file_proposer import FileProposer
        return FileProposer(config.file)
    from preflab.discover.llm_proposer import LLMProposer
    return LLMProposer(config.endpoint, config.model, api_key=config.api_key)


def _bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, disable=not enabled, desc="discover", unit="cand", dynamic_ncols=True)


def discover(config: DiscoverConfig, proposer=None, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) a discovery run; returns the content of ``best.json``."""
    config.check()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    proposer = proposer or make_proposer(config)
    started = time.perf_counter()
    archive = Archive(out / "archive.db")
    try:
        archive.set("config", {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()
                               if k != "api_key"})
        limits = Limits(wall_s=config.wall_s, cpu_s=config.wall_s, memory_mb=2048)
        with Sandbox(limits=limits, workers=config.workers, preload=("torch", "preflab.discover.fitness")) as sb:
            _search(config, proposer, archive, sb)
            best = _finish(config, archive, out, sb, log)
    finally:
        archive.close()
    best["seconds"] = time.perf_counter() - started
    (out / "best.json").write_text(json.dumps(best, indent=1))
    from preflab.discover.report import write_report
    write_report(out)
    log(f"discover: {best['candidates']} candidates ({best['errors']} rejected) in {best['seconds']:.0f} s; "
        f"best {best['best'][0]['name'] if best['best'] else 'none'}; report {out / 'report.html'}")
    return best


def _search(config: DiscoverConfig, proposer, archive: Archive, sb: Sandbox) -> None:
    if archive.count() >= config.budget:
        return
    bar = _bar(config.budget, archive.count(), config.progress)
    stalled = 0
    while archive.count() < config.budget and stalled < 3:
        generation = archive.next_generation()
        n = min(getattr(proposer, "batch", config.per_generation), config.per_generation,
                config.budget - archive.count())
        proposals = proposer.propose(archive.records(), n, generation)
        fresh, seen = [], set()
        for p in proposals:
            if not archive.has(p.hash) and p.hash not in seen:
                fresh.append(p)
                seen.add(p.hash)
        if not fresh:
            stalled += 1
            if not proposals:          # the file proposer has nothing left
                break
            continue
        stalled = 0
        runnable = [p for p in fresh if p.error is None]
        results = sb.map([(p.code, GAMES_JOB, dict(config.games_args, seed=config.seed)) for p in runnable])
        by_hash = {p.hash: r for p, r in zip(runnable, results)}
        for p in fresh:
            archive.add(p, generation)
            if p.error is not None:
                archive.add_error(p.hash, "propose", "parse", p.error)
                continue
            r = by_hash[p.hash]
            if r.ok:
                archive.add_fitness(p.hash, "games", r.value["fitness"],
                                    {k: v for k, v in r.value.items() if k != "checks"}, r.seconds)
            else:
                archive.add_error(p.hash, "games", r.reason or "crashed", r.error or "", r.seconds)
        bar.update(len(fresh))
        top = archive.best("games", 1)
        if top:
            bar.set_postfix_str(f"gen {generation} best {top[0].fitness['games']:.3f} ({top[0].name})")
    bar.close()


def _finish(config: DiscoverConfig, archive: Archive, out: Path, sb: Sandbox, log) -> dict:
    fidelity = "games"
    if "tiny" in config.fidelity:
        from preflab.discover.tiny import prepare
        bundle = prepare(out, seed=config.seed)
        todo = [r for r in archive.best("games", config.top_k) if "tiny" not in r.fitness and
                not any(e[0] == "tiny" for e in r.errors)]
        if todo:
            log(f"discover: {len(todo)} best candidates move up to the tiny model")
            limits = Limits(wall_s=300.0, cpu_s=300.0, memory_mb=4096)
            with Sandbox(limits=limits, workers=config.workers, preload=("torch", "preflab.discover.tiny")) as tiny_sb:
                args = dict(config.tiny_args, bundle=bundle, seed=config.seed)
                for r, res in zip(todo, tiny_sb.map([(r.code, TINY_JOB, args) for r in todo])):
                    if res.ok:
                        archive.add_fitness(r.hash, "tiny", res.value["fitness"], res.value, res.seconds)
                    else:
                        archive.add_error(r.hash, "tiny", res.reason or "crashed", res.error or "", res.seconds)
        fidelity = "tiny" if archive.best("tiny", 1) else "games"
    best = archive.best(fidelity, 5)
    curves = archive.get("curves", {})
    need = [r for r in best if r.hash not in curves]
    if need:
        for r, res in zip(need, sb.map([(r.code, CURVE_JOB, {"beta": 0.1}) for r in need])):
            if res.ok:
                curves[r.hash] = res.value
        archive.set("curves", curves)
    from preflab.discover.export import export_best
    files = export_best(best, out / "best")
    records = archive.records()
    return {"ranked_by": fidelity, "candidates": len(records), "errors": sum(1 for r in records if r.errors),
            "best": [{"name": r.name, "hash": r.hash, "proposer": r.proposer, "fitness": r.fitness,
                      "formula": r.meta.get("formula"), "file": str(files[r.hash]),
                      "train": f"objective.name=file:{files[r.hash]}:{r.name}", "metrics": r.metrics,
                      "generation": r.generation, "parents": list(r.parents)} for r in best]}
