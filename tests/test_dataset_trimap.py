"""dataset.trimap.make_trimap against independently computed bands."""
import numpy as np
import pytest

from dataset.trimap import make_trimap


def city_block_distance_to(mask):
    """Brute force: for every pixel, the smallest |dy| + |dx| to a True pixel of mask."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.abs(yy[..., None] - ys) + np.abs(xx[..., None] - xs)
    return d.min(axis=-1)


def test_single_unknown_pixel_grows_into_a_radius_10_diamond():
    pha = np.zeros((31, 31), np.float32)
    pha[15, 15] = 0.5
    trimap = make_trimap(pha)
    assert trimap.dtype == np.uint8
    expected = np.where(city_block_distance_to(pha > 0) <= 10, 128, 0)
    np.testing.assert_array_equal(trimap, expected)
    assert (trimap == 128).sum() == 2 * 10 * 11 + 1  # diamond of radius 10


def test_opaque_square_erodes_inside_and_dilates_outside():
    pha = np.zeros((71, 71), np.float32)
    pha[15:56, 15:56] = 1.0  # 41 x 41 opaque square
    trimap = make_trimap(pha)
    expected = np.zeros_like(trimap)
    expected[city_block_distance_to(pha > 0) <= 10] = 128
    # Foreground survives where the whole radius-10 diamond fits inside the square.
    expected[25:46, 25:46] = 255
    np.testing.assert_array_equal(trimap, expected)
    assert (trimap == 255).sum() == 21 * 21


@pytest.mark.parametrize("value,expected", [(15, 0), (16, 128), (244, 128), (245, 255)])
def test_thresholds_on_uint8_and_float_alpha(value, expected):
    pha = np.full((5, 5), value, np.uint8)
    assert set(np.unique(make_trimap(pha, iterations=0))) == {expected}
    assert set(np.unique(make_trimap(pha / np.float32(255), iterations=0))) == {expected}


def test_constant_mattes_and_border():
    assert (make_trimap(np.ones((20, 20), np.float32)) == 255).all()  # border does not erode
    assert (make_trimap(np.zeros((20, 20), np.uint8)) == 0).all()
    assert make_trimap(np.zeros((20, 20, 1), np.float32)).shape == (20, 20)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3)), np.full((4, 4), 1.5), np.zeros((4, 4), np.int32)])
def test_bad_input_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="make_trimap"):
        make_trimap(bad)
