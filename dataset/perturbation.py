"""BGMv2's batch-level training perturbations, on paddle tensors on the training device.

All tensors are float32 ``(B, C, H, W)`` in [0, 1] (``pha`` has C = 1, images C = 3).
The steps, probabilities and ranges are those of the reference ``train_base.py`` /
``train_refine.py`` (applied in this order by :func:`training_perturbations`):

1. shadow (p = 0.3 per sample): the alpha, darkened by ``0.3 * U(0, 1)``, moved by a
   random affine (degrees +-5, translate 0.2, scale 0.5..1.5, shear +-5, nearest) and
   box-blurred with a k x k kernel, k in 20..39, is subtracted from the background that
   goes *under the subject in the source image only* (the captured background plate
   ``bgr`` stays clean, as in the reference);
2. composite: ``src = fgr * pha + bgr_shadowed * (1 - pha)``;
3. noise (p = 0.4): ``N(0, 1) * 0.03 * U(0, 1)`` added to src and, independently, to bgr;
4. background colour jitter (p = 0.8): kornia 0.4.1 ``ColorJitter(0.18, 0.18, 0.18, 0.1)``
   semantics: per-sample additive brightness +-0.18, multiplicative contrast and
   saturation 0.82..1.18, hue rotation +-0.1 turn, in one random order per batch;
5. background misalignment (p = 0.3): affine of +-1 degree and +-1% translation (nearest).

As in torchvision's ``RandomAffine`` on a batch, one set of affine parameters is drawn
per call and shared by the selected samples.

Randomness: everything comes from paddle's global generator (``paddle.seed``; the
trainer saves/restores it with ``paddle.get_rng_state`` / ``set_rng_state``): per-sample
choices and noise directly, scalar parameters from a ``np.random.Generator`` seeded
by one paddle draw per call. Inputs are never modified in place.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from .affine import affine_matrix, sample_affine_params


def _scalar_rng():
    """A numpy Generator seeded from paddle's global generator (keeps paddle.seed in control)."""
    return np.random.default_rng(int(paddle.randint(0, 2 ** 31 - 1, [1]).item()))


def _sample_mask(batch, prob):
    """(B, 1, 1, 1) bool: each sample selected with probability ``prob``."""
    return (paddle.rand([batch]) < prob).reshape([batch, 1, 1, 1])


def _check_batch(name, x, channels=None):
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B, {channels}, H, W)" if channels else "(B, C, H, W)"
        raise ValueError(f"{name} must have shape {want}, got {list(x.shape)}")


def affine_batch(x, params, mode="nearest"):
    """Warp every image of ``x`` (B, C, H, W) by the same affine ``params`` (AffineParams).

    Geometry as torchvision's ``F.affine`` about the image centre; pixels from outside the
    image are 0. ``mode``: 'nearest' (torchvision's RandomAffine default) or 'bilinear'.
    """
    b, c, h, w = x.shape
    forward = np.vstack([affine_matrix(params, ((w - 1) / 2, (h - 1) / 2)), [0, 0, 1]])
    # grid_sample wants, per output pixel, the input position in normalised coordinates
    # (align_corners=False): theta = N . forward^-1 . N^-1 with N: pixel index -> [-1, 1].
    norm = np.array([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]])
    theta = (norm @ np.linalg.inv(forward) @ np.linalg.inv(norm))[:2]
    theta = paddle.to_tensor(np.broadcast_to(theta, (b, 2, 3)).astype(np.float32), place=x.place)
    grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def box_blur(x, k):
    """Mean over a k x k box (kornia ``box_blur``: reflect border, even k padded (k-1)//2 before)."""
    before, after = (k - 1) // 2, k - 1 - (k - 1) // 2
    # Reflect padding needs the image to be larger than the pad; tiny images replicate.
    mode = "reflect" if min(x.shape[2:]) > after else "replicate"
    x = F.pad(x, [before, after, before, after], mode=mode)
    return F.avg_pool2d(x, kernel_size=k, stride=1, padding=0)


def composite(fgr, pha, bgr):
    """``src = fgr * pha + bgr * (1 - pha)``: fgr/bgr (B, 3, H, W), pha (B, 1, H, W), all in [0, 1]."""
    return fgr * pha + bgr * (1 - pha)


def augment_shadow(pha, bgr, prob=0.3):
    """The background to composite under the subject, with a fake shadow on ~``prob`` of the samples.

    Args: pha (B, 1, H, W), bgr (B, 3, H, W) in [0, 1].
    Returns: new (B, 3, H, W) in [0, 1] (``bgr`` itself is not changed).
    """
    _check_batch("pha", pha, 1)
    _check_batch("bgr", bgr, 3)
    mask = _sample_mask(bgr.shape[0], prob)
    if not bool(mask.any()):
        return bgr
    rng = _scalar_rng()
    h, w = pha.shape[2:]
    params = sample_affine_params(rng, (-5, 5), (0.2, 0.2), (0.5, 1.5), (-5, 5), (w, h))
    shadow = affine_batch(pha * (0.3 * rng.random()), params)
    shadow = box_blur(shadow, int(rng.integers(20, 40)))
    return paddle.where(mask, (bgr - shadow).clip(0, 1), bgr)


