"""The static check: read a candidate's source with ``ast`` and reject obvious escapes before anything runs.

A candidate is one top-level function; it may import only ``torch``, ``math`` and ``torch.nn.functional``
(as ``F``). Rejected, with the rule and the line: private and dunder attributes (``().__class__``,
``x._mod``), frame and code attributes (``gi_frame``, ``f_globals``), dangerous builtins (``eval``,
``open``, ``getattr`` ...), imports outside the allow-list, generators and coroutines (their frames
lead out), classes, and any top-level statement but imports, a docstring and the function. An endless
``while True`` is not rejected here: the wall clock handles it.

>>> dpo = '''
... import torch.nn.functional as F
... def dpo(batch, beta):
...     pi, ref = batch.policy_logps, batch.ref_logps
...     return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))
... '''
>>> check_source(dpo)
'dpo'
>>> check_source("def f(batch, beta):\\n    return ().__class__.__base__")
Traceback (most recent call last):
...
preflab.discover.static_check.StaticViolation: line 2: private attribute '__class__' (rule: no attribute starting with '_'); candidates may read only public tensor and batch attributes
"""

from __future__ import annotations

import ast
import re
import threading

from preflab.errors import PreflabError

__all__ = ["StaticViolation", "check_source", "ALLOWED_IMPORTS", "FORBIDDEN_NAMES"]

ALLOWED_IMPORTS = ("torch", "math", "torch.nn", "torch.nn.functional")

FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "open", "compile", "globals", "locals", "vars", "getattr", "setattr", "delattr",
    "hasattr", "breakpoint", "input", "help", "dir", "type", "object", "super", "memoryview", "exit", "quit",
    "classmethod", "staticmethod", "property", "id", "callable", "issubclass", "print_function", "license",
    "copyright", "credits",
})

# torch / os entry points that read or write files, start processes or reach other modules
FORBIDDEN_ATTRIBUTES = frozenset({
    "load", "save", "from_file", "hub", "jit", "compile", "ops", "classes", "library", "multiprocessing",
    "distributed", "utils", "cuda", "backends", "os", "sys", "subprocess", "ctypes", "pickle", "system",
    "popen", "environ", "getenv", "fork", "spawn", "kill", "remove", "unlink", "rmdir", "rename", "signal",
    "socket", "builtins", "importlib", "modules", "mro", "set_num_threads", "set_default_dtype",
    "set_default_tensor_type", "manual_seed", "numpy", "tofile", "storage", "untyped_storage", "UntypedStorage",
    "TypedStorage", "share_memory_", "from_numpy", "frombuffer",
})

# CPython 3.11 before 3.11.9 can fail ast.parse called from two threads at once ("AST constructor recursion
# depth mismatch", gh-106905); Sandbox.map checks candidates from several threads
_PARSE_LOCK = threading.Lock()
_FRAME_ATTRIBUTE = re.compile(r"^(f|gi|cr|ag|tb|co|func)_")


class StaticViolation(PreflabError, ValueError):
    """A candidate the static check rejects; ``rule`` names the rule, ``line`` where it hit."""

    def __init__(self, rule: str, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.rule = rule
        self.line = line


def check_source(code: str) -> str:
    """Check a candidate's source; return the name of its one function, or raise :class:`StaticViolation`."""
    if not isinstance(code, str):
        raise StaticViolation("source", 0, f"a candidate is Python source text, got {type(code).__name__}")
    try:
        with _PARSE_LOCK:
            tree = ast.parse(code, filename="<candidate>")
    except SyntaxError as e:
        raise StaticViolation("syntax", e.lineno or 0, f"syntax error: {e.msg}") from None
    functions = []
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.FunctionDef):
            functions.append(node)
            continue
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        raise StaticViolation("top-level", node.lineno, f"top-level {type(node).__name__} statement (rule: a candidate "
                              "is imports, an optional docstring and one function; put everything else inside it)")
    if len(functions) != 1:
        line = functions[1].lineno if len(functions) > 1 else 1
        raise StaticViolation("one-function", line, f"the candidate defines {len(functions)} top-level functions "
                              f"({', '.join(f.name for f in functions) or 'none'}); define exactly one, "
                              "`def my_loss(batch, beta)`, with helpers nested inside it")
    # report the violation that comes first in reading order (the innermost of `().__class__.__base__`)
    for node in sorted(ast.walk(tree), key=_position):
        _check_node(node)
    return functions[0].name


def _position(node: ast.AST) -> tuple:
    return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)


def _check_node(node: ast.AST) -> None:
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in ALLOWED_IMPORTS:
                raise StaticViolation("import", line, f"import of '{alias.name}' (rule: only {', '.join(ALLOWED_IMPORTS)} "
                                      "may be imported)")
    elif isinstance(node, ast.ImportFrom):
        full = [f"{node.module}.{a.name}" for a in node.names]
        if node.level or node.module is None or not all(f in ALLOWED_IMPORTS for f in full):
            raise StaticViolation("import", line, f"import of '{', '.join(full)}' (rule: only "
                                  f"{', '.join(ALLOWED_IMPORTS)} may be imported; write `import torch.nn.functional as F`)")
    elif isinstance(node, ast.Attribute):
        attr = node.attr
        if attr.startswith("_"):
            raise StaticViolation("private-attribute", line, f"private attribute '{attr}' (rule: no attribute starting "
                                  "with '_'); candidates may read only public tensor and batch attributes")
        if _FRAME_ATTRIBUTE.match(attr):
            raise StaticViolation("frame-attribute", line, f"attribute '{attr}' reaches frames or code objects "
                                  "(rule: no f_*, gi_*, cr_*, ag_*, tb_*, co_*, func_* attributes)")
        if attr in FORBIDDEN_ATTRIBUTES:
            raise StaticViolation("forbidden-attribute", line, f"attribute '{attr}' (rule: no file, process, module or "
                                  "global-state entry points such as torch.load, torch.save, os, sys, manual_seed)")
    elif isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise StaticViolation("dunder-name", line, f"name '{node.id}' (rule: no names starting with '__')")
        if node.id in FORBIDDEN_NAMES:
            raise StaticViolation("forbidden-name", line, f"builtin '{node.id}' (rule: no eval, exec, open, compile, "
                                  "getattr, globals, vars, type, ... in a candidate)")
    elif isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await, ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith)):
        raise StaticViolation("generator", line, f"{type(node).__name__} (rule: no generators or coroutines; their "
                              "frames lead out of the candidate)")
    elif isinstance(node, ast.ClassDef):
        raise StaticViolation("class", line, f"class '{node.name}' (rule: no classes in a candidate)")
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        raise StaticViolation("global", line, f"{type(node).__name__.lower()} statement (rule: a candidate keeps no state)")
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("__") and node.value.endswith("__"):
        raise StaticViolation("dunder-string", line, f"string {node.value!r} (rule: no dunder names, even as strings)")
