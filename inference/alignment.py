"""Background checks and alignment for handheld shots (OpenCV ORB features + RANSAC homography).

    bgr, ok = align_background(src, bgr)      # falls back to the given bgr with a warning
    note = background_mismatch(src, bgr)      # None, or a warning text for a suspicious pair

Images are float32 (H, W, 3) RGB in [0, 1] of the same size.
"""
import warnings

import cv2
import numpy as np

from dataset.io import quantize

__all__ = ["align_background", "estimate_homography", "background_mismatch", "AlignmentWarning",
           "ALIGNMENT_FAILED"]

# Pixels whose colour differs by more than this (in [0, 1], after removing a global exposure /
# white balance change) count as changed.
CHANGE_THRESHOLD = 0.05
# A pair with fewer changed pixels has no subject; one with more changed pixels is probably
# another scene (a subject rarely covers the whole frame).
NEARLY_IDENTICAL = 0.002
WILDLY_DIFFERENT = 0.85
ALIGNMENT_FAILED = "background alignment failed (too few matching features); using the background as given"


class AlignmentWarning(UserWarning):
    """The background could not be aligned, or does not look like the source's background."""


def _gray_uint8(img):
    return cv2.cvtColor(quantize(img), cv2.COLOR_RGB2GRAY)


def estimate_homography(src, bgr, max_features=5000, keep_ratio=0.15, min_inliers=12):
    """3x3 homography mapping background pixels onto the source, or None when it fails.

    ORB features matched by Hamming distance, the best ``keep_ratio`` of the matches kept (the
    subject's features match nothing in the background), RANSAC with a 3-pixel tolerance.
    Fails with fewer than ``min_inliers`` inliers or a degenerate (near-singular, folding) warp.
    """
    orb = cv2.ORB_create(nfeatures=max_features)
    kp_src, des_src = orb.detectAndCompute(_gray_uint8(src), None)
    kp_bgr, des_bgr = orb.detectAndCompute(_gray_uint8(bgr), None)
    if des_src is None or des_bgr is None or len(kp_src) < min_inliers or len(kp_bgr) < min_inliers:
        return None
    matches = sorted(cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des_bgr, des_src),
                     key=lambda m: m.distance)
    matches = matches[:max(min_inliers, int(len(matches) * keep_ratio))]
    if len(matches) < min_inliers:
        return None
    pts_bgr = np.float32([kp_bgr[m.queryIdx].pt for m in matches])
    pts_src = np.float32([kp_src[m.trainIdx].pt for m in matches])
    H, inliers = cv2.findHomography(pts_bgr, pts_src, cv2.RANSAC, 3.0)
    if H is None or int(inliers.sum()) < min_inliers:
        return None
    det = np.linalg.det(H[:2, :2])
    if not 0.25 < det < 4:  # folds, mirrors or extreme zooms are failures, not handheld motion
        return None
    return H


def align_background(src, bgr, warn=True, **options):
    """Warp ``bgr`` onto ``src`` (handheld shots). Returns (bgr', aligned: bool).

    Pixels the warped background does not cover are copied from the source (as the reference
    does), so they read as "no subject". When no homography is found the input background is
    returned unchanged, with an AlignmentWarning if ``warn``. ``options`` go to
    ``estimate_homography``.
    """
    if src.shape != bgr.shape:
        raise ValueError(f"align_background: src and bgr must have the same shape, got {src.shape} and {bgr.shape}")
    H = estimate_homography(src, bgr, **options)
    if H is None:
        if warn:
            warnings.warn(ALIGNMENT_FAILED, AlignmentWarning, stacklevel=2)
        return bgr, False
    h, w = src.shape[:2]
    warped = cv2.warpPerspective(bgr, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    covered = cv2.warpPerspective(np.ones((h, w), np.float32), H, (w, h), flags=cv2.INTER_NEAREST) > 0.5
    return np.where(covered[..., None], warped, src).astype(np.float32), True


def background_mismatch(src, bgr):
    """None for a plausible (source, background) pair, else a warning text.

    Compares the two on a ~256-pixel thumbnail (so sensor noise averages out, and a global
    colour shift is removed first): almost no changed pixels means the source has
    no subject (or the background is a copy of it); changes almost everywhere mean the
    background is probably of another scene, or badly misaligned.
    """
    h, w = src.shape[:2]
    scale = min(1.0, 256 / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    a = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
    b = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    diff = a - b
    diff -= np.median(diff.reshape(-1, 3), axis=0)  # auto exposure between the two shots is not a change
    changed = float((np.abs(diff).max(axis=2) > CHANGE_THRESHOLD).mean())
    if changed < NEARLY_IDENTICAL:
        return (f"source and background are nearly identical ({changed:.2%} of pixels differ): "
                f"is the subject in the source, and is the background a separate shot?")
    if changed > WILDLY_DIFFERENT:
        return (f"source and background differ almost everywhere ({changed:.0%} of pixels): is it the "
                f"background of the same scene? (for a handheld shot try --preprocess-alignment)")
    return None
