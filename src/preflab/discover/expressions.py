"""Loss expressions for the offline program search: trees over the margin, rendered as candidate source.

A tree's leaves are the reference-normalized log-ratios of a pair, ``rho_w = log pi(y_w)/ref(y_w)``,
``rho_l`` (likewise), the margin ``rho = rho_w - rho_l``, the loss's ``beta`` and constants; its operators
are sigmoid, log-sigmoid, exp, relu, softplus, tanh, square, abs, negation, the batch mean and standard
deviation (statistics of the whole batch, as DiscoPOP's AQFL), add, sub, mul, div and a sigmoid **gate**
``gate(s, a, b) = (1 - sig(s)) a + sig(s) b`` that blends two sub-losses (DiscoPOP's LRML shape).

Trees are written as s-expressions, canonical after :func:`canonical` (constants to 3 significant digits,
operands of ``add`` and ``mul`` sorted, double negations removed), so that :func:`expr_hash` identifies
a loss whatever order it was built in. :func:`render` writes the candidate source the sandbox runs.

>>> dpo = parse("(neg (logsigmoid (mul beta rho)))")
>>> print(formula(dpo))
-logsig(beta * rho)
>>> import torch
>>> round(float(evaluate(dpo, torch.tensor([3.0]), torch.tensor([1.0]), torch.tensor([-2.0]), 0.1)[0]), 6)
0.554355
>>> print(render(dpo, "dpo_expr").splitlines()[4])
def dpo_expr(batch, beta: float):
"""

from __future__ import annotations

import ast
import hashlib
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from preflab.errors import PreflabError

__all__ = ["Expr", "parse", "canonical", "expr_hash", "render", "formula", "evaluate", "size", "depth", "nodes",
           "replace", "random_expr", "mutate", "crossover", "per_example", "SEED_LOSSES", "seed_losses", "well_formed", "LEAVES", "UNARY",
           "BINARY", "ExpressionError"]

LEAVES = ("rho", "rho_w", "rho_l", "beta")
# name -> (torch source with {0}, plain-math formula with {0})
UNARY = {
    "neg": ("(-{0})", "-{0}"),
    "sigmoid": ("torch.sigmoid({0})", "sig({0})"),
    "logsigmoid": ("F.logsigmoid({0})", "logsig({0})"),
    "exp": ("torch.exp({0})", "exp({0})"),
    "relu": ("F.relu({0})", "relu({0})"),
    "softplus": ("F.softplus({0})", "softplus({0})"),
    "tanh": ("torch.tanh({0})", "tanh({0})"),
    "square": ("({0}) ** 2", "sq({0})"),
    "abs": ("torch.abs({0})", "|{0}|"),
    "bmean": ("({0}).mean()", "mean_B({0})"),
    "bstd": ("torch.sqrt(((({0}) - ({0}).mean()) ** 2).mean() + 1e-8)", "std_B({0})"),
}
BINARY = {
    "add": ("({0} + {1})", "{0} + {1}"),
    "sub": ("({0} - {1})", "{0} - {1}"),
    "mul": ("({0} * {1})", "{0} * {1}"),
    "div": ("({0} / {1})", "{0} / {1}"),
}
TERNARY = {"gate": ("((1 - torch.sigmoid({0})) * {1} + torch.sigmoid({0}) * {2})", "gate({0}; {1}, {2})")}
_COMMUTATIVE = {"add", "mul"}
_STATS = {"bmean", "bstd"}
MAX_NODES = 30


class ExpressionError(PreflabError, ValueError):
    """A malformed s-expression or tree; the message names the token and the position."""


@dataclass(frozen=True)
class Expr:
    """One node: ``op`` is a leaf name, ``"const"`` (with ``value``) or an operator with ``args``."""

    op: str
    args: tuple = ()
    value: float = 0.0

    def __str__(self) -> str:
        if self.op == "const":
            return _num(self.value)
        if not self.args:
            return self.op
        return "(" + " ".join([self.op] + [str(a) for a in self.args]) + ")"


def _num(x: float) -> str:
    """A constant to 3 significant digits, written the shortest way (``0.05``, ``20.0``, ``-1.5``)."""
    if x == 0:
        return "0.0"
    r = float(f"{x:.3g}")
    return repr(r)


