"""inference.alignment: homography alignment of handheld backgrounds and the background sanity check."""
import cv2
import numpy as np
import pytest

from inference.alignment import AlignmentWarning, align_background, background_mismatch, estimate_homography


def textured_scene(seed=0, height=240, width=320):
    """Contrast-stretched blurred noise: blobs and corners at every scale to match features on."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((height, width, 3), dtype=np.float32), (0, 0), 2)
    return np.clip((img - img.mean()) * 4 + 0.5, 0, 1)


def with_subject(bgr):
    src = bgr.copy()
    h, w = bgr.shape[:2]
    cv2.ellipse(src, (w // 2, h), (w // 6, h // 2), 0, 0, 360, (0.95, 0.75, 0.6), -1)
    return src


def test_handheld_shift_is_undone():
    scene = textured_scene()
    # The background shot from a slightly moved camera: a small rotation, zoom and shift.
    move = cv2.getRotationMatrix2D((160, 120), 2.0, 1.03)
    move[:, 2] += (6, -4)
    bgr = cv2.warpAffine(scene, move, (320, 240), borderMode=cv2.BORDER_REFLECT)
    src = with_subject(scene)
    aligned, ok = align_background(src, bgr)
    assert ok and aligned.shape == src.shape and aligned.dtype == np.float32
    inner = (slice(20, 220), slice(20, 110))  # away from the subject and the borders
    before = np.abs(bgr - scene)[inner].mean()
    after = np.abs(aligned - scene)[inner].mean()
    assert after < 0.02 and before > 0.1, (before, after)
    H = estimate_homography(src, bgr)
    # It maps background pixels back where the scene had them, to a fraction of a pixel.
    grid = np.float32([[x, y] for x in range(0, 320, 40) for y in range(0, 240, 40)])
    moved = cv2.transform(grid[None], move)
    back = cv2.perspectiveTransform(moved, H)[0]
    assert np.abs(back - grid).max() < 0.5


def test_featureless_background_falls_back_with_a_warning():
    flat = np.full((120, 160, 3), 0.5, np.float32)
    src = with_subject(flat)
    with pytest.warns(AlignmentWarning, match="alignment failed"):
        out, ok = align_background(src, flat)
    assert not ok and out is flat


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        align_background(np.zeros((10, 10, 3), np.float32), np.zeros((10, 12, 3), np.float32))


def test_background_mismatch():
    bgr = textured_scene(1)
    assert background_mismatch(with_subject(bgr), bgr) is None
    assert "nearly identical" in background_mismatch(bgr, bgr)
    assert "differ almost everywhere" in background_mismatch(with_subject(bgr), textured_scene(2))
    assert "differ almost everywhere" in background_mismatch(with_subject(bgr), bgr[::-1, ::-1])  # wrong shot
    # Another exposure of the right background, and sensor noise, are not suspicious.
    rng = np.random.default_rng(0)
    darker = np.clip(bgr * 0.9 - 0.05 + rng.normal(0, 0.03, bgr.shape), 0, 1).astype(np.float32)
    assert background_mismatch(with_subject(bgr), darker) is None
