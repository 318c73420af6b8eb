"""Matting metrics identical in definition to the official BGMv2 MATLAB benchmark.

The official benchmark (``eval/benchmark.m`` and the ``compute_*`` files by Ning
Xu in the original BackgroundMattingV2 repository) scores 8-bit PNGs. Every
function here takes the same 8-bit data:

* ``pred``, ``gt``: uint8 (H, W) alpha mattes, 0..255 meaning 0..1;
* ``trimap``: uint8 (H, W); the unknown region U is ``trimap == 128``;
* foregrounds: uint8 (H, W, 3).

Units are the benchmark's raw units (see each function): SAD is already divided
by 1000, MSE, Grad, Conn and foreground MSE are not scaled. The per-image entry
point :func:`evaluate_image` first crops everything to a multiple of 4 in height
and width, as ``benchmark.m`` does; the single-metric functions do not crop.

Deviations, all on inputs where MATLAB gives no usable number:

* empty U: MSE and foreground MSE are 0 (MATLAB: 0/0 = NaN); SAD, Grad and Conn
  are sums over U and are 0 anyway;
* Conn when, at some threshold, no pixel passes in both mattes (MATLAB crashes
  indexing an empty component list): the component is empty, so every pixel
  not yet assigned a level gets the previous threshold as its level.

Sums are accumulated exactly (integers) or in float64, where MATLAB accumulates
in single precision; per-pixel values follow MATLAB's single/double types.
"""
import cv2
import numpy as np

from dataset.io import quantize

UNKNOWN = 128
GRAD_SIGMA = 1.4
GRAD_EPSILON = 1e-2
CONN_STEP = 0.1
CONN_PHI_CUTOFF = 0.15
METRIC_NAMES = ("sad", "mse", "grad", "conn", "fgr_mse")


def to_uint8(x):
    """Float image in [0, 1] (clipped) -> uint8, rounding half up like ``dataset.io``'s writers,
    so a matte scored in memory equals the same matte written to and read from an 8-bit PNG."""
    return quantize(np.asarray(x, dtype=np.float32))


def _check_matte(name, x, shape=None, channels=None):
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        raise ValueError(f"{name} must be a uint8 numpy array (8-bit values 0..255), "
                         f"got {type(x).__name__} {getattr(x, 'dtype', '')}")
    want_ndim = 2 if channels is None else 3
    if x.ndim != want_ndim or (channels is not None and x.shape[2] != channels):
        want = "(H, W)" if channels is None else f"(H, W, {channels})"
        raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    if shape is not None and x.shape[:2] != shape:
        raise ValueError(f"{name} has size {x.shape[:2]}, expected {shape} (same as the ground truth)")


def _check_inputs(pred, gt, trimap):
    _check_matte("gt", gt)
    _check_matte("pred", pred, gt.shape)
    _check_matte("trimap", trimap, gt.shape)
    return trimap == UNKNOWN


def crop_to_multiple_of_4(x):
    """Top-left crop of an (H, W, ...) array to (H // 4 * 4, W // 4 * 4), as benchmark.m does."""
    h, w = x.shape[0] // 4 * 4, x.shape[1] // 4 * 4
    return x[:h, :w]


def sad(pred, gt, trimap):
    """Sum over U of |pred - gt| / 255, divided by 1000 (official unit: thousands)."""
    unknown = _check_inputs(pred, gt, trimap)
    return cv2.norm(pred, gt, cv2.NORM_L1, mask=unknown.view(np.uint8)) / 255.0 / 1000.0


def _mse_over(unknown, pred, gt):
    """Per-channel mean over U of ((pred - gt) / 255)^2; 0 when U is empty."""
    count = int(unknown.sum())
    if count == 0:
        return np.zeros(pred.shape[2:], np.float64)
    mask = unknown.view(np.uint8)
    # cv2.norm sums integer squares in float64: exact for any image size used here.
    sums = [cv2.norm(p, g, cv2.NORM_L2SQR, mask=mask) for p, g in zip(cv2.split(pred), cv2.split(gt))]
    return np.array(sums, np.float64).reshape(pred.shape[2:]) / (255.0 ** 2) / count


