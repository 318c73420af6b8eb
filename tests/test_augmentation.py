"""Per-sample augmentation: pairing, ranges, seeding, and parity with the reference (PIL/torchvision)."""
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter

import dataset.augmentation as A
from dataset.affine import AffineParams
from dataset.synthetic import make_subject

ref_aug = pytest.importorskip("BackgroundMattingV2.dataset.augmentation")


class FixedRng:
    """Stands in for np.random.Generator where a test needs one specific draw."""

    def __init__(self, random=0.0, integers=0, uniform=None, permutation=(0, 1, 2, 3)):
        self._random, self._integers, self._uniform, self._perm = random, integers, uniform, permutation

    def random(self):
        return self._random

    def integers(self, low, high=None):
        return self._integers

    def uniform(self, low, high):
        return self._uniform(low, high) if self._uniform else (low + high) / 2

    def permutation(self, n):
        return np.array(self._perm)


def _to_u8(x):
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def _train_pipeline(size):
    return A.PairCompose([
        A.PairRandomAffineAndResize(size, degrees=(-5, 5), translate=(0.1, 0.1), scale=(0.4, 1), shear=(-5, 5)),
        A.PairRandomHorizontalFlip(), A.PairRandomBoxBlur(0.5, 5), A.PairRandomSharpen(0.5)])


@pytest.fixture(scope="module")
def subject():
    pha, fgr = make_subject(np.random.default_rng(3), (96, 80))
    return pha[:, :, None], fgr


def test_paired_transforms_keep_alpha_and_foreground_aligned(subject):
    pha, fgr = subject
    # Foreground whose red channel *is* the alpha: any misalignment breaks the equality.
    coded = fgr.copy()
    coded[:, :, 0] = pha[:, :, 0]
    for seed in range(8):
        out_pha, out_fgr = _train_pipeline((64, 48))((pha, coded), np.random.default_rng(seed))
        assert out_pha.shape == (64, 48, 1) and out_fgr.shape == (64, 48, 3)
        assert np.abs(out_fgr[:, :, 0] - out_pha[:, :, 0]).max() < 1e-5
        # The composite over black equals fgr * pha from the aligned pair.
        src = out_fgr * out_pha
        assert np.allclose(src[:, :, 0], out_pha[:, :, 0] ** 2, atol=1e-5)


def test_outputs_are_float32_in_unit_range_and_seeded(subject):
    pha, fgr = subject
    pipeline = A.PairCompose([_train_pipeline((64, 64)),
                              A.PairApplyOnlyAtIndices([1], A.ColorJitter(0.15, 0.15, 0.15, 0.05)),
                              A.PairApply(A.ToCHW())])
    a = pipeline((pha, fgr), np.random.default_rng(7))
    b = pipeline((pha, fgr), np.random.default_rng(7))
    c = pipeline((pha, fgr), np.random.default_rng(8))
    assert a[0].shape == (1, 64, 64) and a[1].shape == (3, 64, 64)
    for x in a:
        assert x.dtype == np.float32 and x.flags.c_contiguous and 0 <= x.min() and x.max() <= 1
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("in_size,out_size", [((60, 90), (48, 40)), ((30, 20), (40, 56))])
def test_affine_and_resize_matches_reference(monkeypatch, in_size, out_size):
    """Same parameters -> same pixels as the reference PairRandomAffineAndResize (PIL, 8 bit)."""
    rng = np.random.default_rng(0)
    img = rng.random(in_size + (3,)).astype(np.float32)
    img = np.asarray(Image.fromarray(_to_u8(img)).filter(ImageFilter.GaussianBlur(1.5))).astype(np.float32) / 255
    pha = img[:, :, :1].copy()
    params = AffineParams(4.0, (3, -2), 0.9, (3.0, 0.0))
    ours_args, ref_args = [], []

    def ours_params(rng, degrees, translate, scale, shear, image_size):
        ours_args.append((translate, scale, image_size))
        return params

    def ref_params(degrees, translate, scale, shear, image_size):
        ref_args.append((translate, scale, tuple(image_size)))
        return params.angle, params.translate, params.scale, params.shear

    monkeypatch.setattr(A, "sample_affine_params", ours_params)
    monkeypatch.setattr(ref_aug.T.RandomAffine, "get_params", staticmethod(ref_params))
    kwargs = dict(degrees=(-5, 5), translate=(0.1, 0.1), scale=(0.4, 1.0), shear=(-5, 5))
    out_pha, out_img = A.PairRandomAffineAndResize(out_size, **kwargs)((pha, img), np.random.default_rng(0))
    ref_pha, ref_img = ref_aug.PairRandomAffineAndResize(out_size, **kwargs)(
        Image.fromarray(_to_u8(pha[:, :, 0])), Image.fromarray(_to_u8(img)))

    assert np.allclose(ours_args[0][0], ref_args[0][0]) and np.allclose(ours_args[0][1], ref_args[0][1])
    ref_img = np.asarray(ref_img).astype(np.float32) / 255
    assert ref_img.shape == out_img.shape
    diff = np.abs(ref_img - out_img)
    inner = diff[2:-2, 2:-2]  # PIL and OpenCV round the zero-fill border differently
    assert inner.mean() < 1.5 / 255 and np.percentile(inner, 99) < 4 / 255
    assert np.abs(np.asarray(ref_pha) / 255 - out_pha[:, :, 0])[2:-2, 2:-2].mean() < 1.5 / 255


