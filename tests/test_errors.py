"""One error family: every exception class preflab defines for its users is a PreflabError (keeping its
built-in base), and the CLI turns any of them into exit status 2 and one line."""

import importlib
import inspect
import pkgutil

import pytest

import preflab
from preflab.errors import PreflabError

# control flow and transport, never shown to a user as an error of theirs
INTERNAL = {"APIError", "RetryError", "Cancelled", "SandboxViolation"}


def _error_classes():
    found = {}
    for info in pkgutil.walk_packages(preflab.__path__, "preflab."):
        if info.name.endswith(("vllm_rollout", "__main__")):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and not issubclass(obj, Warning)
                    and obj.__module__ == info.name
                    and not name.startswith("_") and name not in INTERNAL):
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_public_error_class_is_a_preflab_error():
    classes = _error_classes()
    assert len(classes) >= 8
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, PreflabError))
    assert outside == [], f"not in the PreflabError family: {outside}"


@pytest.mark.parametrize("make", [
    lambda: __import__("preflab.oracles", fromlist=["OracleError"]).OracleError("the judge is unreachable"),
    lambda: __import__("preflab.train", fromlist=["TrainingDiverged"]).TrainingDiverged("step 3: loss nan"),
    lambda: __import__("preflab.games.equilibria", fromlist=["NotCertified"]).NotCertified("gap 1e-3 > 1e-10"),
])
def test_the_cli_turns_every_preflab_error_into_exit_2_and_one_line(monkeypatch, capsys, make):
    from preflab import cli

    err = make()

    def boom(args):
        raise err

    monkeypatch.setattr(cli.VERBS["objectives"], "run", boom)
    assert cli.main(["objectives"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"preflab objectives: error: {err}"]
