"""model.threads: the CPU thread count honours the user's $OMP_NUM_THREADS, not the 1 Paddle writes there."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

# A fresh interpreter: the package must read the variable before its own import of Paddle.
PROBE = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import model
from model.threads import cpu_threads, use_cpu_threads
print(json.dumps({"env_after_import": os.environ.get("OMP_NUM_THREADS"), "default": cpu_threads(),
                  "two_processes": cpu_threads(processes=2), "requested": cpu_threads(5),
                  "used": use_cpu_threads()}))
"""


def probe(omp):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    out = subprocess.run([sys.executable, "-c", PROBE, ROOT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_unset_uses_every_core_although_paddle_sets_one():
    result = probe(None)
    assert result["env_after_import"] == "1"  # what Paddle's import writes when the variable is unset
    assert result["default"] == result["used"] == CORES
    assert result["two_processes"] == max(1, CORES // 2)
    assert result["requested"] == 5


@pytest.mark.parametrize("omp", ["3", "1"])
def test_users_variable_wins(omp):
    result = probe(omp)
    assert result["default"] == result["two_processes"] == result["used"] == int(omp)
    assert result["requested"] == 5
