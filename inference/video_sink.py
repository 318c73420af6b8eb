"""Encode frames to a video file with PyAV (FFmpeg) on a background thread.

    with VideoSink("out.mp4", fps=25, size=(1080, 1920), audio_from="clip.mp4") as sink:
        sink.write(frame, time=0.04)   # frame: float (H, W, 3) RGB in [0, 1] or uint8; time in seconds

The container follows the extension (``FORMATS``): ``.mp4`` is H.264 in yuv420p, which every
browser and phone plays; ``.mov`` is ProRes 4444 and ``.webm`` VP9, both keeping an alpha channel
when frames are RGBA (H, W, 4). Frame times (seconds from the start) keep variable frame rates;
without them frame i is shown at i / fps. ``audio_from`` copies the audio of another file
(re-encoded when its codec cannot go into the container).
"""
import os
import queue
import threading
import warnings
from fractions import Fraction

import av
import cv2
import numpy as np

from common.cpu import lower_thread_priority

__all__ = ["FORMATS", "check_video_path", "VideoSink"]

# extension: (codec, pixel format without alpha, pixel format with alpha, codec options, audio codecs copied as-is)
FORMATS = {
    ".mp4": ("libx264", "yuv420p", None, {"crf": "18", "preset": "veryfast"}, {"aac", "mp3", "ac3", "eac3", "alac"}),
    ".mov": ("prores_ks", "yuv422p10le", "yuva444p10le", {"profile": "4"}, {"aac", "mp3", "alac", "pcm_s16le"}),
    ".webm": ("libvpx-vp9", "yuv420p", "yuva420p", {"crf": "30", "b": "0", "row-mt": "1", "deadline": "realtime"},
              {"opus", "vorbis"}),
}
_TRANSCODE = {".mp4": "aac", ".mov": "aac", ".webm": "libopus"}
TIME_BASE = Fraction(1, 90000)  # fine enough for any frame rate, as in MPEG streams
_END = object()


def check_video_path(path):
    """The lower-case extension of ``path``; ValueError naming it unless it is one of ``FORMATS``."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"cannot write '{os.fspath(path)}': video files end in {', '.join(FORMATS)}")
    return ext


class VideoSink:
    """Encodes RGB or RGBA frames to ``path`` on a background thread.

    Args:
        path: .mp4, .mov or .webm (``FORMATS``).
        fps: nominal frame rate (frames without a time are spaced 1 / fps apart).
        size: (H, W) of the frames. Odd sides are padded by one edge pixel for yuv420p (H.264 and
            VP9 need even sides).
        alpha: frames are RGBA and the alpha is kept (.mov and .webm only).
        audio_from: a media file whose first audio stream is copied into this one.
    ``close()`` waits for the encoder and re-raises its errors; use as a context manager.
    """

    def __init__(self, path, fps, size, alpha=False, audio_from=None, depth=8):
        self.path = os.fspath(path)
        ext = check_video_path(self.path)
        codec, pix_fmt, alpha_fmt, options, self._copyable = FORMATS[ext]
        if alpha and alpha_fmt is None:
            raise ValueError(f"'{self.path}': {ext} videos have no alpha channel (use .mov or .webm)")
        self.ext, self.alpha, self.fps = ext, alpha, float(fps)
        self.height, self.width = size
        even = pix_fmt.startswith("yuv420") or (alpha and alpha_fmt.startswith("yuva420"))
        self.pad = (self.height % 2, self.width % 2) if even else (0, 0)
        self.container = av.open(self.path, "w")
        try:
            self.stream = self.container.add_stream(codec, rate=Fraction(self.fps).limit_denominator(100000),
                                                    options=dict(options))
            self.stream.width, self.stream.height = self.width + self.pad[1], self.height + self.pad[0]
            self.stream.pix_fmt = alpha_fmt if alpha else pix_fmt
            self.stream.codec_context.time_base = TIME_BASE
            self.audio = self._add_audio(audio_from) if audio_from else None
        except BaseException:
            self.container.close()
            raise
        self.last_pts = -1
        self.count = 0
        self.frames = queue.Queue(maxsize=depth)
        self.error = None
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _add_audio(self, path):
        """(input container, input stream, output stream, copy?) or None when ``path`` has no audio."""
        source = av.open(os.fspath(path))
        if not source.streams.audio:
            source.close()
            return None
        stream = source.streams.audio[0]
        if stream.codec_context.name in self._copyable:
            return source, stream, self.container.add_stream_from_template(stream), True
        out = self.container.add_stream(_TRANSCODE[self.ext], rate=stream.codec_context.sample_rate or 48000)
        return source, stream, out, False

    def _frame(self, frame):
        if frame.dtype != np.uint8:
            # Rounds and saturates at 255 in one C pass (24x faster than numpy's clip-scale-cast at 1080p);
            # its absolute value only touches float rounding noise below 0.
            frame = cv2.convertScaleAbs(frame, alpha=255)
        if any(self.pad):
            frame = np.pad(frame, ((0, self.pad[0]), (0, self.pad[1])) + ((0, 0),) * (frame.ndim - 2), mode="edge")
        layout = "gray" if frame.ndim == 2 else "rgba" if self.alpha else "rgb24"
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=layout)

    def _work(self):
        lower_thread_priority()  # and the encoder's threads, which the first encode starts here
        while (item := self.frames.get()) is not _END:
            if self.error is not None:
                continue
            try:
                frame, time = item
                video = self._frame(frame)
                pts = round((self.count / self.fps if time is None else time) / TIME_BASE)
                video.pts = max(pts, self.last_pts + 1)  # strictly increasing even when times round together
                video.time_base = TIME_BASE
                self.last_pts = video.pts
                self.count += 1
                for packet in self.stream.encode(video):
                    self.container.mux(packet)
            except BaseException as e:
                self.error = e

    def _finish(self):
        for packet in self.stream.encode():
            self.container.mux(packet)
        if self.audio is not None:
            self._write_audio()

    def _write_audio(self):
        source, stream, out, copy = self.audio
        end = (self.last_pts + 1) * TIME_BASE  # audio past the last frame is dropped
        try:
            for packet in source.demux(stream):
                if packet.dts is None:
                    continue
                if packet.pts is not None and packet.pts * stream.time_base > end:
                    break
                if copy:
                    packet.stream = out
                    self.container.mux(packet)
                else:
                    for frame in packet.decode():
                        frame.pts = None  # the encoder numbers the resampled samples itself
                        self.container.mux(out.encode(frame))
            if not copy:
                self.container.mux(out.encode(None))
        except av.error.InvalidDataError as e:
            warnings.warn(f"'{self.path}': the audio of '{source.name}' is damaged and was cut short ({e})",
                          stacklevel=3)

    def write(self, frame, time=None):
        """Queue ``frame`` ((H, W, 3) RGB, (H, W) gray, or (H, W, 4) RGBA with ``alpha``; float in [0, 1] or uint8)
        shown ``time`` seconds after the first frame."""
        if self.error is not None:
            raise self.error
        expected = (self.height, self.width, 4 if self.alpha else 3)
        gray = not self.alpha and frame.shape == expected[:2]
        if frame.shape != expected and not gray:
            raise ValueError(f"'{self.path}': frames must be {expected}, got {frame.shape}")
        self.frames.put((frame, time))

    def close(self):
        if self.thread.is_alive():
            self.frames.put(_END)
            self.thread.join()
            try:
                if self.error is None:
                    self._finish()
            except BaseException as e:
                self.error = e
            finally:
                if self.audio is not None:
                    self.audio[0].close()
                self.container.close()
        if self.error is not None:
            raise self.error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
