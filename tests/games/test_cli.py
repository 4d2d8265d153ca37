"""`preflab game`: result.json's numbers against the library, the run folder's files, and errors that exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from preflab.cli import main
from preflab.games import cyclic, duality_gap, kl, regularized_nash

SKEWED = "0.3,0.05,0.1,0.05,0.2,0.05,0.1,0.05,0.05,0.05"      # on cyclic(10) a uniform ref is already Nash


def run_game(capsys, *argv):
    """`preflab game ... --json`: (exit code, the JSON printed on stdout, stderr)."""
    code = main(["game", *argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def assert_png(path):
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100


def test_json_figures_are_the_library_s(tmp_path, capsys):
    out = tmp_path / "run"
    code, result, err = run_game(capsys, "--preference", "random", "--n", "6", "--beta", "0.2", "--seed", "3",
                                 "--algorithms", "inpo,sppo,rlhf_bt", "--iterations", "150", "--out", str(out),
                                 "--no-plots")
    assert code == 0
    assert "preflab game" in err                                        # the progress bar is on stderr
    assert json.loads((out / "result.json").read_text()) == result      # stdout is result.json, nothing else
    game = result["game"]
    P, ref, beta = np.array(game["P"]), np.array(game["ref"]), game["beta"]
    assert (game["kind"], game["n"], beta, game["seed"]) == ("random", 6, 0.2, 3)
    assert P.shape == (6, 6) and np.allclose(ref, 1 / 6)
    eq = np.array(game["equilibrium"])
    assert np.allclose(eq, regularized_nash(P, beta, ref), atol=1e-10)
    assert game["equilibrium_gap"] == pytest.approx(duality_gap(P, eq, beta, ref), abs=1e-15)
    assert game["equilibrium_gap"] <= 1e-10
    assert list(result["algorithms"]) == ["inpo", "sppo", "rlhf_bt"]
    for name, s in result["algorithms"].items():
        pi, avg = np.array(s["policy"]), np.array(s["averaged_policy"])
        assert s["iterations"] == 150 and s["algorithm"] == name
        assert s["duality_gap"] == pytest.approx(duality_gap(P, pi, beta, ref), rel=1e-9, abs=1e-14)
        assert s["avg_duality_gap"] == pytest.approx(duality_gap(P, avg, beta, ref), rel=1e-9, abs=1e-14)
        assert s["win_rate_vs_ref"] == pytest.approx(pi @ P @ ref, abs=1e-12)
        assert s["win_rate_vs_equilibrium"] == pytest.approx(pi @ P @ eq, abs=1e-12)
        assert s["kl_to_ref"] == pytest.approx(kl(pi, ref), abs=1e-12)
    assert result["algorithms"]["inpo"]["params"]["eta"] == 1.0
    # INPO converges to the regularized equilibrium; the BT-reward fit does not on an intransitive game
    assert result["algorithms"]["inpo"]["duality_gap"] < 1e-8 < result["algorithms"]["rlhf_bt"]["duality_gap"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 151 and rows[-1]["duality_gap"] == result["algorithms"]["rlhf_bt"]["duality_gap"]
    assert not list(out.glob("*.png"))                                  # --no-plots


def test_nash_md_solves_the_cyclic_game(tmp_path, capsys):
    code, result, _ = run_game(capsys, "--preference", "cyclic", "--n", "10", "--beta", "0.1", "--ref", SKEWED,
                               "--algorithms", "nash_md", "--out", str(tmp_path), "--no-plots")
    assert code == 0
    P, ref = np.array(result["game"]["P"]), np.array(result["game"]["ref"])
    assert np.array_equal(P, cyclic(10)) and ref[0] == 0.3
    s = result["algorithms"]["nash_md"]
    assert s["iterations"] == 2000                                       # nash_md's own default
    assert s["duality_gap"] < 1e-4
    assert s["duality_gap"] == pytest.approx(duality_gap(P, np.array(s["policy"]), 0.1, ref), rel=1e-9, abs=1e-15)
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert first["iteration"] == 0 and first["duality_gap"] > 0.05      # it started far from the equilibrium


def test_plots_and_simplex_only_for_three(tmp_path, capsys):
    three, four = tmp_path / "n3", tmp_path / "n4"
    code, result, _ = run_game(capsys, "--preference", "random", "--n", "3", "--algorithms", "inpo,sppo",
                               "--iterations", "40", "--out", str(three))
    assert code == 0
    for name in ("gap.png", "winrates.png", "simplex.png"):
        assert_png(three / name)
        assert name in result["files"]
    code, result, _ = run_game(capsys, "--preference", "random", "--n", "4", "--algorithms", "inpo",
                               "--iterations", "40", "--out", str(four))
    assert code == 0
    assert_png(four / "gap.png") and assert_png(four / "winrates.png")
    assert not (four / "simplex.png").exists() and "simplex.png" not in result["files"]


def test_matrix_and_ref_files(tmp_path, capsys):
    P = cyclic(4, strength=0.6)
    np.save(tmp_path / "P.npy", P)
    np.savetxt(tmp_path / "P.csv", P, delimiter=",")
    (tmp_path / "ref.json").write_text(json.dumps({"ref": [0.4, 0.3, 0.2, 0.1]}))
    results = []
    for name in ("P.npy", "P.csv"):
        code, result, _ = run_game(capsys, "--preference-file", str(tmp_path / name), "--beta", "0",
                                   "--ref", str(tmp_path / "ref.json"), "--iterations", "30",
                                   "--out", str(tmp_path / name.replace(".", "_")), "--no-plots")
        assert code == 0
        results.append(result)
    a, b = results
    assert np.allclose(a["game"]["P"], P) and a["game"]["kind"] == "file" and a["game"]["n"] == 4
    assert a["game"]["ref"] == pytest.approx([0.4, 0.3, 0.2, 0.1], abs=1e-15)
    assert list(a["algorithms"]) == ["sppo", "spo", "onpo", "dno"]      # beta 0: the unregularized set
    assert a["game"]["equilibrium_gap"] <= 1e-9
    assert b["game"]["P"] == a["game"]["P"]                              # .csv holds the same numbers as .npy
    assert all(a["algorithms"][k]["policy"] == b["algorithms"][k]["policy"] for k in a["algorithms"])
    # a result.json is a valid matrix file: the same game again
    code, again, _ = run_game(capsys, "--preference-file", str(tmp_path / "P_npy" / "result.json"), "--beta", "0",
                              "--algorithms", "onpo", "--iterations", "30", "--out", str(tmp_path / "again"),
                              "--no-plots")
    assert code == 0 and again["game"]["P"] == a["game"]["P"]


@pytest.mark.parametrize("argv, message", [
    (["--algorithms", "nash_mdd"], "unknown algorithm 'nash_mdd'; did you mean 'nash_md'?"),
    (["--algorithms", " , "], "--algorithms is empty"),
    (["--preference", "cyclc"], "--preference 'cyclc' is unknown; did you mean 'cyclic'?"),
    (["--preference", "cyclic", "--n", "2"], "--n 2: a cyclic game needs at least 3 responses"),
    (["--preference", "random", "--n", "1"], "--n 1: a random game needs at least 2 responses"),
    (["--beta", "-0.5"], "--beta must be a finite number >= 0, got -0.5"),
    (["--beta", "nan"], "--beta must be a finite number >= 0"),
    (["--beta", "0", "--algorithms", "nash_md"], "nash_md regularizes toward the reference and needs --beta > 0"),
    (["--ref", "0.5,0.5"], "--ref 0.5,0.5: ref must be a vector of 10 probabilities"),
    (["--ref", "a,b"], "is neither a comma list of numbers"),
    (["--iterations", "-1"], "--iterations must be an integer >= 0"),
    (["--preference-file", "missing.npy"], "--preference-file missing.npy: no such file"),
])
def test_errors_exit_2_naming_the_fix(tmp_path, capsys, argv, message):
    code = main(["game", "--iterations", "2", "--out", str(tmp_path / "o"), "--no-plots", *argv])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("preflab game: error: ") and message in captured.err
    assert not (tmp_path / "o").exists()                                 # checked before anything ran


@pytest.mark.parametrize("content, message", [
    ("0.5,0.7\n0.4,0.5\n", "P[0, 1] + P[1, 0] = 1.1, must be 1"),
    ("0.5,1.5\n-0.5,0.5\n", "P[0, 1] = 1.5 is a probability"),
    ("0.5,0.2,0.3\n0.8,0.5,0.4\n", "square"),
    ("0.5,x\n0.5,0.5\n", "could not read it as a numeric .csv array"),
])
def test_bad_matrix_files(tmp_path, capsys, content, message):
    path = tmp_path / "P.csv"
    path.write_text(content)
    code = main(["game", "--preference-file", str(path), "--out", str(tmp_path / "o"), "--no-plots"])
    err = capsys.readouterr().err
    assert code == 2 and f"--preference-file {path}: " in err and message in err
    assert not (tmp_path / "o").exists()                                 # nothing ran, nothing written


def test_table(tmp_path, capsys):
    code = main(["game", "--n", "5", "--algorithms", "egpo,sppo", "--iterations", "20", "--out", str(tmp_path),
                 "--no-plots"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("game: random, seed 0, N = 5, beta = 0.1; equilibrium certified to duality gap")
    assert lines[1].split() == ["algorithm", "iters", "gap", "(last)", "gap", "(avg)", "win", "vs", "ref", "win",
                                "vs", "eq", "KL", "to", "ref"]
    assert [line.split()[0] for line in lines[3:5]] == ["egpo", "sppo"]
    assert lines[-1] == f"run folder: {tmp_path} (result.json, metrics.jsonl)"


def test_cyclic_game_with_uniform_reference_warns(tmp_path, capsys):
    code, result, err = run_game(capsys, "--preference", "cyclic", "--algorithms", "sppo", "--iterations", "5",
                                 "--out", str(tmp_path), "--no-plots")
    assert code == 0 and "the uniform reference is the cyclic game's equilibrium" in err
    assert result["algorithms"]["sppo"]["duality_gap"] < 1e-12                 # it starts and stays there


def test_console_entry_point(tmp_path):
    """The installed command in its own process: stdout holds exactly result.json (progress goes to stderr)."""
    done = subprocess.run([sys.executable, "-m", "preflab.cli", "game", "--n", "5", "--algorithms", "egpo",
                           "--iterations", "20", "--out", str(tmp_path), "--no-plots", "--json"],
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["algorithms"]["egpo"]["iterations"] == 20
    assert "20/20" in done.stderr
