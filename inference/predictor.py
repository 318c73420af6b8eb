"""Function API for one-shot matting of photos, folders and videos.

    from inference.predictor import predict_images, convert
    out = predict_images("M.pdparams", src, bgr)     # src, bgr: float32 (H, W, 3) RGB in [0, 1]
    out["pha"]    # (H, W) alpha in [0, 1]; out["fgr"]: (H, W, 3) foreground in [0, 1]
    convert("M.pdparams", "video.mp4", "bgr.png", "out/", outputs=("com", "pha"))

``model`` may be a checkpoint path (exported once and cached, then run by ONNX Runtime on CPU or
Paddle Inference on GPU), an engine of ``inference.engines``, a function that makes one from the first input's
(H, W), or a MattingBase / MattingRefine layer
(run eagerly).
Inputs of any size work: they are padded (edge replication) to a multiple of 4 and the outputs
cropped back.
"""
import os
import sys
import warnings

import cv2
import numpy as np
import paddle
from tqdm import tqdm

from common.atomic import staged_output
from common.errors import InputError
from dataset.io import quantize, write_alpha, write_image
from model.matting import MattingRefine
from model.options import ModelOptions
from .alignment import ALIGNMENT_FAILED, AlignmentWarning, align_background, background_mismatch
from .engines import DygraphEngine, load_engine
from .backdrop import fit_cover, open_backdrop
from .media import ImageSource, VideoSource, open_source, prefetch, source_kind
from .video_sink import VideoSink

__all__ = ["OUTPUT_TYPES", "DEFAULT_COM_COLOR", "suggest_backbone_scale", "as_engine", "predict_batch",
           "predict_images", "composite_rgba", "composite_over", "composite_over_u8", "convert", "write_rgba",
           "InputMismatchError", "VIDEO_FORMATS"]

OUTPUT_TYPES = ("pha", "fgr", "com", "err", "ref")
DEFAULT_COM_COLOR = (120 / 255, 255 / 255, 155 / 255)  # the reference's green screen


class InputMismatchError(InputError):
    """A source and its background do not go together (size, names, length)."""


def suggest_backbone_scale(height, width, max_coarse_side=640):
    """Largest of 1/4, 1/8, 1/16, ... keeping the base network's input side <= ``max_coarse_side``
    (the reference uses 1/4 for HD and 1/8 for 4K)."""
    scale = 0.25
    while max(height, width) * scale > max_coarse_side:
        scale /= 2
    return scale


def options_of(net):
    """ModelOptions describing a MattingBase / MattingRefine layer."""
    if isinstance(net, MattingRefine):
        r = net.refiner
        return ModelOptions("mattingrefine", net.backbone_name, net.backbone_scale, r.mode, r.sample_pixels,
                            r.threshold, r.kernel_size, r.prevent_oversampling)
    return ModelOptions("mattingbase", net.backbone_name)


def as_engine(model, first_size=None, **load_options):
    """An engine ``f(src, bgr) -> {name: array}`` for a checkpoint path, an engine or a layer.

    A path goes through ``load_engine(path, **load_options)``; without ``options`` there, the
    checkpoint's options are used with ``suggest_backbone_scale(*first_size)`` when the (H, W)
    of the first input is given. A layer is switched to eval mode. Any other callable without
    an ``outputs`` attribute is a factory: ``model(first_size)`` makes the engine.
    """
    if isinstance(model, (str, os.PathLike)):
        if "options" not in load_options and first_size is not None:
            overrides = {"backbone_scale": suggest_backbone_scale(*first_size), **load_options.get("overrides", {})}
            load_options["overrides"] = overrides
        return load_engine(model, **load_options)
    if isinstance(model, paddle.nn.Layer):
        model.eval()
        return DygraphEngine(model, options_of(model), load_options.get("device", "cpu"), load_options.get("threads"))
    if callable(model) and hasattr(model, "outputs"):
        return model
    if callable(model):
        return as_engine(model(first_size))
    raise TypeError(f"model must be a checkpoint path, an engine of model.inference or a paddle Layer, "
                    f"got {type(model).__name__}")


