"""Check a dataset release before a run: which layout it is, how much is there, what would break.

    report = check_dataset("PhotoMatte85.zip")     # kind 'auto' or one of dataset.layouts.KINDS
    print(report.format()); raise SystemExit(report.exit_status)

Every file is decoded as the training / evaluation code decodes it. Findings are of two
severities:

* **errors** (exit status 2): the run would stop or read the wrong data: no recognised layout
  (or a split without data), unreadable files (corrupt, truncated, refused zip entries,
  videos that do not open, videos inside a zip), fgr/pha (or trimap) names without a
  counterpart, fgr/pha/trimap of different sizes, frame counts of paired videos that differ,
  RGBA test files without any alpha channel;
* **warnings** (exit status 0): the data loads but looks odd: mattes that are all 0 or all
  255, RGBA cut-outs whose alpha is fully opaque (the alpha was probably lost on export),
  alpha files that are not single-channel (an alpha channel is read from RGBA mattes, luma
  from colour ones: a colour "matte" is often a foreground in the wrong folder; 3-channel
  files whose channels agree within JPEG noise count as single-channel).

Video releases are checked per clip (opens, frame counts, first-frame sizes), not per frame.
"""
import collections
from dataclasses import dataclass, field

import cv2
import numpy as np

from .io import ImageReadError, decode_alpha, decode_cutout, decode_image
from .layouts import is_image, is_video, recognise, stem
from .sources import LayoutError

ERROR, WARNING = "error", "warning"
GRAY_TOLERANCE = 8 / 255  # channels of a gray JPEG differ by a few levels after chroma subsampling

# problem key -> (severity, heading)
PROBLEMS = {
    "layout": (ERROR, "no recognised layout"),
    "empty": (ERROR, "no data"),
    "unreadable": (ERROR, "unreadable files"),
    "unmatched": (ERROR, "names without a counterpart"),
    "size": (ERROR, "size mismatches"),
    "frames": (ERROR, "frame count mismatches"),
    "no_alpha": (ERROR, "RGBA test files without an alpha channel"),
    "alpha_channels": (WARNING, "alpha files that are not single-channel"),
    "alpha_constant": (WARNING, "alpha all 0 or all 255"),
    "opaque": (WARNING, "RGBA files whose alpha is fully opaque"),
}


@dataclass
class Report:
    """Result of :func:`check_dataset`.

    Attributes:
        path, layout (name or None), counts ({what: int}, e.g. images, clips, frames),
        findings ([(problem key, file, detail)]).
    """
    path: str
    layout: str = None
    counts: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)

    def add(self, problem, file, detail):
        self.findings.append((problem, file, detail))

    def of(self, severity):
        return [f for f in self.findings if PROBLEMS[f[0]][0] == severity]

    @property
    def errors(self):
        return self.of(ERROR)

    @property
    def warnings(self):
        return self.of(WARNING)

    @property
    def exit_status(self):
        """2 when something would break the run, else 0 (warnings included)."""
        return 2 if self.errors else 0

    def format(self, examples=5):
        """The summary: layout, counts, then each problem with its count and up to ``examples`` files."""
        lines = [f"dataset: {self.path}", f"layout: {self.layout or 'not recognised'}"]
        if self.counts:
            lines.append("counts: " + ", ".join(f"{v} {k}" for k, v in self.counts.items()))
        for severity in (ERROR, WARNING):
            found = self.of(severity)
            if not found:
                continue
            lines.append(f"{severity}s ({len(found)}):")
            by_problem = collections.defaultdict(list)
            for problem, file, detail in found:
                by_problem[problem].append((file, detail))
            for problem, items in by_problem.items():
                lines.append(f"  {PROBLEMS[problem][1]} ({len(items)}):")
                lines += [f"    {file}: {detail}" if file else f"    {detail}" for file, detail in items[:examples]]
                if len(items) > examples:
                    lines.append(f"    ... and {len(items) - examples} more")
        verdict = ("FAIL: the run would break" if self.errors else
                   "OK with warnings" if self.warnings else "OK")
        lines.append(f"result: {verdict} ({len(self.errors)} error(s), {len(self.warnings)} warning(s))")
        return "\n".join(lines)


def check_dataset(path, kind="auto"):
    """Recognise the release at ``path`` (folder or zip) and check every file; returns a :class:`Report`.

    ``kind``: 'auto' or one of ``dataset.layouts.KINDS``. A path that is missing or fits no
    layout gives a report with a 'layout' error rather than an exception.
    """
    report = Report(str(path))
    try:
        layout = recognise(path, kind)
    except (LayoutError, FileNotFoundError) as e:
        report.add("layout", None, str(e))
        return report
    report.layout = layout.describe()
    if layout.name == "photomatte85-rgba":
        _check_rgba(layout, report)
    elif layout.name == "backgrounds":
        _check_images(layout, report)
    else:
        for split, folders in layout.folders.items():
            if layout.name == "videomatte240k-video":
                _check_videos(layout, split, folders, report)
            else:
                _check_pairs(layout, split, folders, report)
    return report


def _count(report, key, n):
    report.counts[key] = report.counts.get(key, 0) + n


def _read(layout, rel, decode, report):
    """decode(bytes, where) of ``rel``, or None after recording it as unreadable."""
    where = layout.source.where(rel)
    try:
        return decode(layout.source.read(rel), where)
    except (ImageReadError, FileNotFoundError, LayoutError) as e:
        report.add("unreadable", where, e.reason if isinstance(e, ImageReadError) else str(e))
        return None


