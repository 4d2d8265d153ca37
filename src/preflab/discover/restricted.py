"""Restricted execution inside the sandbox child: safe builtins, guarded imports, module proxies, audit hook.

Two layers that hold without the static check: the candidate's globals see only a small set of builtins
and proxies of ``torch`` / ``math`` that refuse private names, file and process entry points and other
modules; and :class:`Guard`, a ``sys.addaudithook`` hook that refuses writes outside the scratch
directory, sockets, subprocesses, ``os.system`` / ``exec*`` / ``fork``, ``ctypes``, unpickling, rlimit
changes, ``gc`` introspection and new imports outside the allow-list. Every refusal is recorded, so a
candidate that catches the exception is still reported. (The hook is process-wide and cannot be removed:
only the forked child installs it.)

>>> fn = compile_candidate("import math\\ndef f(batch, beta):\\n    return math.sqrt(beta)", guard=None)
>>> fn(None, 4.0)
2.0
>>> compile_candidate("def f(batch, beta):\\n    return open('/etc/passwd')", guard=None)(None, 1.0)
Traceback (most recent call last):
...
NameError: name 'open' is not defined
"""

from __future__ import annotations

import builtins
import os
import sys
import types
from typing import Callable, Optional

__all__ = ["SandboxViolation", "Guard", "compile_candidate", "inside_sandbox", "SAFE_BUILTINS", "CANDIDATE_FILENAME"]

CANDIDATE_FILENAME = "<candidate>"

SAFE_BUILTINS = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "int", "isinstance", "len",
    "list", "map", "max", "min", "pow", "range", "reversed", "round", "set", "slice", "sorted", "str", "sum",
    "tuple", "zip", "print", "frozenset", "complex", "repr", "hash", "iter", "next", "True", "False", "None", "NotImplemented", "Ellipsis",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "FloatingPointError", "IndexError",
    "KeyError", "LookupError", "OverflowError", "RuntimeError", "TypeError", "ValueError", "ZeroDivisionError",
)

# modules a candidate may import, and the torch submodules it may reach by attribute
_IMPORTABLE = {"torch", "math", "torch.nn", "torch.nn.functional"}
_REACHABLE = {"torch", "torch.nn", "torch.nn.functional", "torch.linalg", "torch.special", "torch.fft", "math"}
_REFUSED_ATTRS = frozenset({
    "load", "save", "from_file", "set_num_threads", "set_num_interop_threads", "set_default_dtype",
    "set_default_tensor_type", "set_default_device", "manual_seed", "seed", "set_rng_state", "use_deterministic_algorithms",
    "set_printoptions", "set_grad_enabled", "compile", "export", "hub", "jit", "load_library", "set_flush_denormal",
    "UntypedStorage", "TypedStorage", "from_numpy", "frombuffer",
})


_PROBE = "preflab.discover.inside_sandbox"


class _Inside(Exception):
    """Raised by the Guard for the probe event: this process is a sandbox child."""


def inside_sandbox() -> bool:
    """Whether this process is a sandbox child (its Guard answers a probe audit event); keeps no state.

    >>> inside_sandbox()
    False
    """
    try:
        sys.audit(_PROBE)
    except _Inside:
        return True
    return False


