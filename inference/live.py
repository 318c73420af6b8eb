"""Live matting: frames from a camera, a stream or a video file, matted as fast as the machine allows.

    capture = Capture(open_reader("0"))                 # camera 0; or "rtsp://...", or "clip.mp4"
    session = LiveSession(engine, capture, backdrop=(0, 0, 1), sinks=[RecordSink("out.mp4")])
    session.run()                                       # until the source ends, a sink asks to quit, or Ctrl-C

A ``Capture`` thread reads the source and keeps only the latest frame: when matting is slower
than the source, frames are dropped instead of queueing up (the output never lags behind the
scene). A video file is played at its own rate, as a camera would deliver it. The background
plate is a file, or captured from the feed (``plate_frames`` frames averaged after a
``countdown``), and ``session.recapture()`` takes it again at any time. Sinks get each composite:
a window (``WindowSink``, keys: b recapture, q quit), a virtual camera (``VirtualCameraSink``,
pyvirtualcam), a video file (``RecordSink``).

Frames are uint8 (H, W, 3) RGB between the stages; the model sees float32 in [0, 1].
"""
import os
import sys
import threading
import time

import cv2
import numpy as np

from common.atomic import atomic_path
from common.errors import EXIT_FAILURE, BGMv2Error, InputError
from .backdrop import open_backdrop
from .predictor import _pad4, composite_over_u8, predict_batch
from .video_sink import VideoSink, check_video_path

__all__ = ["LiveSourceError", "SourceStalled", "PlateError", "open_reader", "Capture", "LiveSession",
           "WindowSink", "VirtualCameraSink", "RecordSink", "FpsMeter"]


class LiveSourceError(InputError):
    """No camera at that index, an unreachable stream, an unplayable file."""


class SourceStalled(BGMv2Error):
    """The source stopped delivering frames (a camera unplugged, a stream that hung)."""
    exit_code = EXIT_FAILURE


class PlateError(InputError):
    """A background plate that does not fit the live frames."""


# ------------------------------------------------------------------ readers: iterators of (uint8 RGB, seconds)
def open_reader(source, realtime=True, loop=False, size=None, timeout=10.0):
    """An iterator of (frame uint8 (H, W, 3) RGB, capture time in seconds) for ``source``.

    source: a camera index (an int, or digits such as "0"), a stream URL ("rtsp://", "http://", ...)
    or a video file. A file plays at its own rate when ``realtime`` (as a camera would), from the
    start again at its end when ``loop``. size: (W, H) asked of a camera. timeout: seconds to
    wait for a stream to connect.
    """
    text = str(source)
    if text.isdigit():
        return _camera(int(text), size)
    if "://" in text:
        return _stream(text, timeout, realtime=False)
    if not os.path.isfile(text):
        raise LiveSourceError(f"live source not found: '{text}' (a camera index, a stream URL or a video file)")
    return _stream(text, timeout, realtime, loop)


def _camera(index, size):
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise LiveSourceError(f"no camera at index {index} (is one connected, and not used by another program?)")
    if size:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])

    def frames():
        try:
            while True:
                ok, frame = cap.read()
                if not ok:  # unplugged: the Capture's stall timeout reports it
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), time.monotonic()
        finally:
            cap.release()
    return frames()


def _stream(url, timeout, realtime, loop=False):
    import av
    try:
        # rw_timeout (microseconds) bounds every network read, so a dead stream fails instead of hanging
        container = av.open(url, options={"rw_timeout": str(int(timeout * 1e6))} if "://" in url else None,
                            timeout=timeout)
    except (av.error.FFmpegError, OSError) as e:
        raise LiveSourceError(f"cannot open live source '{url}': {e}") from None
    if not container.streams.video:
        container.close()
        raise LiveSourceError(f"live source '{url}' has no video stream")

    def frames():
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            while True:
                start, first = time.monotonic(), None
                for frame in container.decode(stream):
                    t = frame.time or 0.0
                    first = t if first is None else first
                    if realtime:  # wait until the frame's time, as a camera would deliver it
                        time.sleep(max(0.0, start + (t - first) - time.monotonic()))
                    yield frame.to_ndarray(format="rgb24"), time.monotonic()
                if not loop:
                    return
                container.seek(0)
        finally:
            container.close()
    return frames()