def mse(pred, gt, trimap):
    """Mean over U of ((pred - gt) / 255)^2 (raw; papers print it x1e3). 0 when U is empty."""
    unknown = _check_inputs(pred, gt, trimap)
    return float(_mse_over(unknown, pred, gt))


def fgr_mse(pred_fgr, gt_fgr, gt, trimap):
    """Foreground MSE: both (H, W, 3) uint8 foregrounds are zeroed where gt == 0,
    then the MSE over U is taken per channel and averaged over the 3 channels."""
    _check_matte("gt", gt)
    _check_matte("trimap", trimap, gt.shape)
    _check_matte("gt_fgr", gt_fgr, gt.shape, channels=3)
    _check_matte("pred_fgr", pred_fgr, gt.shape, channels=3)
    visible = (gt > 0)[:, :, None]
    per_channel = _mse_over(trimap == UNKNOWN, pred_fgr * visible, gt_fgr * visible)
    return float(per_channel.mean())


def gaussian_gradient_kernels(sigma=GRAD_SIGMA, epsilon=GRAD_EPSILON):
    """Separable factors of gaussgradient.m's x kernel hx(i, j) = G(i) * G'(j) / ||hx||_2.

    Returns (smooth, derivative), 1-D float64 of length 2 * halfsize + 1 (9 for
    sigma 1.4), such that hx = outer(smooth, derivative); ||hx||_2 is the
    product of the factors' norms, so each factor is L2-normalised.
    """
    halfsize = int(np.ceil(sigma * np.sqrt(-2.0 * np.log(np.sqrt(2.0 * np.pi) * sigma * epsilon))))
    u = np.arange(-halfsize, halfsize + 1, dtype=np.float64)
    smooth = np.exp(-u ** 2 / (2.0 * sigma ** 2)) / (sigma * np.sqrt(2.0 * np.pi))
    derivative = -u * smooth / sigma ** 2
    return smooth / np.linalg.norm(smooth), derivative / np.linalg.norm(derivative)


def _mat2gray(x):
    """MATLAB mat2gray: float64 with min -> 0 and max -> 1; a constant image maps to zeros
    (it has no gradient either way)."""
    x = x.astype(np.float64)
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.zeros_like(x)
    return (x - lo) / (hi - lo)


