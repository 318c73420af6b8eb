"""A local web page to try the model (Gradio): a photo and its plate, or the browser's webcam.

    demo = build_app(lambda size: load_engine("M.pdparams", overrides={"backbone_scale": ...}))
    demo.launch()

``python -m tools.app`` serves it. Photo tab: upload (or shoot) a photo and its background plate,
get the alpha, the RGBA cut-out and the composite over a colour or an uploaded image, each
downloadable as PNG. Live tab: webcam frames stream to the model; "Capture plate" takes the
background from the feed (step out of the picture first). Bad input (no plate, a plate of
another size, an unreadable upload) is one message in the page, which keeps running.
"""
import os
import tempfile
import threading

import gradio as gr
import numpy as np

from common.errors import BGMv2Error
from dataset.io import quantize, write_alpha, write_image
from .backdrop import open_backdrop
from .predictor import composite_over, composite_rgba, predict_images, suggest_backbone_scale, write_rgba

__all__ = ["build_app", "matte_photo", "parse_hex_color"]


def parse_hex_color(text):
    """(r, g, b) in [0, 1] from Gradio's colour picker ("#rrggbb" or "rgba(r, g, b, a)")."""
    text = (text or "#000000").strip()
    if text.startswith("#") and len(text) == 7:
        return tuple(int(text[i:i + 2], 16) / 255 for i in (1, 3, 5))
    if text.startswith("rgb"):
        values = [float(v) for v in text[text.index("(") + 1:text.index(")")].split(",")[:3]]
        return tuple(v / 255 for v in values)
    raise gr.Error(f"not a colour: '{text}'")


def _float(image, what):
    """Gradio's uint8 (H, W, 3) (or RGBA / gray) array as float32 (H, W, 3) RGB in [0, 1]."""
    if image is None:
        raise gr.Error(f"no {what}: upload one or take it with the webcam")
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3].astype(np.float32) / 255


class _Engines:
    """One engine per backbone scale (``suggest_backbone_scale`` of the input size), made on first use."""

    def __init__(self, factory):
        self.factory, self.engines, self.lock = factory, {}, threading.Lock()

    def __call__(self, size):
        scale = suggest_backbone_scale(*size)
        with self.lock:
            if scale not in self.engines:
                self.engines[scale] = self.factory(size)
            return self.engines[scale]


def matte_photo(engine, src, bgr, backdrop):
    """(pha (H, W), cut-out (H, W, 4), composite (H, W, 3)), all float in [0, 1], of one photo;
    ``backdrop``: an RGB triple in [0, 1] or an (h, w, 3) image (scaled to cover)."""
    try:
        out = predict_images(engine, src, bgr)
    except BGMv2Error as e:
        raise gr.Error(str(e)) from None
    background = open_backdrop(backdrop, src.shape[:2]).next()
    return out["pha"], composite_rgba(out["pha"], out["fgr"]), composite_over(out["pha"], out["fgr"], background)


def build_app(engine_factory, title="BackgroundMattingV2 (PaddlePaddle)"):
    """The Gradio Blocks of the page; ``engine_factory((H, W))`` makes an engine for inputs of that size."""
    engines = _Engines(engine_factory)

    def backdrop_of(color, image):
        return _float(image, "background") if image is not None else parse_hex_color(color)

    def photo(src, bgr, color, new_bgr):
        src, bgr = _float(src, "photo"), _float(bgr, "background plate")
        pha, rgba, com = matte_photo(engines(src.shape[:2]), src, bgr, backdrop_of(color, new_bgr))
        folder = tempfile.mkdtemp(prefix="bgmv2-app-")
        files = [os.path.join(folder, n) for n in ("alpha.png", "cutout.png", "composite.png")]
        write_alpha(files[0], pha)
        write_rgba(files[1], rgba)
        write_image(files[2], com)
        return quantize(pha), quantize(rgba), quantize(com), files

    def live(frame, plate, color, new_bgr):
        """One webcam frame: matted once a plate was captured, else shown as is."""
        if frame is None:
            return None, None
        src = _float(frame, "webcam frame")
        if plate is None:
            return frame, frame
        if plate.shape[:2] != src.shape[:2]:
            raise gr.Error("the webcam's size changed since the plate was captured: capture it again")
        _, _, com = matte_photo(engines(src.shape[:2]), src, _float(plate, "plate"), backdrop_of(color, new_bgr))
        return quantize(com), frame

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nReal-time high-resolution background matting: give a photo and the same scene "
                    f"without the subject.")
        with gr.Row():
            color = gr.ColorPicker(value="#78ff9b", label="Background colour", elem_id="color")
            new_bgr = gr.Image(label="New background (optional)", sources=["upload"], elem_id="new_bgr", height=160)
        with gr.Tab("Photo"):
            with gr.Row():
                src = gr.Image(label="Photo", sources=["upload", "webcam"], elem_id="src", height=280)
                bgr = gr.Image(label="Background plate (the scene without the subject)", sources=["upload", "webcam"],
                               elem_id="bgr", height=280)
            run = gr.Button("Remove the background", variant="primary", elem_id="run")
            with gr.Row():
                pha = gr.Image(label="Alpha", format="png", elem_id="pha", height=280)
                rgba = gr.Image(label="Cut-out (RGBA)", format="png", image_mode="RGBA", elem_id="rgba", height=280)
                com = gr.Image(label="Composite", format="png", elem_id="com", height=280)
            files = gr.File(label="Download", file_count="multiple", elem_id="files")
            run.click(photo, [src, bgr, color, new_bgr], [pha, rgba, com, files], concurrency_limit=1)
        with gr.Tab("Live webcam"):
            plate = gr.State(None)
            last = gr.State(None)
            with gr.Row():
                cam = gr.Image(label="Webcam", sources=["webcam"], streaming=True, elem_id="cam", height=280)
                shown = gr.Image(label="Live composite", elem_id="live", height=280)
            capture = gr.Button("Capture plate (step out of the picture first)", elem_id="capture")
            cam.stream(live, [cam, plate, color, new_bgr], [shown, last], stream_every=0.2, concurrency_limit=1)
            capture.click(lambda frame: frame, [last], [plate])
    return demo
