"""common.cpu: threads honour the user's $OMP_NUM_THREADS (not the 1 Paddle writes there); MKL's AMD code path."""
import json
import os
import subprocess
import sys

import pytest

from common.cpu import lower_thread_priority, mkl_cpu_type

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

# A fresh interpreter: the package must read the variable before its own import of Paddle.
PROBE = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import model
from common.cpu import cpu_threads, use_cpu_threads
print(json.dumps({"env_after_import": os.environ.get("OMP_NUM_THREADS"), "default": cpu_threads(),
                  "two_processes": cpu_threads(processes=2), "requested": cpu_threads(5),
                  "used": use_cpu_threads(), "mkl": os.environ.get("MKL_DEBUG_CPU_TYPE")}))
"""


def probe(omp, mkl=None):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_DEBUG_CPU_TYPE")}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    if mkl is not None:
        env["MKL_DEBUG_CPU_TYPE"] = mkl
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


AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n"


def test_mkl_code_path_only_for_amd_with_avx2():
    assert mkl_cpu_type(AMD) == "5"
    assert mkl_cpu_type(AMD.replace(" avx2", "")) is None
    assert mkl_cpu_type(AMD.replace("AuthenticAMD", "GenuineIntel")) is None
    assert mkl_cpu_type("") is None


def test_mkl_variable_set_for_this_machine_and_users_value_kept():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            expected = mkl_cpu_type(f.read())
    except OSError:
        expected = None
    assert probe(None)["mkl"] == expected
    assert probe(None, mkl="0")["mkl"] == "0"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_lower_thread_priority_lowers_only_the_calling_thread():
    """Video decoding and encoding threads step 10 nice levels below the model (capped at 19);
    the thread that started them keeps its priority."""
    import threading
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def worker():
        lower_thread_priority()
        seen["worker"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["worker"] == min(19, main + 10)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main
