"""Batch perturbations on paddle tensors: geometry/colour parity, probabilities, seeding."""
import cv2
import numpy as np
import paddle
import pytest
import torch
import torchvision.transforms.functional as TF

from dataset import perturbation as P
from dataset.affine import AffineParams


def _t(x):
    return paddle.to_tensor(np.ascontiguousarray(x, dtype=np.float32))


@pytest.mark.parametrize("mode,tol", [("nearest", 0.0), ("bilinear", 1e-5)])
def test_affine_batch_matches_torchvision(mode, tol):
    x = np.random.default_rng(0).random((2, 3, 30, 44)).astype(np.float32)
    params = AffineParams(-3.5, (2, -3), 1.15, (4.0, -2.0))
    ours = P.affine_batch(_t(x), params, mode=mode).numpy()
    interp = TF.InterpolationMode.NEAREST if mode == "nearest" else TF.InterpolationMode.BILINEAR
    ref = TF.affine(torch.from_numpy(x), params.angle, list(params.translate), params.scale,
                    list(params.shear), interpolation=interp).numpy()
    assert np.abs(ours - ref).max() <= tol


@pytest.mark.parametrize("k", [20, 39])
def test_box_blur_is_kornias_reflect_box_mean(k):
    x = np.random.default_rng(1).random((1, 1, 48, 52)).astype(np.float32)
    before, after = (k - 1) // 2, k - 1 - (k - 1) // 2
    padded = np.pad(x[0, 0], ((before, after), (before, after)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k))
    assert np.abs(P.box_blur(_t(x), k).numpy()[0, 0] - windows.mean(axis=(2, 3))).max() < 1e-5


def test_hue_and_saturation_match_hsv_arithmetic():
    img = np.random.default_rng(2).random((1, 3, 12, 12)).astype(np.float32)
    hwc = img[0].transpose(1, 2, 0)
    hsv = cv2.cvtColor(hwc, cv2.COLOR_RGB2HSV)
    rotated = hsv.copy()
    rotated[..., 0] = (rotated[..., 0] + 0.07 * 360) % 360
    ours = P._rotate_hue(_t(img), paddle.full([1, 1, 1, 1], 0.07)).numpy()[0].transpose(1, 2, 0)
    assert np.abs(ours - cv2.cvtColor(rotated, cv2.COLOR_HSV2RGB)).max() < 1e-4
    saturated = hsv.copy()
    saturated[..., 1] = np.clip(saturated[..., 1] * 1.6, 0, 1)
    ours = P._scale_saturation(_t(img), paddle.full([1, 1, 1, 1], 1.6)).numpy()[0].transpose(1, 2, 0)
    assert np.abs(ours - cv2.cvtColor(saturated, cv2.COLOR_HSV2RGB)).max() < 1e-4


def _changed(before, after):
    return np.abs(before.numpy() - after.numpy()).reshape(before.shape[0], -1).max(axis=1) > 0


def test_each_perturbation_hits_its_reference_share_of_samples():
    paddle.seed(11)
    n = 1500
    bgr = paddle.rand([n, 3, 8, 8]) * 0.6 + 0.2
    src = paddle.rand([n, 3, 8, 8]) * 0.6 + 0.2
    pha = paddle.ones([n, 1, 8, 8])
    shares = {
        "shadow": _changed(bgr, P.augment_shadow(pha, bgr)).mean(),
        "noise": _changed(src, P.augment_noise(src, bgr)[0]).mean(),
        "jitter": _changed(bgr, P.augment_bgr_jitter(bgr)).mean(),
    }
    # One affine draw per call, visible only on a larger image: many calls of small batches.
    images = paddle.rand([25, 3, 256, 256])
    shares["misalign"] = np.mean([_changed(images, P.augment_bgr_misalign(images)).mean() for _ in range(24)])
    expected = {"shadow": 0.3, "noise": 0.4, "jitter": 0.8, "misalign": 0.3}
    for name, share in shares.items():
        assert abs(share - expected[name]) < 0.06, (name, share)


def test_shadow_darkens_only_the_selected_backgrounds_and_keeps_inputs():
    paddle.seed(5)
    pha = paddle.zeros([64, 1, 64, 64])
    pha[:, :, 16:48, 16:48] = 1.0
    bgr = paddle.full([64, 3, 64, 64], 0.5)
    out = P.augment_shadow(pha, bgr)
    diff = (bgr - out).numpy()
    assert diff.min() >= 0 and diff.max() <= 0.3 + 1e-6  # shadows only darken, at most 0.3
    assert 0 < _changed(bgr, out).sum() < 64
    assert np.all(bgr.numpy() == 0.5)


def test_noise_is_small_and_clipped():
    paddle.seed(6)
    src = paddle.full([200, 3, 16, 16], 0.5)
    bgr = paddle.full([200, 3, 16, 16], 0.99)
    noisy_src, noisy_bgr = P.augment_noise(src, bgr)
    std = (noisy_src - src).numpy().reshape(200, -1).std(axis=1)
    assert std.max() < 0.03 * 1.1 and (std > 0).any()
    assert noisy_bgr.numpy().max() <= 1.0


def test_same_paddle_seed_same_batch_and_rng_state_restores_it():
    def batch():
        fgr = paddle.rand([6, 3, 48, 48])
        pha = paddle.rand([6, 1, 48, 48])
        bgr = paddle.rand([6, 3, 48, 48])
        return P.training_perturbations(fgr, pha, bgr), bgr

    paddle.seed(123)
    (src_a, bgr_a), bgr_in = batch()
    paddle.seed(123)
    (src_b, bgr_b), _ = batch()
    assert np.array_equal(src_a.numpy(), src_b.numpy()) and np.array_equal(bgr_a.numpy(), bgr_b.numpy())
    state = paddle.get_rng_state()
    (src_c, _), _ = batch()
    paddle.set_rng_state(state)
    (src_d, _), _ = batch()
    assert np.array_equal(src_c.numpy(), src_d.numpy()) and not np.array_equal(src_a.numpy(), src_c.numpy())
    for x in (src_a, bgr_a):
        assert x.dtype == paddle.float32 and x.shape == [6, 3, 48, 48]
        assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_composite_and_shape_errors():
    fgr, pha, bgr = paddle.full([1, 3, 4, 4], 0.8), paddle.full([1, 1, 4, 4], 0.25), paddle.full([1, 3, 4, 4], 0.4)
    assert np.allclose(P.composite(fgr, pha, bgr).numpy(), 0.8 * 0.25 + 0.4 * 0.75)
    with pytest.raises(ValueError, match="pha"):
        P.augment_shadow(paddle.zeros([1, 3, 4, 4]), bgr)
    with pytest.raises(ValueError, match="agree"):
        P.training_perturbations(fgr, pha, paddle.zeros([1, 3, 4, 8]))
