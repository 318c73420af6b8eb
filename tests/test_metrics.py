"""evaluation.metrics against hand-derived values and naive re-implementations of the MATLAB code.

The naive versions below follow the official .m files line by line (Python loops,
explicit 2-D kernel, flood fill scanning in MATLAB's column-major order), so they
share no code with the vectorised module under test.
"""
from collections import deque

import numpy as np
import pytest

from evaluation import metrics
from evaluation.metrics import conn, evaluate_image, fgr_mse, grad, mse, sad


def u8(rows):
    return np.array(rows, dtype=np.uint8)


# ---------------------------------------------------------------- naive references
def naive_gaussgradient(image, sigma=1.4):
    """gaussgradient.m with loops: explicit hx(i, j), replicate border, true convolution."""
    halfsize = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * 1e-2))))
    size = 2 * halfsize + 1
    gauss = lambda x: np.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))
    hx = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            hx[i, j] = gauss(i - halfsize) * (-(j - halfsize) * gauss(j - halfsize) / sigma ** 2)
    hx /= np.sqrt((hx * hx).sum())
    padded = np.pad(image, halfsize, mode="edge")
    h, w = image.shape
    out = []
    for kernel in (hx, hx.T):
        g = np.zeros((h, w))
        for y in range(h):
            for x in range(w):
                for i in range(size):
                    for j in range(size):
                        # convolution: out(y, x) = sum k(i, j) * in(y - (i - c), x - (j - c))
                        g[y, x] += kernel[i, j] * padded[y + 2 * halfsize - i, x + 2 * halfsize - j]
        out.append(g)
    return out


