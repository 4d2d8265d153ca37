"""DPO training throughput: preflab's Trainer against TRL's DPOTrainer, same model, weights, data and order.

    python benchmarks/dpo_throughput.py --config A            # 4-layer Llama over SmolLM2's vocabulary
    python benchmarks/dpo_throughput.py --config B            # SmolLM2-135M
    python benchmarks/dpo_throughput.py --config A --steps 5 --trl-precompute   # + TRL with a cached reference

One invocation runs, each in its own subprocess (so one framework's memory never counts against the
other, and peak RSS is the process's own):

1. ``prepare``: the synthetic data (token ids, fixed by ``--seed``), the policy's weights, and a reference
   that differs from the policy by a fixed perturbation (so the first loss is not ln 2), both saved as
   Hugging Face folders; the batch order, taken from preflab's own ``Trainer.batch_indices``;
2. ``exact``: the first batch's loss in float64, which both frameworks' float32 first losses approximate;
   ``matmul`` (before and after the training runs): float32 GEMMs of the step's own shapes (every linear layer's forward and two backward
   products at the step's token counts, the LM head at completion positions only), 2 threads: what this
   machine's matmul library reaches on this workload;
3. ``preflab`` with the default reference mode for DPO (``cache``: reference log-probs computed once, the
   reference model freed), then again with ``reference.mode=copy`` (the reference runs every step, like TRL);
4. ``trl``: TRL's ``DPOTrainer`` (sigmoid loss, explicit reference model, fp32, no gradient checkpointing);
   with ``--trl-precompute`` also with ``precompute_ref_log_probs=True`` (an extra line).

Both frameworks read the same token ids: TRL is given pre-tokenized ``prompt_ids``/``chosen_ids``/
``rejected_ids`` (a subclass skips its text tokenization, which has no way to take ids), preflab a
``PreferenceDataset`` built from the same lists (``load_data`` is replaced for the run: ``build_setup``
only reads files). TRL's sampler is sequential over the data laid out in preflab's batch order, and the
script checks that every step's batch holds the same (prompt, chosen, rejected) triples in both.

Step times skip the warmup steps. preflab's come from its own metrics (the loop times ``Trainer.step``);
TRL's are the wall time between consecutive ``on_step_end`` callbacks (batch fetch, forward, backward,
optimizer, logging). Peak memory is the process's peak RSS from the start of training to its end
(``VmHWM`` reset through ``/proc/self/clear_refs`` just before the first step); the lifetime peak,
reference pass included, is printed too.

The last line printed is one JSON object; the lines before it give the details. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CONFIGS = {
    # pairs per step, prompt and completion lengths ("about": uniform in +-10%), default steps; perturb: the
    # reference is policy + perturb * std(weight) * N(0, 1) per weight tensor (fixed seed): large for the
    # random-init model A, small for the trained SmolLM2 (whose reference must stay a sensible model)
    "A": dict(model="config_a", batch=8, prompt=190, completion=62, steps=10, warmup=2, perturb=0.5),
    "B": dict(model="smollm2", batch=4, prompt=128, completion=64, steps=3, warmup=1, perturb=0.05),
}
THREADS = 2
BETA = 0.1
LR = 1e-6


# ---------------------------------------------------------------------------------------------------- helpers

def rss_mb(field: str = "VmRSS") -> float:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM (Linux >= 4.0); False when not allowed, then the peak is the lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def batch_key(triples) -> str:
    """Order-free identity of a batch: the sorted (prompt, chosen, rejected) id tuples, hashed."""
    rows = sorted((tuple(p), tuple(c), tuple(r)) for p, c, r in triples)
    return hashlib.sha1(repr(rows).encode()).hexdigest()[:16]


def load_json(path):
    return json.loads(Path(path).read_text())


def write_json(path, obj):
    Path(path).write_text(json.dumps(obj, indent=1))


# ---------------------------------------------------------------------------------------------------- prepare

def role_prepare(work: Path, config: str, steps: int, warmup: int, seed: int) -> None:
    import numpy as np
    import torch

    from preflab import models
    from preflab.train import Trainer, TrainConfig

    cfg = CONFIGS[config]
    torch.set_num_threads(THREADS)
    tok = models.load_tokenizer("smollm2")
    if cfg["model"] == "config_a":
        model = models.llama_config_a(seed=seed)
    else:
        model = models.load_model("smollm2")
    V = model.config.vocab_size
    eos = tok.eos_token_id
    specials = set(tok.all_special_ids)

    # data: random token ids (no special tokens) in prompts; completions end with EOS, as a standard-text
    # response does in both frameworks
    rng = np.random.default_rng(seed)
    n = cfg["batch"] * (steps + warmup)

    def length(mean):
        return int(rng.integers(round(0.9 * mean), round(1.1 * mean) + 1))

    def ids(k):
        x = rng.integers(3, V, size=k)
        while any(int(t) in specials for t in x):
            x = np.array([t if int(t) not in specials else 3 for t in x])
        return [int(t) for t in x]

    rows = [{"prompt_ids": ids(length(cfg["prompt"])),
             "chosen_ids": ids(length(cfg["completion"]) - 1) + [eos],
             "rejected_ids": ids(length(cfg["completion"]) - 1) + [eos]} for _ in range(n)]

    # the batch order preflab's Trainer will use (its own code, not a copy of it)
    tc = TrainConfig()
    tc.train.batch_size, tc.train.seed = cfg["batch"], seed
    from types import SimpleNamespace
    probe = Trainer(tc, SimpleNamespace(train_data=range(n)))
    order = [probe.batch_indices(s) for s in range(steps + warmup)]

    # weights: the policy as built, the reference perturbed (fixed generator, same for both frameworks)
    model.save_pretrained(work / "policy")
    g = torch.Generator().manual_seed(seed + 12345)
    with torch.no_grad():
        for p in model.parameters():           # tied weights appear once
            scale = float(p.float().std()) if p.numel() > 1 else 0.0
            if not math.isfinite(scale) or scale == 0.0:
                scale = 0.01
            p.add_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * (cfg["perturb"] * scale))
    model.save_pretrained(work / "ref")

    cfgm = model.config
    params = {name: p.numel() for name, p in model.named_parameters()}
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    embed_params = emb.numel() + (0 if head is emb or head.data_ptr() == emb.data_ptr() else head.numel())
    shapes = sorted({(m.in_features, m.out_features) for m in model.modules()
                     if isinstance(m, torch.nn.Linear) and m.weight is not head}, key=str)
    linears = [[m.in_features, m.out_features] for m in model.modules()
               if isinstance(m, torch.nn.Linear) and m.weight is not head]
    meta = dict(
        config=config, n=n, steps=steps, warmup=warmup, seed=seed, order=order, vocab=V,
        hidden=cfgm.hidden_size, layers=cfgm.num_hidden_layers, heads=cfgm.num_attention_heads,
        head_dim=getattr(cfgm, "head_dim", None) or cfgm.hidden_size // cfgm.num_attention_heads,
        total_params=sum(params.values()), embedding_params=embed_params,
        non_embedding_params=sum(params.values()) - embed_params, linears=linears,
        distinct_linear_shapes=[list(s) for s in shapes], batch=cfg["batch"], pad_id=tok.pad_token_id,
    )
    write_json(work / "data.json", rows)
    write_json(work / "meta.json", meta)


# ---------------------------------------------------------------------------------------------------- FLOPs

def step_flops(meta, rows, batch_indices):
    """Useful FLOPs of one step (see BENCHMARKS.md): each prompt and completion through the policy once,
    forward and backward, attention over the causal context, the LM head at completion positions only."""
    H, V, L = meta["hidden"], meta["vocab"], meta["layers"]
    d_attn = meta["heads"] * meta["head_dim"]
    tokens = completion_tokens = pairs = 0
    for i in batch_indices:
        r = rows[i]
        P = len(r["prompt_ids"])
        tokens += P
        pairs += P * (P + 1) // 2
        for c in (r["chosen_ids"], r["rejected_ids"]):
            C = len(c)
            tokens += C
            completion_tokens += C
            pairs += C * P + C * (C + 1) // 2
    body = 6 * meta["non_embedding_params"] * tokens
    attention = 12 * L * d_attn * pairs
    head = 6 * V * H * completion_tokens
    return dict(total=body + attention + head, body=body, attention=attention, head=head, tokens=tokens,
                completion_tokens=completion_tokens, attended_pairs=pairs)


# ---------------------------------------------------------------------------------------------------- matmul

def role_matmul(work: Path, tag: str) -> None:
    """GEMMs of one step's shapes, each timed best-of-several over 3 rounds (the machine is shared: the
    best time is the machine's ability, the others include the neighbours')."""
    import torch

    torch.set_num_threads(THREADS)
    meta, rows = load_json(work / "meta.json"), load_json(work / "data.json")
    f = step_flops(meta, rows, meta["order"][0])
    N, C, H, V = f["tokens"], f["completion_tokens"], meta["hidden"], meta["vocab"]
    g = torch.Generator().manual_seed(0)

    def gemms(n, i, o):
        """forward Y = X W^T, backward dX = dY W and dW = dY^T X"""
        x, w, dy = (torch.randn(n, i, generator=g), torch.randn(o, i, generator=g), torch.randn(n, o, generator=g))
        return [(lambda x=x, w=w: x @ w.T), (lambda dy=dy, w=w: dy @ w), (lambda dy=dy, x=x: dy.T @ x)], 3 * 2 * n * i * o

    count = {}
    for i, o in meta["linears"]:
        count[(i, o)] = count.get((i, o), 0) + 1
    items = [((N, i, o), k) for (i, o), k in count.items()] + [((C, H, V), 1)]
    best = {}
    for _ in range(3):
        for (n, i, o), k in items:
            fns, flops = gemms(n, i, o)
            for fn in fns:
                fn()
            for _ in range(max(3, min(20, int(2e9 / flops) + 1))):
                t = time.perf_counter()
                for fn in fns:
                    fn()
                dt = time.perf_counter() - t
                best[(n, i, o)] = min(best.get((n, i, o), float("inf")), dt)
            del fns
    shapes = [dict(n=n, k=i, m=o, layers=k, flops=3 * 2 * n * i * o, seconds=best[(n, i, o)]) for (n, i, o), k in items]
    a, b = torch.randn(2048, 2048, generator=g), torch.randn(2048, 2048, generator=g)
    a @ b
    square = min(_timed(lambda: a @ b) for _ in range(5))
    write_json(work / f"matmul-{tag}.json", dict(shapes=shapes, square_2048_seconds=square))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def matmul_rate(runs) -> dict:
    """Combine matmul runs: per shape the best time of all; the rate is the step's GEMM FLOPs (each shape
    weighted by how many layers have it) over their summed best times."""
    shapes = {}
    for run in runs:
        for sh in run["shapes"]:
            key = (sh["n"], sh["k"], sh["m"])
            if key not in shapes or sh["seconds"] < shapes[key]["seconds"]:
                shapes[key] = sh
    flops = sum(sh["layers"] * sh["flops"] for sh in shapes.values())
    seconds = sum(sh["layers"] * sh["seconds"] for sh in shapes.values())
    per_run = [sum(sh["layers"] * sh["flops"] for sh in r["shapes"]) / sum(sh["layers"] * sh["seconds"] for sh in r["shapes"]) / 1e9
               for r in runs]
    return dict(gflops_per_s=flops / seconds / 1e9, per_run=per_run,
                by_shape={f"{n}x{k}x{m}": sh["flops"] / sh["seconds"] / 1e9 for (n, k, m), sh in shapes.items()},
                square_2048=max(2 * 2048 ** 3 / r["square_2048_seconds"] / 1e9 for r in runs))


# ---------------------------------------------------------------------------------------------------- exact

def role_exact(work: Path) -> None:
    """The first batch's DPO loss in float64 (each sequence on its own, full log-softmax): the value both
    frameworks' float32 first losses approximate."""
    from types import SimpleNamespace

    import torch
    from transformers import AutoModelForCausalLM

    from preflab.engine import naive_logprobs

    torch.set_num_threads(THREADS)
    meta, rows = load_json(work / "meta.json"), load_json(work / "data.json")
    batch = [SimpleNamespace(prompt_ids=rows[i]["prompt_ids"], completion_ids=[rows[i]["chosen_ids"], rows[i]["rejected_ids"]])
             for i in meta["order"][0]]
    sums = {}
    for name in ("policy", "ref"):
        model = AutoModelForCausalLM.from_pretrained(work / name, dtype=torch.float64, attn_implementation="sdpa").eval()
        with torch.no_grad():
            sums[name] = naive_logprobs(model, batch, meta["pad_id"]).sums
        del model
    d = sums["policy"] - sums["ref"]
    loss = -torch.nn.functional.logsigmoid(BETA * (d[:, 0] - d[:, 1])).mean()
    write_json(work / "exact.json", {"first_loss_float64": float(loss)})


