"""Frames of video clips, in VideoMatte240K's layouts: folders of frames and/or video files."""
import collections
import os

import cv2
import numpy as np

from .base import SeededDataset
from .images import check_mode
from .io import IMAGE_EXTENSIONS, ImageReadError, list_images, read_alpha, read_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def _list_videos(root):
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found += [os.path.join(folder, f) for f in files
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS]
    return found


def _frame_count(path):
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise ImageReadError(path, "OpenCV cannot open this video")
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


class VideoDataset(SeededDataset):
    """Every frame below ``root``: frame images in clip folders and frames of video files.

    ``root`` may be a folder (VideoMatte240K's JPEG layout ``fgr/0000/00000.jpg``, its
    video layout ``fgr/0000.mp4``, or a mix) or a single video file. Frames of a video
    ``clip.mp4`` are named ``clip/00000``, ``clip/00001`` ... so a video and a folder of
    frame images pair up by name in :class:`ZipDataset`. Samples are ordered by name.

    Samples: 'RGB' -> float32 (H, W, 3) in [0, 1]; 'L' -> float32 (H, W, 1) in [0, 1]
    (luma of the frame for videos), passed through ``transforms(img, rng)`` when given.

    Videos are decoded with ``cv2.VideoCapture``; each process keeps up to
    ``max_open_videos`` captures open, and reading frames in order avoids seeking.
    A frame that cannot be decoded raises ImageReadError naming the video and frame.
    """

    def __init__(self, root, mode="RGB", transforms=None, seed=0, skip_unreadable=False, max_open_videos=8):
        super().__init__(seed, skip_unreadable)
        self.root = os.fspath(root)
        self.mode = check_mode(mode)
        self.transforms = transforms
        self.max_open_videos = int(max_open_videos)
        if os.path.isfile(self.root):
            if os.path.splitext(self.root)[1].lower() not in VIDEO_EXTENSIONS:
                raise ValueError(f"'{self.root}' is not a video file ({VIDEO_EXTENSIONS}) nor a folder")
            videos, images, base = [self.root], [], os.path.dirname(self.root)
        elif os.path.isdir(self.root):
            videos, images, base = _list_videos(self.root), list_images(self.root), self.root
        else:
            raise FileNotFoundError(f"video folder or file not found: '{self.root}'")

        # entries: (name, path, frame index or None for an image file)
        entries = []
        for path in images:
            entries.append((os.path.splitext(os.path.relpath(path, base))[0].replace(os.sep, "/"), path, None))
        for path in videos:
            clip = os.path.splitext(os.path.relpath(path, base))[0].replace(os.sep, "/")
            entries += [(f"{clip}/{i:05d}", path, i) for i in range(_frame_count(path))]
        if not entries:
            raise ValueError(f"no frames (images {IMAGE_EXTENSIONS} or videos {VIDEO_EXTENSIONS}) "
                             f"found under '{self.root}'")
        entries.sort(key=lambda e: e[0].split("/"))
        self.names = [e[0] for e in entries]
        self._entries = [e[1:] for e in entries]
        self._captures = collections.OrderedDict()
        self._pid = os.getpid()

    def __len__(self):
        return len(self._entries)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_captures"] = collections.OrderedDict()  # captures are per process
        return state

    def _read_video_frame(self, path, frame):
        if self._pid != os.getpid():  # forked into a DataLoader worker: never share captures
            self._captures = collections.OrderedDict()
            self._pid = os.getpid()
        entry = self._captures.pop(path, None)
        if entry is None:
            cap = cv2.VideoCapture(path)
            if not cap.isOpened():
                raise ImageReadError(path, "OpenCV cannot open this video")
            entry = [cap, 0]
        cap, position = entry
        if position != frame:
            cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, img = cap.read()
        entry[1] = frame + 1 if ok else -1
        self._captures[path] = entry
        while len(self._captures) > self.max_open_videos:
            self._captures.popitem(last=False)[1][0].release()
        if not ok:
            raise ImageReadError(path, f"cannot decode frame {frame}")
        if self.mode == "RGB":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            return img.astype(np.float32) * np.float32(1 / 255)
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None].astype(np.float32) * np.float32(1 / 255)

    def load(self, idx, rng):
        path, frame = self._entries[idx]
        if frame is not None:
            img = self._read_video_frame(path, frame)
        elif self.mode == "RGB":
            img = read_image(path)
        else:
            img = read_alpha(path)[:, :, None]
        if self.transforms is not None:
            img = self.transforms(img, rng)
        return img

    def describe(self, idx):
        path, frame = self._entries[idx]
        return path if frame is None else f"{path} frame {frame}"