def naive_grad(pred, gt, trimap):
    amps = []
    for m in (pred, gt):
        m = m.astype(np.float64)
        m = (m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else np.zeros_like(m)
        gx, gy = naive_gaussgradient(m)
        amps.append(np.sqrt(gx ** 2 + gy ** 2).astype(np.float32))
    total = 0.0
    for y, x in zip(*np.nonzero(trimap == 128)):
        total += float((amps[0][y, x] - amps[1][y, x]) ** 2)
    return total


def naive_components_column_major(mask):
    """bwconncomp(mask, 4): components in the order MATLAB lists them (column-major scan)."""
    h, w = mask.shape
    seen = np.zeros_like(mask)
    components = []
    for x in range(w):
        for y in range(h):
            if mask[y, x] and not seen[y, x]:
                pixels, queue = [], deque([(y, x)])
                seen[y, x] = True
                while queue:
                    cy, cx = queue.popleft()
                    pixels.append((cy, cx))
                    for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            queue.append((ny, nx))
                components.append(pixels)
    return components


def naive_conn(pred, gt, trimap):
    p = pred.astype(np.float32) / np.float32(255)
    g = gt.astype(np.float32) / np.float32(255)
    steps = [np.float32(i / 10) for i in range(11)]
    level = -np.ones(p.shape)
    for ii in range(1, 11):
        comps = naive_components_column_major((p >= steps[ii]) & (g >= steps[ii]))
        omega = np.zeros(p.shape, bool)
        if comps:
            best = max(range(len(comps)), key=lambda k: (len(comps[k]), -k))  # first of the largest
            for y, x in comps[best]:
                omega[y, x] = True
        level[(level == -1) & ~omega] = steps[ii - 1]
    level[level == -1] = 1
    total = 0.0
    for y, x in zip(*np.nonzero(trimap == 128)):
        phis = []
        for a in (p[y, x], g[y, x]):
            d = np.float32(a - np.float32(level[y, x]))
            phis.append(np.float32(1) - d * np.float32(d >= 0.15))
        total += abs(float(phis[0] - phis[1]))
    return total


def random_mattes(seed, shape=(12, 13)):
    """Blobby mattes with plateaus at 0 and 255 and soft edges, plus a trimap with every label."""
    rng = np.random.default_rng(seed)
    def matte():
        coarse = rng.uniform(-0.6, 1.6, (shape[0] // 3 + 1, shape[1] // 3 + 1))
        big = np.kron(coarse, np.ones((3, 3)))[: shape[0], : shape[1]]
        big += rng.normal(0, 0.15, shape)
        return (np.clip(big, 0, 1) * 255).round().astype(np.uint8)
    trimap = rng.choice(u8([0, 128, 255]), shape, p=[0.2, 0.6, 0.2])
    return matte(), matte(), trimap


# ---------------------------------------------------------------- SAD / MSE
def test_sad_and_mse_hand_values():
    pred = u8([[0, 255], [51, 100]])
    gt = u8([[255, 255], [0, 100]])
    trimap = u8([[128, 128], [128, 0]])  # last pixel is outside U
    # |diff| / 255 over U: 1, 0, 0.2 -> 1.2, divided by 1000
    assert sad(pred, gt, trimap) == pytest.approx(1.2e-3, rel=1e-12)
    # squared: 1, 0, 0.04 -> 1.04 over |U| = 3
    assert mse(pred, gt, trimap) == pytest.approx(1.04 / 3, rel=1e-12)


def test_pixels_outside_unknown_region_do_not_count():
    gt = u8([[0, 255, 0]])
    pred = u8([[255, 0, 255]])
    trimap = u8([[0, 255, 127]])  # nothing equals 128 exactly
    for metric in (sad, mse, grad, conn):
        assert metric(pred, gt, trimap) == 0.0
    assert fgr_mse(np.full((1, 3, 3), 9, np.uint8), np.zeros((1, 3, 3), np.uint8), gt, trimap) == 0.0


def test_perfect_prediction_scores_zero():
    gt, _, trimap = random_mattes(1, (16, 20))
    fgr = np.random.default_rng(2).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    result = evaluate_image(gt.copy(), gt, trimap, fgr.copy(), fgr)
    assert result == {"sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0, "fgr_mse": 0.0}


# ---------------------------------------------------------------- Grad
def test_gradient_kernel_size_and_norm():
    smooth, derivative = metrics.gaussian_gradient_kernels(1.4)
    assert len(smooth) == len(derivative) == 9  # halfsize ceil(3.62) = 4
    assert np.linalg.norm(np.outer(smooth, derivative)) == pytest.approx(1.0)
    np.testing.assert_allclose(derivative, -derivative[::-1])


def test_grad_of_constant_mattes_is_zero():
    trimap = np.full((8, 8), 128, np.uint8)
    assert grad(np.full((8, 8), 77, np.uint8), np.full((8, 8), 200, np.uint8), trimap) == 0.0


def test_grad_uses_min_max_normalisation_not_division_by_255():
    """A step 0 -> 10 and a step 0 -> 255 are the same matte after mat2gray."""
    low = np.zeros((8, 12), np.uint8)
    low[:, 6:] = 10
    high = (low > 0).astype(np.uint8) * 255
    trimap = np.full(low.shape, 128, np.uint8)
    assert grad(low, high, trimap) == 0.0
    assert grad(low, np.zeros_like(low), trimap) > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_matches_naive_matlab_transcription(seed):
    pred, gt, trimap = random_mattes(seed)
    assert grad(pred, gt, trimap) == pytest.approx(naive_grad(pred, gt, trimap), rel=1e-6)


# ---------------------------------------------------------------- Conn
def test_conn_hand_value_level_from_leaving_threshold():
    # min(pred, gt) = [255, 128]: pixel 1 leaves at t = 0.6 -> level 0.5; pixel 0 never leaves.
    # gt pixel 1: d = 1 - 0.5 = 0.5 >= 0.15 -> phi 0.5; pred pixel 1: d = 128/255 - 0.5 < 0.15 -> phi 1.
    pred, gt = u8([[255, 128]]), u8([[255, 255]])
    assert conn(pred, gt, np.full((1, 2), 128, np.uint8)) == pytest.approx(0.5, abs=1e-6)


def test_conn_size_tie_goes_to_first_component_in_column_major_order():
    # Two single-pixel components: A at (0, 2) comes first row-major, B at (2, 0) first column-major.
    gt = u8([[0, 0, 200], [0, 0, 0], [255, 0, 0]])
    pred = u8([[0, 0, 255], [0, 0, 0], [255, 0, 0]])
    trimap = np.full((3, 3), 128, np.uint8)
    # B wins every tie, so A leaves at t = 0.1 (level 0): phi_pred = 1 - 1 = 0, phi_gt = 1 - 200/255.
    assert conn(pred, gt, trimap) == pytest.approx(1 - 200 / 255, abs=1e-6)
    # (Had A won, A would leave at t = 0.8 with level 0.7 and the error would be 0.3.)


def test_conn_when_no_pixel_passes_in_both_mattes():
    """MATLAB crashes here; ours treats the component as empty: every pixel leaves at t = 0.1."""
    pred = np.zeros((1, 4), np.uint8)
    gt = u8([[0, 30, 100, 255]])
    trimap = np.full((1, 4), 128, np.uint8)
    # level 0 everywhere: phi_pred = 1; phi_gt = 1 - g where g >= 0.15 (30/255 = 0.118 is below).
    assert conn(pred, gt, trimap) == pytest.approx(100 / 255 + 1, abs=1e-6)


def test_conn_thresholds_are_inclusive_at_exact_multiples():
    # 153 / 255 == 0.6 exactly: the pixel passes t = 0.6 and leaves at 0.7 (level 0.6).
    pred, gt = u8([[153, 255]]), u8([[255, 255]])
    trimap = u8([[128, 0]])
    # pred: d = 0 -> phi 1; gt: d = 1 - 0.6 = 0.4 -> phi 0.6.
    assert conn(pred, gt, trimap) == pytest.approx(0.4, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_conn_matches_naive_matlab_transcription(seed):
    pred, gt, trimap = random_mattes(seed)
    assert conn(pred, gt, trimap) == pytest.approx(naive_conn(pred, gt, trimap), rel=1e-5, abs=1e-5)


# ---------------------------------------------------------------- foreground MSE, cropping, errors
def test_fgr_mse_masks_both_foregrounds_by_gt_alpha_and_averages_channels():
    gt = u8([[0, 255]])
    trimap = u8([[128, 128]])
    gt_fgr = np.zeros((1, 2, 3), np.uint8)
    pred_fgr = np.zeros((1, 2, 3), np.uint8)
    pred_fgr[0, 0] = 255   # where gt alpha is 0: masked away
    pred_fgr[0, 1] = [255, 51, 0]  # errors 1, 0.2, 0 at the visible pixel
    # per channel over |U| = 2: [1/2, 0.04/2, 0] -> mean over channels
    assert fgr_mse(pred_fgr, gt_fgr, gt, trimap) == pytest.approx((0.5 + 0.02 + 0) / 3, rel=1e-12)


def test_evaluate_image_crops_to_multiple_of_four():
    gt = np.zeros((6, 7), np.uint8)
    pred = gt.copy()
    pred[4:, :] = 255  # rows 4, 5 are cropped away
    pred[:, 4:] = 255  # columns 4..6 are cropped away
    trimap = np.full((6, 7), 128, np.uint8)
    assert evaluate_image(pred, gt, trimap)["sad"] == 0.0
    pred[3, 3] = 255
    assert evaluate_image(pred, gt, trimap)["sad"] == pytest.approx(1e-3)


def test_to_uint8_matches_what_an_8_bit_png_stores(tmp_path):
    """Scoring in memory must equal scoring the written file (dataset.io rounds half up)."""
    import cv2
    from dataset.io import write_alpha

    x = np.concatenate([np.linspace(0, 1, 1001, dtype=np.float32), np.float32([-0.5, 1.5]),
                        (np.arange(256, dtype=np.float32) + 0.5) / 255]).reshape(1, -1)
    write_alpha(tmp_path / "x.png", x)
    np.testing.assert_array_equal(metrics.to_uint8(x), cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED))
    assert metrics.to_uint8(np.float32([0.5 / 255, 1.5 / 255, 0.5])).tolist() == [1, 2, 128]


def test_bad_inputs_name_the_argument():
    good = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="pred must be a uint8"):
        sad(good.astype(np.float32), good, good)
    with pytest.raises(ValueError, match="trimap has size"):
        mse(good, good, np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="pred_fgr must have shape"):
        fgr_mse(np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8), good, good)
    with pytest.raises(ValueError, match="both pred_fgr and gt_fgr"):
        evaluate_image(good, good, good, pred_fgr=np.zeros((4, 4, 3), np.uint8))
