"""An arena run: every contestant answers every prompt, an oracle judges every pair of answers in both
orders, the battles go into the store, and the ratings and report are written.

A verdict P(first shown preferred) from ``oracle.compare`` becomes a battle through
:func:`preflab.oracles.verdict.verdict_from_probability` (a tie at exactly 1/2, strength 2 beyond 7/8 or
1/8). ``model_a`` / ``model_b`` keep the pair's order in both battles; ``shown_a_first`` says which was shown
first, so position bias stays visible in the store.

>>> import tempfile, os
>>> from preflab.oracles.spec import oracle_from_spec
>>> answers = {"terse": ["4", "Paris"], "chatty": ["It is 4.", "The capital is Paris."], "mid": ["four", "Paris."]}
>>> battles = judge_answers(["2+2?", "Capital of France?"], answers, oracle_from_spec("length"), judge="length")
>>> len(battles), battles[0].model_a, battles[0].model_b, battles[0].winner, battles[1].shown_a_first
(12, 'chatty', 'mid', 'model_a', False)
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Callable, Mapping, Optional, Sequence, Union

from preflab.oracles.verdict import verdict_from_probability

from .judging import judge_pairs
from .report import write_report
from .store import Battle, Store

__all__ = ["judge_answers", "run_arena"]


def _winner(p_first: float, first_is_a: bool) -> tuple[str, int]:
    v = verdict_from_probability(p_first)
    if v.winner == "tie":
        return "tie", 1
    first_won = v.winner == "A"
    return ("model_a" if first_won == first_is_a else "model_b"), int(v.strength or 1)


def judge_answers(prompts: Sequence[str], answers: Mapping[str, Sequence[str]], oracle, judge: Optional[str] = None,
                  both_orders: bool = True) -> list:
    """Battles for every pair of models (sorted names) on every prompt, judged in both orders."""
    judge = judge or getattr(oracle, "name", "oracle")
    models = sorted(answers)
    for m in models:
        if len(answers[m]) != len(prompts):
            raise ValueError(f"model {m!r} has {len(answers[m])} answers for {len(prompts)} prompts")
    battles = []
    for a, b in itertools.combinations(models, 2):
        ra, rb = list(answers[a]), list(answers[b])
        judged = judge_pairs(oracle, list(prompts), ra, rb, both_orders=both_orders)   # both orders in one call
        for i, prompt in enumerate(prompts):
            orders = [(True, judged[i].p_ab)] + ([(False, judged[i].p_ba)] if both_orders else [])
            for a_first, p in orders:
                winner, strength = _winner(p, a_first)
                battles.append(Battle(model_a=a, model_b=b, winner=winner, strength=strength, prompt=prompt,
                                      response_a=ra[i], response_b=rb[i], judge=judge, shown_a_first=a_first))
    return battles


def run_arena(contestants: Mapping[str, Union[Callable, Sequence[str]]], prompts: Sequence[str], oracle, out_dir,
              judge: Optional[str] = None, method: str = "bt", interval: str = "sandwich", level: float = 0.95,
              rounds: int = 200, seed: int = 0, prior: float = 0.0, baseline: Optional[str] = None,
              progress=None) -> dict:
    """Answers (a callable per model, or its list of answers), judgements, ``out_dir/arena.db`` (battles
    added idempotently), ``answers.jsonl`` and the report (:func:`~preflab.arena.report.write_report`)."""
    if len(contestants) < 2:
        raise ValueError(f"an arena needs at least two models, got {list(contestants)}")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("no prompts: give a prompt file with at least one prompt")
    os.makedirs(out_dir, exist_ok=True)
    answers = {}
    for name, source in contestants.items():
        if progress:
            progress(f"answering {len(prompts)} prompts with {name}")
        answers[name] = list(source(prompts)) if callable(source) else list(source)
    with open(os.path.join(out_dir, "answers.jsonl"), "w", encoding="utf-8") as fh:
        for i, p in enumerate(prompts):
            fh.write(json.dumps({"prompt": p, **{m: answers[m][i] for m in answers}}, ensure_ascii=False) + "\n")
    if progress:
        progress(f"judging {len(answers) * (len(answers) - 1) // 2} pairs x {len(prompts)} prompts x 2 orders")
    battles = judge_answers(prompts, answers, oracle, judge=judge)
    with Store(os.path.join(out_dir, "arena.db")) as store:
        added = store.add_many(battles)
        stored = store.battles(models=list(answers))
    summary = write_report(stored, out_dir, method=method, interval=interval, level=level, rounds=rounds, seed=seed, prior=prior,
                           baseline=baseline)
    summary["added"] = added
    return summary