class Capture:
    """Reads ``reader`` on a thread and keeps only its latest frame.

    ``latest(after, timeout)`` waits for a frame newer than number ``after`` and returns
    (number, frame uint8 (H, W, 3) RGB, time); None when the source has ended; SourceStalled
    when no frame came for ``timeout`` seconds; the reader's own error re-raises here.
    ``read`` counts the frames the source delivered (``read`` minus the frames matted = dropped).
    """

    def __init__(self, reader, label="source"):
        self.reader, self.label = reader, label
        self.read = 0
        self.frame = None
        self.ended = False
        self.error = None
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self):
        try:
            for frame, t in self.reader:
                with self.changed:
                    self.read += 1
                    self.frame = (self.read, frame, t)
                    self.changed.notify_all()
                if self.stopped.is_set():
                    break
        except BaseException as e:  # handed to the matting loop
            self.error = e
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def latest(self, after=0, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                if self.frame is not None and self.frame[0] > after:
                    return self.frame
                if self.error is not None:
                    raise self.error
                if self.ended:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceStalled(f"{self.label} stopped delivering frames (none for {timeout:g} s)")
                self.changed.wait(left)

    def close(self):
        self.stopped.set()
        close = getattr(self.reader, "close", None)
        if close is not None and not self.thread.is_alive():
            close()


class FpsMeter:
    """Frames per second over the last ``window`` seconds."""

    def __init__(self, window=2.0):
        self.window, self.times = window, []

    def tick(self, now=None):
        now = time.monotonic() if now is None else now
        self.times = [t for t in self.times if now - t <= self.window] + [now]
        return self.fps

    @property
    def fps(self):
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-6)


