"""What a proposer hands the search: a candidate's source with its name, thought and parents.

A candidate's identity is :func:`code_hash`, a hash of its syntax tree with docstrings and the function's
name removed, so reformatting, renaming or re-commenting a loss does not make it new.

>>> a = Proposal(code="def f(batch, beta):\\n    return -batch.policy_logps[:, 0]\\n", name="f", proposer="file")
>>> b = Proposal(code="def g(batch, beta):\\n    'doc'\\n    return -batch.policy_logps[:, 0]\\n", name="g",
...              proposer="file")
>>> a.hash == b.hash
True
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["Proposal", "code_hash"]


def code_hash(code: str) -> str:
    """16 hex digits of sha256 over the code's AST (docstrings and top-level function names dropped); code
    that does not parse hashes as its text."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return hashlib.sha256(code.encode()).hexdigest()[:16]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.FunctionDef) and node in tree.body:
            node.name = "_"
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


@dataclass
class Proposal:
    """One candidate: ``code`` (the contract's one function), a ``name``, the proposer's ``thought``,
    ``parents`` (hashes of the candidates it was bred from) and ``meta`` (JSON-able: the expression of a
    program-search candidate, the raw reply of an LLM)."""

    code: str
    name: str
    proposer: str
    thought: str = ""
    parents: tuple = ()
    meta: dict = field(default_factory=dict)
    error: Optional[str] = None            # set when the proposer could not produce code (an unparsable reply)

    @property
    def hash(self) -> str:
        return code_hash(self.code)