def _pad4(batch):
    """Edge-replicate (B, H, W, 3) to multiples of 4; returns (B, 3, H4, W4) float32."""
    _, h, w, _ = batch.shape
    padded = batch if h % 4 == 0 and w % 4 == 0 else np.pad(batch, ((0, 0), (0, -h % 4), (0, -w % 4), (0, 0)),
                                                              mode="edge")
    return np.ascontiguousarray(padded.transpose(0, 3, 1, 2), dtype=np.float32)


def predict_batch(engine, src, bgr, padded_bgr=None, extras=("err", "ref")):
    """Run ``engine`` on a batch of same-size images of any size.

    src, bgr: float32 (B, H, W, 3) RGB in [0, 1]; padded_bgr: ``_pad4(bgr)`` when already made.
    extras: which of "err" and "ref" to compute (each costs full-resolution passes).
    Returns {"pha": (B, H, W), "fgr": (B, H, W, 3), "err": (B, H, W), "ref": (B, H, W) or None},
    all in [0, 1]; err is the predicted error (upsampled from the coarse map for refine models),
    ref is 1 on refined 4x4 patches (None for base models); those not in ``extras`` are None.
    """
    _, h, w, _ = src.shape
    return _cropped(engine(_pad4(src), _pad4(bgr) if padded_bgr is None else padded_bgr), h, w, extras)


def _cropped(out, h, w, extras):
    """``predict_batch``'s result from the engine's output ``out`` on inputs padded from (h, w)."""
    H4, W4 = out["pha"].shape[2:]
    result = {"pha": out["pha"][:, 0, :h, :w], "fgr": out["fgr"].transpose(0, 2, 3, 1)[:, :h, :w],
              "err": None, "ref": None}
    refined = "err_sm" in out
    if "err" in extras:
        err = (np.stack([cv2.resize(e[0], (W4, H4), interpolation=cv2.INTER_LINEAR) for e in out["err_sm"]])
               if refined else out["err"][:, 0])
        result["err"] = np.clip(err[:, :h, :w], 0, 1)
    if "ref" in extras and refined:
        result["ref"] = np.repeat(np.repeat(out["ref_sm"][:, 0], 4, axis=1), 4, axis=2)[:, :h, :w]
    return result


def predict_images(model, src, bgr, batch_size=1, **load_options):
    """Matte one image or a list of images.

    Args:
        model: checkpoint path, engine or layer (see ``as_engine``).
        src: float32 (H, W, 3) RGB in [0, 1], or a list of them.
        bgr: the background(s): one array (used for every source) or a list matching ``src``.
        batch_size: images per model call (images of the same size are batched).
    Returns:
        for one image a dict {"pha": (H, W), "fgr": (H, W, 3), "err": (H, W), "ref": (H, W) or
        None}; for a list, a list of such dicts.
    """
    single = isinstance(src, np.ndarray) and src.ndim == 3
    srcs = [src] if single else list(src)
    bgrs = [bgr] * len(srcs) if isinstance(bgr, np.ndarray) and bgr.ndim == 3 else list(bgr)
    if len(bgrs) != len(srcs):
        raise InputMismatchError(f"got {len(srcs)} source images but {len(bgrs)} backgrounds")
    for i, (s, b) in enumerate(zip(srcs, bgrs)):
        _check_pair(s, b, f"src[{i}]", f"bgr[{i}]")
    engine = as_engine(model, srcs[0].shape[:2], **load_options)
    results = [result for _, result in _run(engine, zip(range(len(srcs)), srcs, bgrs), batch_size)]
    return results[0] if single else results


def _check_pair(src, bgr, src_name, bgr_name):
    for name, x in ((src_name, src), (bgr_name, bgr)):
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"{name} must be an (H, W, 3) RGB array, got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
    if src.shape != bgr.shape:
        raise InputMismatchError(f"size mismatch: {src_name} is {src.shape[1]}x{src.shape[0]} but {bgr_name} is "
                                 f"{bgr.shape[1]}x{bgr.shape[0]} (width x height); resize the background "
                                 f"(--resize-bgr) or pass the matching one")