def const(x: float) -> Expr:
    return Expr("const", (), float(_num(x)))


def _arity(op: str) -> int:
    if op in UNARY:
        return 1
    if op in BINARY:
        return 2
    if op in TERNARY:
        return 3
    return 0


# --------------------------------------------------------------------------------------------------
# Parsing and canonical form
# --------------------------------------------------------------------------------------------------

def parse(text: str) -> Expr:
    """An s-expression (``"(neg (logsigmoid (mul beta rho)))"``) as a tree; the inverse of ``str``."""
    tokens = text.replace("(", " ( ").replace(")", " ) ").split()
    pos = 0

    def read() -> Expr:
        nonlocal pos
        if pos >= len(tokens):
            raise ExpressionError(f"expression {text!r} ends early; close every '('")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            if pos >= len(tokens):
                raise ExpressionError(f"expression {text!r} ends after '('")
            op = tokens[pos]
            pos += 1
            n = _arity(op)
            if n == 0:
                raise ExpressionError(f"unknown operator {op!r} at token {pos} of {text!r}; operators: "
                                      f"{sorted(UNARY) + sorted(BINARY) + sorted(TERNARY)}")
            args = tuple(read() for _ in range(n))
            if pos >= len(tokens):
                raise ExpressionError(f"expression {text!r} ends early; close every '('")
            if tokens[pos] != ")":
                raise ExpressionError(f"operator {op!r} takes {n} argument(s) in {text!r} (token {pos})")
            pos += 1
            return Expr(op, args)
        if tok == ")":
            raise ExpressionError(f"unexpected ')' at token {pos} of {text!r}: an operator got too few arguments "
                                  "(unary: 1, add/sub/mul/div: 2, gate: 3)")
        if tok in LEAVES:
            return Expr(tok)
        try:
            return const(float(tok))
        except ValueError:
            raise ExpressionError(f"unknown leaf {tok!r} at token {pos} of {text!r}; leaves: {list(LEAVES)} "
                                  "or a number") from None

    tree = read()
    if pos != len(tokens):
        raise ExpressionError(f"trailing tokens after position {pos} in {text!r}")
    return tree


def canonical(e: Expr) -> Expr:
    """Constants rounded, operands of add and mul sorted, ``neg(neg(x))`` removed and operators on constants
    only folded into one constant (when finite)."""
    if e.op == "const":
        return const(e.value)
    if not e.args:
        return e
    args = tuple(canonical(a) for a in e.args)
    if all(a.op == "const" for a in args):
        import torch

        zero = torch.zeros(1, dtype=torch.float64)
        with torch.no_grad():
            value = float(evaluate(Expr(e.op, args), zero, zero, zero, 1.0).reshape(-1)[0])
        if math.isfinite(value):
            return const(value)
    if e.op == "neg":
        if args[0].op == "neg":
            return args[0].args[0]
        if args[0].op == "const":
            return const(-args[0].value)
    if e.op in _COMMUTATIVE:
        args = tuple(sorted(args, key=str))
    return Expr(e.op, args)


