"""The restricted layer in-process (no audit hook installed here): builtins, guarded imports, module proxies, and
the Guard's decisions called directly."""

import os

import pytest
import torch

from preflab.discover.restricted import Guard, SandboxViolation, compile_candidate, inside_sandbox, module_proxy


def run(code, *args):
    return compile_candidate(code, guard=None)(*args)


def test_allowed_imports_come_back_as_working_proxies():
    fn = compile_candidate("import torch\nimport torch.nn.functional as F\nimport math\n"
                           "def f(x, beta):\n    return F.logsigmoid(torch.tensor(x)) * math.pi", guard=None)
    assert fn(0.0, 0.1).item() == pytest.approx(-0.6931471805599453 * 3.141592653589793)


@pytest.mark.parametrize("body, words", [
    ("import os", "import of 'os' is not allowed"),
    ("from torch import load", "from torch import load is not allowed"),
    ("import torch\n    torch.os", "torch.os (module os) is not available"),
    ("import torch\n    torch.load", "torch.load is not available"),
    ("import torch\n    torch._C", "torch._C is not available"),
    ("import torch\n    torch.utils", "module torch.utils) is not available"),
    ("import torch.nn.functional as F\n    F.torch.save", "torch.save is not available"),
    ("import torch\n    torch.abs = None", "setting torch.abs is not allowed"),
])
def test_refusals_inside_the_candidate(body, words):
    with pytest.raises(SandboxViolation, match=words.replace("(", r"\(").replace(")", r"\)")):
        run(f"def f(b, beta):\n    {body}\n    return 0", None, 0.1)


def test_dangerous_builtins_are_absent():
    for name in ("open", "eval", "exec", "getattr", "type", "vars", "globals", "compile", "input"):
        with pytest.raises(NameError, match=f"name '{name}' is not defined"):
            run(f"def f(b, beta):\n    return {name}", None, 0.1)


def test_a_source_without_exactly_one_function_is_refused():
    with pytest.raises(ValueError, match="defines 2 top-level functions"):
        compile_candidate("def f(b, beta):\n    return 0\ndef g(b, beta):\n    return 0", guard=None)


def test_guard_decisions(tmp_path):
    guard = Guard(str(tmp_path), readable=(os.path.dirname(torch.__file__),))
    inside, outside = str(tmp_path / "a.txt"), "/tmp/preflab-guard-test.txt"
    guard("open", (inside, "w", 0))                                  # writing in scratch: allowed
    guard("open", (torch.__file__, "r", 0))                          # reading the installation: allowed
    guard("os.remove", (inside, -1))
    assert guard.violations == []
    cases = [("open", (outside, "w", 0)), ("open", (outside, None, os.O_WRONLY | os.O_CREAT)),
             ("open", ("/etc/passwd", "r", 0)), ("os.remove", (outside, -1)), ("os.rename", (inside, outside)),
             ("socket.connect", (None, ("127.0.0.1", 80))), ("subprocess.Popen", ("ls", [], None, None)),
             ("os.system", (b"ls",)), ("ctypes.dlopen", ("libc",)), ("pickle.find_class", ("os", "system")),
             ("os.fork", ()), ("resource.setrlimit", (0, (1, 1))), ("import", ("subprocess", None, [], [], []))]
    for event, args in cases:
        with pytest.raises(SandboxViolation):
            guard(event, args)
    assert len(guard.violations) == len(cases)
    assert guard.first_violation() == ("forbidden", f"open({outside!r}, 'w') is not allowed in the sandbox: writing "
                                                    "outside the scratch directory")
    assert guard.violations[-1] == ("import", "import of 'subprocess' is not allowed in the sandbox")
    guard.candidate_running = True
    with pytest.raises(SandboxViolation, match="while the candidate runs"):
        guard("import", ("json.decoder", None, [], [], []))
    guard("import", ("torch._dynamo", None, [], [], []))              # torch may import itself lazily


def test_this_test_process_is_not_a_sandbox_child():
    assert inside_sandbox() is False


def test_module_proxy_lists_only_public_names():
    names = dir(module_proxy(torch, None))
    assert "exp" in names and "Tensor" in names and not any(n.startswith("_") for n in names)


def test_torch_internal_imports_get_nothing_back():
    # torch.tensor imports torch.storage from C through the candidate's builtins: it works ...
    assert run("import torch\ndef f(b, beta):\n    return torch.tensor([beta]).sum().item()", None, 0.5) == 0.5
    # ... and the same call shape from the candidate yields None, never a module
    assert run("def f(b, beta):\n    return __import__('torch.serialization', None, None, [], 0)", None, 0.1) is None
    with pytest.raises(SandboxViolation, match="import of 'os' is not allowed"):
        run("def f(b, beta):\n    return __import__('os', None, None, [], 0)", None, 0.1)
