"""The matting test set (PhotoMatte85) as users have it: RGBA PNGs (folder or the release zip),
or ``pha/`` + ``fgr/`` (+ ``trimap/``) folders.

    test = open_test_set("PhotoMatte85.zip")      # layout recognised from what is there
    test.layout, test.names                        # 'photomatte85-rgba', ['0001.png', ...]
    pha, fgr, trimap = test.read(test.names[0])

An RGBA file gives the foreground colour from its RGB channels (not premultiplied) and the
ground-truth alpha from its A channel. Files are decoded with ``dataset.io`` (EXIF
orientation, 8/16 bit), from zip entries in memory.
"""
import os

from .io import ImageReadError, decode_alpha, decode_cutout, decode_image, quantize
from .layouts import is_image, recognise, stem
from .paths import dataset_root
from .sources import FolderSource, LayoutError


class TestSet:
    """Ground truth of a test set; build it with :func:`open_test_set` or :meth:`from_folders`.

    Attributes:
        layout: 'photomatte85-rgba' or 'pha-fgr'.
        names: sorted names ('/'-separated paths relative to the image folder, with extension:
            the RGBA file names, or the pha/ file names). Predictions are stored under these.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, layout, entries, where):
        self.layout = layout
        self._entries = entries  # name -> {'pha'|'fgr'|'trimap'|'rgba': (source, rel)}
        self.names = sorted(entries, key=lambda n: n.split("/"))
        self._where = where

    @classmethod
    def from_layout(cls, layout):
        """The test set of a recognised 'photomatte85-rgba' or 'pha-fgr' :class:`~dataset.layouts.Layout`."""
        folders = layout.split("")
        if "images" in folders:
            entries = {f: {"rgba": (layout.source, folders["images"] + f)}
                       for f in layout.files(folders["images"]) if "/" not in f and is_image(f)}
            return cls(layout.name, entries, layout.describe())
        return cls._paired(layout.name, {k: (layout.source, d) for k, d in folders.items()}, layout.describe())

    @classmethod
    def from_folders(cls, pha, fgr, trimap=None):
        """The explicit form of ``configs/datasets.yaml``: three folders, each anywhere on disk."""
        folders = {"pha": pha, "fgr": fgr, **({"trimap": trimap} if trimap else {})}
        for key, folder in folders.items():
            if not os.path.isdir(folder):
                raise FileNotFoundError(f"{key} folder not found: '{folder}'")
        return cls._paired("pha-fgr", {k: (FolderSource(v), "") for k, v in folders.items()},
                           f"pha-fgr at '{os.path.dirname(os.path.abspath(pha))}'")

    @classmethod
    def _paired(cls, name, folders, where):
        """folders: {'pha'|'fgr'|'trimap': (source, folder prefix)}; files matched by name without extension."""
        listed = {k: _images_in(src, d) for k, (src, d) in folders.items()}
        place = {k: src.where(d) if d else str(src) for k, (src, d) in folders.items()}
        if not listed["pha"]:
            raise LayoutError(f"no images in '{place['pha']}'")
        by_stem = {k: {stem(f): f for f in files} for k, files in listed.items()}
        for k in [k for k in folders if k != "pha"]:
            missing = sorted(f for f in listed["pha"] if stem(f) not in by_stem[k])
            if missing:
                raise LayoutError(f"{len(missing)} file(s) of '{place['pha']}' have no counterpart in "
                                  f"'{place[k]}': {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        entries = {f: {k: (src, d + by_stem[k][stem(f)]) for k, (src, d) in folders.items()}
                   for f in listed["pha"]}
        return cls(name, entries, where)

    def __len__(self):
        return len(self.names)

    def _entry(self, name):
        if name not in self._entries:
            raise KeyError(f"no image named '{name}' in {self._where}")
        return self._entries[name]

    def files(self, name):
        """{'pha'|'fgr'|'trimap'|'rgba': file} behind ``name``, as paths or 'archive.zip:entry' strings."""
        return {k: src.where(rel) for k, (src, rel) in self._entry(name).items()}

    def read(self, name):
        """Ground truth of ``name``.

        Returns:
            (pha float32 (H, W) in [0, 1], fgr float32 (H, W, 3) in [0, 1],
             trimap uint8 (H, W) (0 / 128 / 255 as stored), or None when the layout has none).
        Raises:
            ImageReadError naming the file (undecodable, an RGBA file without alpha channel);
            ValueError naming both files when fgr, pha and trimap differ in size.
        """
        entry = self._entry(name)
        data = {k: (src.read(rel), src.where(rel)) for k, (src, rel) in entry.items()}
        if "rgba" in data:
            fgr, pha, channels = decode_cutout(*data["rgba"])
            if pha is None:
                raise ImageReadError(data["rgba"][1], f"expected an RGBA cut-out, the file has {channels} "
                                                      "channel(s) and no alpha")
            return pha, fgr, None
        pha, fgr = decode_alpha(*data["pha"]), decode_image(*data["fgr"])
        _same_size(pha, fgr, data["pha"][1], data["fgr"][1])
        trimap = None
        if "trimap" in data:
            trimap = quantize(decode_alpha(*data["trimap"]), 8, "trimap")
            _same_size(pha, trimap, data["pha"][1], data["trimap"][1])
        return pha, fgr, trimap

    def describe(self):
        """E.g. "photomatte85-rgba at 'PhotoMatte85.zip' (in 'PhotoMatte85/'), 85 images"."""
        return f"{self._where}, {len(self.names)} images"


def _images_in(source, folder):
    n = len(folder)
    return [f[n:] for f in source.files() if f.startswith(folder) and is_image(f)]


def _same_size(a, b, path_a, path_b):
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"size mismatch: '{path_a}' is {a.shape[1]}x{a.shape[0]} but "
                         f"'{path_b}' is {b.shape[1]}x{b.shape[0]} (width x height)")


def open_test_set(path):
    """The test set at ``path``: a folder or a zip holding RGBA PNGs, or ``pha/`` + ``fgr/`` (+ ``trimap/``).

    Raises FileNotFoundError (nothing there) and LayoutError (a ValueError) saying what was
    found and what was expected, or naming the pha files without fgr / trimap counterpart.
    """
    return TestSet.from_layout(recognise(path, "photomatte85"))


def test_set_from_config(paths, key="photomatte85"):
    """The test set named ``key`` in dataset paths (``dataset.paths.load_dataset_paths``):
    ``{root: PATH}`` (folder or zip, any layout of :func:`open_test_set`) or the explicit
    ``{pha: PATH, fgr: PATH[, trimap: PATH]}`` (a trimap folder that does not exist is ignored).

    Raises DatasetKeyError / FileNotFoundError naming the key and the YAML file, and LayoutError.
    """
    node = paths.get(key)
    if isinstance(node, dict) and "root" in node:
        return open_test_set(dataset_root(paths, key, "root"))
    trimap = node.get("trimap") if isinstance(node, dict) else None
    return TestSet.from_folders(dataset_root(paths, key, "pha"), dataset_root(paths, key, "fgr"),
                                trimap if trimap and os.path.isdir(trimap) else None)


test_set_from_config.__test__ = False
open_test_set.__test__ = False