def gradient_amplitude(matte, sigma=GRAD_SIGMA):
    """sqrt(gx^2 + gy^2) of gaussgradient.m on mat2gray(matte): float32 (H, W).

    imfilter(..., 'replicate', 'conv') is a convolution, i.e. OpenCV's
    correlation with the flipped kernel, with replicated borders.
    """
    smooth, derivative = gaussian_gradient_kernels(sigma)
    image = _mat2gray(matte)
    flip = slice(None, None, -1)
    gx = cv2.sepFilter2D(image, cv2.CV_64F, derivative[flip], smooth[flip], borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(image, cv2.CV_64F, smooth[flip], derivative[flip], borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy).astype(np.float32)


def grad(pred, gt, trimap):
    """Gradient error: sum over U of (amp(pred) - amp(gt))^2 (raw; papers print it /1000)."""
    unknown = _check_inputs(pred, gt, trimap)
    error = (gradient_amplitude(pred) - gradient_amplitude(gt)) ** 2
    return float(error[unknown].sum(dtype=np.float64))


def _largest_component(mask):
    """Largest 4-connected component of a bool (H, W) mask (bool), empty if mask is empty.

    Size ties go to the component MATLAB's bwconncomp lists first: the one whose
    first pixel in column-major order comes first (leftmost column, then topmost row).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=4,
                                                               ltype=cv2.CV_32S)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    tied = np.flatnonzero(areas == areas.max()) + 1
    if len(tied) > 1:
        lefts = stats[tied, cv2.CC_STAT_LEFT]
        tied = tied[lefts == lefts.min()]
        column = labels[:, lefts.min()]
        tied = [min(tied, key=lambda lab: np.argmax(column == lab))]
    return labels == tied[0]


def _connectivity_phi(matte01, level):
    """phi = 1 - d * (d >= 0.15) with d = alpha - level, float32 as in MATLAB."""
    d = matte01 - level
    return 1.0 - d * (d >= np.float32(CONN_PHI_CUTOFF))


def conn(pred, gt, trimap, step=CONN_STEP):
    """Connectivity error: sum over U of |phi(pred) - phi(gt)| (raw; papers print it /1000).

    For thresholds t = step, 2 step, ..., 1 (float32), the largest 4-connected
    component of (pred >= t) & (gt >= t) over the whole image is found; a
    pixel's level is the threshold before the first one at which it is outside
    that component (1 if it never leaves).
    """
    unknown = _check_inputs(pred, gt, trimap)
    if not 0 < step <= 1:
        raise ValueError(f"conn: step must be in (0, 1], got {step}")
    thresholds = np.float32(np.arange(int(np.floor(1.0 / step + 1e-9)) + 1) * step)
    # Smallest 8-bit value v with float32(v) / 255 >= t, so comparisons stay in uint8.
    values01 = np.arange(256, dtype=np.float32) / np.float32(255)
    first_passing = [int(np.argmax(values01 >= t)) if values01[-1] >= t else 256 for t in thresholds]

    both = np.minimum(pred, gt)  # pixel passes in both mattes iff min(pred, gt) >= t
    level = np.full(pred.shape, np.float32(1.0), np.float32)
    assigned = np.zeros(pred.shape, bool)
    for i in range(1, len(thresholds)):
        omega = _largest_component(both >= first_passing[i])
        leaving = ~assigned & ~omega
        level[leaving] = thresholds[i - 1]
        assigned |= leaving

    pred01 = pred.astype(np.float32) / np.float32(255)
    gt01 = gt.astype(np.float32) / np.float32(255)
    error = np.abs(_connectivity_phi(pred01, level) - _connectivity_phi(gt01, level))
    return float(error[unknown].sum(dtype=np.float64))


def evaluate_image(pred_pha, gt_pha, trimap, pred_fgr=None, gt_fgr=None):
    """All official metrics of one image, after cropping to a multiple of 4.

    Args:
        pred_pha, gt_pha, trimap: uint8 (H, W).
        pred_fgr, gt_fgr: uint8 (H, W, 3) or both None (then fgr_mse is absent).

    Returns:
        dict with "sad", "mse", "grad", "conn" (and "fgr_mse") in official raw units.
    """
    if (pred_fgr is None) != (gt_fgr is None):
        raise ValueError("evaluate_image: give both pred_fgr and gt_fgr, or neither")
    _check_matte("gt", gt_pha)
    _check_matte("pred", pred_pha, gt_pha.shape)
    _check_matte("trimap", trimap, gt_pha.shape)
    if min(gt_pha.shape) < 4:
        raise ValueError(f"evaluate_image: images must be at least 4x4 pixels, got {gt_pha.shape}")
    pred_pha, gt_pha, trimap = (crop_to_multiple_of_4(x) for x in (pred_pha, gt_pha, trimap))
    result = {
        "sad": sad(pred_pha, gt_pha, trimap),
        "mse": mse(pred_pha, gt_pha, trimap),
        "grad": grad(pred_pha, gt_pha, trimap),
        "conn": conn(pred_pha, gt_pha, trimap),
    }
    if gt_fgr is not None:
        result["fgr_mse"] = fgr_mse(crop_to_multiple_of_4(pred_fgr), crop_to_multiple_of_4(gt_fgr),
                                    gt_pha, trimap)
    return result
