"""Folder of images (nested folders allowed) as a dataset of float32 arrays."""
import os

from .base import SeededDataset
from .io import list_images, read_alpha, read_image

MODES = ("RGB", "L")


def check_mode(mode):
    """'RGB' (colour image) or 'L' (alpha matte); anything else is a ValueError."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


class ImagesDataset(SeededDataset):
    """All images below ``root`` in sorted order of their relative paths.

    Samples: mode 'RGB' -> float32 (H, W, 3) in [0, 1] (``read_image``); mode 'L' -> alpha
    float32 (H, W, 1) in [0, 1] (``read_alpha``), each passed through
    ``transforms(img, rng)`` when given.

    ``names[i]`` is the relative path of file i without extension ('/'-separated), used
    by :class:`ZipDataset` to check that paired folders match (fgr .jpg vs pha .png is fine).

    Raises FileNotFoundError when ``root`` is missing and ValueError when it holds no image.
    See :class:`SeededDataset` for ``seed`` and ``skip_unreadable``.
    """

    def __init__(self, root, mode="RGB", transforms=None, seed=0, skip_unreadable=False):
        super().__init__(seed, skip_unreadable)
        self.root = os.fspath(root)
        self.mode = check_mode(mode)
        self.transforms = transforms
        self.filenames = list_images(self.root)
        if not self.filenames:
            raise ValueError(f"no image files (.jpg/.png/...) found under '{self.root}'")
        self.names = [os.path.splitext(os.path.relpath(f, self.root))[0].replace(os.sep, "/")
                      for f in self.filenames]

    def __len__(self):
        return len(self.filenames)

    def load(self, idx, rng):
        path = self.filenames[idx]
        img = read_image(path) if self.mode == "RGB" else read_alpha(path)[:, :, None]
        if self.transforms is not None:
            img = self.transforms(img, rng)
        return img

    def describe(self, idx):
        return self.filenames[idx]
