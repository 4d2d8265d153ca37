"""What a sandboxed candidate may use: wall clock, CPU time, memory, file size, processes, output.

>>> limits = Limits(wall_s=5.0, memory_mb=512)
>>> limits.cpu_s, limits.processes, limits.output_kb
(10.0, 0, 64)
>>> Limits(wall_s=0)
Traceback (most recent call last):
...
ValueError: Limits.wall_s must be a number > 0 (seconds), got 0; pass e.g. Limits(wall_s=10.0)
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import asdict, dataclass

__all__ = ["Limits"]

_MB = 1 << 20

_UNITS = {"wall_s": "seconds", "cpu_s": "CPU seconds", "memory_mb": "MiB", "file_mb": "MiB",
          "processes": "processes", "output_kb": "KiB"}


@dataclass(frozen=True)
class Limits:
    """Per-candidate limits, enforced by the kernel (rlimits) and by the worker that watches the child.

    - ``wall_s``: wall-clock seconds before the whole process group is killed (reason ``"timeout"``);
    - ``cpu_s``: RLIMIT_CPU (reason ``"cpu"``);
    - ``memory_mb``: address space the candidate may add to the warm worker's (RLIMIT_AS is set to the
      child's size at fork plus this; torch's own mappings are not counted) (reason ``"memory"``);
    - ``file_mb``: RLIMIT_FSIZE, the largest file it may write, in its scratch directory only;
    - ``processes``: how many processes it may start (RLIMIT_NPROC; 0 forbids fork altogether). The
      kernel counts every process of the sandbox user, so with several workers the bound is approximate;
    - ``output_kb``: stdout + stderr read back; more kills the child (reason ``"output"``).
    """

    wall_s: float = 10.0
    cpu_s: float = 10.0
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int = 0
    output_kb: int = 64

    def __post_init__(self):
        for key in ("wall_s", "cpu_s", "memory_mb", "file_mb", "output_kb"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"Limits.{key} must be a number > 0 ({_UNITS[key]}), got {value!r}; "
                                 f"pass e.g. Limits({key}={getattr(Limits, key)!r})")
        p = self.processes
        if isinstance(p, bool) or not isinstance(p, int) or p < 0:
            raise ValueError(f"Limits.processes must be an integer >= 0, got {p!r}")

    def as_dict(self) -> dict:
        return asdict(self)

    def apply(self, base_vm_bytes: int) -> None:
        """Set the rlimits of the calling process (the forked child, before it drops privileges).

        Soft and hard limits are equal except for CPU, whose hard limit is one second later, so the
        first signal is SIGXCPU (reason ``"cpu"``) and SIGKILL follows if it is ignored.
        """
        cpu = max(1, math.ceil(self.cpu_s))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        vm = int(base_vm_bytes + self.memory_mb * _MB)
        resource.setrlimit(resource.RLIMIT_AS, (vm, vm))
        fs = int(self.file_mb * _MB)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fs, fs))
        resource.setrlimit(resource.RLIMIT_NPROC, (self.processes, self.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def address_space_bytes() -> int:
    """The calling process's virtual memory size (VmSize), the base RLIMIT_AS is added to."""
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("VmSize missing from /proc/self/status; the sandbox needs Linux")
