"""Online methods on the synthetic tasks, under their exact oracles (issue 5, item 6). Not a test.

    .venv/bin/python benchmarks/online_tasks.py heterogeneous   # iterative DPO vs INPO vs MNPO (vs SPPO), seeds
    .venv/bin/python benchmarks/online_tasks.py sentiment       # DPO vs DiscoPOP (LRML): reward against KL, beta sweep

heterogeneous: every method starts from the same SFT policy (one per seed) and runs R rounds; the table gives
the true win rate against the SFT policy, KL and the pool gap per round, then the head-to-head win rates of the
final policies (the aggregate preference is intransitive, so beating SFT and beating each other differ).

sentiment: DiscoPOP's IMDb experiment in miniature: pairs sampled from the SFT policy, labelled by BT on the
reward, one round of offline training with each loss at each beta; reward = mean sigmoid(2 (pos - neg)) of fresh
samples, KL = Monte Carlo KL to the SFT policy. The last line is one JSON object with every figure.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from preflab.online import OnlineConfig, run_online  # noqa: E402
from preflab.online.evaluate import win_rate  # noqa: E402
from preflab.tasks import get_task  # noqa: E402


def quiet(msg):
    print(msg, file=sys.stderr)


def heterogeneous(work: Path, seeds, rounds, methods, steps=15, lr=1e-3, params=None):
    out = {}
    for seed in seeds:
        cfg = OnlineConfig(task="heterogeneous", methods=methods, rounds=rounds, prompts_per_round=64,
                           steps_per_round=steps, lr=lr, params=params or {}, eval_samples=48, seed=seed,
                           output_dir=str(work / f"het-{seed}"))
        metrics = run_online(cfg, log=quiet)
        # head-to-head of the final policies, on fresh samples under the exact oracle
        from preflab.online.loop import _load
        from preflab.online.rollout import sample
        from preflab.online.evaluate import decode
        task = get_task("heterogeneous")
        tok, truth = task.tokenizer(), task.oracle()
        prompts = task.prompts()
        ids = [tok(p)["input_ids"] for p in prompts]
        finals = {m: Path(cfg.output_dir) / m / f"round_{rounds - 1}" / "final" for m in methods}
        texts = {m: decode(tok, sample(_load(d), ids, 96, max_new_tokens=task.max_new_tokens, eos_id=tok.eos_token_id,
                                       pad_id=tok.pad_token_id, seed=999, suppress_ids=[0, 1, 3]))
                 for m, d in finals.items()}
        h2h = {a: {b: win_rate(truth, prompts, texts[a], texts[b]) for b in methods if b != a} for a in methods}
        out[seed] = {"rounds": metrics["methods"], "head_to_head": h2h}
    print(f"\n{'method':<15}{'round':>6}" + "".join(f"{'seed ' + str(s):>26}" for s in seeds))
    print(f"{'':<21}" + "".join(f"{'win vs SFT / KL / pool gap / resp. gap':>33}" for _ in seeds))
    for m in methods:
        for r in range(rounds):
            cells = "".join(f"{out[s]['rounds'][m][r]['win_rate_vs_ref']:>12.3f} {out[s]['rounds'][m][r]['kl']:>6.2f} "
                            f"{out[s]['rounds'][m][r]['duality_gap']:>6.3f} "
                            f"{out[s]['rounds'][m][r].get('response_gap', float('nan')):>6.3f}" for s in seeds)
            print(f"{m:<15}{r + 1:>6}{cells}")
    print("\nhead to head, final policies (row beats column), mean over seeds:")
    print(f"{'':<15}" + "".join(f"{b:>15}" for b in methods))
    for a in methods:
        print(f"{a:<15}" + "".join(f"{'-':>15}" if a == b else
                                   f"{sum(out[s]['head_to_head'][a][b] for s in seeds) / len(seeds):>15.3f}"
                                   for b in methods))
    return out


def sentiment(work: Path, betas, seed, losses=("dpo", "discopop", "discopop_code_gate")):
    base = work / "sent-sft"
    rows = []
    # discopop: TRL's gate sigmoid(beta * rho / tau) with tau = 0.05; discopop_code_gate: tau = beta, i.e. the
    # released DiscoPOP code's gate sigmoid(rho), which does not move with beta (the two agree at beta = 0.05)
    for label in losses:
        loss = "discopop" if label == "discopop_code_gate" else label
        for beta in betas:
            extra = {"tau": beta} if label == "discopop_code_gate" else {}
            run = work / f"sent-{label}-{beta}"
            if base.exists() and not (run / "sft").exists():
                run.mkdir(parents=True, exist_ok=True)
                shutil.copytree(base, run / "sft")
            cfg = OnlineConfig(task="sentiment", methods=["iterative_dpo"], rounds=1, prompts_per_round=256,
                               steps_per_round=40, eval_samples=64, seed=seed, output_dir=str(run),
                               params={"iterative_dpo": {"objective": loss, "beta": beta, **extra}})
            t = time.perf_counter()
            metrics = run_online(cfg, log=quiet)
            if not base.exists():
                shutil.copytree(run / "sft", base)
            r = metrics["methods"]["iterative_dpo"][0]
            rows.append({"loss": label, "beta": beta, "reward": r["reward"], "kl": r["kl"],
                         "win_rate_vs_sft": r["win_rate_vs_ref"], "seconds": time.perf_counter() - t})
    print(f"\n{'loss':<20}{'beta':>8}{'reward':>9}{'KL':>8}{'win vs SFT':>12}")
    for r in rows:
        print(f"{r['loss']:<20}{r['beta']:>8}{r['reward']:>9.4f}{r['kl']:>8.3f}{r['win_rate_vs_sft']:>12.3f}")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["heterogeneous", "sentiment"])
    ap.add_argument("--workdir", default="/tmp/preflab-online-bench")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--methods", default="iterative_dpo,inpo,mnpo,sppo")
    ap.add_argument("--betas", default="0.025,0.05,0.1,0.25,0.5,1.0")
    ap.add_argument("--losses", default="dpo,discopop,discopop_code_gate", help="sentiment: the losses swept")
    ap.add_argument("--steps", type=int, default=15, help="AdamW steps per round (heterogeneous)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--params", default="{}", help='per-method objective parameters as JSON, e.g. {"*": {"beta": 0.5}}')
    args = ap.parse_args()
    work = Path(args.workdir)
    t0 = time.perf_counter()
    if args.part == "heterogeneous":
        result = heterogeneous(work, [int(s) for s in args.seeds.split(",")], args.rounds, args.methods.split(","),
                               steps=args.steps, lr=args.lr, params=json.loads(args.params))
    else:
        result = sentiment(work, [float(b) for b in args.betas.split(",")], int(args.seeds.split(",")[0]),
                           losses=args.losses.split(","))
    print(f"({time.perf_counter() - t0:.0f} s)")
    print(json.dumps({"part": args.part, "result": result}))


if __name__ == "__main__":
    main()
