"""Recognise which dataset release lies at a path, from the files on disk (or in the zip).

Layouts (names as reported by :func:`recognise` and ``tools/check_dataset``), each possibly
wrapped in one or more single top folders (``PhotoMatte85/...``), folder or zip:

* ``photomatte85-rgba``   (kind photomatte85): PhotoMatte85 as released, image files directly
  in the root, all PNGs with an alpha channel (colour type gray+alpha or RGBA);
* ``pha-fgr``             (kind photomatte85): ``pha/`` + ``fgr/`` (+ optional ``trimap/``),
  same file names (the extension may differ);
* ``videomatte240k-jpeg`` / ``videomatte240k-video`` (kind videomatte240k):
  ``{train,test}/{fgr,pha}/<clip>/<frame>.jpg`` (VideoMatte240K_JPEG_SD / _HD) or
  ``{train,test}/{fgr,pha}/<clip>.mp4`` (the video release); a ``valid/`` split made by hand
  (as the RVM training notes suggest) is used for the validation split when present;
* ``distinctions646``     (kind distinctions646): ``{Train,Test}/{FG,GT}/<name>.png``
  (folder names compared case-insensitively);
* ``backgrounds``         (kind backgrounds): any images (nested folders allowed).

See docs/data.md for the evidence behind each layout.
"""
import os
from dataclasses import dataclass, field

from .io import IMAGE_EXTENSIONS
from .sources import LayoutError, open_source
from .video import VIDEO_EXTENSIONS

KINDS = ("photomatte85", "videomatte240k", "distinctions646", "backgrounds")
# split -> folder names accepted for it, in order of preference (compared case-insensitively)
SPLIT_FOLDERS = {"train": ("train",), "valid": ("valid", "test")}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def extension(rel):
    return os.path.splitext(rel)[1].lower()


def is_image(rel):
    return extension(rel) in IMAGE_EXTENSIONS


def is_video(rel):
    return extension(rel) in VIDEO_EXTENSIONS


def stem(rel):
    """Relative path without extension: the name pairs are matched by (fgr .jpg pairs pha .png)."""
    return os.path.splitext(rel)[0]


def png_has_alpha(head):
    """True when ``head`` (the first 26+ bytes of a file) is a PNG of colour type gray+alpha or RGBA."""
    return len(head) >= 26 and head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR" and head[25] in (4, 6)


@dataclass
class Layout:
    """A recognised release.

    Attributes:
        name: layout name (see the module docstring); kind: one of ``KINDS``.
        source: the FolderSource / ZipSource it was found in.
        base: folder inside the source holding the release ('' or 'Wrapper/.../'), ends with '/'.
        folders: for paired layouts, {split: {'fgr': dir, 'pha': dir[, 'trimap': dir]}} with dirs
            relative to the source ending with '/' (split '' for the unsplit test set);
            for the single-folder layouts, {'': {'images': base}}.
    """
    name: str
    kind: str
    source: object
    base: str
    folders: dict = field(default_factory=dict)

    def files(self, folder):
        """Data files (images and videos) below ``folder`` as paths relative to that folder, sorted."""
        n = len(folder)
        return [f[n:] for f in self.source.files() if f.startswith(folder) and (is_image(f) or is_video(f))]

    def split(self, split):
        """The folders of ``split`` ('train' or 'valid'); LayoutError naming what exists otherwise."""
        if split not in self.folders:
            raise LayoutError(f"{self.name} in '{self.source}' has no '{split}' split "
                              f"(found: {sorted(s for s in self.folders if s) or 'none'})")
        return self.folders[split]

    def describe(self):
        where = f"'{self.source}'" + (f" (in '{self.base}')" if self.base else "")
        return f"{self.name} at {where}"


def recognise(path_or_source, kind="auto"):
    """The :class:`Layout` of the release at ``path_or_source`` (folder, zip, or an open source).

    ``kind`` restricts the layouts tried ('auto': all, in the order d646, videomatte240k,
    photomatte85, backgrounds). Raises FileNotFoundError for a missing path and LayoutError,
    saying what was found and what was expected, when nothing fits.
    """
    if kind != "auto" and kind not in KINDS:
        raise ValueError(f"kind must be 'auto' or one of {KINDS}, got {kind!r}")
    source = open_source(path_or_source) if isinstance(path_or_source, (str, os.PathLike)) else path_or_source
    files = [f for f in source.files() if is_image(f) or is_video(f)]
    base = _strip_wrappers(files)
    inner = [f[len(base):] for f in files]
    tried = [kind] if kind != "auto" else list(KINDS)
    for k in tried:
        layout = _RECOGNISERS[k](source, base, inner)
        if layout is not None:
            return layout
    raise LayoutError(f"'{source}' does not look like {' or '.join(_EXPECTED[k] for k in tried)}; "
                      f"found {_summary(source, inner, base)}")