# ---------------------------------------------------------------------------------------------------- preflab

def role_preflab(work: Path, mode: str, profile: bool = False) -> None:
    import torch

    torch.set_num_threads(THREADS)
    base_rss = rss_mb()
    import preflab.train.loop as loop
    from preflab.data import PreferenceDataset, PreferenceExample
    from preflab.objectives import get_objective
    from preflab.train import TrainConfig, Trainer
    from preflab.train.setup import build_setup

    meta, rows = load_json(work / "meta.json"), load_json(work / "data.json")
    examples = [PreferenceExample(index=i, prompt_ids=r["prompt_ids"], completion_ids=[r["chosen_ids"], r["rejected_ids"]],
                                  ranks=[0, 1], scores=None, labels=None) for i, r in enumerate(rows)]
    fp = hashlib.sha1(json.dumps(rows).encode()).hexdigest()[:16]
    ds = PreferenceDataset.from_examples(examples, kind="pairwise", style="standard", fingerprint=f"bench-{fp}",
                                         stats={"rows": len(examples)}, tokenizer_name="smollm2")
    # instrumentation only: record the batches the loop packs
    batches = []
    real_pack = loop.pack

    def recording_pack(examples, *a, **kw):
        batches.append(batch_key((e.prompt_ids, e.completion_ids[0], e.completion_ids[1]) for e in examples))
        return real_pack(examples, *a, **kw)
    loop.pack = recording_pack

    total = meta["steps"] + meta["warmup"]
    run_dir = work / f"preflab-{mode}"
    config = TrainConfig()
    config.model.name = str(work / "policy")
    config.model.tokenizer = "smollm2"
    config.data.train = "synthetic (in memory)"
    config.data.cache_dir = str(work / f"cache-{mode}")     # empty: the reference pass really runs
    config.objective.name, config.objective.params = "dpo", {"beta": BETA}
    config.reference.mode, config.reference.model = mode, str(work / "ref")
    config.optim.lr, config.optim.scheduler, config.optim.warmup_steps = LR, "constant", 0
    tr = config.train
    tr.batch_size, tr.max_steps, tr.seed, tr.threads = meta["batch"], total, meta["seed"], THREADS
    tr.output_dir, tr.progress, tr.save_final, tr.log_every = str(run_dir), False, False, 1

    t0 = time.perf_counter()
    setup = build_setup(config, get_objective("dpo", beta=BETA), train_data=ds)
    ref_seconds = [setup.timings.get("log-prob tables", 0.0)]
    setup_seconds = time.perf_counter() - t0
    trainer = Trainer(config, setup)
    before_train_rss = rss_mb()
    lifetime_peak_before = rss_mb("VmHWM")
    reset_ok = reset_peak_rss()
    prof = None
    if profile:
        from torch.profiler import ProfilerActivity, profile as tprofile
        prof = tprofile(activities=[ProfilerActivity.CPU], record_shapes=False)
        prof.__enter__()
    t0 = time.perf_counter()
    trainer.run()
    train_seconds = time.perf_counter() - t0
    if prof is not None:
        prof.__exit__(None, None, None)
        (work / f"profile-preflab-{mode}.txt").write_text(
            prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
    peak_train = rss_mb("VmHWM")
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    step_s = [meta["batch"] / row["examples_per_s"] for row in log]
    write_json(work / f"preflab-{mode}.json", dict(
        mode=mode, losses=[row["loss"] for row in log], step_seconds=step_s, batches=batches[:total],
        reference_pass_seconds=sum(ref_seconds), setup_seconds=setup_seconds, train_seconds=train_seconds,
        peak_rss_mb=peak_train, peak_reset=reset_ok, rss_before_train_mb=before_train_rss,
        lifetime_peak_rss_mb=max(peak_train, lifetime_peak_before), import_rss_mb=base_rss))


# ---------------------------------------------------------------------------------------------------- TRL

def role_trl(work: Path, profile: bool = False, mode: str = "live") -> None:
    """TRL's DPOTrainer; ``mode="precompute"``: with ``precompute_ref_log_probs=True`` (TRL's own one-off
    reference pass; the explicit reference model stays in memory, as TRL keeps it when given)."""
    import torch

    torch.set_num_threads(THREADS)
    base_rss = rss_mb()
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from preflab.models import load_tokenizer

    meta, rows = load_json(work / "meta.json"), load_json(work / "data.json")
    total = meta["steps"] + meta["warmup"]
    ordered = [rows[i] for step in meta["order"] for i in step]      # preflab's batch order, sampled sequentially
    train_dataset = Dataset.from_list(ordered)
    tok = load_tokenizer("smollm2")
    model = AutoModelForCausalLM.from_pretrained(work / "policy", dtype=torch.float32, attn_implementation="sdpa")
    # the explicit reference: the policy's copy as ``prepare`` perturbed it (what copy.deepcopy(model) would
    # hold, plus the perturbation), a second full model in memory as TRL keeps it
    ref_model = AutoModelForCausalLM.from_pretrained(work / "ref", dtype=torch.float32, attn_implementation="sdpa")

    class PreTokenizedDPOTrainer(DPOTrainer):
        """TRL's DPOTrainer on already tokenized rows: its text tokenization step is skipped, nothing else."""

        losses: list = []
        batches: list = []
        first_batch: dict = {}

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if model.training:
                loss = out[0] if isinstance(out, tuple) else out
                self.losses.append(float(loss.detach()))
                ids, att, comp = inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"]
                B = ids.shape[0] // 2
                triples = []
                for b in range(B):
                    seq = []
                    for row in (b, b + B):
                        keep, c = att[row].bool(), comp[row].bool()
                        seq.append((ids[row][keep & ~c].tolist(), ids[row][keep & c].tolist()))
                    if seq[0][0] != seq[1][0]:
                        raise AssertionError("TRL batch: chosen and rejected rows carry different prompts")
                    triples.append((seq[0][0], seq[0][1], seq[1][1]))
                self.batches.append(batch_key(triples))
            return out

    class Clock(TrainerCallback):
        def __init__(self):
            self.ends, self.begins, self.durations = [], [], []
            self.peak_reset = False
            self.prof = None

        def on_train_begin(self, args, state, control, **kw):
            self.rss_before = rss_mb()
            self.lifetime_before = rss_mb("VmHWM")
            self.peak_reset = reset_peak_rss()
            self.t0 = time.perf_counter()
            if profile:
                from torch.profiler import ProfilerActivity, profile as tprofile
                self.prof = tprofile(activities=[ProfilerActivity.CPU])
                self.prof.__enter__()

        def on_step_begin(self, args, state, control, **kw):
            self.begins.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            now = time.perf_counter()
            self.durations.append(now - self.begins[-1])
            self.ends.append(now)

        def on_train_end(self, args, state, control, **kw):
            self.peak = rss_mb("VmHWM")
            if self.prof is not None:
                self.prof.__exit__(None, None, None)
                (work / "profile-trl.txt").write_text(
                    self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))

    clock = Clock()
    args = DPOConfig(
        output_dir=str(work / "trl"), per_device_train_batch_size=meta["batch"], max_steps=total,
        learning_rate=LR, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,  # optim: TRL's default
        adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=1.0, beta=BETA, loss_type=["sigmoid"],
        bf16=False, fp16=False, gradient_checkpointing=False, use_cpu=True, report_to=[], eval_strategy="no",
        save_strategy="no", logging_steps=1, dataloader_num_workers=0, dataloader_pin_memory=False,
        train_sampling_strategy="sequential", max_length=None, precompute_ref_log_probs=mode == "precompute",
        precompute_ref_batch_size=meta["batch"], seed=meta["seed"],
        disable_tqdm=True, pad_token=tok.pad_token,
    )
    t0 = time.perf_counter()
    trainer = PreTokenizedDPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=train_dataset,
                                     processing_class=tok, callbacks=[clock])
    setup_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - t0
    starts = [clock.t0] + clock.ends[:-1]
    step_s = [e - s for s, e in zip(starts, clock.ends)]
    write_json(work / ("trl.json" if mode == "live" else f"trl-{mode}.json"), dict(
        setup_seconds=setup_seconds, losses=trainer.losses, step_seconds=step_s, step_seconds_begin_to_end=clock.durations,
        batches=trainer.batches, train_seconds=train_seconds, peak_rss_mb=clock.peak, peak_reset=clock.peak_reset,
        rss_before_train_mb=clock.rss_before, lifetime_peak_rss_mb=max(clock.peak, clock.lifetime_before),
        import_rss_mb=base_rss))


