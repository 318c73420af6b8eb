"""What goes behind the subject in a composite: a colour, an image or a video.

    backdrop = open_backdrop("beach.mp4", size=(1080, 1920), loop=True)
    frame = backdrop.next()        # float32 (H, W, 3) RGB in [0, 1], or a (3,) colour

Used by ``predict.py --com-bgr`` (``inference.predictor.convert``), the live mode and the app.
"""
import os

import cv2
import numpy as np

from common.errors import InputError
from dataset.io import read_image
from .media import VideoSource, source_kind

__all__ = ["BackdropError", "parse_color", "parse_backdrop", "fit_cover", "open_backdrop", "Backdrop"]


class BackdropError(InputError):
    """A background for composites that cannot be used (unreadable, too short, not a colour)."""


def parse_color(text, option="--com-color"):
    """(r, g, b) in [0, 1] from "R,G,B" (0-255); BackdropError naming ``option`` otherwise."""
    parts = str(text).split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        raise BackdropError(f"{option} must be R,G,B with values 0-255, got '{text}'")
    return tuple(int(p) / 255 for p in parts)


def parse_backdrop(text, option="--com-bgr"):
    """A command-line background: "R,G,B" becomes a colour triple, anything else stays a path."""
    if isinstance(text, str) and "," in text and not os.path.exists(text):
        return parse_color(text, option)
    return text


def fit_cover(image, size):
    """``image`` (h, w, 3) scaled to cover (H, W) = ``size`` and centre-cropped (no stretching)."""
    h, w = image.shape[:2]
    H, W = size
    if (h, w) == (H, W):
        return image
    scale = max(H / h, W / w)
    nh, nw = max(H, round(h * scale)), max(W, round(w * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (nh - H) // 2, (nw - W) // 2
    return resized[top:top + H, left:left + W]


class Backdrop:
    """A sequence of backgrounds of one size; ``next()`` gives the next one.

    A colour or an image gives the same array every time; a video advances one frame per call,
    from the start again at its end when ``loop``, else a BackdropError saying it is too short
    (cut: a longer video simply is not read to its end).
    """

    def __init__(self, still=None, video=None, size=None, loop=False, label=""):
        self.still, self.video, self.size, self.loop, self.label = still, video, size, loop, label
        self.frames = iter(video) if video is not None else None
        self.used = 0

    def next(self):
        if self.video is None:
            return self.still
        item = next(self.frames, None)
        if item is None:
            if not self.loop:
                raise BackdropError(f"background video {self.label} has {self.used} frames, fewer than the source; "
                                    f"loop it (--com-bgr-loop / loop=True) or pass a longer one")
            self.frames = iter(self.video)
            item = next(self.frames, None)
            if item is None:
                raise BackdropError(f"background video {self.label} has no frame left to loop")
        self.used += 1
        return fit_cover(item[1], self.size)

    def close(self):
        if self.video is not None:
            self.video.close()


def open_backdrop(spec, size, loop=False):
    """A Backdrop of (H, W) = ``size`` from ``spec``: an RGB triple in [0, 1], an (h, w, 3) float
    array in [0, 1], or the path of an image or a video (scaled to cover, centre-cropped)."""
    if isinstance(spec, np.ndarray) and spec.ndim == 3:
        return Backdrop(still=fit_cover(spec.astype(np.float32, copy=False), size), size=size)
    if isinstance(spec, (tuple, list, np.ndarray)):
        color = np.asarray(spec, dtype=np.float32)
        if color.shape != (3,) or color.min() < 0 or color.max() > 1:
            raise BackdropError(f"a background colour is an RGB triple in [0, 1], got {spec!r}")
        return Backdrop(still=color, size=size)
    path = os.fspath(spec)
    kind = source_kind(path)
    if kind == "image":
        return Backdrop(still=fit_cover(read_image(path), size), size=size)
    if kind == "video":
        return Backdrop(video=VideoSource(path), size=size, loop=loop, label=f"'{path}'")
    raise BackdropError(f"background '{path}' is a folder; pass an image, a video or a colour R,G,B")
