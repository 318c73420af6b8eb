"""Trimaps from ground-truth alpha, by the protocol of the BGMv2 paper's evaluation.

The BGMv2 authors (supplementary material) define the trimaps used for the error
metrics as: threshold the ground-truth alpha between 0.06 and 0.96, then apply
10 iterations of dilation followed by 10 iterations of erosion with a 3x3
circular kernel. Here that means

* background (0):    pixels that stay outside the *dilated* non-background
                     mask ``alpha >= 0.06`` (10 dilations push it outwards);
* foreground (255):  pixels inside the *eroded* foreground mask ``alpha > 0.96``
                     (10 erosions pull it inwards);
* unknown (128):     everything else, i.e. the band ``0.06 <= alpha <= 0.96``
                     grown by 10 pixels (3x3 ellipse = cross, so a city-block
                     radius of 10) on both sides.

Image borders follow OpenCV's morphology defaults (the border never dilates
or erodes anything), so a foreground touching the frame edge stays foreground
there.
"""
import cv2
import numpy as np

BACKGROUND_BELOW = 0.06
FOREGROUND_ABOVE = 0.96
ITERATIONS = 10

TRIMAP_BACKGROUND = 0
TRIMAP_UNKNOWN = 128
TRIMAP_FOREGROUND = 255


def make_trimap(pha, iterations=ITERATIONS):
    """Trimap of a ground-truth alpha matte.

    Args:
        pha: (H, W) alpha, either floating point in [0, 1] or uint8 in [0, 255]
            (uint8 ``v`` means ``v / 255``). A trailing channel axis of size 1
            is accepted.
        iterations: dilations/erosions of the 3x3 elliptical kernel (10 in the paper).

    Returns:
        np.uint8 (H, W) with values in {0 (background), 128 (unknown), 255 (foreground)}.
    """
    pha = np.asarray(pha)
    if pha.ndim == 3 and pha.shape[2] == 1:
        pha = pha[:, :, 0]
    if pha.ndim != 2:
        raise ValueError(f"make_trimap: pha must have shape (H, W), got {pha.shape}")
    if not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"make_trimap: iterations must be a non-negative int, got {iterations!r}")
    if pha.dtype == np.uint8:
        # Integer comparison, exact: 0.06 * 255 = 15.3 and 0.96 * 255 = 244.8.
        not_background = pha >= 16
        foreground = pha >= 245
    elif np.issubdtype(pha.dtype, np.floating):
        if pha.size and (not np.isfinite(pha).all() or pha.min() < 0 or pha.max() > 1):
            raise ValueError("make_trimap: float pha must lie in [0, 1] (uint8 input is read as 0..255)")
        not_background = pha >= BACKGROUND_BELOW
        foreground = pha > FOREGROUND_ABOVE
    else:
        raise ValueError(f"make_trimap: pha must be uint8 or floating point, got dtype {pha.dtype}")

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    grown = cv2.dilate(not_background.astype(np.uint8), kernel, iterations=iterations)
    shrunk = cv2.erode(foreground.astype(np.uint8), kernel, iterations=iterations)

    trimap = np.full(pha.shape, TRIMAP_UNKNOWN, dtype=np.uint8)
    trimap[grown == 0] = TRIMAP_BACKGROUND
    trimap[shrunk == 1] = TRIMAP_FOREGROUND
    return trimap
