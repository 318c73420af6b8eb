"""training.losses against independent numpy computations on small random inputs."""
import numpy as np
import paddle
import pytest

from training.losses import base_loss, laplacian_loss, laplacian_pyramid, refine_loss, sobel


def _rand(rng, *shape):
    return rng.random(shape, dtype=np.float32)


def _t(x, grad=False):
    t = paddle.to_tensor(x)
    t.stop_gradient = not grad
    return t


# ----------------------------------------------------------------- numpy references
def np_correlate(x, kernel, pad, mode):
    """2-D correlation of every (H, W) plane of x (B, C, H, W) after np.pad."""
    k = kernel.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=mode).astype(np.float64)
    h, w = x.shape[2] + 2 * pad - k + 1, x.shape[3] + 2 * pad - k + 1
    out = np.zeros(x.shape[:2] + (h, w))
    for i in range(k):
        for j in range(k):
            out += kernel[i, j] * xp[:, :, i:i + h, j:j + w]
    return out


def np_sobel(x, eps=1e-6):
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64) / 8
    gx, gy = np_correlate(x, kx, 1, "edge"), np_correlate(x, kx.T, 1, "edge")
    return np.sqrt(gx ** 2 + gy ** 2 + eps)


def np_laplacian_loss(pred, true, levels=5):
    g = np.array([1, 4, 6, 4, 1], np.float64)
    g = np.outer(g, g) / 256

    def pyramid(x):
        out = []
        for _ in range(levels):
            x = x[:, :, :x.shape[2] // 2 * 2, :x.shape[3] // 2 * 2]
            down = np_correlate(x, g, 2, "reflect")[:, :, ::2, ::2]
            up = np.zeros_like(x, dtype=np.float64)
            up[:, :, ::2, ::2] = down * 4
            out.append(x - np_correlate(up, g, 2, "reflect"))
            x = down
        return out

    return sum(2 ** i * np.abs(p - t).mean() for i, (p, t) in enumerate(zip(pyramid(pred), pyramid(true))))


def np_resize_bilinear(x, size):
    """Half-pixel bilinear resize without antialiasing (torch align_corners=False), numpy."""
    H, W = size
    h, w = x.shape[2:]

    def coords(n_out, n_in):
        c = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
        i0 = np.minimum(np.floor(c).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, c - i0

    y0, y1, fy = coords(H, h)
    x0, x1, fx = coords(W, w)
    x = x.astype(np.float64)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bot = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    return top * (1 - fy[:, None]) + bot * fy[:, None]


# ----------------------------------------------------------------- tests
def test_sobel_matches_numpy_and_is_flat_on_constants():
    rng = np.random.default_rng(0)
    x = _rand(rng, 2, 3, 9, 11)
    np.testing.assert_allclose(sobel(_t(x)).numpy(), np_sobel(x), rtol=1e-5, atol=1e-6)
    flat = sobel(paddle.full([1, 1, 5, 5], 0.7)).numpy()
    np.testing.assert_allclose(flat, np.sqrt(1e-6), rtol=1e-4)
    # a vertical step edge of height 1 gives |gx| = 4/8 next to the edge
    step = np.zeros((1, 1, 6, 6), np.float32)
    step[..., 3:] = 1
    assert sobel(_t(step)).numpy()[0, 0, 2, 2] == pytest.approx(0.5, abs=1e-5)


def test_laplacian_pyramid_reconstructs_and_loss_matches_numpy():
    rng = np.random.default_rng(1)
    pred, true = _rand(rng, 2, 1, 64, 80), _rand(rng, 2, 1, 64, 80)
    got = float(laplacian_loss(_t(pred), _t(true)))
    assert got == pytest.approx(np_laplacian_loss(pred, true), rel=1e-5)
    assert float(laplacian_loss(_t(pred), _t(pred))) == 0.0
    levels = laplacian_pyramid(_t(pred))
    assert [tuple(p.shape[2:]) for p in levels] == [(64, 80), (32, 40), (16, 20), (8, 10), (4, 4)]


def test_laplacian_pyramid_rejects_too_small_inputs():
    with pytest.raises(ValueError, match="too small"):
        laplacian_pyramid(paddle.zeros([1, 1, 32, 32]), levels=5)


def test_base_loss_terms_match_numpy():
    rng = np.random.default_rng(2)
    pha, fgr, err = _rand(rng, 2, 1, 32, 32), _rand(rng, 2, 3, 32, 32), _rand(rng, 2, 1, 32, 32)
    true_pha, true_fgr = _rand(rng, 2, 1, 32, 32), _rand(rng, 2, 3, 32, 32)
    true_pha[:, :, :10] = 0  # masked-out foreground region
    total, terms = base_loss(_t(pha), _t(fgr), _t(err), _t(true_pha), _t(true_fgr))
    mask = true_pha > 0
    want = {
        "pha_l1": np.abs(pha - true_pha).mean(),
        "pha_sobel": np.abs(np_sobel(pha) - np_sobel(true_pha)).mean(),
        "fgr_l1": np.abs(fgr * mask - true_fgr * mask).mean(),
        "err_mse": ((err - np.abs(pha - true_pha)) ** 2).mean(),
    }
    assert set(terms) == set(want)
    for k, v in want.items():
        assert float(terms[k]) == pytest.approx(v, rel=1e-5), k
    assert float(total) == pytest.approx(sum(want.values()), rel=1e-5)

    big = [_rand(rng, 1, c, 64, 64) for c in (1, 3, 1, 1, 3)]
    _, with_lap = base_loss(*(_t(x) for x in big), laplacian_weight=0.5)
    assert float(with_lap["pha_laplacian"]) == pytest.approx(0.5 * np_laplacian_loss(big[0], big[3]), rel=1e-5)


def test_base_loss_gradients_flow_to_predictions_but_not_through_err_target():
    rng = np.random.default_rng(3)
    pha, fgr, err = (_t(_rand(rng, 1, c, 16, 16), grad=True) for c in (1, 3, 1))
    true_pha, true_fgr = _t(_rand(rng, 1, 1, 16, 16)), _t(_rand(rng, 1, 3, 16, 16))
    _, terms = base_loss(pha, fgr, err, true_pha, true_fgr)
    terms["err_mse"].backward()
    assert pha.grad is None or float(pha.grad.abs().sum()) == 0.0  # target uses pha.detach()
    assert float(err.grad.abs().sum()) > 0
    total, _ = base_loss(pha, fgr, err, true_pha, true_fgr)
    total.backward()
    assert float(pha.grad.abs().sum()) > 0 and float(fgr.grad.abs().sum()) > 0


def test_refine_loss_terms_match_numpy():
    rng = np.random.default_rng(4)
    H, h = 32, 8
    pha, fgr = _rand(rng, 2, 1, H, H), _rand(rng, 2, 3, H, H)
    pha_sm, fgr_sm, err_sm = _rand(rng, 2, 1, h, h), _rand(rng, 2, 3, h, h), _rand(rng, 2, 1, h, h)
    true_pha, true_fgr = _rand(rng, 2, 1, H, H), _rand(rng, 2, 3, H, H)
    true_pha[:, :, :, :12] = 0
    total, terms = refine_loss(*(_t(x) for x in (pha, fgr, pha_sm, fgr_sm, err_sm, true_pha, true_fgr)))
    true_pha_sm, true_fgr_sm = np_resize_bilinear(true_pha, (h, h)), np_resize_bilinear(true_fgr, (h, h))
    m, m_sm = true_pha > 0, true_pha_sm > 0
    want = {
        "pha_l1": np.abs(pha - true_pha).mean(),
        "sm_pha_l1": np.abs(pha_sm - true_pha_sm).mean(),
        "pha_sobel": np.abs(np_sobel(pha) - np_sobel(true_pha)).mean(),
        "sm_pha_sobel": np.abs(np_sobel(pha_sm) - np_sobel(true_pha_sm)).mean(),
        "fgr_l1": np.abs(fgr * m - true_fgr * m).mean(),
        "sm_fgr_l1": np.abs(fgr_sm * m_sm - true_fgr_sm * m_sm).mean(),
        "err_mse": ((np_resize_bilinear(err_sm, (H, H))
                     - np.abs(np_resize_bilinear(pha_sm, (H, H)) - true_pha)) ** 2).mean(),
    }
    assert set(terms) == set(want)
    for k, v in want.items():
        assert float(terms[k]) == pytest.approx(v, rel=1e-4, abs=1e-7), k
    assert float(total) == pytest.approx(sum(want.values()), rel=1e-5)