class SandboxViolation(BaseException):
    """A refused operation. A BaseException, so ``except Exception`` in a candidate does not swallow it
    (and the :class:`Guard` records it anyway). ``kind`` is ``"forbidden"`` or ``"import"``."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# --------------------------------------------------------------------------------------------------
# The audit hook
# --------------------------------------------------------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {  # event -> index of the path argument(s) that must lie in scratch
    "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "os.chmod": (0,), "os.chown": (0,),
    "os.mkdir": (0,), "os.symlink": (0, 1), "os.link": (0, 1), "os.truncate": (0,), "os.utime": (0,),
    "os.chflags": (0,), "os.lchflags": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "shutil.rmtree": (0,),
    "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1), "os.mkfifo": (0,), "os.mknod": (0,),
}
_REFUSED_EVENTS = (
    "socket.", "subprocess.", "ctypes.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "os.putenv", "os.unsetenv", "os.chdir", "os.startfile", "pty.",
    "pickle.find_class", "resource.setrlimit", "resource.prlimit", "gc.get_objects", "gc.get_referrers",
    "gc.get_referents", "sys.addaudithook", "sys.setprofile", "sys.settrace", "sys.monitoring",
    "_thread.start_new_thread", "code.__new__", "function.__new__",
    "cpython.remote_debugger_script", "urllib.", "http.", "ftplib.", "smtplib.", "poplib.", "imaplib.",
    "telnetlib.", "webbrowser.", "mmap.__new__", "os.setsid", "os.setpgid", "signal.", "fcntl.", "msvcrt.",
    "winreg.", "syslog.", "sqlite3.connect", "builtins.input", "builtins.breakpoint",
)
_DENIED_MODULES = frozenset({
    "os", "sys", "subprocess", "socket", "ctypes", "_ctypes", "pickle", "_pickle", "marshal", "shutil", "signal",
    "multiprocessing", "threading", "_thread", "asyncio", "http", "urllib", "requests", "pty", "fcntl",
    "resource", "mmap", "importlib", "gc", "inspect", "builtins", "posix", "io", "tempfile", "pathlib",
    "select", "selectors", "ssl", "code", "codeop", "runpy", "webbrowser", "sqlite3", "shelve", "dbm",
})
_READABLE_DEVICES = ("/dev/null", "/dev/urandom", "/dev/random", "/proc/self/", "/sys/devices/system/cpu/",
                     "/proc/cpuinfo", "/proc/meminfo", "/etc/localtime")


class Guard:
    """The audit hook of one sandbox child: refuses what a candidate must not do, and records it.

    ``scratch`` is the only writable directory; ``readable`` the directories it may read from (the
    Python installation and the packages on ``sys.path``). ``candidate_running`` is switched on around
    each call of the candidate: new imports are then limited to torch's own modules and math.
    """

    def __init__(self, scratch: str, readable: tuple = ()):
        self.scratch = os.path.realpath(scratch)
        self.readable = tuple(os.path.realpath(p) for p in readable if p) + (self.scratch, f"/proc/{os.getpid()}")
        self.violations: list = []
        self.candidate_running = False

    # the hook itself: must never raise anything but SandboxViolation, and must be fast
    def __call__(self, event: str, args: tuple) -> None:
        if event == _PROBE:
            raise _Inside()
        if event == "open":
            self._open(args)
        elif event == "import":
            self._import(args[0])
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args) and not self._inside(args[i]):
                    self.refuse("forbidden", f"{event}({args[i]!r}) is not allowed in the sandbox: outside the scratch "
                                             "directory")
        elif event in ("object.__setattr__", "object.__delattr__") and (self.candidate_running or args[1] == "__code__"):
            self.refuse("forbidden", f"{event}({type(args[0]).__name__}, {args[1]!r}) is not allowed in the sandbox: "
                                     "candidates may not change classes or functions")
        elif event.startswith(_REFUSED_EVENTS):
            self.refuse("forbidden", f"{event} is not allowed in the sandbox")

    def refuse(self, kind: str, message: str):
        self.violations.append((kind, message))
        raise SandboxViolation(kind, message)

    def install(self) -> "Guard":
        sys.addaudithook(self)
        return self

    def first_violation(self) -> Optional[tuple]:
        return self.violations[0] if self.violations else None

    def _open(self, args) -> None:
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if isinstance(path, int) or path is None:
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing:
            if not self._inside(path):
                self.refuse("forbidden", f"open({path!r}, {mode or flags!r}) is not allowed in the sandbox: writing "
                                         "outside the scratch directory")
            return
        real = self._real(path)
        if real is None or not (real.startswith(_READABLE_DEVICES) or any(
                real == d or real.startswith(d + os.sep) for d in self.readable)):
            self.refuse("forbidden", f"open({path!r}) is not allowed in the sandbox: reading outside the scratch "
                                     "directory and the Python installation")

    def _import(self, name) -> None:
        name = str(name)
        top = name.split(".")[0]
        if top in _DENIED_MODULES or name in _DENIED_MODULES:
            self.refuse("import", f"import of '{name}' is not allowed in the sandbox")
        if self.candidate_running and top not in ("torch", "math", "typing_extensions", "sympy", "numpy", "functools"):
            self.refuse("import", f"import of '{name}' is not allowed while the candidate runs (allowed: torch, math)")

    @staticmethod
    def _real(path):
        try:
            return os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None

    def _inside(self, path) -> bool:
        if isinstance(path, int):
            return True
        real = self._real(path)
        return real is not None and (real == self.scratch or real.startswith(self.scratch + os.sep))


# --------------------------------------------------------------------------------------------------
# The candidate's globals
# --------------------------------------------------------------------------------------------------


def _refuse(guard: Optional[Guard], kind: str, message: str):
    if guard is not None:
        guard.refuse(kind, message)
    raise SandboxViolation(kind, message)


def module_proxy(module: types.ModuleType, guard: Optional[Guard]) -> types.ModuleType:
    """A read-only view of ``module``: public attributes only, no file / process / global-state entry
    points, and other modules only where they are on the allow-list (as proxies themselves)."""
    name = module.__name__
    cache: dict = {}

    class Proxy(types.ModuleType):
        def __getattribute__(self, attr):
            if attr.startswith("_") or attr in _REFUSED_ATTRS:
                _refuse(guard, "forbidden", f"{name}.{attr} is not available to candidates")
            if attr in cache:
                return cache[attr]
            try:
                value = getattr(module, attr)
            except AttributeError:
                raise AttributeError(f"module '{name}' has no attribute '{attr}'") from None
            if isinstance(value, types.ModuleType):
                if value.__name__ not in _REACHABLE:
                    _refuse(guard, "forbidden", f"{name}.{attr} (module {value.__name__}) is not available to candidates")
                value = module_proxy(value, guard)
            cache[attr] = value
            return value

        def __setattr__(self, attr, value):
            _refuse(guard, "forbidden", f"setting {name}.{attr} is not allowed: candidates may not change modules")

        def __delattr__(self, attr):
            _refuse(guard, "forbidden", f"deleting {name}.{attr} is not allowed: candidates may not change modules")

        def __dir__(self):
            return [a for a in dir(module) if not a.startswith("_")]

    return Proxy(name)


def _guarded_import(guard: Optional[Guard]) -> Callable:
    """The candidate's ``__import__``: torch, math and torch.nn.functional, as proxies.

    C code inside torch imports through the calling frame's builtins too (``PyImport_Import``: an empty
    *list* as fromlist; it then reads ``sys.modules`` itself and ignores what ``__import__`` returns).
    Such a call gets torch's own module loaded and None back, so it hands the candidate nothing.
    """

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if type(fromlist) is list and not fromlist and not level and isinstance(name, str) and \
                name.split(".")[0] == "torch":
            if name not in sys.modules:
                __import__(name)
            return None
        if level or name not in _IMPORTABLE:
            _refuse(guard, "import", f"import of '{name}' is not allowed (candidates may import torch, math, "
                                     "torch.nn.functional)")
        for item in fromlist or ():
            if f"{name}.{item}" not in _IMPORTABLE:
                _refuse(guard, "import", f"from {name} import {item} is not allowed (candidates may import torch, "
                                         "math, torch.nn.functional)")
        target = name if fromlist else name.split(".")[0]
        __import__(name)
        return module_proxy(sys.modules[target], guard)

    return guarded


def compile_candidate(code: str, guard: Optional[Guard]) -> Callable:
    """Compile a candidate's source with restricted builtins; return its one top-level function.

    Raises ``ValueError`` when the source does not define exactly one function (static check off).
    """
    safe = {k: getattr(builtins, k) for k in SAFE_BUILTINS}
    safe["__import__"] = _guarded_import(guard)
    namespace = {"__builtins__": safe, "__name__": "candidate"}
    exec(compile(code, CANDIDATE_FILENAME, "exec"), namespace)
    functions = [v for v in namespace.values() if type(v) is types.FunctionType]
    if len(functions) != 1:
        raise ValueError(f"the candidate defines {len(functions)} top-level functions; define exactly one, "
                         "`def my_loss(batch, beta)`")
    return functions[0]

