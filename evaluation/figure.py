"""A picture of the comparison: per test image, what the model and background differencing saw and got.

One row per image: source, plate, true alpha, model alpha, differencing alpha, and the error of
each (|alpha - true alpha|, brighter is worse, inside the scored trimap region only), with each
method's SAD of that image written on its error tile. Plain numpy + OpenCV (no plotting library).
"""
import cv2
import numpy as np

__all__ = ["COLUMNS", "error_tile", "comparison_figure"]

COLUMNS = ("source", "plate", "true alpha", "model alpha", "differencing alpha", "model error",
           "differencing error")
_HEADER = 28   # pixels above the tiles for the column names
_GAP = 4       # pixels between tiles
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _gray(alpha):
    """(H, W) in [0, 1] -> (H, W, 3) float32 gray."""
    return np.repeat(np.clip(alpha, 0, 1)[:, :, None], 3, axis=2).astype(np.float32)


def error_tile(pred, true, trimap):
    """|pred - true| inside the trimap's unknown region (what SAD counts) in red, the rest dimmed.

    pred, true: (H, W) in [0, 1]; trimap (H, W) uint8 (128 = unknown). Returns (H, W, 3) float32 RGB.
    """
    err = np.abs(pred - true)
    scored = trimap == 128
    tile = np.zeros(pred.shape + (3,), np.float32)
    tile[..., 0] = np.where(scored, err, 0)
    tile[..., 1] = tile[..., 2] = np.where(scored, 0, 0.5 * err)  # errors outside U do not count: gray
    return tile


def _dim_strip(tile):
    """``tile`` (H, W, 3) with its bottom 16 rows darkened, for a label written on it later."""
    tile = tile.copy()
    tile[tile.shape[0] - 16:] *= 0.3
    return tile


def comparison_figure(rows, zoom=2):
    """The figure as one image.

    Args:
        rows: list of dicts with src, bgr (H, W, 3) and true, model, diff (H, W) float in [0, 1],
            trimap (H, W) uint8, model_sad and diff_sad (float, official SAD of that image).
        zoom: integer upscaling of every tile (nearest: pixels stay visible).
    Returns: (H', W', 3) float32 RGB in [0, 1].
    """
    lines = []
    for r in rows:
        tiles = [r["src"], r["bgr"], _gray(r["true"]), _gray(r["model"]), _gray(r["diff"]),
                 error_tile(r["model"], r["true"], r["trimap"]), error_tile(r["diff"], r["true"], r["trimap"])]
        tiles = [cv2.resize(t.astype(np.float32), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
                 for t in tiles]
        tiles[5], tiles[6] = _dim_strip(tiles[5]), _dim_strip(tiles[6])
        lines.append((tiles, (f"SAD {r['model_sad']:.3f}", f"SAD {r['diff_sad']:.3f}")))
    h, w = lines[0][0][0].shape[:2]
    out = np.ones((_HEADER + len(lines) * (h + _GAP), len(COLUMNS) * (w + _GAP) - _GAP, 3), np.float32)
    for i, (tiles, _) in enumerate(lines):
        top = _HEADER + i * (h + _GAP)
        for c, tile in enumerate(tiles):
            out[top:top + h, c * (w + _GAP):c * (w + _GAP) + w] = tile
    out = np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)  # OpenCV draws text on 8-bit images only
    for c, name in enumerate(COLUMNS):
        cv2.putText(out, name, (c * (w + _GAP) + 2, _HEADER - 9), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for i, (_, labels) in enumerate(lines):
        bottom = _HEADER + i * (h + _GAP) + h - 4
        for c, text in zip((5, 6), labels):
            cv2.putText(out, text, (c * (w + _GAP) + 3, bottom), _FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out.astype(np.float32) / 255
