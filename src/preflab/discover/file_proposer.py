"""The hand-written proposer: candidates read from a .py file or a folder of them, one function each.

A file may define several top-level functions with the contract's signature ``name(batch, beta)``; each
becomes its own candidate, with the file's imports (only ``torch``, ``math`` and ``torch.nn.functional as
F`` pass the sandbox) and the function's docstring as its thought. The file is only parsed here, never
run: the sandbox runs each candidate.

>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "mine.py"
>>> _ = f.write_text("import torch.nn.functional as F\\n\\n\\ndef dpo(batch, beta):\\n    'DPO.'\\n"
...                  "    rho = batch.policy_logps[:, 0] - batch.policy_logps[:, 1]\\n    return -F.logsigmoid(beta * rho)\\n")
>>> [(p.name, p.thought) for p in FileProposer(f).propose([], 10, generation=0)]
[('dpo', 'DPO.')]
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Sequence

from preflab.discover.proposal import Proposal

__all__ = ["FileProposer", "read_candidates"]


def read_candidates(path) -> list:
    """Every candidate in a .py file or in the .py files of a folder (sorted by name), as Proposals."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.py"))
        if not files:
            raise ValueError(f"{path}: no .py files of candidates in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise ValueError(f"{path}: no such file or folder of candidate losses (--file)")
    out = []
    for file in files:
        text = file.read_text()
        try:
            tree = ast.parse(text, filename=str(file))
        except SyntaxError as err:
            raise ValueError(f"{file}, line {err.lineno}: {err.msg}; fix the candidate file") from None
        imports = [ast.get_source_segment(text, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        if not funcs:
            raise ValueError(f"{file}: no top-level function; a candidate is `def name(batch, beta): ...` "
                             "returning per-example losses [B]")
        for fn in funcs:
            args = [a.arg for a in fn.args.args]
            if args[:2] != ["batch", "beta"]:
                raise ValueError(f"{file}, line {fn.lineno}: function {fn.name}({', '.join(args)}) must take "
                                 "(batch, beta) (the discovery contract's signature)")
            code = "\n".join(imports) + "\n\n\n" + ast.get_source_segment(text, fn) + "\n"
            out.append(Proposal(code=code, name=fn.name, proposer="file", thought=ast.get_docstring(fn) or "",
                                meta={"file": str(file), "line": fn.lineno}))
    return out


class FileProposer:
    """Proposes the file's candidates in order, ``n`` at a time, skipping those already in the archive."""

    name = "file"

    def __init__(self, path):
        self.candidates = read_candidates(path)

    def propose(self, history: Sequence, n: int, generation: int) -> list:
        done = {r.hash for r in history}
        return [p for p in self.candidates if p.hash not in done][:n]
