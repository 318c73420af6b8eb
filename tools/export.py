"""Export a BGMv2 checkpoint for deployment: a Paddle Inference program and optionally ONNX.

    python tools/export.py --model-path M.pdparams --output-dir exported/sampling \\
        [--refine-mode sampling|full|thresholding --backbone-scale 0.25 ...] [--onnx] [--check]

Writes OUT/model.json + OUT/model.pdiparams (batch, height and width dynamic; run them with
``predict.py --inference-model OUT`` or ``model.inference.load_exported``), OUT/meta.json (the
model options) and with --onnx OUT/model.onnx (inputs src, bgr; outputs pha, fgr, ...).
--check runs dygraph, Paddle Inference (and onnxruntime) on one random input and prints the
largest differences.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from model import CheckpointError, load_checkpoint  # noqa: E402
from model.inference import (DygraphEngine, ExportError, InferenceEngine, ModelOptions, add_model_arguments,  # noqa: E402
                             export_model)
from model.onnx_engine import export_onnx  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-path", required=True, help="checkpoint (.pdparams, or an official .pth)")
    p.add_argument("--output-dir", required=True)
    from_checkpoint = "default: from the checkpoint"
    add_model_arguments(p, defaults={"model_type": None, "backbone": None},
                        notes={"model_type": from_checkpoint, "backbone": from_checkpoint})
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


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        size = tuple(int(v) for v in args.check_size.lower().split("x"))
        if len(size) != 2 or size[0] % 4 or size[1] % 4:
            raise ValueError(f"--check-size must be HxW with multiples of 4, got '{args.check_size}'")
        options = ModelOptions.for_checkpoint(args.model_path, model_type=args.model_type, backbone=args.backbone,
                                              backbone_scale=args.backbone_scale, refine_mode=args.refine_mode,
                                              refine_sample_pixels=args.refine_sample_pixels,
                                              refine_threshold=args.refine_threshold)
        net = options.build()
        load_checkpoint(net, args.model_path, strict=True)
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
    except (FileNotFoundError, FileExistsError, ValueError, CheckpointError, ExportError) as e:
        print(f"export.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