@pytest.mark.parametrize("radius", [1, 4])
def test_box_blur_matches_pil(radius):
    img = np.random.default_rng(1).random((30, 40, 3)).astype(np.float32)
    ours = A.RandomBoxBlur(1.0, 5)(img, FixedRng(integers=radius))
    ref = np.asarray(Image.fromarray(_to_u8(img)).filter(ImageFilter.BoxBlur(radius))).astype(np.float32) / 255
    assert np.abs(ours - ref).max() <= 1.5 / 255
    # radius 0 leaves the image untouched, probability 0 never blurs
    assert np.array_equal(A.RandomBoxBlur(1.0, 5)(img, FixedRng(integers=0)), img)
    assert np.array_equal(A.RandomBoxBlur(0.0, 5)(img, np.random.default_rng(0)), img)


def test_sharpen_matches_pil_and_pairs_keep_alpha_shape():
    img = np.random.default_rng(2).random((30, 40, 3)).astype(np.float32)
    ref = np.asarray(Image.fromarray(_to_u8(img)).filter(ImageFilter.SHARPEN)).astype(np.float32) / 255
    ours = A.RandomSharpen(1.0)(_to_u8(img).astype(np.float32) / 255, FixedRng())
    assert np.abs(ours - ref).max() <= 1.01 / 255
    pha, fgr = A.PairRandomSharpen(1.0)((img[:, :, :1], img), FixedRng())
    assert pha.shape == (30, 40, 1) and np.array_equal(pha[:, :, 0], fgr[:, :, 0])


def test_horizontal_flip_mirrors_both():
    img = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3) / 20
    pha, fgr = A.PairRandomHorizontalFlip(1.0)((img[:, :, :1], img), np.random.default_rng(0))
    assert np.array_equal(fgr, img[:, ::-1]) and np.array_equal(pha[:, :, 0], img[:, ::-1, 0])
    assert np.array_equal(A.RandomHorizontalFlip(0.0)(img, np.random.default_rng(0)), img)


@pytest.mark.parametrize("op,factor,ref_fn", [
    (0, 1.12, TF.adjust_brightness), (1, 0.87, TF.adjust_contrast),
    (2, 1.13, TF.adjust_saturation), (3, 0.04, TF.adjust_hue)])
def test_color_jitter_ops_match_torchvision(op, factor, ref_fn):
    img = np.random.default_rng(4).random((20, 24, 3)).astype(np.float32) * 0.8 + 0.1
    strengths = [0.0, 0.0, 0.0, 0.0]
    strengths[op] = 0.05 if op == 3 else 0.15
    jitter = A.ColorJitter(*strengths)
    ours = jitter(img, FixedRng(uniform=lambda lo, hi: factor))
    # torchvision's float (tensor) implementation; its PIL path quantises hue to 8 bit.
    ref = ref_fn(torch.from_numpy(img.transpose(2, 0, 1)), factor).numpy().transpose(1, 2, 0)
    assert np.abs(ours - ref).max() < 2e-3
    assert ours.dtype == np.float32 and 0 <= ours.min() and ours.max() <= 1


def test_small_inputs_are_scaled_up_to_cover_a_large_output():
    """A 40x30 background for a 512x512 output: scale and translate grow by 512 / 30 as the reference."""
    img = np.random.default_rng(5).random((30, 40, 3)).astype(np.float32)
    t = A.RandomAffineAndResize((512, 512), degrees=(-5, 5), translate=(0.1, 0.1), scale=(1, 2), shear=(-5, 5))
    for seed in range(4):
        out = t(img, np.random.default_rng(seed))
        assert out.shape == (512, 512, 3)
        assert (out.max(axis=2) > 0).mean() > 0.9  # covered, apart from rotated/translated corners


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="size"):
        A.PairRandomAffineAndResize((0, 10), 5, None, (1, 1), None)
    with pytest.raises(ValueError, match="scale"):
        A.RandomAffineAndResize((10, 10), 5, None, (0, 1), None)
    with pytest.raises(ValueError, match="translate"):
        A.RandomAffineAndResize((10, 10), 5, (1.5, 0), (1, 1), None)
    with pytest.raises(ValueError, match="hue"):
        A.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="differ in size"):
        A.PairRandomAffineAndResize((8, 8), 5, None, (1, 1), None)(
            (np.zeros((10, 10, 1), np.float32), np.zeros((12, 10, 3), np.float32)), np.random.default_rng(0))