# ---------------------------------------------------------------------------------------------------- parent

def run_role(role: str, work: Path, extra=(), timeout=None) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--role", role, "--workdir", str(work), *extra]
    t = time.perf_counter()
    print(f"# running {role} ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, timeout=timeout)
    return time.perf_counter() - t


def summarize(work: Path, config: str) -> dict:
    meta, rows = load_json(work / "meta.json"), load_json(work / "data.json")
    mm = matmul_rate([load_json(p) for p in sorted(work.glob("matmul-*.json"))])
    exact = load_json(work / "exact.json")["first_loss_float64"]
    pc, pk, tr = (load_json(work / f) for f in ("preflab-cache.json", "preflab-copy.json", "trl.json"))
    w, B = meta["warmup"], meta["batch"]
    measured = range(w, w + meta["steps"])

    for name, res in (("preflab cache", pc), ("preflab copy", pk), ("trl", tr)):
        if len(res["batches"]) < len(meta["order"]):
            raise AssertionError(f"{name} ran {len(res['batches'])} batches, expected {len(meta['order'])}")
    same = [pc["batches"][s] == tr["batches"][s] == pk["batches"][s] for s in range(len(meta["order"]))]
    expect = [batch_key((rows[i]["prompt_ids"], rows[i]["chosen_ids"], rows[i]["rejected_ids"]) for i in step)
              for step in meta["order"]]
    if not all(same) or pc["batches"] != expect:
        raise AssertionError(f"the frameworks saw different batches: same per step = {same}")

    def per_s(res):
        times = [res["step_seconds"][s] for s in measured]
        return B * len(times) / sum(times), times

    f = [step_flops(meta, rows, meta["order"][s]) for s in measured]
    flops = sum(x["total"] for x in f) / len(f)

    def avg(key):
        return sum(x[key] for x in f) / len(f)
    p_rate, p_times = per_s(pc)
    k_rate, k_times = per_s(pk)
    t_rate, t_times = per_s(tr)
    p_step = sum(p_times) / len(p_times)
    summary = {
        "config": config,
        "preflab_pairs_per_s": round(p_rate, 4),
        "trl_pairs_per_s": round(t_rate, 4),
        "speedup": round(p_rate / t_rate, 3),
        "preflab_peak_mb": round(pc["peak_rss_mb"], 1),
        "trl_peak_mb": round(tr["peak_rss_mb"], 1),
        "memory_ratio": round(pc["peak_rss_mb"] / tr["peak_rss_mb"], 3),
        "first_loss_abs_diff": abs(pc["losses"][0] - tr["losses"][0]),
        "useful_gflops_per_s": round(flops / p_step / 1e9, 2),
        "matmul_gflops_per_s": round(mm["gflops_per_s"], 2),
    }
    lines = [
        f"machine: {THREADS} threads; model: {meta['total_params'] / 1e6:.2f}M params "
        f"({meta['non_embedding_params'] / 1e6:.2f}M non-embedding), vocab {meta['vocab']}, hidden {meta['hidden']}, "
        f"{meta['layers']} layers; {B} pairs/step; {meta['warmup']} warmup + {meta['steps']} measured steps",
        f"same batches in every step (preflab cache, preflab copy, TRL): {all(same)}",
        f"first loss: preflab {pc['losses'][0]:.8f}  TRL {tr['losses'][0]:.8f}  (ln 2 = {math.log(2):.8f}); "
        f"preflab copy mode {pk['losses'][0]:.8f}; float64 (naive path) {exact:.8f}: preflab - float64 "
        f"{pc['losses'][0] - exact:+.2e}, TRL - float64 {tr['losses'][0] - exact:+.2e}",
        f"losses preflab: {[round(x, 6) for x in pc['losses']]}",
        f"losses TRL:     {[round(x, 6) for x in tr['losses']]}",
        f"step seconds preflab cache: {[round(x, 3) for x in p_times]}",
        f"step seconds preflab copy:  {[round(x, 3) for x in k_times]}",
        f"step seconds TRL:           {[round(x, 3) for x in t_times]} "
        f"(begin->end only: {[round(tr['step_seconds_begin_to_end'][s], 3) for s in measured]})",
        f"preflab reference pass (one-off, {meta['n']} pairs): {pc['reference_pass_seconds']:.2f} s; "
        f"setup total {pc['setup_seconds']:.2f} s",
        "preflab reference.mode=copy: " + json.dumps({
            "pairs_per_s": round(k_rate, 4), "speedup_vs_trl": round(k_rate / t_rate, 3),
            "peak_mb": round(pk["peak_rss_mb"], 1), "memory_ratio": round(pk["peak_rss_mb"] / tr["peak_rss_mb"], 3),
            "first_loss_abs_diff": abs(pk["losses"][0] - tr["losses"][0])}),
        *([] if not (work / "trl-precompute.json").exists() else [trl_precompute_line(work, measured, B, t_rate, pc, tr)]),
        f"RSS MB after imports / before training / peak in training / lifetime peak: "
        f"preflab cache {pc['import_rss_mb']:.0f} / {pc['rss_before_train_mb']:.0f} / {pc['peak_rss_mb']:.0f} / "
        f"{pc['lifetime_peak_rss_mb']:.0f}; preflab copy {pk['import_rss_mb']:.0f} / {pk['rss_before_train_mb']:.0f} / "
        f"{pk['peak_rss_mb']:.0f} / {pk['lifetime_peak_rss_mb']:.0f}; TRL {tr['import_rss_mb']:.0f} / "
        f"{tr['rss_before_train_mb']:.0f} / {tr['peak_rss_mb']:.0f} / {tr['lifetime_peak_rss_mb']:.0f}",
        f"useful FLOPs per measured step (mean): {flops / 1e9:.1f} G (body {avg('body') / 1e9:.1f}, attention "
        f"{avg('attention') / 1e9:.1f}, LM head {avg('head') / 1e9:.1f}; {avg('tokens'):.0f} tokens, "
        f"{avg('completion_tokens'):.0f} completion tokens); preflab at its fastest measured step: "
        f"{max(x['total'] / t for x, t in zip(f, p_times)) / 1e9:.2f} GFLOP/s; TRL at the same useful FLOPs: "
        f"{flops / (sum(t_times) / len(t_times)) / 1e9:.2f} GFLOP/s",
        "matmul GFLOP/s by shape (n x k @ k x m, fwd + 2 bwd GEMMs, best of all rounds): " + ", ".join(
            f"{k}: {v:.1f}" for k, v in mm["by_shape"].items())
        + f"; weighted {mm['gflops_per_s']:.1f} (each run alone: {[round(x, 1) for x in mm['per_run']]}); "
          f"square 2048x2048x2048: {mm['square_2048']:.1f}",
    ]
    targets = {"A": [("speedup", ">=", 4.0), ("memory_ratio", "<=", 0.3), ("first_loss_abs_diff", "<=", 1e-5)],
               "B": [("speedup", ">=", 2.0)]}[config]
    for key, op, bound in targets:
        v = summary[key]
        ok = v >= bound if op == ">=" else v <= bound
        lines.append(f"target {key} {op} {bound}: {v} -> {'met' if ok else 'MISSED'}")
    if config == "A":
        half = summary["matmul_gflops_per_s"] / 2
        lines.append(f"target useful_gflops_per_s >= matmul/2 = {half:.2f}: {summary['useful_gflops_per_s']} -> "
                     f"{'met' if summary['useful_gflops_per_s'] >= half else 'MISSED'}")
    for line in lines:
        print(line)
    return summary


def trl_precompute_line(work, measured, B, t_rate, pc, tr) -> str:
    tp = load_json(work / "trl-precompute.json")
    times = [tp["step_seconds"][s] for s in measured]
    rate = B * len(times) / sum(times)
    return "TRL precompute_ref_log_probs=True: " + json.dumps({
        "pairs_per_s": round(rate, 4), "preflab_cache_speedup_vs_it": round(B * len(measured) / sum(
            pc["step_seconds"][s] for s in measured) / rate, 3), "speedup_vs_trl_live": round(rate / t_rate, 3),
        "peak_mb": round(tp["peak_rss_mb"], 1), "setup_seconds_incl_reference_pass": round(tp["setup_seconds"], 2),
        "first_loss_abs_diff_vs_trl_live": abs(tp["losses"][0] - tr["losses"][0]),
        "first_loss_abs_diff_vs_preflab": abs(tp["losses"][0] - pc["losses"][0])})


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="A")
    ap.add_argument("--steps", type=int, default=None, help="measured steps (default: A 10, B 3)")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured first steps (default: A 2, B 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="keep the run's files here (default: a temporary folder)")
    ap.add_argument("--trl-precompute", action="store_true",
                    help="also run TRL with precompute_ref_log_probs=True (an extra line; not in the JSON)")
    ap.add_argument("--profile", action="store_true", help="also write torch.profiler tables of the training runs")
    ap.add_argument("--role", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="cache", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.profile and not a.workdir and a.role is None:
        ap.error("--profile writes its tables into the run folder: give --workdir to keep them")

    if a.role is not None:
        work = Path(a.workdir)
        if a.role == "prepare":
            c = CONFIGS[a.config]
            role_prepare(work, a.config, a.steps or c["steps"], c["warmup"] if a.warmup is None else a.warmup, a.seed)
        elif a.role == "exact":
            role_exact(work)
        elif a.role == "matmul":
            role_matmul(work, a.mode)
        elif a.role == "preflab":
            role_preflab(work, a.mode, a.profile)
        elif a.role == "trl":
            role_trl(work, a.profile, "live" if a.mode == "cache" else a.mode)
        else:
            raise SystemExit(f"unknown role {a.role}")
        return

    c = CONFIGS[a.config]
    steps = a.steps or c["steps"]
    warmup = c["warmup"] if a.warmup is None else a.warmup
    tmp = None
    if a.workdir:
        work = Path(a.workdir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="preflab-dpo-bench-")
        work = Path(tmp.name)
    prof = ["--profile"] if a.profile else []
    seconds = {}
    seconds["prepare"] = run_role("prepare", work, ["--config", a.config, "--steps", str(steps), "--warmup",
                                                     str(warmup), "--seed", str(a.seed)])
    seconds["exact"] = run_role("exact", work)
    seconds["matmul_before"] = run_role("matmul", work, ["--mode", "before"])
    seconds["preflab_cache"] = run_role("preflab", work, ["--mode", "cache", *prof])
    seconds["preflab_copy"] = run_role("preflab", work, ["--mode", "copy"])
    seconds["trl"] = run_role("trl", work, prof)
    if a.trl_precompute:
        seconds["trl_precompute"] = run_role("trl", work, ["--mode", "precompute"])
    seconds["matmul_after"] = run_role("matmul", work, ["--mode", "after"])
    print("wall seconds per subprocess: " + json.dumps({k: round(v, 1) for k, v in seconds.items()}))
    summary = summarize(work, a.config)
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
