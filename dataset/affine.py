"""Random affine transforms with torchvision's ``RandomAffine`` parameterisation.

The reference trains with ``torchvision.transforms.RandomAffine`` (and its own
``RandomAffineAndResize``); these helpers reproduce the same parameter distribution and
the same geometry as 2x3 matrices in OpenCV pixel-index coordinates (pixel ``i`` is
centred on coordinate ``i``), so that ``cv2.warpAffine`` or ``paddle``'s ``affine_grid``
can apply them.
"""
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AffineParams:
    """One draw of torchvision's ``RandomAffine.get_params``.

    angle: degrees; translate: (tx, ty) whole pixels; scale: factor; shear: (sx, sy) degrees.
    """
    angle: float
    translate: tuple
    scale: float
    shear: tuple


def _pair_range(value, name):
    """torchvision accepts ``v`` for ``(-v, v)`` or an explicit ``(min, max)``."""
    if value is None:
        return None
    if np.isscalar(value):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value!r}")
        return (-float(value), float(value))
    value = tuple(float(v) for v in value)
    if len(value) not in (2, 4) or value[0] > value[1] or (len(value) == 4 and value[2] > value[3]):
        raise ValueError(f"{name} must be (min, max) or (xmin, xmax, ymin, ymax), got {value!r}")
    return value


def sample_affine_params(rng, degrees, translate, scale, shear, image_size):
    """Draw affine parameters like ``torchvision.transforms.RandomAffine.get_params``.

    Args:
        rng: np.random.Generator.
        degrees: v (for (-v, v)) or (min, max), in degrees.
        translate: None or (fx, fy) >= 0: the shift is up to ``fx * width`` / ``fy * height``
            pixels, rounded to whole pixels like torchvision (``RandomAffineAndResize``
            scales the fractions and may pass values above 1).
        scale: None or (min, max).
        shear: None, v, (min, max) (x shear only) or (xmin, xmax, ymin, ymax), in degrees.
        image_size: (width, height) used for the translation range.
    Returns:
        AffineParams.
    """
    degrees = _pair_range(degrees, "degrees")
    shear = _pair_range(shear, "shear")
    angle = float(rng.uniform(degrees[0], degrees[1]))
    if translate is not None:
        if not all(t >= 0 for t in translate):
            raise ValueError(f"translate fractions must be non-negative, got {translate!r}")
        max_dx = translate[0] * image_size[0]
        max_dy = translate[1] * image_size[1]
        tx = int(round(rng.uniform(-max_dx, max_dx)))
        ty = int(round(rng.uniform(-max_dy, max_dy)))
    else:
        tx = ty = 0
    s = float(rng.uniform(scale[0], scale[1])) if scale is not None else 1.0
    sx = sy = 0.0
    if shear is not None:
        sx = float(rng.uniform(shear[0], shear[1]))
        if len(shear) == 4:
            sy = float(rng.uniform(shear[2], shear[3]))
    return AffineParams(angle, (tx, ty), s, (sx, sy))


def affine_matrix(params, center):
    """Forward 2x3 matrix (float64) of ``params`` about ``center`` = (cx, cy).

    Same geometry as torchvision's ``F.affine``: translate(center + t) . R(angle) . scale .
    shear_y . shear_x . translate(-center). For the image centre in OpenCV index
    coordinates use ``((W - 1) / 2, (H - 1) / 2)``.
    """
    rot = math.radians(params.angle)
    sx, sy = (math.radians(v) for v in params.shear)
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    linear = params.scale * np.array([[a, b], [c, d]])
    cx, cy = center
    tx, ty = params.translate
    offset = np.array([cx + tx, cy + ty]) - linear @ np.array([cx, cy])
    return np.concatenate([linear, offset[:, None]], axis=1)


def shift_matrix(matrix, dx, dy):
    """``matrix`` followed by a translation of (dx, dy) pixels."""
    out = np.array(matrix, dtype=np.float64)
    out[:, 2] += (dx, dy)
    return out