def _strip_wrappers(files):
    """The common folder prefix ('' or 'a/b/') when every data file lies below one single folder."""
    base = ""
    while files:
        tops = {f[len(base):].split("/", 1)[0] for f in files}
        if len(tops) != 1 or all("/" not in f[len(base):] for f in files):
            break
        base += tops.pop() + "/"
    return base


def _children(files, prefix=""):
    """{lower-case name: real name} of the folders directly below ``prefix`` that hold data files."""
    out = {}
    for f in files:
        if f.startswith(prefix) and "/" in f[len(prefix):]:
            name = f[len(prefix):].split("/", 1)[0]
            out.setdefault(name.lower(), name)
    return out


def _paired_splits(files, base, fgr_name, pha_name):
    """{split: {'fgr': dir, 'pha': dir}} of ``<split>/<fgr_name>`` + ``<split>/<pha_name>`` folders."""
    found, tops = {}, _children(files)
    for split, candidates in SPLIT_FOLDERS.items():
        for c in candidates:
            if c in tops:
                sub = _children(files, tops[c] + "/")
                if fgr_name in sub and pha_name in sub:
                    found[split] = {"fgr": f"{base}{tops[c]}/{sub[fgr_name]}/",
                                    "pha": f"{base}{tops[c]}/{sub[pha_name]}/"}
                    break
    return found


def _distinctions646(source, base, files):
    splits = _paired_splits(files, base, "fg", "gt")
    return Layout("distinctions646", "distinctions646", source, base, splits) if splits else None


def _videomatte240k(source, base, files):
    splits = _paired_splits(files, base, "fgr", "pha")
    if not splits:
        return None
    below = [f for f in files if any(f.startswith(d[len(base):]) for s in splits.values() for d in s.values())]
    form = "video" if any(is_video(f) for f in below) else "jpeg"
    return Layout(f"videomatte240k-{form}", "videomatte240k", source, base, splits)


def _photomatte85(source, base, files):
    tops = _children(files)
    if "pha" in tops and "fgr" in tops:
        folders = {"pha": f"{base}{tops['pha']}/", "fgr": f"{base}{tops['fgr']}/"}
        if "trimap" in tops:
            folders["trimap"] = f"{base}{tops['trimap']}/"
        return Layout("pha-fgr", "photomatte85", source, base, {"": folders})
    top_images = [f for f in files if "/" not in f and is_image(f)]
    if top_images and all(png_has_alpha(source.head(base + f, 26)) for f in top_images):
        return Layout("photomatte85-rgba", "photomatte85", source, base, {"": {"images": base}})
    return None


def _backgrounds(source, base, files):
    if any(is_image(f) for f in files):
        return Layout("backgrounds", "backgrounds", source, base, {"": {"images": base}})
    return None


_RECOGNISERS = {"photomatte85": _photomatte85, "videomatte240k": _videomatte240k,
                "distinctions646": _distinctions646, "backgrounds": _backgrounds}
_RECOGNISERS = {k: _RECOGNISERS[k] for k in ("distinctions646", "videomatte240k", "photomatte85", "backgrounds")}
_EXPECTED = {
    "photomatte85": "PhotoMatte85 (RGBA PNG files in one folder, or pha/ + fgr/ [+ trimap/])",
    "videomatte240k": "VideoMatte240K ({train,test}/{fgr,pha}/ holding <clip>/<frame>.jpg or <clip>.mp4)",
    "distinctions646": "Distinctions-646 ({Train,Test}/{FG,GT}/<name>.png)",
    "backgrounds": "a background set (image files)",
}


def _summary(source, files, base):
    """What is there, in a few words: counts of images/videos and the top folders."""
    if not files:
        return "no image or video files"
    images = sum(is_image(f) for f in files)
    videos = sum(is_video(f) for f in files)
    top = [f for f in files if "/" not in f]
    folders = sorted(_children(files).values())
    parts = [f"{images} image and {videos} video file(s)" + (f" below '{base}'" if base else "")]
    if top:
        opaque = [f for f in top if is_image(f) and not png_has_alpha(source.head(base + f, 26))]
        parts.append(f"{len(top)} at the top level (e.g. '{top[0]}')" +
                     (f", {len(opaque)} of them not PNGs with an alpha channel (e.g. '{opaque[0]}')"
                      if opaque else ""))
    if folders:
        parts.append(f"top folders {', '.join(f + '/' for f in folders[:8])}{' ...' if len(folders) > 8 else ''}")
    return "; ".join(parts)
