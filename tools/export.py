"""Export a BGMv2 checkpoint for deployment: a Paddle Inference program and optionally ONNX.

    python -m tools.export --model-path M.pdparams --output-dir exported/sampling \\
        [--refine-mode sampling|full|thresholding --backbone-scale 0.25 ...] [--onnx] [--check]

Writes OUT/model.json + OUT/model.pdiparams (batch, height and width dynamic; run them with
``predict.py --inference-model OUT`` or ``inference.engines.load_exported``), OUT/meta.json (the
model options) and with --onnx OUT/model.onnx (inputs src, bgr; outputs pha, fgr, ...).
--check runs dygraph, Paddle Inference (and onnxruntime) on one random input and prints the
largest differences.
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle

import argparse
import os
import sys

import numpy as np

from common.atomic import check_writable
from common.errors import run_main
from inference.cli import add_config_argument, add_model_arguments, model_overrides, parse_args
from inference.engines import DygraphEngine, InferenceEngine
from inference.export import export_model
from inference.onnx_engine import export_onnx
from model import load_model


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(p)
    p.add_argument("--model-path", required=True, help="checkpoint (.pdparams, or an official .pth)")
    p.add_argument("--output-dir", required=True)
    add_model_arguments(p)
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (paddle2onnx)")
    p.add_argument("--opset", type=int, default=16, help="ONNX opset (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="compare the exported model(s) with dygraph")
    p.add_argument("--check-size", default="256x320", help="HxW of the --check input (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output-dir")
    return p


def compare(options, net, model_dir, onnx_path, size):
    """{engine: {output: max abs difference to dygraph}} on a seeded random pair of ``size`` (H, W)."""
    rng = np.random.default_rng(0)
    src = rng.random((1, 3, *size), dtype=np.float32)
    bgr = np.clip(src + rng.normal(0, 0.2, src.shape), 0, 1).astype(np.float32)
    reference = DygraphEngine(net, options)(src, bgr)
    results = {"paddle.inference": InferenceEngine(model_dir)(src, bgr)}
    if onnx_path:
        import onnxruntime
        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        outputs = session.run(list(options.outputs), {"src": src, "bgr": bgr})
        results["onnxruntime"] = dict(zip(options.outputs, outputs))
    return {engine: {k: float(np.abs(out[k] - reference[k]).max()) for k in options.outputs}
            for engine, out in results.items()}


def export(args):
    size = tuple(int(v) for v in args.check_size.lower().split("x") if v.isdigit())
    if len(size) != 2 or size[0] % 4 or size[1] % 4:
        raise ValueError(f"--check-size must be HxW with multiples of 4, got '{args.check_size}'")
    check_writable(args.output_dir, "--output-dir")  # before the checkpoint is read
    net, options = load_model(args.model_path, **model_overrides(args))
    out = export_model(net, options, args.output_dir, overwrite=args.overwrite)
    print(f"wrote Paddle Inference model to {out} ({options.model_type}, {options.backbone}, "
          f"refine mode {options.refine_mode})")
    onnx_path = None
    if args.onnx:
        onnx_path = export_onnx(out, os.path.join(out, "model.onnx"), args.opset, overwrite=True)
        print(f"wrote {onnx_path}")
    if args.check:
        for engine, diffs in compare(options, net, out, onnx_path, size).items():
            print(f"{engine:>17} vs dygraph, max |diff|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))


def main(argv=None):
    args = parse_args(build_parser(), argv)
    return run_main("export", lambda _: export(args))


if __name__ == "__main__":
    sys.exit(main())
