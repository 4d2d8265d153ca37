"""A discovery run's report: one self-contained ``report.html`` (images inlined) in the run folder, read from
``archive.db`` and ``best.json``: fitness over generations (every candidate, and the best so far), the best
losses plotted as functions of the margin rho (from the sandbox's ``curve`` job), their formulas and code,
and the count of rejected candidates by reason."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections import Counter
from pathlib import Path

from matplotlib.figure import Figure

from preflab.discover.archive import Archive

__all__ = ["write_report"]


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def _generations(records) -> str:
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.add_subplot()
    pts = [(r.generation, r.fitness["games"]) for r in records if "games" in r.fitness]
    if pts:
        ax.scatter([g for g, _ in pts], [f for _, f in pts], s=10, alpha=0.5, label="candidate")
        best, line = float("-inf"), []
        for g in sorted({g for g, _ in pts}):
            best = max(best, max(f for h, f in pts if h == g))
            line.append((g, best))
        ax.plot([g for g, _ in line], [b for _, b in line], color="C3", label="best so far")
        ax.legend(fontsize=8)
    ax.set_xlabel("generation")
    ax.set_ylabel("games fitness")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _curves(best, curves) -> str:
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.add_subplot()
    seen = [0.0, 1.0]
    for b in best:
        c = curves.get(b["hash"])
        if c:
            xs = [x for x, y in zip(c["margin"], c["loss"]) if y is not None]
            ys = [y for y in c["loss"] if y is not None]
            ax.plot(xs, ys, label=b["name"])
            seen += ys
    grid = [-40 + i for i in range(81)]
    ax.plot(grid, [math.log1p(math.exp(-0.1 * m)) for m in grid], "k--", lw=1, label="DPO (reference)")
    ax.set_xlabel("margin rho (beta = 0.1)")
    ax.set_ylabel("loss")
    ax.set_ylim(max(min(seen), -10.0) - 0.2, min(max(seen), 10.0) + 0.2)
    ax.grid(alpha=0.3)
    if best:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def write_report(out_dir) -> Path:
    """Write ``out_dir/report.html`` from the run folder's archive and best.json; returns its path."""
    out = Path(out_dir)
    best = json.loads((out / "best.json").read_text())
    with Archive(out / "archive.db") as archive:
        records = archive.records()
        curves = archive.get("curves", {})
    reasons = Counter(r.errors[-1][1] for r in records if r.errors)
    rows = []
    for b in best["best"]:
        fit = ", ".join(f"{k} {v:.4f}" for k, v in b["fitness"].items())
        code = next((r.code for r in records if r.hash == b["hash"]), "")
        rows.append(f"<tr><td>{html.escape(b['name'])}</td><td>{html.escape(b['proposer'])}</td><td>{fit}</td>"
                    f"<td><code>{html.escape(b['formula'] or '')}</code></td>"
                    f"<td><details><summary>code</summary><pre>{html.escape(code)}</pre></details></td></tr>")
    errors = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in sorted(reasons.items()))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>preflab discover</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td,th{{border-bottom:1px solid #ddd;padding:4px;
vertical-align:top}}pre{{font-size:12px}}</style></head><body>
<h1>preflab discover</h1>
<p>{best['candidates']} candidates, {best['errors']} rejected; best ranked by <b>{best['ranked_by']}</b> fitness.</p>
<h2>Fitness over generations</h2><img alt="fitness over generations" src="data:image/png;base64,{_generations(records)}">
<h2>The best losses as functions of the margin</h2>
<img alt="loss against margin" src="data:image/png;base64,{_curves(best['best'], curves)}">
<h2>The best candidates</h2>
<table><tr><th>name</th><th>proposer</th><th>fitness</th><th>formula</th><th>code</th></tr>{''.join(rows)}</table>
<h2>Rejected candidates by reason</h2><ul>{errors or '<li>none</li>'}</ul>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
