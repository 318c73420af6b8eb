"""Remove the background of a photo, a folder of photos or a video, given a shot of the same scene without the subject.

    python predict.py --model-path M.pdparams --src photo.jpg --bgr empty.jpg --output-dir out
    python predict.py --model-path M.pdparams --src clip.mp4 --bgr empty.jpg --output-dir out \\
        --outputs com pha --com-color 0,0,255
    python predict.py --inference-model exported/ --src photos/ --bgr backgrounds/ --output-dir out

--src / --bgr: an image, a folder of images (backgrounds matched by name, or one background
image for all) or a video (a background image, or a background video of the same length).
Images give OUT/<output>/<name>.png, a video gives OUT/<output>.mp4 at the source frame rate.
Outputs: pha (8-bit alpha), fgr (foreground), com (RGBA cut-out; for videos a composite over
--com-color or --com-bgr), err (predicted error), ref (refined 4x4 patches).

The model is exported once (cached in M.inference/ next to the checkpoint) and runs through
ONNX Runtime on CPU, Paddle Inference on GPU (--engine chooses); --engine dygraph runs it eagerly
for debugging. Backbone, model type and refiner kernel default to the checkpoint's. Outputs
appear only when the whole run succeeds; an existing --output-dir needs --overwrite.
"""
import argparse
import logging
import os
import sys
import warnings

from dataset.io import ImageReadError
from model import CheckpointError
from model.inference import (ENGINE_HELP, ENGINES, MODEL_ARGUMENTS, ExportError, ModelOptions, add_model_arguments,
                             load_engine, load_exported)
from model.media import open_source, source_kind
from model.predictor import DEFAULT_COM_COLOR, OUTPUT_TYPES, InputMismatchError, convert, suggest_backbone_scale


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    weights = p.add_mutually_exclusive_group(required=True)
    weights.add_argument("--model-path", help="checkpoint (.pdparams, or an official .pth)")
    weights.add_argument("--inference-model", help="folder written by tools/export.py (its options are fixed)")
    p.add_argument("--src", required=True, help="source image, folder of images or video")
    p.add_argument("--bgr", required=True, help="background image, folder of images (same names) or video")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--outputs", nargs="+", default=["pha", "fgr", "com"], choices=OUTPUT_TYPES,
                   help="what to write (default: pha fgr com)")
    p.add_argument("--overwrite", action="store_true", help="write into an existing --output-dir")

    m = p.add_argument_group("model (with --model-path)")
    # None: taken from the checkpoint or chosen for the input's size (see main)
    from_checkpoint = "default: from the checkpoint"
    add_model_arguments(m, defaults=dict.fromkeys(MODEL_ARGUMENTS), notes={
        "model_type": from_checkpoint, "backbone": from_checkpoint,
        "backbone_scale": f"default {ModelOptions.backbone_scale}, smaller for inputs over 2560 pixels "
                          "(base input side <= 640)"})

    r = p.add_argument_group("runtime")
    r.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)
    r.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N")
    r.add_argument("--precision", choices=("fp32", "fp16"), default="fp32", help="fp16 on GPU only")
    r.add_argument("--tensorrt", action="store_true", help="TensorRT subgraphs (GPU, --engine auto or inference)")
    r.add_argument("--threads", type=int, help="CPU threads (default: $OMP_NUM_THREADS or all cores)")
    r.add_argument("--batch-size", type=int, default=1)
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    i = p.add_argument_group("inputs")
    i.add_argument("--resize-bgr", action="store_true", help="resize backgrounds of another size instead of failing")
    i.add_argument("--preprocess-alignment", action="store_true",
                   help="align each background to its source (handheld shots; feature matching + homography)")
    i.add_argument("--com-color", default=",".join(str(round(c * 255)) for c in DEFAULT_COM_COLOR),
                   help="R,G,B (0-255) behind video composites (default: %(default)s)")
    i.add_argument("--com-bgr", help="image behind video composites instead of --com-color")
    return p


def parse_color(text):
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        raise ValueError(f"--com-color must be R,G,B with values 0-255, got '{text}'")
    return tuple(int(p) / 255 for p in parts)


def make_engine(args, first_size):
    """The engine of the arguments; prints which backbone scale large inputs get."""
    engine_options = {"device": args.device, "precision": args.precision, "tensorrt": args.tensorrt}
    if args.threads:
        engine_options["threads"] = args.threads
    if args.inference_model:
        fixed = [f"--{k.replace('_', '-')}" for k in MODEL_ARGUMENTS if getattr(args, k) is not None]
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: the options of --inference-model are fixed by its export "
                             f"(export again with tools/export.py to change them)")
        if args.engine == "dygraph":
            raise ValueError("--inference-model runs with --engine auto, onnxruntime or inference, not dygraph")
        engine = load_exported(args.inference_model, engine=args.engine, **engine_options)
        scale = engine.options.backbone_scale
        if engine.options.model_type == "mattingrefine" and scale > suggest_backbone_scale(*first_size):
            print(f"note: input is {first_size[1]}x{first_size[0]}; the exported model uses backbone scale {scale}, "
                  f"{suggest_backbone_scale(*first_size)} may work better (export again with --backbone-scale)",
                  file=sys.stderr)
        return engine
    scale = args.backbone_scale
    if scale is None:
        scale = suggest_backbone_scale(*first_size)
        if scale != 0.25:
            print(f"note: input is {first_size[1]}x{first_size[0]}; using --backbone-scale {scale} "
                  f"(pass --backbone-scale to choose)", file=sys.stderr)
    options = ModelOptions.for_checkpoint(args.model_path, model_type=args.model_type, backbone=args.backbone,
                                          backbone_scale=scale, refine_mode=args.refine_mode,
                                          refine_sample_pixels=args.refine_sample_pixels,
                                          refine_threshold=args.refine_threshold)
    return load_engine(args.model_path, options, engine=args.engine, **engine_options)


def _show_export_notes():
    """Print model.inference's one-time "exporting ..." note (the first run takes longer)."""
    logger = logging.getLogger("model.inference")
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.setLevel(logging.INFO)
        logger.propagate = False  # Paddle configures the root logger: print once


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    shown, warnings.showwarning = warnings.showwarning, _show_warning
    _show_export_notes()
    try:
        com_color = parse_color(args.com_color)
        if os.path.exists(args.output_dir) and not args.overwrite:  # before the (first-time) export
            raise FileExistsError(f"output folder already exists: '{args.output_dir}' (use --overwrite to write "
                                  f"into it)")
        source_kind(args.bgr)  # a missing background: before the export, too
        engine = make_engine(args, open_source(args.src).first_size())
        written = convert(engine, args.src, args.bgr, args.output_dir, outputs=args.outputs,
                          batch_size=args.batch_size, resize_bgr=args.resize_bgr, align=args.preprocess_alignment,
                          com_color=com_color, com_bgr=args.com_bgr, overwrite=args.overwrite,
                          progress=not args.no_progress)
    except (FileNotFoundError, FileExistsError, ImageReadError, InputMismatchError, CheckpointError, ExportError,
            ValueError) as e:
        print(f"predict.py: error: {e}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown
    print(f"wrote {len(written)} file(s) to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
