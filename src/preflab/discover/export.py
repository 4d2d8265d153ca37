"""The best candidates as Python files, and the loader that makes such a file a registry objective.

``export_best(records, folder)`` writes ``<name>.py`` per record (the candidate's code under a header that
says where it came from). ``get_objective_or_file("file:path/to/best.py:fn", beta=0.1)`` loads one
function from such a file and registers it (pairwise, needs the reference, summed log-probs, ``beta``), so
that ``preflab train objective.name=file:runs/discover/best/evo_g3_1.py:evo_g3_1`` trains with it. This
runs the file's code in the calling process, as any Python plugin the user chooses to train with; the
sandbox is for code nobody has read.

>>> import tempfile, pathlib, torch
>>> f = pathlib.Path(tempfile.mkdtemp()) / "mine.py"
>>> _ = f.write_text("import torch.nn.functional as F\\n\\n\\ndef mine(batch, beta):\\n"
...                  "    rho = batch.policy_logps[:, 0] - batch.policy_logps[:, 1]\\n    return -F.logsigmoid(beta * rho)\\n")
>>> from preflab.objectives import ScoreBatch
>>> obj = get_objective_or_file(f"file:{f}:mine", beta=1.0)
>>> b = ScoreBatch(policy_logps=torch.tensor([[0.0, 0.0]]), ref_logps=torch.zeros(1, 2))
>>> round(obj(b).loss.item(), 4)                        # -logsig(0) = log 2
0.6931
>>> from preflab.objectives.registry import unregister
>>> unregister(obj.name)                                # leave the registry as we found it
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

__all__ = ["export_best", "get_objective_or_file", "load_function"]


def export_best(records, folder) -> dict:
    """Write each record's code to ``folder/<name>.py``; returns {hash: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, used = {}, set()
    for r in records:
        stem = r.name if r.name not in used else f"{r.name}_{r.hash[:6]}"
        used.add(stem)
        fitness = ", ".join(f"{k} {v:.4f}" for k, v in r.fitness.items())
        header = (f"# preflab discover: candidate {r.hash} by the {r.proposer} proposer (generation {r.generation}); "
                  f"fitness: {fitness or 'none'}\n# train with: preflab train objective.name=file:{folder / stem}.py:{r.name}\n")
        path = folder / f"{stem}.py"
        path.write_text(header + r.code)
        paths[r.hash] = path
    return paths


def load_function(path: str, name: str):
    """Import ``name`` from the Python file ``path`` (trusted code: it runs here)."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"objective file {path!r} does not exist; give objective.name=file:<path.py>:<function>")
    key = "preflab_objective_" + hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(key, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        found = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_") and
                 getattr(v, "__module__", None) == key]
        raise ValueError(f"{path}: no function {name!r}; functions there: {found}")
    return fn


def get_objective_or_file(name: str, **params):
    """``preflab.objectives.get_objective``, plus ``file:<path.py>:<function>`` for a discovered loss."""
    from preflab.objectives import get_objective

    if not name.startswith("file:"):
        return get_objective(name, **params)
    path, sep, fn_name = name[len("file:"):].rpartition(":")
    if not sep or not path or not fn_name.isidentifier():
        raise ValueError(f"objective.name={name!r}: write file:<path.py>:<function>, e.g. "
                         "file:runs/discover/best/dpo.py:dpo")
    from preflab.objectives.registry import _REGISTRY

    from .candidate import as_objective

    registered = f"file_{fn_name}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    if registered in _REGISTRY:                  # loaded before in this process: the same objective again
        return get_objective(registered, **params)
    return as_objective(load_function(path, fn_name), registered, **params)
