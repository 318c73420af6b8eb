"""Inputs and outputs of one-shot prediction: images, folders of images and video files.

* ``open_source(path)`` reads an image, a folder of images or a video (PyAV) as a sequence
  of named frames, float32 (H, W, 3) RGB in [0, 1]; ``prefetch`` decodes ahead on a thread.
* Video files are written by ``inference.video_sink``.
"""
import itertools
import os
import queue
import threading
import warnings

import av
import numpy as np

from common.cpu import lower_thread_priority
from dataset.io import IMAGE_EXTENSIONS, MediaReadError, list_images, read_image
from dataset.video import VIDEO_EXTENSIONS

__all__ = ["source_kind", "open_source", "ImageSource", "VideoSource", "VideoReadError", "TruncatedVideoWarning",
           "prefetch"]


def source_kind(path):
    """"image", "folder" or "video" for an existing path; FileNotFoundError / ValueError naming it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return "folder"
    if not os.path.exists(path):
        raise FileNotFoundError(f"input not found: '{path}'")
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    raise ValueError(f"'{path}' is neither an image ({', '.join(IMAGE_EXTENSIONS)}) nor a video "
                     f"({', '.join(VIDEO_EXTENSIONS)}) nor a folder")


class ImageSource:
    """Image files as frames. ``names``: output names (relative path without extension)."""

    kind = "images"

    def __init__(self, paths, names):
        self.paths = list(paths)
        self.names = list(names)
        self._first = None  # the first image, decoded once for first_size() and the first frame

    @classmethod
    def from_path(cls, path):
        """One image file, or every image below a folder (names are relative paths)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            paths = list_images(path)
            if not paths:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder '{path}'")
            names = [os.path.splitext(os.path.relpath(p, path))[0] for p in paths]
            return cls(paths, names)
        return cls([path], [os.path.splitext(os.path.basename(path))[0]])

    def __len__(self):
        return len(self.paths)

    def first_size(self):
        """(H, W) of the first image (decoded: EXIF orientation counts)."""
        if self._first is None:
            self._first = read_image(self.paths[0])
        return self._first.shape[:2]

    def __iter__(self):
        for i, (path, name) in enumerate(zip(self.paths, self.names)):
            if i == 0 and self._first is not None:
                image, self._first = self._first, None
                yield name, image
            else:
                yield name, read_image(path)


class VideoReadError(MediaReadError):
    """A video file (or stream) exists but cannot be opened or decoded."""
    what = "video"


class TruncatedVideoWarning(UserWarning):
    """A video decoded to fewer frames than its header announces."""


class VideoSource:
    """Frames of a video file, decoded with PyAV (FFmpeg). Frame names are 00000, 00001, ...

    The file is opened once: ``__init__`` reads the header and decodes the first frame (its size
    is the decoded size, after the rotation of phone videos); iterating continues from there, a
    second iteration seeks back to the start. Frames are float32 (H, W, 3) RGB in [0, 1], laid out
    channel-planar in memory (transposed views of (3, H, W) arrays).

    ``len()`` is the header's frame count (for progress bars only); ``decoded`` counts the
    frames an iteration actually produced, and a shorter count than the header's warns
    (``TruncatedVideoWarning``) with both numbers. ``times[name]`` is each frame's presentation
    time in seconds from the first frame (variable frame rates keep their timing).
    """

    kind = "video"

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self.container = av.open(self.path)
        except (av.error.FFmpegError, OSError) as e:
            raise VideoReadError(self.path, f"FFmpeg cannot open it ({e})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoReadError(self.path, "no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"  # frame and slice threads of the decoder
        self.fps = float(self.stream.average_rate or self.stream.guessed_rate or 25)
        self.has_audio = bool(self.container.streams.audio)
        self.header_frames = self.stream.frames or (
            round(float(self.stream.duration * self.stream.time_base) * self.fps) if self.stream.duration else 0)
        self.times = {}
        self.decoded = 0
        self._start = None
        self._frames = self._decode()
        self._first = next(self._frames, None)
        if self._first is None:
            self.container.close()
            raise VideoReadError(self.path, "no frame could be decoded")
        self.size = self._first.shape[:2]

    def __len__(self):
        return self.header_frames or 1

    def first_size(self):
        return self.size

    def _decode(self):
        """Decoded frames as float32 RGB; a damaged packet is skipped (a truncated file ends early)."""
        for packet in self.container.demux(self.stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                yield self._convert(frame)

    def _convert(self, frame):
        # Planar RGB straight from the decoder: the frame is a (H, W, 3) view of a (3, H, W) array,
        # the model's layout, so laying it out for the model costs no transpose (2-3x cheaper at 1080p).
        image = np.empty((3, frame.height, frame.width), np.float32)
        for channel, plane in zip((1, 2, 0), frame.reformat(format="gbrp").planes):  # G, B, R
            rows = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height).reshape(plane.height, -1)
            np.multiply(rows[:, :frame.width], np.float32(1 / 255), out=image[channel])
        if frame.rotation:  # counter-clockwise degrees that the player applies (phone videos)
            image = np.rot90(image, frame.rotation // 90, axes=(1, 2))
        time = frame.time if frame.time is not None else self.decoded / self.fps
        if self._start is None:
            self._start = time
        self.times[f"{self.decoded:05d}"] = time - self._start
        self.decoded += 1
        return image.transpose(1, 2, 0)

    def __iter__(self):
        if self._first is None:  # a second pass: back to the start of the same open file
            self.container.seek(0)
            self.decoded, self.times, self._start = 0, {}, None
            self._frames = self._decode()
            self._first = next(self._frames, None)
        first, self._first = self._first, None
        index = 0
        for image in itertools.chain([first], self._frames):
            yield f"{index:05d}", image
            index += 1
        if self.header_frames > index:
            warnings.warn(f"video '{self.path}': its header says {self.header_frames} frames but only {index} "
                          f"could be decoded (truncated or damaged file); the outputs have {index} frames",
                          TruncatedVideoWarning, stacklevel=2)

    def close(self):
        self.container.close()


def open_source(path):
    """ImageSource or VideoSource of an image file, a folder of images or a video file."""
    return VideoSource(path) if source_kind(path) == "video" else ImageSource.from_path(path)


_END = object()


def prefetch(iterable, depth=4, low_priority=False):
    """Iterate ``iterable`` on a background thread, ``depth`` items ahead; its errors re-raise here.

    low_priority: run that thread below the model's threads (``common.cpu.lower_thread_priority``).
    Closing the generator (or leaving a for loop over it) stops the thread.
    """
    items = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item):
        """Put ``item`` unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        if low_priority:
            lower_thread_priority()
        try:
            for item in iterable:
                if not offer(item):
                    return
            offer(_END)
        except BaseException as e:  # handed to the consumer
            offer(e)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
