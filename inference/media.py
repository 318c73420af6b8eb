"""Inputs and outputs of one-shot prediction: images, folders of images and video files.

* ``open_source(path)`` reads an image, a folder of images or a video (OpenCV) as a sequence
  of named frames, float32 (H, W, 3) RGB in [0, 1]; ``prefetch`` decodes ahead on a thread.
* ``VideoSink`` encodes frames to an .mp4 on a background thread.
"""
import os
import queue
import threading

import cv2
import numpy as np

from dataset.io import IMAGE_EXTENSIONS, ImageReadError, list_images, read_image
from dataset.video import VIDEO_EXTENSIONS

__all__ = ["source_kind", "open_source", "ImageSource", "VideoSource", "prefetch", "VideoSink"]


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


class VideoSource:
    """Frames of a video file, decoded with OpenCV. Frame names are 00000, 00001, ..."""

    kind = "video"

    def __init__(self, path):
        self.path = os.fspath(path)
        cap = cv2.VideoCapture(self.path)
        try:
            if not cap.isOpened():
                raise ImageReadError(self.path, "OpenCV cannot open this video")
            self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
            # The decoded size (after OpenCV applies the rotation metadata of phone videos).
            ok, frame = cap.read()
        finally:
            cap.release()
        if self.frame_count <= 0 or not ok:
            raise ImageReadError(self.path, "video has no frames")
        self.size = frame.shape[:2]

    def __len__(self):
        return self.frame_count

    def first_size(self):
        return self.size

    def __iter__(self):
        cap = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield f"{index:05d}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1 / 255)
                index += 1
        finally:
            cap.release()
        if index == 0:
            raise ImageReadError(self.path, "no frame could be decoded")


def open_source(path):
    """ImageSource or VideoSource of an image file, a folder of images or a video file."""
    return VideoSource(path) if source_kind(path) == "video" else ImageSource.from_path(path)


_END = object()


def prefetch(iterable, depth=4):
    """Iterate ``iterable`` on a background thread, ``depth`` items ahead; its errors re-raise here.

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


class VideoSink:
    """Encodes RGB frames (float (H, W, 3) in [0, 1], or uint8) to an .mp4 on a background thread.

    ``close()`` waits for the encoder and re-raises its errors; use as a context manager.
    """

    def __init__(self, path, fps, size, depth=8):
        self.path = os.fspath(path)
        height, width = size
        self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not self.writer.isOpened():
            raise OSError(f"OpenCV cannot write the video '{self.path}' (mp4v codec unavailable?)")
        self.frames = queue.Queue(maxsize=depth)
        self.error = None
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self):
        while (frame := self.frames.get()) is not _END:
            if self.error is None:
                try:
                    if frame.dtype != np.uint8:
                        frame = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
                    self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                except BaseException as e:
                    self.error = e
        self.writer.release()

    def write(self, frame):
        if self.error is not None:
            raise self.error
        self.frames.put(frame)

    def close(self):
        if self.thread.is_alive():
            self.frames.put(_END)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
