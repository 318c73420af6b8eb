"""How Paddle's CPU math runs: the thread count, and MKL's code path on AMD processors.

Threads: Paddle starts its dygraph CPU kernels on one thread ($OMP_NUM_THREADS, default 1),
while torch uses every core. On 2 cores a (4, 54, 64, 64) 3x3 convolution takes 58 ms on one
thread and 37 ms on two; a MobileNetV2 base training step (batch 4, 64x64) 0.72 s and 0.50 s.

MKL: Paddle's dygraph matrix products go through the MKL 2019 it ships, which runs its generic
kernels on AMD processors unless $MKL_DEBUG_CPU_TYPE is 5 (MKL 2020.1 and later ignore the
variable). On a 2-core AMD EPYC a 2048^3 SGEMM takes 450 ms without it and 115 ms with it, and
a MobileNetV2 refine training step at 512x512 6.7 s and 4.5 s. Paddle Inference's oneDNN kernels
are not affected.
"""
import os
import sys
import threading


def _user_omp_num_threads():
    """$OMP_NUM_THREADS as the user set it. Paddle sets it to 1 on import when it is unset, so after
    that import ``os.environ`` cannot tell; the environment the process started with can (Linux)."""
    if "paddle" not in sys.modules:
        return os.environ.get("OMP_NUM_THREADS")
    try:
        with open("/proc/self/environ", "rb") as f:
            start = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    except OSError:  # not Linux: the value may be Paddle's
        return os.environ.get("OMP_NUM_THREADS")
    value = start.get(b"OMP_NUM_THREADS")
    return None if value is None else value.decode(errors="replace")


_USER_OMP_NUM_THREADS = _user_omp_num_threads()

__all__ = ["cpu_threads", "use_cpu_threads", "mkl_cpu_type", "lower_thread_priority"]


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


def lower_thread_priority(steps=10):
    """Lower the calling thread's scheduling priority by ``steps`` nice levels (Linux; elsewhere nothing).

    For the threads that feed the model and drain its results (video decoding and encoding): where
    they compete with the model's threads for the cores, the model keeps the cores and they use the
    time it leaves idle. Threads started afterwards by the calling thread (an encoder's own) inherit
    the priority.
    """
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + steps))
    except OSError:  # not permitted in this container: the default priority only costs speed
        pass


def mkl_cpu_type(cpuinfo):
    """"5" (MKL's AVX2 code path) for the text of /proc/cpuinfo of an AMD processor with AVX2, else None."""
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "5" if "AuthenticAMD" in cpuinfo and "avx2" in flags else None


def _choose_mkl_code_path():
    # MKL reads the variable at its first call, which comes after this (entry points import this
    # module before anything runs); a value the user set is kept.
    if "MKL_DEBUG_CPU_TYPE" in os.environ:
        return
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            value = mkl_cpu_type(f.read())
    except OSError:  # not Linux
        return
    if value:
        os.environ["MKL_DEBUG_CPU_TYPE"] = value


_choose_mkl_code_path()
