import multiprocessing
import os
import time
from pathlib import Path

import pytest

from preflab.models import build_once, cache_root
from preflab.models.cache import _publish


def _complete(folder):
    return (Path(folder) / "done").is_file()


def _writer(text="ok", delay=0.0, calls=None):
    def build(tmp):
        if calls is not None:
            calls.append(tmp)
        (tmp / "data.txt").write_text(text)
        time.sleep(delay)
        (tmp / "done").write_text("")
    return build


def test_builds_once_then_reuses(tmp_path):
    calls = []
    folder = tmp_path / "m"
    assert build_once(folder, _writer("a", calls=calls), _complete) == folder
    assert build_once(folder, _writer("b", calls=calls), _complete) == folder
    assert len(calls) == 1 and (folder / "data.txt").read_text() == "a"
    assert not calls[0].exists()  # the temporary folder became the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]


def test_a_failed_build_publishes_nothing_and_leaves_nothing(tmp_path):
    def broken(tmp):
        (tmp / "data.txt").write_text("half")
        raise KeyboardInterrupt  # as if killed mid-way

    with pytest.raises(KeyboardInterrupt):
        build_once(tmp_path / "m", broken, _complete)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock"]


def test_a_build_that_forgets_to_complete_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="incomplete"):
        build_once(tmp_path / "m", lambda tmp: (tmp / "data.txt").write_text("x"), _complete)
    assert not (tmp_path / "m").exists()


def test_leftovers_of_a_killed_build_are_removed_and_incomplete_folders_replaced(tmp_path):
    (tmp_path / ".m.tmp-abc123").mkdir()           # a build killed before its rename
    (tmp_path / "m").mkdir()                       # an old or foreign folder without the completion mark
    (tmp_path / "m" / "stale.txt").write_text("old")
    build_once(tmp_path / "m", _writer("new"), _complete)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["data.txt", "done"]


def test_losing_the_rename_race_to_a_complete_folder_is_fine(tmp_path):
    winner, loser = tmp_path / "m", tmp_path / ".m.tmp-loser"
    for folder, text in ((winner, "first"), (loser, "second")):
        folder.mkdir()
        (folder / "data.txt").write_text(text)
        (folder / "done").write_text("")
    _publish(loser, winner, _complete)  # does not raise
    assert (winner / "data.txt").read_text() == "first"


def _build_in_process(folder, log):
    def build(tmp):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        _writer(str(os.getpid()), delay=0.5)(tmp)
    build_once(folder, build, _complete)


def test_two_processes_at_once_build_once(tmp_path):
    folder, log = tmp_path / "m", tmp_path / "log"
    context = multiprocessing.get_context("spawn" if os.name == "nt" else "fork")
    workers = [context.Process(target=_build_in_process, args=(folder, log)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert [w.exitcode for w in workers] == [0, 0]
    assert len(log.read_text().split()) == 1  # the second waited on the lock and reused the folder
    assert _complete(folder) and sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "log", "m"]


def test_cache_root_precedence(tmp_path):
    assert cache_root({"PREFLAB_CACHE": str(tmp_path)}) == tmp_path
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "preflab"
    assert cache_root({}) == Path.home() / ".cache" / "preflab"