def _check_constant(pha, where, report):
    if pha.max() <= 0:
        report.add("alpha_constant", where, "alpha is 0 everywhere (nothing of the foreground)")
    elif pha.min() >= 1:
        report.add("alpha_constant", where, "alpha is 255 everywhere (no transparency)")


def _check_rgba(layout, report):
    base = layout.folders[""]["images"]
    files = [f for f in layout.files(base) if "/" not in f and is_image(f)]
    _count(report, "images", len(files))
    for f in files:
        decoded = _read(layout, base + f, decode_cutout, report)
        if decoded is None:
            continue
        where, (_, alpha, channels) = layout.source.where(base + f), decoded
        if alpha is None:
            report.add("no_alpha", where, f"{channels} channel(s), no alpha: the ground truth would be missing")
        elif alpha.min() >= 1:
            report.add("opaque", where, "alpha channel is 255 everywhere (alpha lost on export?)")
        elif alpha.max() <= 0:
            report.add("alpha_constant", where, "alpha is 0 everywhere (nothing of the foreground)")


def _check_images(layout, report):
    files = [f for f in layout.files(layout.base) if is_image(f)]
    _count(report, "images", len(files))
    for f in files:
        _read(layout, layout.base + f, decode_image, report)


def _matched(layout, split, folders, keep, report):
    """{stem: {key: rel}} of the stems present in every folder; the others recorded as unmatched."""
    listed = {k: {stem(f): d + f for f in layout.files(d) if keep(f)} for k, d in folders.items()}
    label = f"{split}/" if split else ""
    if not listed["pha"] and not listed["fgr"]:
        report.add("empty", layout.source.where(folders["pha"]), f"split '{split or 'test'}' has no files")
    for k, names in listed.items():
        for other, other_names in listed.items():
            if other == k or (k == "trimap" and other != "pha") or (other == "trimap" and k != "pha"):
                continue  # a trimap is only required for each pha (it may be absent for fgr-only files)
            for s in sorted(set(names) - set(other_names)):
                report.add("unmatched", layout.source.where(names[s]),
                           f"{label}{k} file has no counterpart in {layout.source.where(folders[other])}")
    common = set.intersection(*(set(n) for n in listed.values()))
    return {s: {k: listed[k][s] for k in listed} for s in sorted(common)}


def _pha_channels(layout, rel, report):
    """Report an alpha file that is not single-channel (see the module docstring)."""
    decoded = _read(layout, rel, decode_cutout, report)
    if decoded is None:
        return
    rgb, alpha, channels = decoded
    where = layout.source.where(rel)
    if alpha is not None:
        report.add("alpha_channels", where, f"{channels} channels with alpha: its alpha channel is read, "
                                            "not its gray/colour values")
    elif channels >= 3 and np.abs(rgb - rgb[:, :, :1]).max() > GRAY_TOLERANCE:
        report.add("alpha_channels", where, "colour image (channels differ): its luma is read as alpha; "
                                            "a foreground in the alpha folder?")


def _check_pairs(layout, split, folders, report):
    pairs = _matched(layout, split, folders, is_image, report)
    if layout.kind == "videomatte240k":
        _count(report, "clips", len({s.split("/", 1)[0] for s in pairs if "/" in s}))
        _count(report, "frames", len(pairs))
    else:
        _count(report, "images", len(pairs))
    for s, rels in pairs.items():
        pha = _read(layout, rels["pha"], decode_alpha, report)
        if pha is not None:
            _check_constant(pha, layout.source.where(rels["pha"]), report)
            _pha_channels(layout, rels["pha"], report)
        fgr = _read(layout, rels["fgr"], decode_image, report)
        others = [(k, fgr if k == "fgr" else _read(layout, rels[k], decode_alpha, report))
                  for k in ("fgr", "trimap") if k in rels]
        for k, img in others:
            if pha is not None and img is not None and img.shape[:2] != pha.shape[:2]:
                report.add("size", layout.source.where(rels[k]),
                           f"{k} is {img.shape[1]}x{img.shape[0]} but '{layout.source.where(rels['pha'])}' is "
                           f"{pha.shape[1]}x{pha.shape[0]} (width x height)")


def _video_info(layout, rel, report):
    """(frame count, (height, width) of the first frame) of a video, or None if it cannot be read."""
    try:
        path = layout.source.local_path(rel)
    except LayoutError as e:
        report.add("unreadable", layout.source.where(rel), str(e))
        return None
    cap = cv2.VideoCapture(path)
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            report.add("unreadable", path, "OpenCV cannot open this video or decode its first frame")
            return None
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), frame.shape[:2]
    finally:
        cap.release()


def _check_videos(layout, split, folders, report):
    clips = _matched(layout, split, folders, is_video, report)
    _count(report, "clips", len(clips))
    for s, rels in clips.items():
        pha, fgr = _video_info(layout, rels["pha"], report), _video_info(layout, rels["fgr"], report)
        if pha is None or fgr is None:
            continue
        _count(report, "frames", pha[0])
        where = layout.source.where(rels["fgr"])
        if pha[0] != fgr[0]:
            report.add("frames", where, f"{fgr[0]} frames but its pha video has {pha[0]}")
        if pha[1] != fgr[1]:
            report.add("size", where, f"frames are {fgr[1][1]}x{fgr[1][0]} but its pha video's are "
                                      f"{pha[1][1]}x{pha[1][0]} (width x height)")
