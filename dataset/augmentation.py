"""Per-sample augmentations on numpy arrays, seeded, mirroring the reference's ``augmentation.py``.

Every transform is a callable ``t(x, rng)`` where ``rng`` is a ``np.random.Generator``
(the dataset derives it from (seed, epoch, index), see ``dataset/base.py``):

* single-image transforms take one array, ``(H, W, C)`` float32 in [0, 1];
* ``Pair*`` transforms take and return a tuple of arrays (e.g. ``(pha, fgr)`` with
  ``pha`` (H, W, 1) and ``fgr`` (H, W, 3)) and apply the *same* random draw to every
  element, so foreground and alpha stay aligned.

Geometry and filters follow the reference (torchvision/PIL) semantics, computed in float
with OpenCV: affine = ``cv2.warpAffine`` bilinear with zero fill, box blur = PIL
``BoxBlur(r)`` (a (2r+1)^2 box, edges replicated), sharpen = PIL ``ImageFilter.SHARPEN``
(border pixels kept), colour jitter = torchvision ``ColorJitter``.
"""
import cv2
import numpy as np

from .affine import affine_matrix, sample_affine_params, shift_matrix


def _keep_channels(fn, x):
    """Apply an OpenCV function, restoring the (H, W, 1) shape it drops for one channel."""
    out = fn(x)
    if x.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


class Compose:
    """Apply ``transforms`` in order: ``x = t(x, rng)`` for each."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x


class PairCompose(Compose):
    """:class:`Compose` for tuples of images (name kept from the reference)."""


class PairApply:
    """Apply a single-image transform to every element of the tuple (independent draws)."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, x, rng):
        return tuple(self.transform(xi, rng) for xi in x)


class PairApplyOnlyAtIndices:
    """Apply a single-image transform only to the elements at ``indices`` (e.g. [1] = fgr)."""

    def __init__(self, indices, transform):
        self.indices = set(indices)
        self.transform = transform

    def __call__(self, x, rng):
        return tuple(self.transform(xi, rng) if i in self.indices else xi for i, xi in enumerate(x))


class _Single:
    """Mixin turning a ``Pair*`` transform into its single-image version."""

    def __call__(self, img, rng):
        return super().__call__((img,), rng)[0]


class PairRandomAffineAndResize:
    """Scale-to-cover, random affine and centre crop to ``size``, same draw for all elements.

    Like the reference: the image is zero-padded (centred) up to ``size`` where smaller,
    ``scale`` and ``translate`` are multiplied by ``max(size_h / H, size_w / W)`` (so scale 1
    just covers the output), a torchvision-style affine about the (padded) image centre is
    applied, and the centre ``size`` crop is kept. Implemented as one ``cv2.warpAffine``
    (bilinear, outside = 0).

    Args:
        size: (height, width) of the output.
        degrees, translate, scale, shear: as torchvision ``RandomAffine``.
    """

    def __init__(self, size, degrees, translate, scale, shear):
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (height, width) > 0, got {size!r}")
        if scale is None or len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale!r}")
        if translate is not None and (len(translate) != 2 or not all(0 <= t <= 1 for t in translate)):
            raise ValueError(f"translate must be (fx, fy) fractions in [0, 1], got {translate!r}")
        self.size = (int(size[0]), int(size[1]))
        self.degrees = degrees
        self.translate = translate if translate is not None else (0.0, 0.0)
        self.scale = scale
        self.shear = shear

    def matrix(self, image_size, rng):
        """Forward 2x3 matrix from input pixels to output pixels for an input (H, W)."""
        h, w = image_size
        th, tw = self.size
        factor = max(tw / w, th / h)
        pad_w = int(np.ceil((max(w, tw) - w) / 2))
        pad_h = int(np.ceil((max(h, th) - h) / 2))
        padded_w, padded_h = w + 2 * pad_w, h + 2 * pad_h
        params = sample_affine_params(
            rng, self.degrees,
            (self.translate[0] * factor, self.translate[1] * factor),
            (self.scale[0] * factor, self.scale[1] * factor),
            self.shear, (w, h))
        centre = ((padded_w - 1) / 2, (padded_h - 1) / 2)
        # input -> padded (shift by pad) -> affine about the padded centre -> centre crop.
        m = affine_matrix(params, centre)
        m = shift_matrix(m, m[0, 0] * pad_w + m[0, 1] * pad_h, m[1, 0] * pad_w + m[1, 1] * pad_h)
        top = int(round((padded_h - th) / 2.0))
        left = int(round((padded_w - tw) / 2.0))
        return shift_matrix(m, -left, -top)

    def __call__(self, x, rng):
        if not len(x):
            return tuple(x)
        shape = x[0].shape[:2]
        for xi in x[1:]:
            if xi.shape[:2] != shape:
                raise ValueError(f"paired images differ in size: {[xi.shape[:2] for xi in x]}")
        m = self.matrix(shape, rng)
        th, tw = self.size
        return tuple(_keep_channels(
            lambda a: cv2.warpAffine(a, m, (tw, th), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0), xi) for xi in x)


