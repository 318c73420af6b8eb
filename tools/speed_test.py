"""Inference speed of BGMv2 on random tensors (like the reference's inference_speed_test.py).

    python tools/speed_test.py --backbone mobilenetv2 --resolution 1920 1080 --refine-mode sampling
    python tools/speed_test.py --model-path M.pdparams --engine auto inference dygraph --runs 10
    python tools/speed_test.py --inference-model exported/ --device gpu --precision fp16

Runs each engine --warmup times, then --runs times, and prints the median time per batch and
frames per second. Without --model-path the weights are random (seeded): the time of the
sampling and full modes does not depend on them (fixed patch counts); thresholding refines
whatever the random error map exceeds, so time it with real weights.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import paddle  # noqa: E402

from model import CheckpointError  # noqa: E402
from model.inference import (ENGINES, DygraphEngine, ExportError, ModelOptions,  # noqa: E402
                             add_model_arguments, export_model, load_engine, load_exported)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--model-path", help="checkpoint (default: random weights)")
    weights.add_argument("--inference-model", help="folder written by tools/export.py (not with engine dygraph)")
    add_model_arguments(p)
    p.add_argument("--resolution", type=int, nargs=2, default=(1920, 1080), metavar=("WIDTH", "HEIGHT"))
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--engine", nargs="+", choices=ENGINES, default=["auto"],
                   help="one or more engines (auto: ONNX Runtime on CPU, Paddle Inference on GPU)")
    p.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32", help="fp16: GPU (engines auto, onnxruntime, inference)")
    p.add_argument("--tensorrt", action="store_true", help="TensorRT subgraphs (GPU, engine auto or inference)")
    p.add_argument("--threads", type=int, help="CPU threads (default: $OMP_NUM_THREADS or all cores)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    return p


def make_engines(args, options, workdir):
    """{name: engine} for the requested engines."""
    infer_options = {"device": args.device, "precision": args.precision, "tensorrt": args.tensorrt}
    if args.threads:
        infer_options["threads"] = args.threads
    if args.inference_model and "dygraph" in args.engine:
        raise ValueError("--inference-model runs with engines auto, onnxruntime and inference, not dygraph")
    if args.model_path:
        return {name: load_engine(args.model_path, options, engine=name, **infer_options) for name in args.engine}
    folder = args.inference_model
    if folder is None:
        paddle.seed(args.seed)
        net = options.build()
        if args.engine != ["dygraph"]:
            folder = export_model(net, options, os.path.join(workdir, "model"))
    return {name: DygraphEngine(net, options, args.device, args.threads) if name == "dygraph"
            else load_exported(folder, engine=name, **infer_options) for name in args.engine}


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


def main(argv=None):
    args = build_parser().parse_args(argv)
    width, height = args.resolution
    if width % 4 or height % 4 or min(width, height) <= 0:
        print(f"speed_test.py: error: --resolution must be positive multiples of 4, got {width} {height}",
              file=sys.stderr)
        return 2
    if args.precision == "fp16" and "dygraph" in args.engine:
        print("speed_test.py: error: --precision fp16 needs --engine auto or inference", file=sys.stderr)
        return 2
    options = ModelOptions(args.model_type, args.backbone, args.backbone_scale, args.refine_mode,
                           args.refine_sample_pixels, args.refine_threshold)
    try:
        if args.model_path:
            options = ModelOptions.for_checkpoint(args.model_path, **{k: v for k, v in options.to_dict().items()
                                                                      if k not in ("backbone", "model_type")})
        with tempfile.TemporaryDirectory() as workdir:
            engines = make_engines(args, options, workdir)
            rng = np.random.default_rng(args.seed)
            src = rng.random((args.batch_size, 3, height, width), dtype=np.float32)
            bgr = rng.random((args.batch_size, 3, height, width), dtype=np.float32)
            rows = [(name, time_engine(engine, src, bgr, args.warmup, args.runs)) for name, engine in engines.items()]
    except (FileNotFoundError, ValueError, CheckpointError, ExportError) as e:
        print(f"speed_test.py: error: {e}", file=sys.stderr)
        return 2
    shown = next(iter(engines.values())).options
    print(f"{shown.model_type} {shown.backbone}, backbone scale {shown.backbone_scale}, refine {shown.refine_mode}"
          f" ({shown.refine_sample_pixels} px), {width}x{height}, batch {args.batch_size}, {args.device} "
          f"{args.precision}, median of {args.runs} after {args.warmup} warm-up, Paddle {paddle.__version__}")
    print(f"| {'engine':<10} | {'s / batch':>9} | {'frames / s':>10} |")
    print(f"|{'-' * 12}|{'-' * 11}|{'-' * 12}|")
    for name, seconds in rows:
        print(f"| {name:<10} | {seconds:>9.3f} | {args.batch_size / seconds:>10.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
