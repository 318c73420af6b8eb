"""``predict.py``: matte photos, folders and videos from the command line."""
import argparse
import logging
import os
import sys
import warnings

from common.atomic import check_writable
from common.errors import run_main
from .cli import (add_config_argument, add_engine_arguments, add_model_arguments, add_weights_arguments,
                   make_engine, parse_args, positive_int)
from .media import source_kind
from .backdrop import parse_backdrop, parse_color
from .predictor import DEFAULT_COM_COLOR, OUTPUT_TYPES, VIDEO_FORMATS, convert

USAGE = """Remove the background of a photo, a folder of photos or a video, given a shot of the same scene without the subject.

    python predict.py --model-path M.pdparams --src photo.jpg --bgr empty.jpg --output-dir out
    python predict.py --model-path M.pdparams --src clip.mp4 --bgr empty.jpg --output-dir out \\
        --outputs com pha --com-color 0,0,255
    python predict.py --inference-model exported/ --src photos/ --bgr backgrounds/ --output-dir out

--src / --bgr: an image, a folder of images (backgrounds matched by name, or one background
image for all) or a video (a background image, or a background video of the same length).
Images give OUT/<output>/<name>.png, a video gives OUT/<output>.mp4 (H.264, the source's timing;
the source's audio in com.mp4) or, with --video-format, .mov / .webm with alpha or PNG sequences.
Outputs: pha (8-bit alpha), fgr (foreground), com (RGBA cut-out; in .mp4 videos a composite over
--com-color or --com-bgr), err (predicted error), ref (refined 4x4 patches). --com-bgr (an image,
a video or R,G,B) goes behind com.mp4, and writes com_bgr (the composite over it) beside the
RGBA com of images, PNG sequences and .mov / .webm videos.

The model is exported once (cached in M.inference/ next to the checkpoint) and runs through
ONNX Runtime on CPU, Paddle Inference on GPU (--engine chooses); --engine dygraph runs it eagerly
for debugging. Backbone, model type and refiner kernel default to the checkpoint's. Outputs
appear only when the whole run succeeds; an existing --output-dir needs --overwrite.
"""


def build_parser():
    p = argparse.ArgumentParser(prog="predict.py", description=USAGE.splitlines()[0], epilog=USAGE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(p)
    add_weights_arguments(p)
    p.add_argument("--src", required=True, help="source image, folder of images or video")
    p.add_argument("--bgr", required=True, help="background image, folder of images (same names) or video")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--outputs", nargs="+", default=["pha", "fgr", "com"], choices=OUTPUT_TYPES,
                   help="what to write (default: pha fgr com)")
    p.add_argument("--overwrite", action="store_true", help="write into an existing --output-dir")

    m = p.add_argument_group("model (with --model-path)")
    add_model_arguments(m, notes={"backbone_scale": "default 0.25, smaller for inputs over 2560 pixels "
                                                    "(base input side <= 640)"})

    r = p.add_argument_group("runtime")
    add_engine_arguments(r)
    r.add_argument("--batch-size", type=positive_int, default=1)
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    i = p.add_argument_group("inputs")
    i.add_argument("--resize-bgr", action="store_true", help="resize backgrounds of another size instead of failing")
    i.add_argument("--preprocess-alignment", action="store_true",
                   help="align each background to its source (handheld shots; feature matching + homography)")

    c = p.add_argument_group("composites and video outputs")
    c.add_argument("--com-bgr", help="replacement background: an image, a video or a colour R,G,B (0-255); "
                                     "behind com in .mp4 videos; elsewhere com_bgr, the composite over it, is written beside com")
    c.add_argument("--com-bgr-loop", action="store_true",
                   help="loop a --com-bgr video shorter than the source (default: an error)")
    c.add_argument("--com-color", default=",".join(str(round(c * 255)) for c in DEFAULT_COM_COLOR),
                   help="R,G,B (0-255) behind .mp4 composites without --com-bgr (default: %(default)s)")
    c.add_argument("--video-format", choices=VIDEO_FORMATS, default="mp4",
                   help="video sources: mp4 (H.264, plays everywhere, audio kept; default), mov (ProRes 4444) "
                        "or webm (VP9) with com as an RGBA video, png (image sequences, com RGBA)")
    return p


def _show_export_notes():
    """Print inference.export's one-time "exporting ..." note (the first run takes longer)."""
    logger = logging.getLogger("inference.export")
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.setLevel(logging.INFO)
        logger.propagate = False  # Paddle configures the root logger: print once


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def predict(args):
    com_color = parse_color(args.com_color)
    com_bgr = parse_backdrop(args.com_bgr) if args.com_bgr else None
    if isinstance(com_bgr, str):
        source_kind(com_bgr)  # a missing --com-bgr: before the export
    if os.path.exists(args.output_dir) and not args.overwrite:  # before the (first-time) export
        raise FileExistsError(f"output folder already exists: '{args.output_dir}' (use --overwrite to write "
                              f"into it)")
    check_writable(args.output_dir, "--output-dir")  # before the (first-time) export, too
    source_kind(args.bgr)  # a missing background: before the export, too
    written = convert(lambda first_size: make_engine(args, first_size), args.src, args.bgr, args.output_dir,
                      outputs=args.outputs, batch_size=args.batch_size, resize_bgr=args.resize_bgr,
                      align=args.preprocess_alignment, com_color=com_color, com_bgr=com_bgr,
                      com_bgr_loop=args.com_bgr_loop, video_format=args.video_format, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"wrote {len(written)} file(s) to {args.output_dir}")


def main(argv=None):
    """predict.py's command; returns its exit code (``common.errors``)."""
    args = parse_args(build_parser(), argv)
    shown, warnings.showwarning = warnings.showwarning, _show_warning
    _show_export_notes()
    try:
        return run_main("predict.py", lambda _: predict(args))
    finally:
        warnings.showwarning = shown

