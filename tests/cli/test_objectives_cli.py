"""`preflab objectives`: the table, --json and --data."""

import json
import subprocess
import sys

from preflab.cli import main
from preflab.objectives import list_objectives

ISSUE_NAMES = """dpo cdpo robust_dpo ipo ipo_sum hinge rso exo_pair nca_pair bco_pair apo_zero apo_down aot aot_unpaired
sppo_hard fdpo_forward_kl fdpo_js fdpo_alpha wpo ld_dpo h_dpo mappo rpo mrpo pre_dpo irepo simpo orpo cpo asft
discopop padll cell pfl aqfl aql dbaql kto bco npo simnpo d2o dro lipo_lambda listnet plackett_luce mpo sppo inpo
mnpo dno online_ipo egpo nash_md reinforce rloo grpo dr_grpo gpg gvpo bnpo""".split()


def test_json_lists_every_objective_with_its_metadata(capsys):
    assert main(["objectives", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows]
    assert set(ISSUE_NAMES) <= set(names) and len(names) > 60
    for row in rows:
        for key in ("name", "aliases", "paper", "arxiv", "equation", "data", "needs_reference", "needs_opponents",
                    "logp_scale", "hyperparameters"):
            assert row[key] is not None and row[key] != "", (row["name"], key)
        assert row["data"] in ("pairwise", "listwise", "unpaired", "online", "policy_gradient")
        assert row["logp_scale"] in ("sum", "mean")
        assert isinstance(row["hyperparameters"], dict)
    dpo = rows[names.index("dpo")]
    assert dpo["hyperparameters"] == {"beta": 0.1, "label_smoothing": 0.0} and dpo["needs_reference"] is True


def test_data_filter(capsys):
    main(["objectives", "--json", "--data", "listwise"])
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {s.name for s in list_objectives("listwise")}
    assert {"lipo_lambda", "listnet", "plackett_luce", "mpo"} <= {r["name"] for r in rows}
    assert all(r["data"] == "listwise" for r in rows)


def test_table(capsys):
    main(["objectives", "--data", "online"])
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["name", "data", "ref"]
    assert "mnpo" in out and "eta=0.0075" in out and "dpo " not in out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "preflab.cli", "objectives", "--json"], capture_output=True, text=True, check=True)
    assert len(json.loads(out.stdout)) == len(list_objectives())
    bad = subprocess.run([sys.executable, "-m", "preflab.cli", "objectives", "--data", "pairs"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_data_choices_are_the_registrys_kinds():
    """`preflab objectives --data` lists the kinds without importing torch; they must stay the registry's."""
    import argparse

    from preflab.cli import objectives as verb
    from preflab.objectives import DATA_KINDS

    sub = argparse.ArgumentParser().add_subparsers()
    verb.add_parser(sub)
    (parser,) = sub.choices.values()
    (data,) = [a for a in parser._actions if a.dest == "data"]
    assert tuple(data.choices) == DATA_KINDS
