"""How many CPU threads Paddle's math kernels use.

Paddle starts its dygraph CPU kernels on one thread ($OMP_NUM_THREADS, default 1), while torch
uses every core. On 2 cores a (4, 54, 64, 64) 3x3 convolution takes 58 ms on one thread and 37 ms
on two; a MobileNetV2 base training step (batch 4, 64x64) 0.72 s and 0.50 s.
"""
import os
import sys

# Paddle sets $OMP_NUM_THREADS to 1 on import when it is unset, so only a value read before
# Paddle's import is the user's (model/__init__.py imports this module first).
_USER_OMP_NUM_THREADS = None if "paddle" in sys.modules else os.environ.get("OMP_NUM_THREADS")

__all__ = ["cpu_threads", "use_cpu_threads"]


def cpu_threads(requested=None, processes=1):
    """``requested``, else the user's $OMP_NUM_THREADS, else this process's share of the usable cores.

    processes: processes sharing the cores (e.g. the workers of a CPU distributed run).
    """
    if requested:
        return int(requested)
    env = (_USER_OMP_NUM_THREADS or "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, processes))


def use_cpu_threads(requested=None, processes=1):
    """Run Paddle's dygraph CPU kernels on :func:`cpu_threads` threads; returns that count."""
    from paddle.base import core

    threads = cpu_threads(requested, processes)
    core.set_num_threads(threads)
    return threads