def augment_noise(src, bgr, prob=0.4):
    """Gaussian noise (sigma ``0.03 * U(0, 1)``, drawn separately for src and bgr) on ~``prob`` of the samples.

    Args/returns: src, bgr (B, 3, H, W) in [0, 1] -> new (src, bgr), clipped to [0, 1].
    """
    _check_batch("src", src, 3)
    _check_batch("bgr", bgr, 3)
    mask = _sample_mask(src.shape[0], prob)
    if not bool(mask.any()):
        return src, bgr
    rng = _scalar_rng()
    noisy_src = (src + paddle.randn(src.shape) * (0.03 * rng.random())).clip(0, 1)
    noisy_bgr = (bgr + paddle.randn(bgr.shape) * (0.03 * rng.random())).clip(0, 1)
    return paddle.where(mask, noisy_src, src), paddle.where(mask, noisy_bgr, bgr)


def _rotate_hue(x, turns):
    """Rotate the HSV hue of RGB ``x`` (B, 3, H, W) by ``turns`` (B, 1, 1, 1) of a full circle."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    v = x.max(axis=1, keepdim=True)
    chroma = v - x.min(axis=1, keepdim=True)
    safe = paddle.where(chroma > 0, chroma, paddle.ones_like(chroma))
    hue = paddle.where(v == r, paddle.remainder((g - b) / safe, paddle.full_like(v, 6.0)),
                       paddle.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = paddle.remainder(hue + 6 * turns, paddle.full_like(hue, 6.0))
    channels = []
    for n in (5.0, 3.0, 1.0):  # HSV -> RGB: c = V - chroma * clip(min(k, 4 - k), 0, 1), k = (n + h) mod 6
        k = paddle.remainder(hue + n, paddle.full_like(hue, 6.0))
        channels.append(v - chroma * paddle.minimum(k, 4 - k).clip(0, 1))
    return paddle.concat(channels, axis=1)


def _scale_saturation(x, factor):
    """Scale HSV saturation of RGB ``x`` by ``factor`` (B, 1, 1, 1), clamped to S <= 1, keeping V and hue."""
    v = x.max(axis=1, keepdim=True)
    chroma = v - x.min(axis=1, keepdim=True)
    # S = chroma / V; S * f is clamped at 1, i.e. the new chroma at most V.
    limit = paddle.where(chroma > 0, v / paddle.where(chroma > 0, chroma, paddle.ones_like(chroma)),
                         paddle.ones_like(chroma))
    return v - paddle.minimum(factor.expand_as(v), limit) * (v - x)


def augment_bgr_jitter(bgr, prob=0.8, brightness=0.18, contrast=0.18, saturation=0.18, hue=0.1):
    """Colour jitter of the background on ~``prob`` of the samples (kornia 0.4.1 semantics, see module doc).

    Args/returns: bgr (B, 3, H, W) in [0, 1] -> new tensor in [0, 1].
    """
    _check_batch("bgr", bgr, 3)
    batch = bgr.shape[0]
    mask = _sample_mask(batch, prob)
    if not bool(mask.any()):
        return bgr

    def factors(lo, hi):
        return (lo + (hi - lo) * paddle.rand([batch])).reshape([batch, 1, 1, 1])

    b = factors(-brightness, brightness)
    c = factors(1 - contrast, 1 + contrast)
    s = factors(1 - saturation, 1 + saturation)
    h = factors(-hue, hue)
    out = bgr
    for op in _scalar_rng().permutation(4):
        if op == 0:
            out = (out + b).clip(0, 1)
        elif op == 1:
            out = (out * c).clip(0, 1)
        elif op == 2:
            out = _scale_saturation(out, s).clip(0, 1)
        else:
            out = _rotate_hue(out, h).clip(0, 1)
    return paddle.where(mask, out, bgr)


def augment_bgr_misalign(bgr, prob=0.3):
    """Slightly misalign the background plate (+-1 degree, +-1% shift) on ~``prob`` of the samples.

    Args/returns: bgr (B, 3, H, W) in [0, 1] -> new tensor; uncovered borders are 0.
    """
    _check_batch("bgr", bgr, 3)
    mask = _sample_mask(bgr.shape[0], prob)
    if not bool(mask.any()):
        return bgr
    h, w = bgr.shape[2:]
    params = sample_affine_params(_scalar_rng(), (-1, 1), (0.01, 0.01), None, None, (w, h))
    return paddle.where(mask, affine_batch(bgr, params), bgr)


def training_perturbations(fgr, pha, bgr):
    """All reference perturbations in order: (fgr, pha, bgr) -> (src, bgr) for the model.

    Args: fgr (B, 3, H, W), pha (B, 1, H, W), bgr (B, 3, H, W) in [0, 1].
    Returns: src (B, 3, H, W) and the perturbed background plate (B, 3, H, W), in [0, 1].
    """
    _check_batch("fgr", fgr, 3)
    if not (fgr.shape[0] == pha.shape[0] == bgr.shape[0] and fgr.shape[2:] == pha.shape[2:] == bgr.shape[2:]):
        raise ValueError(f"fgr {list(fgr.shape)}, pha {list(pha.shape)} and bgr {list(bgr.shape)} must agree "
                         "in batch size, height and width")
    src = composite(fgr, pha, augment_shadow(pha, bgr))
    src, bgr = augment_noise(src, bgr)
    bgr = augment_bgr_jitter(bgr)
    bgr = augment_bgr_misalign(bgr)
    return src, bgr
