"""What machine a run was timed on: timings are only comparable with the CPU named.

Used by the example scripts and the benchmarks (which put ``examples/`` on
``sys.path``) to name the CPU beside every timing.
"""

import os
import platform


def cpu_name():
    """The CPU's model name (Linux: ``/proc/cpuinfo``), else the platform's word
    for it, e.g. ``"AMD EPYC 9B14"`` or ``"x86_64"``."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores():
    """CPU cores this process may run on (its affinity mask where there is one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def peak_memory_mb():
    """This process's peak resident memory in MB (``ru_maxrss``), or None where
    the ``resource`` module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024 if platform.system() == "Darwin" else 1024)
