"""Training pairs straight from the release layouts: VideoMatte240K (JPEG or video form) and
Distinctions-646, as folders or (image releases) as zips read in place.

    pairs = training_pairs("VideoMatte240K_JPEG_SD.zip", "train")  # ZipDataset of (pha, fgr)
    pairs = pairs_from_config(load_dataset_paths(yaml), "videomatte240k", "valid", transforms, seed)

The result is the dataset ``model/training/data.py`` builds today: a paired
:class:`~dataset.zip.ZipDataset` of ``(pha float32 (H, W, 1), fgr float32 (H, W, 3))`` in [0, 1],
with file names checked to match. Folders use :class:`VideoDataset` (frame folders and
videos) and :class:`ImagesDataset`; zips use :class:`ArchiveImagesDataset`.
"""
import os

from .base import SeededDataset
from .images import ImagesDataset, check_mode
from .io import decode_alpha, decode_image
from .layouts import is_image, is_video, recognise, stem
from .paths import dataset_root
from .sources import LayoutError
from .video import VideoDataset
from .zip import ZipDataset

# dataset key of configs/datasets.yaml -> release kind of its {root: PATH} form
CONFIG_KINDS = {"videomatte240k": "videomatte240k", "distinctions646": "distinctions646"}


class ArchiveImagesDataset(SeededDataset):
    """The images of one folder of a zip archive (nested folders allowed), read in place.

    Like :class:`ImagesDataset`: samples 'RGB' -> float32 (H, W, 3), 'L' -> float32 (H, W, 1),
    in [0, 1], then ``transforms(img, rng)``; ``names`` are relative paths without extension.
    """

    def __init__(self, source, folder, mode="RGB", transforms=None, seed=0, skip_unreadable=False):
        super().__init__(seed, skip_unreadable)
        self.source, self.folder = source, folder
        self.mode = check_mode(mode)
        self.transforms = transforms
        self.root = source.where(folder)
        self.files = [f[len(folder):] for f in source.files() if f.startswith(folder) and is_image(f)]
        videos = [f for f in source.files() if f.startswith(folder) and is_video(f)]
        if videos:
            source.local_path(videos[0])  # raises LayoutError: videos cannot be read from a zip
        if not self.files:
            raise ValueError(f"no image files found under '{self.root}'")
        self.names = [stem(f) for f in self.files]

    def __len__(self):
        return len(self.files)

    def load(self, idx, rng):
        rel = self.folder + self.files[idx]
        data, where = self.source.read(rel), self.source.where(rel)
        img = decode_image(data, where) if self.mode == "RGB" else decode_alpha(data, where)[:, :, None]
        if self.transforms is not None:
            img = self.transforms(img, rng)
        return img

    def describe(self, idx):
        return self.source.where(self.folder + self.files[idx])


def _side(layout, folder, mode):
    if layout.source.is_archive:
        return ArchiveImagesDataset(layout.source, folder, mode)
    path = layout.source.local_path(folder)
    return VideoDataset(path, mode) if layout.kind == "videomatte240k" else ImagesDataset(path, mode)


def training_pairs(path, split, transforms=None, seed=0, kind="auto"):
    """Paired (pha, fgr) dataset of ``split`` ('train' or 'valid') of the release at ``path``.

    ``path``: a VideoMatte240K root (``train/``, ``test/``, optionally ``valid/``; JPEG or
    video form) or a Distinctions-646 root (``Train/``, ``Test/``), folder or zip (videos
    only from folders). 'valid' reads ``valid/`` when present, else ``test/``.
    ``kind``: 'auto', 'videomatte240k' or 'distinctions646'.

    Returns:
        ZipDataset([pha (mode 'L'), fgr (mode 'RGB')], transforms, assert_equal_length=True, seed=seed):
        samples (pha float32 (H, W, 1), fgr float32 (H, W, 3)) in [0, 1] before ``transforms``.
    Raises:
        FileNotFoundError, LayoutError (what was found and expected, or a missing split),
        ValueError (fgr and pha names or counts differ, naming the first mismatch).
    """
    if split not in ("train", "valid"):
        raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
    if kind not in ("auto", "videomatte240k", "distinctions646"):
        raise ValueError(f"kind must be 'auto', 'videomatte240k' or 'distinctions646', got {kind!r}")
    layout = recognise(path, kind)
    if layout.kind not in ("videomatte240k", "distinctions646"):
        raise LayoutError(f"'{path}' holds {layout.name}, not a training release (VideoMatte240K or "
                          "Distinctions-646)")
    folders = layout.split(split)
    return ZipDataset([_side(layout, folders["pha"], "L"), _side(layout, folders["fgr"], "RGB")],
                      transforms=transforms, assert_equal_length=True, seed=seed)


def pairs_from_config(paths, name, split, transforms=None, seed=0):
    """Paired (pha, fgr) dataset of ``paths[name]`` (from ``dataset.paths.load_dataset_paths``).

    Accepts both schemas of ``configs/datasets.yaml``: ``name: {root: PATH}`` (a release root,
    see :func:`training_pairs`) and ``name: {train: {fgr, pha}, valid: {fgr, pha}}`` (folders
    of frames/images or videos, as before). Same return value as :func:`training_pairs`.
    Raises DatasetKeyError / FileNotFoundError naming the key and the YAML file.
    """
    node = paths.get(name)
    if isinstance(node, dict) and "root" in node:
        return training_pairs(dataset_root(paths, name, "root"), split, transforms, seed,
                              kind=CONFIG_KINDS.get(name, "auto"))
    return ZipDataset([
        VideoDataset(dataset_root(paths, name, split, "pha"), mode="L"),
        VideoDataset(dataset_root(paths, name, split, "fgr"), mode="RGB"),
    ], transforms=transforms, assert_equal_length=True, seed=seed)


def background_images(path, mode="RGB", transforms=None, seed=0):
    """Training backgrounds at ``path`` (folder or zip) as a dataset of float32 (H, W, 3) in [0, 1]:
    :class:`ImagesDataset` for a folder, :class:`ArchiveImagesDataset` for a zip."""
    if os.path.isdir(path):
        return ImagesDataset(path, mode, transforms=transforms, seed=seed)
    layout = recognise(path, "backgrounds")
    return ArchiveImagesDataset(layout.source, layout.base, mode, transforms=transforms, seed=seed)
