"""Training losses of BGMv2 (reference ``train_base.py`` / ``train_refine.py``), in Paddle ops.

Every function takes NCHW float tensors and is differentiable w.r.t. the predictions:
``pha`` (B, 1, H, W) in [0, 1], ``fgr`` (B, 3, H, W) in [0, 1], ``err`` (B, 1, H, W) in [0, 1].
The loss functions return ``(total, terms)``: a scalar tensor and a dict of the scalar tensors
that make it up (for logging each term).
"""
import paddle
import paddle.nn.functional as F

from model.utils import resize_bilinear

__all__ = ["sobel", "laplacian_pyramid", "laplacian_loss", "base_loss", "refine_loss"]

# Sobel kernels normalised by the sum of their absolute values (8), as kornia's ``sobel(normalized=True)``.
_SOBEL_X = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
# 5x5 binomial kernel (outer product of [1, 4, 6, 4, 1] / 16), the usual Gaussian of Laplacian pyramids.
_BINOMIAL = [1.0, 4.0, 6.0, 4.0, 1.0]
LAPLACIAN_LEVELS = 5


def _depthwise(x, kernel, padding, mode):
    """Convolve each channel of x (B, C, H, W) with the same 2-D ``kernel`` (kh, kw) after padding."""
    c = x.shape[1]
    weight = kernel.reshape([1, 1, *kernel.shape]).tile([c, 1, 1, 1])
    return F.conv2d(F.pad(x, [padding] * 4, mode=mode), weight, groups=c)


def sobel(x, eps=1e-6):
    """Sobel gradient magnitude of x (B, C, H, W): ``sqrt(gx^2 + gy^2 + eps)``, same shape.

    Borders are replicated; kernels normalised by 1/8 (kornia ``filters.sobel`` semantics).
    """
    kx = paddle.to_tensor(_SOBEL_X, dtype=x.dtype) / 8
    gx = _depthwise(x, kx, 1, "replicate")
    gy = _depthwise(x, kx.t(), 1, "replicate")
    return paddle.sqrt(gx * gx + gy * gy + eps)


def _gauss(x):
    k = paddle.to_tensor(_BINOMIAL, dtype=x.dtype)
    kernel = paddle.outer(k, k) / 256
    return _depthwise(x, kernel, 2, "reflect")