def _run(engine, items, batch_size, extras=("err", "ref")):
    """Yield (name, result) for (name, src, bgr) items, batching consecutive same-size images
    (``extras`` as for ``predict_batch``)."""
    _check_batch_size(batch_size)
    return _infer(engine, _batches(items, batch_size), extras)


def _check_batch_size(batch_size):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def _batches(items, batch_size):
    """Group (name, src, bgr) items into engine inputs: yields (names, (H, W), src, bgr) with
    src, bgr float32 (B, 3, H4, W4) padded to multiples of 4. Consecutive images of one size
    share a batch; a background used by consecutive batches (one plate for a whole video) is
    laid out once."""
    pending = []
    last_bgr = [None, None]  # (backgrounds, padded)

    def batch():
        names, srcs, bgrs = zip(*pending)
        pending.clear()
        if last_bgr[0] is None or len(bgrs) != len(last_bgr[0]) or any(a is not b for a, b in zip(bgrs, last_bgr[0])):
            last_bgr[:] = bgrs, _pad4(np.stack(bgrs))
        src = _pad4(srcs[0][None] if len(srcs) == 1 else np.stack(srcs))
        return names, srcs[0].shape[:2], src, last_bgr[1]

    for name, src, bgr in items:
        if pending and (len(pending) == batch_size or pending[0][1].shape != src.shape):
            yield batch()
        pending.append((name, src, bgr))
    if pending:
        yield batch()


def _infer(engine, batches, extras):
    """Yield (name, result) per image of ``_batches`` output (result as of ``predict_batch``)."""
    for names, (h, w), src, bgr in batches:
        out = _cropped(engine(src, bgr), h, w, extras)
        for i, name in enumerate(names):
            yield name, {k: (v[i] if v is not None else None) for k, v in out.items()}


def composite_rgba(pha, fgr):
    """RGBA cut-out (H, W, 4) in [0, 1]: the foreground (black where alpha is 0) with alpha."""
    return np.concatenate([fgr * (pha[..., None] > 0), pha[..., None]], axis=2)


def composite_over(pha, fgr, background):
    """fgr over ``background`` ((H, W, 3) array or an RGB triple in [0, 1]): (H, W, 3) float32 in [0, 1]."""
    background = np.asarray(background, dtype=np.float32)
    out = np.subtract(fgr, background, dtype=np.float32)  # bgr + a * (fgr - bgr): three passes, no temporaries
    out *= pha[..., None]
    out += background
    return out


def composite_over_u8(pha, fgr, background):
    """``composite_over`` quantized for display and video: (H, W, 3) uint8, rounded to nearest.

    Computed plane by plane, which reads the model's channel-planar fgr row by row: about twice
    as fast as ``composite_over`` then quantizing, at 1080p.
    """
    background = np.asarray(background, dtype=np.float32)
    plane = np.empty(pha.shape, np.float32)
    channels = []
    for c in range(3):
        under = background[c] if background.ndim == 1 else background[..., c]
        np.subtract(fgr[..., c], under, out=plane)
        plane *= pha
        plane += under
        # Rounds and saturates in one pass; its absolute value only touches float noise below 0.
        channels.append(cv2.convertScaleAbs(plane, alpha=255))
    return cv2.merge(channels)


# ------------------------------------------------------------------ files and videos
def _unique_names(source, folder, role):
    """Raise InputError naming both files when two images of ``source`` share a name (a.png, a.jpg):
    their outputs (role "source") or their match (role "background") would be ambiguous."""
    seen = {}
    for name, path in zip(source.names, source.paths):
        if name in seen:
            what = (f"both would be written as <output>/{name}.png" if role == "source"
                    else f"both would be the background of source '{name}'")
            raise InputError(f"'{seen[name]}' and '{path}' in {role} folder '{folder}' have the same name: {what}; "
                             f"rename or move one of them")
        seen[name] = path


