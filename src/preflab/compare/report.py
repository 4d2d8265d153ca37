"""A comparison's report: per-round curves (mean over seeds, the bootstrap interval as a band), win rate against
KL per (method, seed), the head-to-head heatmap, the ratings with intervals, the maximal lottery, and tables of
means, intervals and paired differences: one offline HTML page with the images inlined (and each as a PNG)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

__all__ = ["write_report"]

CURVES = [("win_rate_vs_ref", "true win rate against the SFT policy"), ("kl", "KL(policy || SFT), nats"),
          ("response_gap", "duality gap, best single response seen (lower bound)"),
          ("duality_gap", "duality gap against the policy pool (lower bound)")]
START = {"win_rate_vs_ref": 0.5, "kl": 0.0}            # the SFT policy's own values at round 0


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    return buf.getvalue()


def _colors(names):
    cmap = _plt().get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _curve(results: dict, key: str, title: str) -> bytes:
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    colors = _colors(results["names"])
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    for name in results["names"]:
        band = results["methods"][name]["by_round"].get(key, [])
        if not band:
            continue
        x = [b["round"] for b in band]
        mean, lo, hi = [b["mean"] for b in band], [b["lo"] for b in band], [b["hi"] for b in band]
        if key in START:
            x, mean, lo, hi = [0] + x, [START[key]] + mean, [START[key]] + lo, [START[key]] + hi
        ax.plot(x, mean, marker="o", ms=3, color=colors[name], label=name)
        ax.fill_between(x, lo, hi, color=colors[name], alpha=0.18, linewidth=0)
    ax.set_xlabel("round (0 = SFT)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title + "\nmean over seeds, band: 95% bootstrap interval", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def _scatter(results: dict) -> bytes:
    plt = _plt()
    colors = _colors(results["names"])
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    for name in results["names"]:
        m = results["methods"][name]
        finals = [run["rounds"][-1] for run in m["runs"]]
        if not finals:
            continue
        ax.scatter([f["kl"] for f in finals], [f["win_rate_vs_ref"] for f in finals], s=14, color=colors[name],
                   alpha=0.6)
        w, k = m["win_rate_vs_ref"], m["kl"]
        ax.errorbar([k["mean"]], [w["mean"]], xerr=[[k["mean"] - k["lo"]], [k["hi"] - k["mean"]]],
                    yerr=[[w["mean"] - w["lo"]], [w["hi"] - w["mean"]]], fmt="D", ms=5, color=colors[name],
                    capsize=2, label=name)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("KL(policy || SFT), nats")
    ax.set_ylabel("true win rate vs SFT")
    ax.set_title("final round: dots one seed each, diamonds the mean with its interval", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def _heatmap(h2h: dict) -> bytes:
    import numpy as np

    plt = _plt()
    names, M = h2h["names"], np.asarray(h2h["matrix"])
    n = len(names)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 + 0.62 * n), max(3.4, 1.1 + 0.55 * n)), dpi=110)
    im = ax.imshow(M, cmap="RdBu", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(M[i, j] - 0.5) > 0.3 else "black")
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_title("head to head: P(row beats column)\nunder the exact oracle, mean over seeds", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _png(fig)


def _ratings(r: dict) -> bytes:
    plt = _plt()
    table = r["ratings"]
    names = list(table)[::-1]
    fig, ax = plt.subplots(figsize=(5, 0.8 + 0.4 * len(names)), dpi=110)
    y = range(len(names))
    rating = [table[m]["rating"] for m in names]
    ax.errorbar(rating, y, xerr=[[table[m]["rating"] - table[m]["seed_lower"] for m in names],
                                 [table[m]["seed_upper"] - table[m]["rating"] for m in names]],
                fmt="none", ecolor="tab:orange", elinewidth=1, capsize=4, label="over seeds (bootstrap)")
    ax.errorbar(rating, y, xerr=[[table[m]["rating"] - table[m]["lower"] for m in names],
                                 [table[m]["upper"] - table[m]["rating"] for m in names]],
                fmt="o", color="tab:blue", elinewidth=3, label="sampling (sandwich)")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.set_xlabel("Bradley-Terry rating (mean 1000; +400 = 10:1 odds)")
    ax.set_title("ratings with 95% intervals", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=7)
    return _png(fig)


def _lottery(ml: dict) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 0.8 + 0.4 * len(ml["names"])), dpi=110)
    ax.barh(ml["names"][::-1], ml["probabilities"][::-1], color="tab:green")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability in the maximal lottery")
    ax.set_title("maximal lottery over methods (the mixture no method beats)", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def _ci(x) -> str:
    if not x:
        return "&ndash;"
    return f"{x['mean']:.3f} <small>[{x['lo']:.3f}, {x['hi']:.3f}]</small>"


def write_report(results: dict, out_dir) -> Path:
    """Write the figures (``<name>.png``) and ``report.html`` into ``out_dir``; returns the page's path."""
    out = Path(out_dir)
    figures = [(f"curve_{k}", t, lambda k=k, t=t: _curve(results, k, t)) for k, t in CURVES]
    figures.append(("win_rate_vs_kl", "win rate against KL per method and seed", lambda: _scatter(results)))
    if results.get("head_to_head"):
        figures += [("head_to_head", "head-to-head win rates", lambda: _heatmap(results["head_to_head"])),
                    ("ratings", "ratings with intervals", lambda: _ratings(results["ratings"])),
                    ("maximal_lottery", "maximal lottery", lambda: _lottery(results["maximal_lottery"]))]
    images = []
    for name, title, make in figures:
        png = make()
        (out / f"{name}.png").write_bytes(png)
        images.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')

    ratings = (results.get("ratings") or {}).get("ratings", {})
    h2h = results.get("head_to_head")
    mass = (results.get("maximal_lottery") or {}).get("mass", {})
    rows = []
    for name in results["names"]:
        m = results["methods"][name]
        vs_sft = (f"{h2h['matrix'][h2h['names'].index(name)][h2h['names'].index('sft')]:.3f}"
                  if h2h and name in h2h["names"] and "sft" in h2h["names"] else "&ndash;")
        r = ratings.get(name)
        rating = f"{r['rating']:.0f} <small>[{r['seed_lower']:.0f}, {r['seed_upper']:.0f}]</small>" if r else "&ndash;"
        params = ", ".join(f"{k}={v}" for k, v in m["params"].items())
        rows.append(f"<tr><td style='text-align:left'>{html.escape(name)}</td><td style='text-align:left'>"
                    f"{html.escape(m['method'])}{' (' + html.escape(params) + ')' if params else ''}</td>"
                    f"<td>{len(m['seeds'])}</td><td>{_ci(m['win_rate_vs_ref'])}</td><td>{_ci(m['kl'])}</td>"
                    f"<td>{_ci(m['response_gap'])}</td><td>{_ci(m['duality_gap'])}</td><td>{vs_sft}</td>"
                    f"<td>{rating}</td><td>{mass.get(name, float('nan')):.3f}</td></tr>")
    diffs = []
    for a, against in results["paired_differences"].get("win_rate_vs_ref", {}).items():
        for b, d in against.items():
            sure = " <b>*</b>" if d["lo"] > 0 or d["hi"] < 0 else ""
            diffs.append(f"<tr><td style='text-align:left'>{html.escape(a)} &minus; {html.escape(b)}</td>"
                         f"<td>{_ci(d)}{sure}</td><td>{d['n']}</td></tr>")
    failed = "".join(f"<li><code>{html.escape(f['method'])}</code> seed {f['seed']}: {html.escape(f['error'] or '')} "
                     f"(<code>{html.escape(f['log'])}</code>)</li>" for f in results.get("failed", []))
    note = f"<p><b>{html.escape(results['note'])}</b></p>" if results.get("note") else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>preflab compare: {html.escape(results['task'])}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}img{{max-width:32%;vertical-align:top}}</style></head><body>