def laplacian_pyramid(x, levels=LAPLACIAN_LEVELS):
    """Band-pass levels of x (B, C, H, W): list of ``levels`` tensors, level i at 1/2^i size.

    Each level is ``current - up(down(current))`` with down = blur then keep even pixels, up =
    zero-insertion then blur x4 (reflect borders); odd sides are cropped to even first.
    """
    pyramid = []
    current = x
    for level in range(levels):
        h, w = current.shape[2] // 2 * 2, current.shape[3] // 2 * 2
        if min(h, w) < 4:  # the blur reflect-pads by 2, which needs sides > 2
            raise ValueError(f"laplacian_pyramid: {list(x.shape[2:])} is too small for {levels} levels "
                             f"(level {level} would be {current.shape[2]}x{current.shape[3]})")
        current = current[:, :, :h, :w]
        down = _gauss(current)[:, :, ::2, ::2]
        # zero insertion: place down at the even positions of an (h, w) grid
        b, c = down.shape[:2]
        up = paddle.stack([down, paddle.zeros_like(down)], axis=-1).reshape([b, c, h // 2, w])
        up = paddle.stack([up, paddle.zeros_like(up)], axis=3).reshape([b, c, h, w])
        pyramid.append(current - _gauss(up * 4))
        current = down
    return pyramid


def laplacian_loss(pred, true, levels=LAPLACIAN_LEVELS):
    """sum over levels i of 2^i * L1(pyramid_i(pred), pyramid_i(true)); pred/true (B, 1, H, W).

    H and W must be divisible by 2^levels for every level to be non-empty.
    """
    return paddle.add_n([(2 ** i) * F.l1_loss(p, t)
                         for i, (p, t) in enumerate(zip(laplacian_pyramid(pred, levels),
                                                        laplacian_pyramid(true, levels)))])


def _alpha_terms(prefix, pred_pha, true_pha, laplacian_weight):
    terms = {f"{prefix}pha_l1": F.l1_loss(pred_pha, true_pha),
             f"{prefix}pha_sobel": F.l1_loss(sobel(pred_pha), sobel(true_pha))}
    if laplacian_weight:
        terms[f"{prefix}pha_laplacian"] = laplacian_weight * laplacian_loss(pred_pha, true_pha)
    return terms


def _fgr_term(pred_fgr, true_fgr, true_pha):
    """L1 of the foreground where the true alpha is > 0 (elsewhere both sides are 0)."""
    mask = (true_pha > 0).astype(pred_fgr.dtype)
    return F.l1_loss(pred_fgr * mask, true_fgr * mask)


def _total(terms):
    return paddle.add_n(list(terms.values())), terms


def base_loss(pred_pha, pred_fgr, pred_err, true_pha, true_fgr, laplacian_weight=0.0):
    """MattingBase loss: L1(pha) + L1(sobel pha) + L1(masked fgr) + MSE(err, |pha.detach() - true|).

    Args: predictions and ground truth at the same size (B, C, H, W), all in [0, 1].
        laplacian_weight: > 0 adds ``weight * laplacian_loss(pha)`` (off in the reference).
    Returns: (total scalar, {"pha_l1", "pha_sobel", ["pha_laplacian"], "fgr_l1", "err_mse"}).
    """
    terms = _alpha_terms("", pred_pha, true_pha, laplacian_weight)
    terms["fgr_l1"] = _fgr_term(pred_fgr, true_fgr, true_pha)
    terms["err_mse"] = F.mse_loss(pred_err, paddle.abs(pred_pha.detach() - true_pha))
    return _total(terms)


def refine_loss(pred_pha, pred_fgr, pred_pha_sm, pred_fgr_sm, pred_err_sm, true_pha, true_fgr,
                laplacian_weight=0.0):
    """MattingRefine loss, the reference ``train_refine.compute_loss``.

    Alpha (L1 + Sobel) and masked foreground terms at full size and at the coarse size (ground
    truth resized bilinearly to it), plus the MSE between the coarse error map and
    ``|pha_sm - true_pha|``, both upsampled to full size (the reference does not detach pha_sm here).

    Args: full-size pred_pha (B, 1, H, W), pred_fgr (B, 3, H, W), coarse pred_*_sm (B, C, h, w),
        full-size true_pha, true_fgr; all in [0, 1].
    Returns: (total, {"pha_l1", "pha_sobel", "sm_pha_l1", "sm_pha_sobel", "fgr_l1", "sm_fgr_l1",
        "err_mse"} and "pha_laplacian" when enabled).
    """
    size = pred_pha_sm.shape[2:]
    true_pha_sm = resize_bilinear(true_pha, size)
    true_fgr_sm = resize_bilinear(true_fgr, size)
    terms = _alpha_terms("", pred_pha, true_pha, laplacian_weight)
    # The coarse alpha is too small for a 5-level pyramid at training crops: Laplacian at full size only.
    terms.update(_alpha_terms("sm_", pred_pha_sm, true_pha_sm, 0.0))
    terms["fgr_l1"] = _fgr_term(pred_fgr, true_fgr, true_pha)
    terms["sm_fgr_l1"] = _fgr_term(pred_fgr_sm, true_fgr_sm, true_pha_sm)
    full = true_pha.shape[2:]
    terms["err_mse"] = F.mse_loss(resize_bilinear(pred_err_sm, full),
                                  paddle.abs(resize_bilinear(pred_pha_sm, full) - true_pha))
    return _total(terms)