def _pairs(src_path, bgr_path):
    """(source, background source, mode) with mode "single" (one background for all) or "paired"."""
    src_kind, bgr_kind = source_kind(src_path), source_kind(bgr_path)
    src = open_source(src_path)
    if src_kind == "folder":
        _unique_names(src, src_path, "source")
    if bgr_kind == "image":
        return src, ImageSource.from_path(bgr_path), "single"
    if src_kind == "folder" and bgr_kind == "folder":
        bgr = ImageSource.from_path(bgr_path)
        _unique_names(bgr, bgr_path, "background")
        by_name = dict(zip(bgr.names, bgr.paths))
        missing = [n for n in src.names if n not in by_name]
        if missing:
            listed = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise InputMismatchError(f"{len(missing)} source image(s) of '{src_path}' have no background of the same "
                                     f"name in '{bgr_path}': {listed}")
        extra = len(bgr.names) - len(src.names)
        if extra:
            warnings.warn(f"{extra} background(s) in '{bgr_path}' match no source image and are ignored", stacklevel=3)
        return src, ImageSource([by_name[n] for n in src.names], src.names), "paired"
    if src_kind == "video" and bgr_kind == "video":
        bgr = VideoSource(bgr_path)
        if bgr.header_frames and src.header_frames and bgr.header_frames != src.header_frames:
            raise InputMismatchError(f"background video '{bgr_path}' has {bgr.header_frames} frames but source "
                                     f"video '{src_path}' has {src.header_frames}; pass a background image or a video of the "
                                     f"same length")
        return src, bgr, "paired"
    raise InputMismatchError(f"cannot pair the {src_kind} source ('{src_path}') with the {bgr_kind} background "
                             f"('{bgr_path}'): use one background image, a folder of backgrounds named like the "
                             f"source images, or a background video as long as the source video")