<h1>preflab compare: task <code>{html.escape(results['task'])}</code></h1>
<p>{len(results['names'])} methods &times; {len(results['seeds'])} seeds &times; {results['rounds']} rounds. Every
(method, seed) started from that seed's SFT policy and saw the same prompts in each round. Values are the final
round's, as mean over seeds with a 95% percentile-bootstrap interval over seeds
({results['stats']['resamples']} resamples). The arena pits every final policy and the SFT policies against each
other under the task's exact oracle; ratings are Bradley-Terry on those probabilities, shown with their interval over
seeds.</p>{note}
{'<h2>Failed runs</h2><ul>' + failed + '</ul>' if failed else ''}
<table><tr><th>label</th><th>method</th><th>seeds</th><th>win rate vs SFT</th><th>KL</th><th>response gap</th>
<th>pool gap</th><th>arena: vs SFT</th><th>rating [seeds]</th><th>lottery mass</th></tr>
{''.join(rows)}</table>
{''.join(images)}
<h2>Paired differences of the win rate vs SFT (same seeds)</h2>
<p>a &minus; b per seed, mean and 95% bootstrap interval; <b>*</b>: the interval excludes 0.</p>
<table><tr><th>pair</th><th>difference</th><th>seeds</th></tr>{''.join(diffs)}</table>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
