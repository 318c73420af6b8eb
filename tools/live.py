"""``python -m tools.live``: live background replacement from a camera, a stream or a video file.

    python -m tools.live --model-path M.pdparams                           # camera 0, window, plate after 3 s
    python -m tools.live --model-path M.pdparams --source rtsp://cam/1 --com-bgr beach.mp4 --record out.mp4
    python -m tools.live --model-path M.pdparams --source clip.mp4 --bgr plate.jpg --virtual-camera

Without --bgr the background plate is captured from the feed: step out of the picture during the
--countdown, then --plate-frames frames are averaged. Press b in the window (or send SIGUSR1) to
capture it again, q to quit. Frames are matted as fast as the machine allows; the ones it cannot
keep up with are dropped (an FPS line on stderr says how many).
"""
import argparse
import signal
import sys

from common.errors import run_main
from dataset.io import read_image
from inference.backdrop import parse_backdrop
from inference.cli import (add_engine_arguments, add_model_arguments, add_weights_arguments, make_engine, parse_args,
                           positive_int)
from inference.live import Capture, LiveSession, RecordSink, VirtualCameraSink, WindowSink, open_reader


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.live", description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_weights_arguments(p)
    p.add_argument("--source", default="0", help="camera index, stream URL or video file (default: camera 0)")
    p.add_argument("--loop", action="store_true", help="play a video file --source again at its end")
    p.add_argument("--camera-size", help="WxH asked of the camera, e.g. 1280x720")
    p.add_argument("--bgr", help="background plate image (default: captured from the feed)")
    p.add_argument("--countdown", type=float, default=3.0, help="seconds before a plate is captured (default 3)")
    p.add_argument("--plate-frames", type=positive_int, default=5, help="frames averaged into a captured plate")
    p.add_argument("--com-bgr", default="0,0,0",
                   help="what goes behind the subject: an image, a video (looped) or R,G,B (default black)")
    p.add_argument("--window", action="store_true", help="show the composite in a window (needs a display)")
    p.add_argument("--virtual-camera", action="store_true", help="send it to a virtual camera (pyvirtualcam)")
    p.add_argument("--record", help="record it to a video file (.mp4 H.264, .mov, .webm)")
    p.add_argument("--max-frames", type=positive_int, help="stop after this many composites")
    p.add_argument("--stall-timeout", type=float, default=5.0,
                   help="seconds without a frame before the source counts as stopped (default 5)")
    add_model_arguments(p.add_argument_group("model (with --model-path)"))
    add_engine_arguments(p.add_argument_group("runtime"))
    return p


def _size(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError:
        raise ValueError(f"--camera-size must be WxH, e.g. 1280x720, got '{text}'") from None


def live(args):
    sinks = []
    if args.window or not (args.record or args.virtual_camera):
        sinks.append(WindowSink())
    if args.virtual_camera:
        sinks.append(VirtualCameraSink())
    if args.record:
        sinks.append(RecordSink(args.record))
    backdrop = parse_backdrop(args.com_bgr)
    plate = read_image(args.bgr) if args.bgr else None
    capture = Capture(open_reader(args.source, loop=args.loop, size=args.camera_size and _size(args.camera_size),
                                  timeout=args.stall_timeout),
                      label=f"live source '{args.source}'")
    try:
        first = capture.latest(0, args.stall_timeout)
        if first is None:
            raise ValueError(f"live source '{args.source}' ended before its first frame")
        engine = make_engine(args, first[1].shape[:2])
    except BaseException:
        capture.close()
        raise
    session = LiveSession(engine, capture, backdrop, plate=plate, sinks=sinks, plate_frames=args.plate_frames,
                          countdown=args.countdown, stall_timeout=args.stall_timeout)
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda *_: session.recapture())
    session.run(args.max_frames)
    print(f"live: {session.matted} frames matted, {capture.read - session.matted} dropped"
          + (f", recorded to {args.record}" if args.record else ""), file=sys.stderr)


def main(argv=None):
    args = parse_args(build_parser(), argv)
    return run_main("tools.live", lambda _: live(args))


if __name__ == "__main__":
    sys.exit(main())
