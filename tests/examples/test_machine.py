"""examples/machine.py: the CPU named beside every timing."""

import os

from tests.examples.scripts import load_example

machine = load_example("machine")


def test_cpu_name_is_the_cpuinfo_model_name():
    name = machine.cpu_name()
    assert isinstance(name, str) and name
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            lines = [line for line in cpuinfo if line.startswith("model name")]
        if lines:
            assert name == lines[0].split(":", 1)[1].strip()


def test_usable_cores_is_the_affinity_mask():
    cores = machine.usable_cores()
    assert 1 <= cores <= (os.cpu_count() or cores)
    if hasattr(os, "sched_getaffinity"):
        assert cores == len(os.sched_getaffinity(0))