def _prepared(src, bgr_source, mode, resize_bgr, align, check_every):
    """(name, src, bgr) with the background resized / aligned / checked; runs on the decode thread."""
    fixed = next(iter(bgr_source))[1] if mode == "single" else None
    frames = iter(bgr_source) if mode == "paired" else None
    resized = {}  # source (H, W, 3) -> the background resized to it
    for i, (name, image) in enumerate(src):
        if frames is not None:
            try:
                bgr_name, bgr = next(frames)
            except StopIteration:
                raise InputMismatchError(f"background video '{bgr_source.path}' has {i} frames but the source has "
                                         f"more; pass a background video as long as the source") from None
        else:
            bgr_name, bgr = bgr_source.names[0], fixed
        label = f"source '{name}'"
        if bgr.shape != image.shape:
            if not resize_bgr:
                raise InputMismatchError(f"size mismatch: {label} is {image.shape[1]}x{image.shape[0]} but "
                                         f"background '{bgr_name}' is {bgr.shape[1]}x{bgr.shape[0]} (width x "
                                         f"height); use --resize-bgr (resize_bgr=True) to resize it")
            # One background for all is resized once per source size (and so laid out for the model once).
            if frames is not None or image.shape not in resized:
                resized[image.shape] = cv2.resize(bgr, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
            bgr = resized[image.shape]
        if align:
            bgr, aligned = align_background(image, bgr, warn=False)
            if not aligned:
                warnings.warn(f"{label}: {ALIGNMENT_FAILED}", AlignmentWarning, stacklevel=2)
        if check_every or i == 0:
            note = background_mismatch(image, bgr)
            if note:
                warnings.warn(f"{label}: {note}", AlignmentWarning, stacklevel=2)
        yield name, image, bgr


def write_rgba(path, rgba):
    """RGBA (H, W, 4) in [0, 1] -> 8-bit PNG (inside the staging folder, so no temp file needed)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    bgra = cv2.cvtColor(quantize(rgba), cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", bgra)
    if not ok:
        raise OSError(f"OpenCV could not encode '{path}'")
    buf.tofile(path)


def _check_outputs(outputs, engine):
    outputs = tuple(outputs)
    unknown = [o for o in outputs if o not in OUTPUT_TYPES]
    if unknown or not outputs:
        raise ValueError(f"outputs must be a non-empty selection of {OUTPUT_TYPES}, got {outputs}")
    if "ref" in outputs and "ref_sm" not in engine.outputs:
        raise ValueError("output 'ref' (refined patches) needs a mattingrefine model")
    return outputs


VIDEO_FORMATS = ("mp4", "mov", "webm", "png")


def convert(model, src_path, bgr_path, output_dir, outputs=("pha", "fgr", "com"), batch_size=1,
            resize_bgr=False, align=False, com_color=DEFAULT_COM_COLOR, com_bgr=None, com_bgr_loop=False,
            video_format="mp4", overwrite=False, progress=True, **load_options):
    """Matte an image, a folder of images or a video and write the outputs to ``output_dir``.

    Args:
        model: checkpoint path, engine or layer (see ``as_engine``). For a path whose options do
            not set ``backbone_scale``, it follows ``suggest_backbone_scale`` of the first source.
        src_path: image, folder of images (nested folders allowed) or video file.
        bgr_path: one background image (for every source image / frame), a folder of backgrounds
            named like the source images (any extension), or a video as long as the source video.
        outputs: any of "pha" (8-bit alpha), "fgr" (foreground), "com" (RGBA cut-out, or for .mp4
            videos the foreground over ``com_bgr`` / ``com_color``), "err", "ref".
        resize_bgr: resize backgrounds of another size to the source instead of failing.
        align: align each background to its source (ORB + RANSAC homography; see inference.alignment).
        com_color: RGB in [0, 1] behind .mp4 composites when ``com_bgr`` is not given.
        com_bgr: the replacement background: an RGB triple in [0, 1], an (H, W, 3) array, or the
            path of an image or a video (scaled to cover the source, centre-cropped; a video
            advances one frame per source frame/image and is cut at the source's end). With it,
            "com" also writes ``com_bgr`` outputs: the composite over it, for images and videos.
        com_bgr_loop: loop a ``com_bgr`` video shorter than the source (else that is an error).
        video_format: for video sources, "mp4" (H.264 yuv420p, the source's audio in com.mp4),
            "mov" (ProRes 4444) or "webm" (VP9), whose com is the RGBA cut-out with alpha, or
            "png" (image sequences as for a folder of images; com RGBA).
        overwrite: write into an existing ``output_dir`` (same-named files are replaced).
    Images go to ``output_dir/<output>/<name>.png``; a video to ``output_dir/<output>.<format>``
    with the source's frame timing. Outputs appear only when the whole run succeeded.
    Returns the list of files written (relative to ``output_dir``).
    """
    if video_format not in VIDEO_FORMATS:
        raise ValueError(f"video_format must be one of {VIDEO_FORMATS}, got {video_format!r}")
    for name, path in (("source", src_path), ("background", bgr_path)):
        if os.path.isdir(path) and _is_inside(output_dir, path):
            raise ValueError(f"output folder '{output_dir}' is inside the {name} folder '{path}': its images "
                             f"would be read as inputs next time; choose another --output-dir")
    src, bgr_source, mode = _pairs(src_path, bgr_path)
    as_video = src.kind == "video" and video_format != "png"
    backdrop = None
    if "com" in outputs and (com_bgr is not None or (as_video and video_format == "mp4")):
        backdrop = open_backdrop(com_color if com_bgr is None else com_bgr, src.first_size(), com_bgr_loop)
    engine = as_engine(model, src.first_size(), **load_options)
    outputs = _check_outputs(outputs, engine)
    _check_batch_size(batch_size)
    # Three stages overlap: decoding and layout, the model, and compositing and encoding (here).
    batches = prefetch(_batches(_prepared(src, bgr_source, mode, resize_bgr, align, check_every=src.kind == "images"),
                                batch_size), low_priority=True)
    results = prefetch(_infer(engine, batches, [o for o in outputs if o in ("err", "ref")]), depth=2)
    try:
        with staged_output(output_dir, overwrite) as tmp:
            progress_bar = tqdm(results, total=len(src), disable=not progress,
                                unit="frame" if src.kind == "video" else "image")
            if as_video:
                _write_video(progress_bar, tmp, outputs, src, backdrop, video_format, com_bgr is not None)
            else:
                _write_images(progress_bar, tmp, outputs, backdrop)
            written = sorted(os.path.relpath(os.path.join(d, f), tmp) for d, _, fs in os.walk(tmp) for f in fs)
    finally:
        for stage in (results, batches):  # after a failure, stop the threads now rather than at garbage collection
            stage.close()
        for media in (src, bgr_source, backdrop):
            if hasattr(media, "close"):
                media.close()
    return written


def _is_inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def _write_images(results, folder, outputs, backdrop=None):
    """PNGs per output; with a ``backdrop``, "com" also writes the composite over it to com_bgr/."""
    for name, r in results:
        path = lambda kind: os.path.join(folder, kind, name + ".png")  # noqa: E731
        if "pha" in outputs:
            write_alpha(path("pha"), r["pha"])
        if "fgr" in outputs:
            write_image(path("fgr"), r["fgr"])
        if "com" in outputs:
            write_rgba(path("com"), composite_rgba(r["pha"], r["fgr"]))
            if backdrop is not None:
                write_image(path("com_bgr"), composite_over(r["pha"], r["fgr"], _backdrop_frame(backdrop, r["pha"].shape)))
        if "err" in outputs:
            write_alpha(path("err"), r["err"])
        if "ref" in outputs:
            write_alpha(path("ref"), r["ref"])


def _backdrop_frame(backdrop, size):
    """The backdrop's next frame (or colour) fitted to (H, W) = ``size`` (folders may mix sizes)."""
    frame = backdrop.next()
    return frame if frame.ndim == 1 else fit_cover(frame, size)


def _video_frame(kind, r):
    """Frame of output ``kind`` for one result ``r``: (H, W, 3) RGB, (H, W) gray for pha / err / ref,
    or, for "com", (H, W, 4) RGBA, in [0, 1]."""
    if kind == "fgr":
        return r["fgr"] * (r["pha"][..., None] > 0)
    if kind == "com":
        return composite_rgba(r["pha"], r["fgr"])
    return r[kind]


def _write_video(results, folder, outputs, src, backdrop, video_format, com_bgr_given):
    """One video per output. In .mp4 "com" is the composite over ``backdrop`` (with the source's
    audio); in .mov / .webm it is the RGBA cut-out, plus "com_bgr" over the backdrop when one was given."""
    ext = "." + video_format
    path = lambda kind: os.path.join(folder, kind + ext)  # noqa: E731
    size, audio = src.first_size(), src.path if src.has_audio else None
    over = "com" if video_format == "mp4" else ("com_bgr" if com_bgr_given and "com" in outputs else None)
    sinks = {}
    try:
        for kind in outputs:
            alpha = kind == "com" and video_format != "mp4"
            sinks[kind] = VideoSink(path(kind), src.fps, size, alpha=alpha, audio_from=audio if kind == over else None)
        if over == "com_bgr":
            sinks["com_bgr"] = VideoSink(path("com_bgr"), src.fps, size, audio_from=audio)
        for name, r in results:
            time = src.times.get(name)
            for kind, sink in sinks.items():
                sink.write(composite_over_u8(r["pha"], r["fgr"], backdrop.next()) if kind == over
                           else _video_frame(kind, r), time)
    finally:
        failed = sys.exc_info()[1] is not None
        errors = []
        for sink in sinks.values():
            try:
                sink.close()
            except Exception as e:  # close every encoder; the first failure is reported
                errors.append(e)
        if errors and not failed:
            raise errors[0]