def expr_hash(e: Expr) -> str:
    """sha256 of the canonical s-expression (16 hex digits)."""
    return hashlib.sha256(str(canonical(e)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# Rendering and evaluation
# --------------------------------------------------------------------------------------------------

def _has_rho(e: Expr) -> bool:
    return e.op in ("rho", "rho_w", "rho_l") or any(_has_rho(a) for a in e.args)


def _source(e: Expr) -> str:
    if e.op == "const":
        return _num(e.value)
    if not e.args:
        return e.op
    template = (UNARY.get(e.op) or BINARY.get(e.op) or TERNARY[e.op])[0]
    args = [_source(a) for a in e.args]
    if template.startswith(("torch.", "F.", "((1 - torch.")):     # torch functions take tensors, not floats
        wrap = (0,) if e.op == "gate" else range(len(args))                # gate: only s goes through sigmoid
        args = [x if _has_rho(a) or i not in wrap else f"torch.as_tensor({x})" for i, (a, x) in enumerate(zip(e.args, args))]
    return template.format(*args)


def formula(e: Expr) -> str:
    """The tree in plain math (``-logsig(beta * rho)``), for reports."""
    def go(x: Expr, top: bool = False) -> str:
        if x.op == "const":
            return _num(x.value)
        if not x.args:
            return x.op
        template = (UNARY.get(x.op) or BINARY.get(x.op) or TERNARY[x.op])[1]
        inner = template.format(*[go(a) for a in x.args])
        return inner if top or x.op not in ("add", "sub", "div") else f"({inner})"
    return go(e, top=True)


def render(e: Expr, name: str = "loss") -> str:
    """Candidate source in the discovery contract's format: one function ``name(batch, beta)`` returning
    per-example losses [B] (slot 0 of the pair is the chosen response)."""
    if not name.isidentifier():
        raise ExpressionError(f"candidate name {name!r} is not a Python identifier; use letters, digits and _")
    body = ast.unparse(ast.parse(_source(canonical(e)), mode="eval"))
    return (
        "import torch\n"
        "import torch.nn.functional as F\n"
        "\n\n"
        f"def {name}(batch, beta: float):\n"
        f'    """loss = {formula(canonical(e))}"""\n'
        "    rho_w = batch.policy_logps[:, 0] - batch.ref_logps[:, 0]\n"
        "    rho_l = batch.policy_logps[:, 1] - batch.ref_logps[:, 1]\n"
        "    rho = rho_w - rho_l\n"
        f"    return {body}\n"
    )


def evaluate(e: Expr, rho, rho_w, rho_l, beta: float):
    """The tree on torch tensors (trusted: a tree is data, never candidate code); per-example [B]."""
    import torch
    import torch.nn.functional as F

    def go(x: Expr):
        if x.op == "const":
            return torch.tensor(x.value, dtype=rho.dtype)
        if x.op in LEAVES:
            return {"rho": rho, "rho_w": rho_w, "rho_l": rho_l, "beta": torch.tensor(float(beta), dtype=rho.dtype)}[x.op]
        a = [go(y) for y in x.args]
        ops = {"neg": lambda: -a[0], "sigmoid": lambda: torch.sigmoid(a[0]), "logsigmoid": lambda: F.logsigmoid(a[0]),
               "exp": lambda: torch.exp(a[0]), "relu": lambda: F.relu(a[0]), "softplus": lambda: F.softplus(a[0]),
               "tanh": lambda: torch.tanh(a[0]), "square": lambda: a[0] ** 2, "abs": lambda: torch.abs(a[0]),
               "bmean": lambda: a[0].mean(), "bstd": lambda: torch.sqrt(((a[0] - a[0].mean()) ** 2).mean() + 1e-8),
               "add": lambda: a[0] + a[1], "sub": lambda: a[0] - a[1], "mul": lambda: a[0] * a[1],
               "div": lambda: a[0] / a[1],
               "gate": lambda: (1 - torch.sigmoid(a[0])) * a[1] + torch.sigmoid(a[0]) * a[2]}
        return ops[x.op]()

    return go(e)


# --------------------------------------------------------------------------------------------------
# Tree surgery
# --------------------------------------------------------------------------------------------------

def nodes(e: Expr, path: tuple = ()) -> list:
    """Every (path, node) in the tree, root first; a path is the argument indices from the root."""
    out = [(path, e)]
    for i, a in enumerate(e.args):
        out += nodes(a, path + (i,))
    return out


def replace(e: Expr, path: tuple, new: Expr) -> Expr:
    if not path:
        return new
    i = path[0]
    return Expr(e.op, e.args[:i] + (replace(e.args[i], path[1:], new),) + e.args[i + 1:], e.value)


def size(e: Expr) -> int:
    return 1 + sum(size(a) for a in e.args)


def depth(e: Expr) -> int:
    return 1 + max((depth(a) for a in e.args), default=0)


def per_example(e: Expr) -> bool:
    """Whether the loss varies per pair: some rho leaf outside every batch statistic."""
    if e.op in _STATS or e.op == "const" or e.op == "beta":
        return False
    if e.op in ("rho", "rho_w", "rho_l"):
        return True
    return any(per_example(a) for a in e.args)


_UNARY_WEIGHTS = {"neg": 2, "sigmoid": 1, "logsigmoid": 3, "exp": 1.5, "relu": 1, "softplus": 1.5, "tanh": 0.5,
                  "square": 1, "abs": 0.5, "bmean": 0.3, "bstd": 0.3}
_BINARY_WEIGHTS = {"add": 2, "sub": 2, "mul": 2.5, "div": 0.5}


def _pick(rng: np.random.Generator, weights: dict) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def random_expr(rng: np.random.Generator, max_depth: int = 3) -> Expr:
    """A random tree (grow method): leaves favour the scaled margin ``beta * rho``."""
    if max_depth <= 1 or rng.random() < 0.3:
        r = rng.random()
        if r < 0.35:
            return Expr("mul", (Expr("beta"), Expr("rho")))
        if r < 0.55:
            return Expr("rho")
        if r < 0.65:
            return Expr(str(rng.choice(["rho_w", "rho_l"])))
        if r < 0.7:
            return Expr("beta")
        return const(float(rng.choice([0.5, 1.0, 2.0, -1.0, 0.1, 5.0, 20.0])))
    kind = rng.random()
    if kind < 0.5:
        return Expr(_pick(rng, _UNARY_WEIGHTS), (random_expr(rng, max_depth - 1),))
    if kind < 0.92:
        return Expr(_pick(rng, _BINARY_WEIGHTS), (random_expr(rng, max_depth - 1), random_expr(rng, max_depth - 1)))
    return Expr("gate", tuple(random_expr(rng, max_depth - 1) for _ in range(3)))


def mutate(e: Expr, rng: np.random.Generator) -> Expr:
    """One of: subtree replace (a random subtree of depth <= 2), constant perturb (times exp(N(0, 0.5)),
    sometimes a sign flip), operator swap (another operator of the same arity)."""
    all_nodes = nodes(e)
    kind = rng.random()
    consts = [(p, x) for p, x in all_nodes if x.op == "const"]
    ops = [(p, x) for p, x in all_nodes if x.args and x.op not in TERNARY]
    if kind < 0.3 and consts:
        path, x = consts[int(rng.integers(len(consts)))]
        v = x.value * math.exp(rng.normal(0.0, 0.5)) * (-1 if rng.random() < 0.1 else 1)
        return canonical(replace(e, path, const(v)))
    if kind < 0.6 and ops:
        path, x = ops[int(rng.integers(len(ops)))]
        table = _UNARY_WEIGHTS if x.op in UNARY else _BINARY_WEIGHTS
        others = {k: w for k, w in table.items() if k != x.op}
        return canonical(replace(e, path, Expr(_pick(rng, others), x.args)))
    path, _ = all_nodes[int(rng.integers(len(all_nodes)))]
    return canonical(replace(e, path, random_expr(rng, max_depth=2)))


def crossover(a: Expr, b: Expr, rng: np.random.Generator) -> Expr:
    """A random subtree of ``a`` replaced by a random subtree of ``b``."""
    pa = nodes(a)
    pb = nodes(b)
    path, _ = pa[int(rng.integers(len(pa)))]
    _, sub = pb[int(rng.integers(len(pb)))]
    return canonical(replace(a, path, sub))


# The losses of the literature, as trees (summed log-probs): each equals its registered objective.
SEED_LOSSES = {
    "dpo": "(neg (logsigmoid (mul beta rho)))",
    "ipo": "(square (sub rho (div 0.5 beta)))",
    "slic_hinge": "(relu (sub 1.0 (mul beta rho)))",
    "discopop": "(gate (div (mul beta rho) 0.05) (neg (logsigmoid (mul beta rho))) (exp (neg (mul beta rho))))",
}


def seed_losses() -> dict:
    """Name -> canonical tree of each loss in :data:`SEED_LOSSES`."""
    return {k: canonical(parse(v)) for k, v in SEED_LOSSES.items()}


def well_formed(e: Expr, max_nodes: Optional[int] = None) -> bool:
    """Small enough (``MAX_NODES``) and per-example (a rho leaf outside the batch statistics)."""
    return size(e) <= (max_nodes or MAX_NODES) and per_example(e)
