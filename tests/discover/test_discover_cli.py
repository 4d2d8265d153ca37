"""`preflab discover` end to end through the CLI: run folder, resume, export loadable by the file: loader."""

import json
import sqlite3

import torch

from preflab.cli import main
from preflab.discover.export import get_objective_or_file
from preflab.objectives import ScoreBatch


def test_discover_program_search_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["discover", "--proposer", "program", "--fidelity", "games", "--out", str(out), "--no-progress",
            "--per-generation", "6", "--seed", "0"]
    assert main(args + ["--budget", "12"]) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["candidates"] == 12 and best["ranked_by"] == "games"
    db = sqlite3.connect(out / "archive.db")
    n, gens = db.execute("SELECT COUNT(*), COUNT(DISTINCT generation) FROM candidates").fetchone()
    scored = db.execute("SELECT COUNT(*) FROM fitness WHERE fidelity='games'").fetchone()[0]
    failed = db.execute("SELECT COUNT(DISTINCT hash) FROM errors").fetchone()[0]
    assert (n, gens) == (12, 2) and scored + failed == 12 and failed == best["errors"]
    values = [b["fitness"]["games"] for b in best["best"]]
    assert values == sorted(values, reverse=True)
    page = (out / "report.html").read_text()
    assert "Fitness over generations" in page and page.count("data:image/png;base64,") == 2
    assert best["best"][0]["formula"] in page
    # the best loss, exported, is an objective `preflab train` can load; its values match the sandbox's curve
    top = best["best"][0]
    obj = get_objective_or_file(top["train"].split("=", 1)[1], beta=0.1)
    curves = json.loads(db.execute("SELECT value FROM settings WHERE key='curves'").fetchone()[0])
    c = curves[top["hash"]]
    m = torch.tensor(c["margin"], dtype=torch.float64)
    batch = ScoreBatch(policy_logps=torch.stack([m, torch.zeros_like(m)], 1), ref_logps=torch.zeros(len(m), 2,
                       dtype=torch.float64), lengths=torch.ones(len(m), 2, dtype=torch.long))
    assert torch.allclose(obj(batch).per_example, torch.tensor(c["loss"], dtype=torch.float64))
    # resume: the same folder continues; nothing is scored twice
    first = [r[0] for r in db.execute("SELECT hash FROM candidates ORDER BY seq")]
    assert main(args + ["--budget", "14"]) == 0
    again = [r[0] for r in db.execute("SELECT hash FROM candidates ORDER BY seq")]
    assert again[:12] == first and len(again) == 14 == len(set(again))
    assert json.loads((out / "best.json").read_text())["candidates"] == 14


def test_discover_input_errors_exit_2(tmp_path, capsys):
    assert main(["discover", "--fidelity", "tiny", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--fidelity must be 'games' or 'games,tiny', got 'tiny'" in capsys.readouterr().err
    assert main(["discover", "--proposer", "llm", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--proposer llm needs --endpoint URL" in capsys.readouterr().err
    assert main(["discover", "--proposer", "file", "--file", str(tmp_path / "none.py"), "--out", str(tmp_path),
                 "--no-progress"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
