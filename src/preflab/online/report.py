"""An online run's report: plots of true win rate, KL and pool gap per round, and one self-contained HTML
page (images inlined) with the table of every method and round."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

__all__ = ["write_report"]

FIGURES = [("win_rate_vs_ref", "true win rate against the SFT policy"), ("kl", "KL(policy || SFT), nats"),
           ("duality_gap", "duality gap against the policy pool (lower bound)"),
           ("response_gap", "duality gap, best single response seen (lower bound)")]


def _plot(metrics: dict, key: str, title: str) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    for name, rows in metrics["methods"].items():
        rows = [r for r in rows if key in r]
        start = {"win_rate_vs_ref": [(0, 0.5)], "kl": [(0, 0.0)]}.get(key, [])   # the SFT policy's own values
        points = start + [(r["round"], r[key]) for r in rows]
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=name)
    ax.set_xlabel("round (0 = SFT)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(metrics: dict, out_dir) -> Path:
    """Write ``<key>.png`` for each figure and ``report.html`` into ``out_dir``; returns the HTML's path."""
    out = Path(out_dir)
    images = []
    for key, title in FIGURES:
        png = _plot(metrics, key, title)
        (out / f"{key}.png").write_bytes(png)
        images.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    rows = []
    for name, per_round in metrics["methods"].items():
        for r in per_round:
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{r['round']}</td><td>{r['win_rate_vs_ref']:.3f}</td>"
                        f"<td>{r['kl']:.3f}</td><td>{r['duality_gap']:.3f}</td><td>{r.get('response_gap', float('nan')):.3f}</td>"
                        f"<td>{r['examples']}</td>"
                        f"<td>{r['seconds']:.1f}</td></tr>")
    sft = metrics.get("sft", {})
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>preflab demo: {html.escape(metrics.get('task', ''))}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}img{{max-width:24%}}</style></head><body>
<h1>preflab online run: task <code>{html.escape(metrics.get('task', ''))}</code></h1>
<p>True win rates use the task's exact oracle on fresh samples (0.5 = as good as the SFT policy). KL is the Monte
Carlo KL to the SFT policy; the pool gap is the two-player gap with best responses restricted to the pool of
earlier policies, the response gap the same with best responses taken over every single response seen in the run. SFT loss {sft.get('loss_first', float('nan')):.3f} &rarr; {sft.get('loss_last', float('nan')):.3f}.</p>
{''.join(images)}
<table><tr><th>method</th><th>round</th><th>win rate vs SFT</th><th>KL</th><th>pool gap</th><th>response gap</th><th>examples</th><th>seconds</th></tr>
{''.join(rows)}</table></body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
