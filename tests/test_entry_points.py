"""Every entry point honours the user's $OMP_NUM_THREADS, whatever it imports first (Paddle overwrites the
variable on import), and exits with the documented code on bad usage."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("predict.py", "eval.py", "train_base.py", "train_refine.py")
MODULES = ("tools.export", "tools.speed_test", "tools.background_difference")

# Runs the entry point as python would (its imports, in its order) up to --help, then reports the
# thread count our engines and trainers use.
PROBE = """
import runpy, sys
target = sys.argv[1]
sys.argv = [target, "--help"]
try:
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
except SystemExit:
    pass
from common.cpu import cpu_threads
print("paddle imported:", "paddle" in sys.modules, "threads:", cpu_threads())
"""


@pytest.mark.parametrize("target", SCRIPTS + MODULES)
def test_user_omp_num_threads_is_used(target):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", PROBE, target], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "paddle imported: True threads: 1"


@pytest.mark.parametrize("target", SCRIPTS)
def test_usage_error_exits_2(target):
    out = subprocess.run([sys.executable, target, "--no-such-option"], cwd=ROOT, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 2 and f"{target}: error:" in out.stderr
