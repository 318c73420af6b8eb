"""Inference speed of BGMv2 on random tensors (like the reference's inference_speed_test.py).

    python -m tools.speed_test --backbone mobilenetv2 --resolution 1920 1080 --refine-mode sampling
    python -m tools.speed_test --model-path M.pdparams --engine auto inference dygraph --runs 10
    python -m tools.speed_test --inference-model exported/ --device gpu --precision fp16

Runs each engine --warmup times, then --runs times, and prints the median time per batch and
frames per second. Without --model-path the weights are random (seeded): the time of the
sampling and full modes does not depend on them (fixed patch counts); thresholding refines
whatever the random error map exceeds, so time it with real weights.
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import paddle

from common.errors import InputError, run_main
from inference.cli import (add_config_argument, add_engine_arguments, add_model_arguments, add_weights_arguments,
                           engine_options, make_engine, model_overrides, parse_args, positive_int)
from inference.engines import DygraphEngine, load_exported
from inference.export import export_model
from model.options import ModelOptions


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(p)
    add_weights_arguments(p, required=False)
    add_model_arguments(p, notes={"model_type": f"default: from the checkpoint, else {ModelOptions.model_type}",
                                  "backbone": f"default: from the checkpoint, else {ModelOptions.backbone}"})
    p.add_argument("--resolution", type=int, nargs=2, default=(1920, 1080), metavar=("WIDTH", "HEIGHT"))
    p.add_argument("--batch-size", type=positive_int, default=1)
    add_engine_arguments(p, several=True)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--runs", type=positive_int, default=10)
    p.add_argument("--seed", type=int, default=0)
    return p


def make_engines(args, workdir):
    """{name: engine} for the requested engines; random weights (seeded) without --model-path."""
    if args.inference_model and "dygraph" in args.engine:
        raise ValueError("--inference-model runs with engines auto, onnxruntime and inference, not dygraph")
    if args.model_path or args.inference_model:
        return {name: make_engine(args, engine=name) for name in args.engine}
    options = ModelOptions(**model_overrides(args))
    paddle.seed(args.seed)
    net = options.build()
    folder = export_model(net, options, os.path.join(workdir, "model")) if args.engine != ["dygraph"] else None
    return {name: DygraphEngine(net, options, args.device, args.threads) if name == "dygraph"
            else load_exported(folder, engine=name, **engine_options(args)) for name in args.engine}


def time_engine(engine, src, bgr, warmup, runs):
    """Median seconds per call after ``warmup`` calls."""
    for _ in range(warmup):
        engine(src, bgr)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        engine(src, bgr)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed_test(args):
    width, height = args.resolution
    if width % 4 or height % 4 or min(width, height) <= 0:
        raise InputError(f"--resolution must be positive multiples of 4, got {width} {height}")
    if args.precision == "fp16" and "dygraph" in args.engine:
        raise InputError("--precision fp16 needs --engine auto, onnxruntime or inference")
    with tempfile.TemporaryDirectory() as workdir:
        engines = make_engines(args, workdir)
        rng = np.random.default_rng(args.seed)
        src = rng.random((args.batch_size, 3, height, width), dtype=np.float32)
        bgr = rng.random((args.batch_size, 3, height, width), dtype=np.float32)
        rows = [(name, time_engine(engine, src, bgr, args.warmup, args.runs)) for name, engine in engines.items()]
    shown = next(iter(engines.values())).options
    print(f"{shown.model_type} {shown.backbone}, backbone scale {shown.backbone_scale}, refine {shown.refine_mode}"
          f" ({shown.refine_sample_pixels} px), {width}x{height}, batch {args.batch_size}, {args.device} "
          f"{args.precision}, median of {args.runs} after {args.warmup} warm-up, Paddle {paddle.__version__}")
    print(f"| {'engine':<10} | {'s / batch':>9} | {'frames / s':>10} |")
    print(f"|{'-' * 12}|{'-' * 11}|{'-' * 12}|")
    for name, seconds in rows:
        print(f"| {name:<10} | {seconds:>9.3f} | {args.batch_size / seconds:>10.2f} |")


def main(argv=None):
    args = parse_args(build_parser(), argv)
    return run_main("speed_test", lambda _: speed_test(args))


if __name__ == "__main__":
    sys.exit(main())
