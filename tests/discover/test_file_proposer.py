"""The file proposer reads examples/discover; bad files say where and how to fix."""

from pathlib import Path

import pytest

from preflab.discover.file_proposer import FileProposer, read_candidates

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "discover"


def test_examples_folder():
    props = read_candidates(EXAMPLES)
    assert [p.name for p in props] == ["dpo", "slic_hinge", "ipo", "lrml", "rejected_anchor", "smooth_ipo"]
    assert all(p.proposer == "file" and p.code.count("def ") == 1 for p in props)
    fp = FileProposer(EXAMPLES)
    assert [p.name for p in fp.propose([], 2, 0)] == ["dpo", "slic_hinge"]


def test_bad_files(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text("def loss(x, y):\n    return x\n")
    with pytest.raises(ValueError, match=r"bad.py, line 1: function loss\(x, y\) must take \(batch, beta\)"):
        read_candidates(f)
    f.write_text("def loss(batch, beta)\n    return x\n")
    with pytest.raises(ValueError, match="bad.py, line 1"):
        read_candidates(f)
    with pytest.raises(ValueError, match="no such file"):
        read_candidates(tmp_path / "nope.py")
