"""The static check: each rule rejects its escape with the rule's name and the line; plain losses pass."""

import pytest

from preflab.discover.static_check import StaticViolation, check_source

DPO = (
    '"""DPO."""\n'
    "import torch\n"
    "import math\n"
    "import torch.nn.functional as F\n"
    "from torch.nn import functional\n"
    "def dpo(batch, beta):\n"
    "    def margin(b):\n"
    "        return (b.policy_logps[:, 0] - b.ref_logps[:, 0]) - (b.policy_logps[:, 1] - b.ref_logps[:, 1])\n"
    "    z = beta * margin(batch)\n"
    "    while True:\n"
    "        break\n"
    "    return -F.logsigmoid(z) + 0 * torch.exp(-z) * math.pi + 0 * functional.relu(z)\n"
)


def test_a_plain_loss_passes_and_its_name_comes_back():
    assert check_source(DPO) == "dpo"
    assert check_source("def f(batch, beta):\n    while True:\n        pass\n") == "f"   # the wall clock's job


@pytest.mark.parametrize("code, rule, line, words", [
    ("def f(b, beta):\n    return ().__class__", "private-attribute", 2, "'__class__'"),
    ("def f(b, beta):\n    x = 1\n    return b._secret", "private-attribute", 3, "'_secret'"),
    ("def f(b, beta):\n    return __import__('os')", "dunder-name", 2, "'__import__'"),
    ("def f(b, beta):\n    return __builtins__", "dunder-name", 2, "'__builtins__'"),
    ("def f(b, beta):\n    return eval('1')", "forbidden-name", 2, "'eval'"),
    ("def f(b, beta):\n    return open('/etc/passwd')", "forbidden-name", 2, "'open'"),
    ("def f(b, beta):\n    return getattr(b, 'x')", "forbidden-name", 2, "'getattr'"),
    ("def f(b, beta):\n    return globals()", "forbidden-name", 2, "'globals'"),
    ("def f(b, beta):\n    return type(b)", "forbidden-name", 2, "'type'"),
    ("import os\ndef f(b, beta):\n    return 0", "import", 1, "import of 'os'"),
    ("def f(b, beta):\n    import subprocess\n    return 0", "import", 2, "import of 'subprocess'"),
    ("from torch import load\ndef f(b, beta):\n    return 0", "import", 1, "'torch.load'"),
    ("from . import x\ndef f(b, beta):\n    return 0", "import", 1, "only torch"),
    ("import torch\ndef f(b, beta):\n    return torch.load('x')", "forbidden-attribute", 3, "'load'"),
    ("import torch\ndef f(b, beta):\n    return torch.os.environ", "forbidden-attribute", 3, "'os'"),
    ("def f(b, beta):\n    return b.policy_logps.numpy()", "forbidden-attribute", 2, "'numpy'"),
    ("def f(b, beta):\n    return (lambda: 0).func_globals", "frame-attribute", 2, "'func_globals'"),
    ("def f(b, beta):\n    g = (x for x in [1])\n    return g.gi_frame", "frame-attribute", 3, "'gi_frame'"),
    ("def f(b, beta):\n    yield 1", "generator", 2, "Yield"),
    ("def f(b, beta):\n    class A:\n        pass\n    return A", "class", 2, "class 'A'"),
    ("def f(b, beta):\n    global z\n    return 0", "global", 2, "global statement"),
    ("def f(b, beta):\n    return b.policy_logps['__class__']", "dunder-string", 2, "'__class__'"),
    ("x = 1\ndef f(b, beta):\n    return 0", "top-level", 1, "top-level Assign"),
    ("def f(b, beta):\n    return 0\ndef g(b, beta):\n    return 0", "one-function", 3, "defines 2 top-level functions (f, g)"),
    ("import torch", "one-function", 1, "defines 0 top-level functions (none)"),
    ("def f(b, beta)\n    return 0", "syntax", 1, "syntax error"),
])
def test_each_rule_names_itself_and_the_line(code, rule, line, words):
    with pytest.raises(StaticViolation) as info:
        check_source(code)
    assert (info.value.rule, info.value.line) == (rule, line)
    assert str(info.value).startswith(f"line {line}: ")
    assert words in str(info.value), str(info.value)


def test_the_first_violation_in_reading_order_is_reported():
    with pytest.raises(StaticViolation, match=r"^line 2: private attribute '__class__'"):
        check_source("def f(b, beta):\n    return ().__class__.__base__.__subclasses__()\n")


def test_source_must_be_text():
    with pytest.raises(StaticViolation, match="a candidate is Python source text, got bytes"):
        check_source(b"def f(b, beta): return 0")


@pytest.mark.parametrize("code, words", [
    ("import torch, os\ndef f(b, beta):\n    return 0", "import of 'os'"),
    ("import math, torch, subprocess\ndef f(b, beta):\n    return 0", "import of 'subprocess'"),
    ("def f(b, beta):\n    import torch, os as o\n    return 0", "import of 'os'"),
    ("from torch.nn import functional, parameter\ndef f(b, beta):\n    return 0",
     "'torch.nn.functional, torch.nn.parameter'"),
    ("from torch import nn, load\ndef f(b, beta):\n    return 0", "'torch.nn, torch.load'"),
])
def test_every_name_of_a_multi_name_import_is_checked(code, words):
    # a forbidden name after an allowed one in the same statement must not slip through
    with pytest.raises(StaticViolation) as info:
        check_source(code)
    assert info.value.rule == "import"
    assert words in str(info.value), str(info.value)


def test_multi_name_imports_of_allowed_modules_pass():
    assert check_source("import torch, math\nfrom torch import nn\ndef f(b, beta):\n    return 0") == "f"
