"""What video IO and compositing cost on top of the model: predict.py's convert path vs the engine alone.

    python -m benchmarks.bench_video                       # 1080p, 48 and 96 frames, outputs com pha, 3 rounds
    python -m benchmarks.bench_video --size 270x480 --frames 3 --rounds 1    # a quick smoke run

The clip is made from the real pair in ../shared/real_pairs (the subject shifted a little each
frame; a synthetic scene when that folder is absent), encoded as H.264. Both sides use one
engine (default: ONNX Runtime on CPU) with seeded random MattingRefine MobileNetV2 weights:

* engine: the clip's frames decoded beforehand, then only ``engine(src, bgr)`` is timed;
* convert: ``inference.predictor.convert`` from the .mp4 to the outputs (decoding, background
  checks, the model, compositing and H.264 encoding, overlapped on threads).

Convert runs on the clip and on the clip twice as long: "whole run" is the short run's time per
frame (with the fixed costs of a run: opening files, filling the pipeline, flushing the encoders),
"per frame" is the extra time per extra frame, (T(2N) - T(N)) / N, what a long video costs. Each
round times the engine alone right before and after its two converts and divides by their mean,
so the slow drifts of a shared machine cancel; the table gives the medians over rounds and the
range of the ratios. The target is at most 1.15 (IO and compositing hidden behind the model).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_PAIR = os.path.join(os.path.dirname(ROOT), "shared", "real_pairs")


def make_clip(folder, frames, size):
    """Write clip.mp4 and plate.png of (H, W) = ``size`` into ``folder``; returns the pair's origin."""
    import cv2

    from dataset.io import read_image, write_image
    from inference.video_sink import VideoSink

    height, width = size
    if os.path.isfile(os.path.join(REAL_PAIR, "test_fg.jpg")):
        src, bgr = (read_image(os.path.join(REAL_PAIR, n)) for n in ("test_fg.jpg", "test_bg.jpg"))
        origin = "real pair"
    else:
        from benchmarks.bench_inference import make_input
        src, bgr = (a[0].transpose(1, 2, 0) for a in make_input(1080, 1920))
        origin = "synthetic scene"
    src, bgr = (cv2.resize(a, (width, height), interpolation=cv2.INTER_AREA) for a in (src, bgr))
    with VideoSink(os.path.join(folder, "clip.mp4"), 25, size) as sink:
        for i in range(frames):
            sink.write(np.roll(src, 2 * i, axis=1))  # a little motion, as in a real clip
    write_image(os.path.join(folder, "plate.png"), bgr)
    return origin


def time_engine(engine, clip, plate):
    """Seconds per frame of the engine alone on the clip's frames (decoded and laid out beforehand)."""
    from dataset.io import read_image
    from inference.media import VideoSource
    from inference.predictor import _pad4

    bgr = _pad4(read_image(plate)[None])
    frames = [_pad4(image[None]) for _, image in VideoSource(clip)]
    start = time.perf_counter()
    for src in frames:
        engine(src, bgr)
    return (time.perf_counter() - start) / len(frames), len(frames)


def time_convert(engine, clip, plate, outputs, folder):
    """Seconds of one ``convert`` of ``clip``."""
    from inference.predictor import convert

    start = time.perf_counter()
    convert(engine, clip, plate, folder, outputs=outputs, progress=False, overwrite=True)
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_video", description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1080x1920", help="HxW of the clip (default 1080x1920)")
    p.add_argument("--frames", type=int, default=48, help="frames N of the short clip (the long one has 2N)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--outputs", nargs="+", default=["com", "pha"])
    p.add_argument("--engine", default="auto")
    p.add_argument("--threads", type=int, help="CPU threads of the engine (default: $OMP_NUM_THREADS or all cores)")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))

    import paddle

    from inference.engines import load_engine
    from model import MattingRefine

    with tempfile.TemporaryDirectory() as tmp:
        paddle.seed(0)
        checkpoint = os.path.join(tmp, "refine.pdparams")
        paddle.save(MattingRefine("mobilenetv2").state_dict(), checkpoint)
        options = {"threads": args.threads} if args.threads else {}
        engine = load_engine(checkpoint, engine=args.engine, overrides={"backbone_scale": 0.25}, **options)
        origin = make_clip(tmp, args.frames, size)
        long_clip = os.path.join(tmp, "long")
        os.makedirs(long_clip)
        make_clip(long_clip, 2 * args.frames, size)
        clip, plate = os.path.join(tmp, "clip.mp4"), os.path.join(tmp, "plate.png")
        engine(*[np.zeros((1, 3, size[0] + -size[0] % 4, size[1] + -size[1] % 4), np.float32)] * 2)  # warm-up
        alone, whole, marginal = [], [], []
        for _ in range(args.rounds):  # the engine alone right before and after each pair of converts
            before, count = time_engine(engine, clip, plate)
            short = time_convert(engine, clip, plate, args.outputs, os.path.join(tmp, "out"))
            doubled = time_convert(engine, os.path.join(long_clip, "clip.mp4"), plate, args.outputs,
                                   os.path.join(tmp, "out"))
            after, _ = time_engine(engine, clip, plate)
            alone.append((before + after) / 2)
            whole.append(short / count)
            marginal.append((doubled - short) / count)
    print(f"{size[1]}x{size[0]} {origin}, {count} and {2 * count} frames, outputs {' '.join(args.outputs)}, "
          f"{args.rounds} round(s), engine {type(engine).__name__}")
    print("| path | s/frame | fps | ratio (median, range over rounds) |")
    print("|---|---|---|---|")
    for label, seconds in (("engine alone", alone), (f"convert, whole run of {count} frames", whole),
                           ("convert, per frame", marginal)):
        ratios = [s / e for s, e in zip(seconds, alone)]  # each round against its own engine time
        median = statistics.median(seconds)
        if median > 0:
            print(f"| {label} | {median:.4f} | {1 / median:.2f} | {statistics.median(ratios):.2f}x "
                  f"({min(ratios):.2f}-{max(ratios):.2f}) |")
        else:  # noise larger than N frames' work
            print(f"| {label} | {median:.4f} | - | - (clip too short to measure) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