# ------------------------------------------------------------------ sinks: show(frame, info) -> "quit" | "recapture" | None
class WindowSink:
    """An OpenCV window with an FPS readout; keys: b recaptures the plate, q or Esc quits."""

    def __init__(self, title="BGMv2 live"):
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise LiveSourceError("no display to show a window on ($DISPLAY is not set): record with --record "
                                  "or use --virtual-camera")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise LiveSourceError("this OpenCV has no window support (opencv-python-headless): install "
                                  "opencv-python, or record with --record") from None
        self.title = title

    def show(self, frame, info):
        shown = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        cv2.putText(shown, info["text"], (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.imshow(self.title, shown)
        key = cv2.waitKey(1) & 0xFF
        return {ord("b"): "recapture", ord("q"): "quit", 27: "quit"}.get(key)

    def close(self):
        cv2.destroyWindow(self.title)


class VirtualCameraSink:
    """A virtual camera (pyvirtualcam: v4l2loopback on Linux, OBS on Windows / macOS) for video calls."""

    def __init__(self, fps=30):
        try:
            import pyvirtualcam
        except ImportError:
            raise LiveSourceError("--virtual-camera needs pyvirtualcam (pip install pyvirtualcam) and a virtual "
                                  "camera device (v4l2loopback, or OBS)") from None
        self.module, self.fps, self.camera = pyvirtualcam, fps, None

    def show(self, frame, info):
        if self.camera is None:
            try:
                self.camera = self.module.Camera(width=frame.shape[1], height=frame.shape[0], fps=self.fps)
            except RuntimeError as e:
                raise LiveSourceError(f"no virtual camera device: {e}") from None
        self.camera.send(frame)

    def close(self):
        if self.camera is not None:
            self.camera.close()


class RecordSink:
    """Records the composites to a video (``inference.video_sink``) at the times they were captured.

    The file appears complete when the session ends (also on Ctrl-C or a stalled source);
    if the encoder fails nothing is left.
    """

    def __init__(self, path, fps=30):
        self.path, self.fps = os.fspath(path), fps
        check_video_path(self.path)
        self.sink = self.staging = None
        self.start = None

    def show(self, frame, info):
        if self.sink is None:
            self.staging = atomic_path(self.path, suffix=os.path.splitext(self.path)[1])
            self.sink = VideoSink(self.staging.__enter__(), self.fps, frame.shape[:2])
            self.start = info["time"]
        self.sink.write(frame, info["time"] - self.start)

    def close(self):
        if self.sink is None:
            return
        try:
            self.sink.close()
        except BaseException as e:
            self.staging.__exit__(type(e), e, e.__traceback__)
            raise
        self.staging.__exit__(None, None, None)


# ------------------------------------------------------------------ the matting loop
class LiveSession:
    """Mattes the latest frame of ``capture`` again and again and hands composites to ``sinks``.

    Args:
        engine: an engine of ``inference.engines`` (its input size follows the frames).
        capture: a Capture.
        backdrop: what goes behind the subject: an RGB triple in [0, 1], an image or a video
            path (looped) or an (H, W, 3) array (``inference.backdrop``).
        plate: the background plate, uint8 or float (H, W, 3) RGB of the frames' size; None
            captures it from the feed.
        plate_frames, countdown: frames averaged into a captured plate, after ``countdown``
            seconds (time to step out of the picture).
        stall_timeout: seconds without a frame before SourceStalled.
        log: a stream for the FPS readout (a line every ``log_every`` seconds), or None.
    ``matted`` counts composites; ``capture.read - matted`` frames were dropped.
    """

    def __init__(self, engine, capture, backdrop=(0.0, 0.0, 0.0), plate=None, sinks=(), plate_frames=5,
                 countdown=3.0, stall_timeout=5.0, log=sys.stderr, log_every=2.0):
        self.engine, self.capture, self.backdrop_spec = engine, capture, backdrop
        self.sinks = list(sinks)
        self.plate = None if plate is None else np.asarray(plate, np.float32) / (255 if plate.dtype == np.uint8 else 1)
        self.plate_frames, self.countdown, self.stall_timeout = plate_frames, countdown, stall_timeout
        self.log, self.log_every = log, log_every
        self.backdrop = None
        self.matted = 0
        self.fps = FpsMeter()
        self._collecting = None if self.plate is not None else self._start_capture()
        self._laid_out = (None, None)  # (plate, the plate in the model's layout): laid out once per plate
        self._lock = threading.Lock()

    def _start_capture(self):
        return {"since": time.monotonic(), "frames": []}

    def recapture(self):
        """Take the plate again from the feed (after the countdown); safe from any thread."""
        with self._lock:
            self._collecting = self._start_capture()

    def _collect(self, frame):
        """Add ``frame`` to a plate being captured; the text to show, or None once the plate is ready."""
        with self._lock:
            state = self._collecting
            left = self.countdown - (time.monotonic() - state["since"])
            if left > 0:
                return f"step out of the picture: plate in {left:.0f} s"
            state["frames"].append(frame.astype(np.float32))
            if len(state["frames"]) < self.plate_frames:
                return "capturing the background plate ..."
            self.plate = np.mean(state["frames"], axis=0) / 255
            self._collecting = None
            return None

    def step(self, number, frame, t):
        """One frame through the loop; returns the sinks' requests ("quit", "recapture")."""
        size = frame.shape[:2]
        if self.plate is not None and self.plate.shape[:2] != size:
            raise PlateError(f"the background plate is {self.plate.shape[1]}x{self.plate.shape[0]} but the live "
                             f"frames are {size[1]}x{size[0]} (width x height); capture the plate from the feed "
                             f"or pass one of the same size")
        note = self._collect(frame) if self._collecting is not None else None
        if note is not None or self.plate is None:
            shown, text = frame, note
        else:
            if self.backdrop is None:
                self.backdrop = open_backdrop(self.backdrop_spec, size, loop=True)
            src = frame.astype(np.float32)[None] * np.float32(1 / 255)
            if self._laid_out[0] is not self.plate:
                self._laid_out = self.plate, _pad4(self.plate[None])
            r = predict_batch(self.engine, src, None, self._laid_out[1], extras=())
            shown = composite_over_u8(r["pha"][0], r["fgr"][0], self.backdrop.next())
            self.matted += 1
            self.fps.tick()
            text = f"{self.fps.fps:.1f} fps"
        info = {"number": number, "time": t, "text": text or "", "fps": self.fps.fps}
        return [request for sink in self.sinks if (request := sink.show(shown, info))]

    def run(self, max_frames=None):
        """Loop until the source ends, a sink asks to quit, ``max_frames`` composites, or Ctrl-C;
        the sinks are closed in every case (a recording is finished)."""
        last, logged = 0, time.monotonic()
        try:
            while max_frames is None or self.matted < max_frames:
                item = self.capture.latest(last, self.stall_timeout)
                if item is None:
                    break
                last = item[0]
                requests = self.step(*item)
                if "recapture" in requests:
                    self.recapture()
                if "quit" in requests:
                    break
                if self.log is not None and time.monotonic() - logged >= self.log_every:
                    logged = time.monotonic()
                    print(f"live: {self.fps.fps:.1f} fps matted, {self.capture.read} frames read, "
                          f"{self.capture.read - self.matted} dropped", file=self.log, flush=True)
        finally:
            self.close()

    def close(self):
        self.capture.close()
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:
                errors.append(e)
        if self.backdrop is not None:
            self.backdrop.close()
        if errors and sys.exc_info()[1] is None:
            raise errors[0]