class RandomAffineAndResize(_Single, PairRandomAffineAndResize):
    """Single-image :class:`PairRandomAffineAndResize` (used for backgrounds)."""


class PairRandomHorizontalFlip:
    """Mirror all elements left-right with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x, rng):
        if rng.random() < self.p:
            return tuple(np.ascontiguousarray(xi[:, ::-1]) for xi in x)
        return tuple(x)


class RandomHorizontalFlip(_Single, PairRandomHorizontalFlip):
    """Single-image :class:`PairRandomHorizontalFlip`."""


class PairRandomBoxBlur:
    """With probability ``prob``, box-blur all elements with one radius r in 0..max_radius.

    Radius r averages a (2r+1) x (2r+1) box (PIL ``BoxBlur``); r = 0 leaves the image as is.
    """

    def __init__(self, prob, max_radius):
        self.prob = prob
        self.max_radius = int(max_radius)

    def __call__(self, x, rng):
        if rng.random() < self.prob:
            r = int(rng.integers(0, self.max_radius + 1))
            if r > 0:
                k = 2 * r + 1
                return tuple(_keep_channels(
                    lambda a: cv2.blur(a, (k, k), borderType=cv2.BORDER_REPLICATE), xi) for xi in x)
        return tuple(x)


class RandomBoxBlur(_Single, PairRandomBoxBlur):
    """Single-image :class:`PairRandomBoxBlur`."""


# PIL's ImageFilter.SHARPEN: 3x3 kernel (-2 around, 32 centre) / 16.
_SHARPEN_KERNEL = np.full((3, 3), -2 / 16, dtype=np.float32)
_SHARPEN_KERNEL[1, 1] = 32 / 16


def _sharpen(img):
    out = _keep_channels(lambda a: cv2.filter2D(a, -1, _SHARPEN_KERNEL, borderType=cv2.BORDER_REPLICATE), img)
    # PIL leaves the one-pixel border untouched.
    out[0], out[-1], out[:, 0], out[:, -1] = img[0], img[-1], img[:, 0], img[:, -1]
    return np.clip(out, 0, 1, out=out)


class PairRandomSharpen:
    """With probability ``prob``, sharpen all elements (PIL ``ImageFilter.SHARPEN``)."""

    def __init__(self, prob):
        self.prob = prob

    def __call__(self, x, rng):
        if rng.random() < self.prob:
            return tuple(_sharpen(xi) for xi in x)
        return tuple(x)


class RandomSharpen(_Single, PairRandomSharpen):
    """Single-image :class:`PairRandomSharpen`."""


def _luma(img):
    """(H, W, 3) RGB float32 -> (H, W) ITU-R 601 luma (PIL's ``convert('L')`` weights)."""
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


class ColorJitter:
    """torchvision ``ColorJitter`` on an RGB float image (H, W, 3) in [0, 1].

    Factors are drawn uniformly from [1 - v, 1 + v] (brightness, contrast, saturation)
    and [-hue, hue] (fraction of a full turn), applied in a random order:
    brightness scales, contrast blends with the mean luma, saturation blends with the
    per-pixel luma, hue rotates the HSV hue. Results are clipped to [0, 1].
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if v < 0:
                raise ValueError(f"ColorJitter {name} must be >= 0, got {v!r}")
        if not 0 <= hue <= 0.5:
            raise ValueError(f"ColorJitter hue must lie in [0, 0.5], got {hue!r}")
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, img, rng):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"ColorJitter expects (H, W, 3) RGB, got shape {img.shape}")
        b, c, s = (float(rng.uniform(max(0.0, 1 - v), 1 + v)) for v in
                   (self.brightness, self.contrast, self.saturation))
        h = float(rng.uniform(-self.hue, self.hue))
        # In-place arithmetic: at 2048x2048 every temporary array costs ~10 ms.
        img = img.astype(np.float32, copy=True)
        for op in rng.permutation(4):
            if op == 0 and self.brightness:
                img *= b
            elif op == 1 and self.contrast:
                mean = float(_luma(img).mean())
                img *= c
                img += (1 - c) * mean
            elif op == 2 and self.saturation:
                gray = cv2.cvtColor(_luma(img), cv2.COLOR_GRAY2RGB)
                img = cv2.addWeighted(img, s, gray, 1 - s, 0)
            elif op == 3 and self.hue:
                hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # float: H in [0, 360)
                # OpenCV wraps hues >= 360 itself (not negative ones): shift forwards only.
                hsv[:, :, 0] += 360 * (h % 1)
                img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
            np.clip(img, 0, 1, out=img)
        return img


class ToCHW:
    """(H, W, C) -> contiguous float32 (C, H, W), the layout the model takes (like ``ToTensor``)."""

    def __call__(self, img, rng=None):
        return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
