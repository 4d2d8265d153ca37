"""``preflab judge``: label response pairs or lists with one or more oracles, in both orders, and report how
consistent the judges are.

    preflab judge --judge llm:qwen@http://127.0.0.1:8000/v1 --in pairs.jsonl --out judged.jsonl
    preflab judge --judge task:heterogeneous --judge length --in lists.jsonl --out judged.jsonl --report report.json
    preflab judge --judge length --in pairs.jsonl --out judged.jsonl --battles battles.jsonl   # for `preflab arena rate`

Input lines (jsonl), pairs: ``prompt``, ``response_a``, ``response_b`` and optionally ``model_a``, ``model_b``;
lists: ``prompt``, ``responses`` (K >= 2) and optionally ``models``; any line may carry ``reference`` (a
reference answer, for ``--judge embedding``). Output: one line per input line and judge with ``line``,
``judge`` and, for a pair, ``p`` (P(a preferred to b)), ``verdict`` (``[[A>>B]]`` ... ``[[B>>A]]``, A = a),
``strength`` and ``orders`` (each order's P(first shown wins) and verdict as the judge saw it); with model
names the line is also a FastChat battle line (``model_a``, ``model_b``, ``winner``). For a list: ``prefs``
(the K x K matrix), ``ranking`` (indices, best first) and, with model names, ``ranked_models`` and ``battles``.

Labels are kept in a crash-safe log (``--labels``, default ``OUT.labels.jsonl``): rerunning a killed or failed
run asks the judges only for the labels not yet on disk. The consistency report (position-bias rate,
intransitive triads, Cohen's kappa between judges) is printed as a table and, with ``--report``, written as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["add_parser", "run", "read_items"]


def add_parser(sub) -> None:
    p = sub.add_parser("judge", help="label response pairs or lists with oracles; judge-consistency report",
                       description="Label a jsonl file of response pairs or lists with one or more judges (any "
                                   "oracle spec), in both presentation orders, and report position bias, "
                                   "intransitive verdicts and agreement between judges (Cohen's kappa).")
    p.add_argument("--judge", action="append", required=True, metavar="SPEC",
                   help="an oracle spec (repeat for several judges): task:NAME, length, llm:MODEL@URL, "
                        "reward-model:PATH, pairwise-model:PATH, embedding[:REFS.jsonl], python:MODULE:NAME, "
                        "noisy(flip=F):SPEC")
    p.add_argument("--in", dest="inp", required=True, metavar="FILE.jsonl", help="pairs or lists to judge")
    p.add_argument("--out", required=True, metavar="OUT.jsonl", help="judged lines")
    orders = p.add_mutually_exclusive_group()
    orders.add_argument("--both-orders", dest="both_orders", action="store_true", default=True,
                        help="judge every pair as shown and swapped, and combine (default)")
    orders.add_argument("--one-order", dest="both_orders", action="store_false",
                        help="judge every pair once, as shown (half the requests; no position-bias report)")
    p.add_argument("--report", metavar="REPORT.json", help="write the consistency report as JSON")
    p.add_argument("--battles", metavar="BATTLES.jsonl",
                   help="also write FastChat battle lines (needs model names) for `preflab arena rate`")
    p.add_argument("--labels", metavar="LABELS.jsonl", help="the label log (default OUT.labels.jsonl)")
    p.add_argument("--batch-size", type=int, default=32, help="items per request batch (default 32)")


def _field(path, lineno, row, key, *, required=True):
    if key not in row:
        if required:
            raise ValueError(f"{path}:{lineno}: missing field '{key}'; a pair line needs 'prompt', 'response_a' and "
                             "'response_b', a list line 'prompt' and 'responses'")
        return None
    return row[key]


def _string(path, lineno, key, value):
    if not isinstance(value, str):
        raise ValueError(f"{path}:{lineno}: field '{key}' must be a string, got {type(value).__name__} "
                         f"{json.dumps(value)[:60]}")
    return value


def read_items(path) -> list[dict]:
    """The input lines as dicts ``{"line", "prompt", "kind": "pair"|"list", "responses", "models", "reference"}``;
    a malformed line is a ValueError naming ``file:line`` and the field."""
    items = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read --in {path}: {e.strerror or e}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{lineno}: a line must be a JSON object, got {type(row).__name__}")
        prompt = _string(path, lineno, "prompt", _field(path, lineno, row, "prompt"))
        if "responses" in row:
            responses = row["responses"]
            if not isinstance(responses, list) or len(responses) < 2:
                raise ValueError(f"{path}:{lineno}: field 'responses' must be a list of at least 2 strings")
            for k, r in enumerate(responses):
                _string(path, lineno, f"responses[{k}]", r)
            models = row.get("models")
            if models is not None and (not isinstance(models, list) or len(models) != len(responses)
                                       or not all(isinstance(m, str) and m for m in models)
                                       or len(set(models)) != len(models)):
                raise ValueError(f"{path}:{lineno}: field 'models' must be a list of {len(responses)} distinct "
                                 "non-empty strings, one per response")
            kind = "list"
        else:
            responses = [_string(path, lineno, k, _field(path, lineno, row, k)) for k in ("response_a", "response_b")]
            named = [row.get("model_a"), row.get("model_b")]
            if named == [None, None]:
                models = None
            else:
                for key, m in zip(("model_a", "model_b"), named):
                    if not isinstance(m, str) or not m:
                        raise ValueError(f"{path}:{lineno}: field '{key}' must be a non-empty string when the other "
                                         "model is named")
                if named[0] == named[1]:
                    raise ValueError(f"{path}:{lineno}: field 'model_b': {named[1]!r} is the same as model_a; a "
                                     "battle needs two different models")
                models = named
            kind = "pair"
        reference = row.get("reference")
        if reference is not None:
            _string(path, lineno, "reference", reference)
        items.append({"line": lineno, "prompt": prompt, "kind": kind, "responses": responses, "models": models,
                      "reference": reference})
    if not items:
        raise ValueError(f"--in {path} holds no lines to judge")
    return items


def _battle(judge, prompt, a, b, models, judgment) -> dict:
    return {"model_a": models[0], "model_b": models[1], "winner": judgment.winner, "strength": judgment.strength,
            "judge": judge, "prompt": prompt, "response_a": a, "response_b": b, "shown_a_first": True}


def run(args) -> int:
    from preflab.arena.consistency import consistency_report, format_report
    from preflab.arena.judging import judge_list, judge_pairs
    from preflab.oracles import LabelLog, OracleError
    from preflab.oracles.spec import oracle_from_spec, spec_label

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    labels = [spec_label(spec) for spec in args.judge]       # what output lines and reports call them: no API keys
    if len(set(labels)) != len(labels):
        raise ValueError(f"--judge names the same judge twice: {labels}")
    items = read_items(args.inp)
    if args.battles and not any(item["models"] for item in items):
        raise ValueError(f"--battles needs model names, and no line of {args.inp} has them: add 'model_a' and "
                         "'model_b' (pairs) or 'models' (lists)")
    references = {item["prompt"]: item["reference"] for item in items if item["reference"] is not None}
    judges = {label: oracle_from_spec(spec, references=references or None, one_order=True)
              for label, spec in zip(labels, args.judge)}
    log = LabelLog(args.labels or f"{args.out}.labels.jsonl")
    comparisons = {spec: [] for spec in judges}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    battles_file = open(args.battles, "w", encoding="utf-8") if args.battles else None
    done = 0
    try:
        with open(args.out, "w", encoding="utf-8") as out:
            for start in range(0, len(items), args.batch_size):
                chunk = items[start:start + args.batch_size]
                pairs = [it for it in chunk if it["kind"] == "pair"]
                results = {}
                for spec, oracle in judges.items():
                    judged = judge_pairs(oracle, [it["prompt"] for it in pairs], [it["responses"][0] for it in pairs],
                                         [it["responses"][1] for it in pairs], both_orders=args.both_orders, log=log,
                                         batch_size=2 * args.batch_size)
                    for it, jd in zip(pairs, judged):
                        results[(it["line"], spec)] = jd
                    for it in chunk:
                        if it["kind"] == "list":
                            results[(it["line"], spec)] = judge_list(oracle, it["prompt"], it["responses"],
                                                                     both_orders=args.both_orders, log=log,
                                                                     batch_size=2 * args.batch_size)
                for it in chunk:
                    for spec in judges:
                        record, battles = _record(it, spec, results[(it["line"], spec)], comparisons[spec])
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        if battles_file is not None:
                            battles_file.writelines(json.dumps(b, ensure_ascii=False) + "\n" for b in battles)
                out.flush()
                if battles_file is not None:
                    battles_file.flush()
                done += len(chunk)
                print(f"preflab judge: {done}/{len(items)} lines judged", file=sys.stderr, flush=True)
    except OracleError as e:
        print(f"preflab judge: error: {e}\nThe labels obtained so far are in {log.path}; rerun the same command "
              "to resume.", file=sys.stderr)
        return 1
    finally:
        if battles_file is not None:
            battles_file.close()
    report = consistency_report(comparisons)
    print(format_report(report))
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{args.report}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(report.to_json() + "\n")
        os.replace(tmp, args.report)
    return 0


def _record(item, spec, result, comparisons) -> tuple[dict, list]:
    from preflab.arena.consistency import Comparison

    prompt, responses, models = item["prompt"], item["responses"], item["models"]
    record = {"line": item["line"], "judge": spec, "prompt": prompt}
    if item["kind"] == "pair":
        comparisons.append(Comparison(item["line"], prompt, responses[0], responses[1], result))
        record.update(response_a=responses[0], response_b=responses[1])
        battles = []
        if models:
            battle = _battle(spec, prompt, responses[0], responses[1], models, result)
            record.update(model_a=models[0], model_b=models[1], winner=battle["winner"])
            battles.append(battle)
        record.update(result.as_dict())
        if not models:
            record.pop("winner")
        return record, battles
    battles = []
    for (i, j), jd in result.pairs.items():
        comparisons.append(Comparison(item["line"], prompt, responses[i], responses[j], jd))
        if models:
            battles.append(_battle(spec, prompt, responses[i], responses[j], (models[i], models[j]), jd))
    record.update(responses=responses, prefs=result.prefs.tolist(), ranking=result.ranking)
    if models:
        record.update(models=models, ranked_models=[models[k] for k in result.ranking], battles=battles)
    return record, battles
