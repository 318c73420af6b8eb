"""Model shapes, value ranges, refinement selection and bad-input errors (no reference needed)."""
import numpy as np
import paddle
import pytest

from model import MattingBase, MattingRefine

H, W = 96, 128


def _pair(batch=2, h=H, w=W, seed=0):
    rng = np.random.default_rng(seed)
    bgr = rng.random((batch, 3, h, w), dtype=np.float32)
    src = bgr.copy()
    src[:, :, h // 4: 3 * h // 4, w // 4: 3 * w // 4] = rng.random((batch, 3, 1, 1), dtype=np.float32)
    return paddle.to_tensor(src), paddle.to_tensor(bgr)


def _eval_net(backbone="mobilenetv2", seed=0, **kwargs):
    """A seeded MattingRefine in eval mode."""
    paddle.seed(seed)
    net = MattingRefine(backbone, **kwargs)
    net.eval()
    return net


@pytest.fixture(scope="module", params=["mobilenetv2", "resnet50", "resnet101"])
def refine_net(request):
    paddle.seed(0)
    net = MattingRefine(request.param, refine_mode="sampling", refine_sample_pixels=1024)
    net.eval()
    return net


@pytest.mark.parametrize("mode", ["full", "sampling", "thresholding"])
def test_refine_shapes_and_ranges(refine_net, mode):
    refine_net.refiner.mode = mode
    src, bgr = _pair()
    with paddle.no_grad():
        pha, fgr, pha_sm, fgr_sm, err_sm, ref_sm = refine_net(src, bgr)
    assert pha.shape == [2, 1, H, W] and fgr.shape == [2, 3, H, W]
    assert pha_sm.shape == [2, 1, H // 4, W // 4] and fgr_sm.shape == [2, 3, H // 4, W // 4]
    assert err_sm.shape == [2, 1, H // 4, W // 4] and ref_sm.shape == [2, 1, H // 4, W // 4]
    for t in (pha, fgr, pha_sm, fgr_sm, err_sm):
        assert t.dtype == paddle.float32
        assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    ref = ref_sm.numpy()
    assert set(np.unique(ref)) <= {0.0, 1.0}
    err_q = paddle.nn.functional.interpolate(err_sm, size=[H // 4, W // 4], mode="bilinear").numpy()
    if mode == "full":
        assert ref.min() == 1.0
    elif mode == "sampling":
        # 1024 px = 64 patches per image, only where the error is positive.
        assert (ref.sum(axis=(1, 2, 3)) == np.minimum(64, (err_q > 0).sum(axis=(1, 2, 3)))).all()
        assert (err_q[ref == 1] > 0).all()
    else:
        assert (ref == (err_q > 0.1)).all()


def test_base_shapes_and_ranges():
    paddle.seed(0)
    net = MattingBase("mobilenetv2")
    net.eval()
    src, bgr = _pair(h=90, w=130)  # the base network takes any size
    with paddle.no_grad():
        pha, fgr, err, hid = net(src, bgr)
    assert pha.shape == [2, 1, 90, 130] and fgr.shape == [2, 3, 90, 130]
    assert err.shape == [2, 1, 90, 130] and hid.shape == [2, 32, 90, 130]
    assert float(hid.min()) >= 0 and 0 <= float(pha.min()) <= float(pha.max()) <= 1


def test_sampling_refines_the_highest_errors_and_keeps_the_rest_coarse():
    net = _eval_net(seed=1, refine_mode="sampling", refine_sample_pixels=320)
    src, bgr = _pair(batch=1)
    with paddle.no_grad():
        pha, _, pha_sm, _, err_sm, ref = net(src, bgr)
    err_q = paddle.nn.functional.interpolate(err_sm, size=[H // 4, W // 4], mode="bilinear").numpy().ravel()
    chosen = ref.numpy().ravel() == 1
    assert chosen.sum() == 20
    assert err_q[chosen].min() >= err_q[~chosen].max()
    coarse = paddle.nn.functional.interpolate(pha_sm, size=[H, W], mode="bilinear").numpy()
    untouched = np.kron(ref.numpy() == 0, np.ones((1, 1, 4, 4), bool))
    np.testing.assert_allclose(pha.numpy()[untouched], coarse[untouched], atol=1e-6)
    assert np.abs(pha.numpy() - coarse)[~untouched].max() > 1e-3  # refined patches really changed


def test_small_input_clamps_sample_count():
    # 80,000 pixels requested, only 16 * 24 locations exist: the reference's top-k would crash.
    net = _eval_net(refine_mode="sampling", refine_sample_pixels=80_000, refine_prevent_oversampling=False)
    src, bgr = _pair(batch=3, h=64, w=96)
    with paddle.no_grad():
        out = net(src, bgr)
    assert out[0].shape == [3, 1, 64, 96]
    assert out[5].numpy().min() == 1.0


def test_batch_items_are_independent():
    net = _eval_net(refine_mode="thresholding", refine_threshold=0.2)
    src, bgr = _pair(batch=3)
    with paddle.no_grad():
        batched = net(src, bgr)[0].numpy()
        single = net(src[1:2], bgr[1:2])[0].numpy()
    np.testing.assert_allclose(batched[1:2], single, atol=1e-5)


def test_gradients_reach_every_module():
    net = _eval_net(refine_mode="sampling", refine_sample_pixels=2048)
    net.train()
    src, bgr = _pair(batch=2, h=64, w=64)
    pha, fgr, pha_sm, fgr_sm, err_sm, _ = net(src, bgr)
    (pha.mean() + fgr.mean() + pha_sm.mean() + err_sm.mean()).backward()
    for name in ("backbone", "aspp", "decoder", "refiner"):
        grads = [p.grad for p in getattr(net, name).parameters() if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads), f"no gradient reaches {name}"


@pytest.mark.parametrize("kwargs, message", [
    (dict(backbone="resnet18"), "backbone"),
    (dict(backbone="mobilenetv2", backbone_scale=0.75), "backbone_scale"),
    (dict(backbone="mobilenetv2", refine_mode="dense"), "refine_mode"),
    (dict(backbone="mobilenetv2", refine_kernel_size=5), "refine_kernel_size"),
    (dict(backbone="mobilenetv2", refine_sample_pixels=8), "refine_sample_pixels"),
    (dict(backbone="mobilenetv2", refine_mode="thresholding", refine_threshold=2.0), "refine_threshold"),
])
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MattingRefine(**kwargs)


@pytest.fixture(scope="module")
def small_net():
    return _eval_net()


@pytest.mark.parametrize("src, bgr, message", [
    (np.zeros((1, 3, 64, 64)), np.zeros((1, 3, 64, 68)), "same shape"),
    (np.zeros((1, 3, 62, 64)), np.zeros((1, 3, 62, 64)), "divisible by 4"),
    (np.zeros((1, 4, 64, 64)), np.zeros((1, 4, 64, 64)), r"\(B, 3, H, W\)"),
    (np.zeros((3, 64, 64)), np.zeros((3, 64, 64)), r"\(B, 3, H, W\)"),
    (np.zeros((1, 3, 64, 64), np.uint8), np.zeros((1, 3, 64, 64), np.uint8), "floating point"),
])
def test_bad_inputs(small_net, src, bgr, message):
    with pytest.raises(ValueError, match=message):
        small_net(paddle.to_tensor(src.astype(src.dtype if src.dtype == np.uint8 else np.float32)),
                  paddle.to_tensor(bgr.astype(bgr.dtype if bgr.dtype == np.uint8 else np.float32)))


def test_thresholding_with_nothing_selected_returns_the_coarse_output_and_trains():
    net = _eval_net(refine_mode="thresholding", refine_threshold=1.0)
    src, bgr = _pair(batch=2, h=64, w=96)
    with paddle.no_grad():
        pha, _, pha_sm, _, _, ref = net(src, bgr)
    assert float(ref.sum()) == 0
    coarse = paddle.nn.functional.interpolate(pha_sm, size=[64, 96], mode="bilinear").numpy()
    np.testing.assert_allclose(pha.numpy(), coarse, atol=1e-6)
    net.train()
    net(src, bgr)[0].mean().backward()  # an empty patch batch must not break the backward pass
    assert net.decoder.conv4.weight.grad is not None


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_conv_of_upsampled_features_equals_the_phase_convs(kernel_size):
    """The refiner's third conv reads the nearest 2x upsampling of its features; it computes that
    as 2x2 (or 1x1) phase convs and pixel_shuffle. Check against upsampling explicitly."""
    from model.refiner import _upsampled_conv_weight
    rng = np.random.default_rng(kernel_size)
    # float64: the phase convs sum the taps in another order, which float32 rounds differently
    x = paddle.to_tensor(rng.standard_normal((5, 16, 4, 4)))
    weight = paddle.to_tensor(rng.standard_normal((12, 16, kernel_size, kernel_size)))
    upsampled = paddle.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    expected = paddle.nn.functional.conv2d(upsampled, weight)
    phases = paddle.nn.functional.conv2d(x, _upsampled_conv_weight(weight))
    got = paddle.nn.functional.pixel_shuffle(phases, 2)
    assert got.shape == expected.shape == [5, 12, 9 - kernel_size, 9 - kernel_size]
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("mode", ["full", "sampling", "thresholding"])
def test_refine_runs_in_float64(mode):
    """The whole network, refiner included, runs in float64 (training and evaluation), so that
    parity can be checked in double precision (tests/test_parity_training.py)."""
    net = _eval_net(refine_mode=mode, refine_sample_pixels=1024, refine_threshold=0.1)
    net.to(dtype="float64")
    src, bgr = (t.astype("float64") for t in _pair(h=64, w=64))
    with paddle.no_grad():
        outputs = net(src, bgr)
    assert all(o.dtype == paddle.float64 for o in outputs)
    assert 0 < float(outputs[5].mean()) and all(bool(paddle.isfinite(o).all()) for o in outputs)
    net.train()
    outputs = net(src, bgr)
    (outputs[0].sum() + outputs[1].sum()).backward()
    assert net.refiner.conv1.weight.grad.dtype == paddle.float64


def _unbiased_update(x, before=1.0):
    """torch's running-variance update for a (B, C, H, W) batch: momentum 0.1, unbiased variance."""
    x = x.numpy().astype(np.float64)
    return 0.9 * before + 0.1 * x.var(axis=(0, 2, 3), ddof=1)


@pytest.mark.parametrize("shape", [(2, 5, 1, 1), (3, 5, 4, 6)])
def test_batchnorm_running_variance_is_unbiased(shape):
    """Running variance updated with the unbiased batch variance, as torch's BatchNorm2d; output,
    gradients and running mean those of Paddle's BatchNorm2D (biased variance in the forward)."""
    from model.batchnorm import BatchNorm2D

    x = paddle.to_tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 2 + 1,
                         stop_gradient=False)
    ours, plain = BatchNorm2D(5), paddle.nn.BatchNorm2D(5)
    plain.set_state_dict(ours.state_dict())
    results = []
    for bn in (ours, plain):
        x.clear_gradient()
        y = bn(x)
        (y * paddle.arange(5, dtype="float32").reshape([1, 5, 1, 1])).sum().backward()
        results.append((y.numpy(), x.grad.numpy(), bn._mean.numpy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours._variance.numpy(), _unbiased_update(x), rtol=1e-6)
    assert np.abs(plain._variance.numpy() - _unbiased_update(x)).max() > 1e-3  # the case tells them apart


def test_batchnorm_training_under_to_static():
    """The corrected update also holds in a static-graph (to_static) training program."""
    from model.batchnorm import BatchNorm2D

    x = paddle.to_tensor(np.random.default_rng(1).standard_normal((2, 5, 3, 3)).astype(np.float32))
    bn = BatchNorm2D(5)
    bn.train()
    paddle.jit.to_static(bn, full_graph=True)(x)
    np.testing.assert_allclose(bn._variance.numpy(), _unbiased_update(x), rtol=1e-6)


def test_convert_sync_batchnorm_keeps_parameters_and_the_correction():
    """Every BatchNorm becomes our SyncBatchNorm (not Paddle's, which would lose the correction),
    sharing parameters and statistics under the same state-dict keys."""
    from model.batchnorm import BatchNorm2D, SyncBatchNorm, convert_sync_batchnorm

    net = _eval_net()
    before = {k: v.numpy() for k, v in net.state_dict().items()}
    variances = [id(m._variance) for m in net.sublayers() if isinstance(m, BatchNorm2D)]
    net = convert_sync_batchnorm(net)
    syncs = [m for m in net.sublayers() if isinstance(m, paddle.nn.SyncBatchNorm)]
    assert len(syncs) == len(variances) and all(type(m) is SyncBatchNorm for m in syncs)
    assert not any(isinstance(m, BatchNorm2D) for m in net.sublayers())
    assert [id(m._variance) for m in syncs] == variances
    after = net.state_dict()
    assert list(after) == list(before)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k].numpy(), v)


def test_batchnorm_update_with_a_global_count():
    """The synchronised layer's path: N is a tensor (the all-reduced count of every process). The
    update uses that N, not the local one; N < 2 keeps the kernel's update."""
    from paddle import _C_ops

    from model.batchnorm import BatchNorm2D, _unbiased_running_variance

    x = paddle.to_tensor(np.random.default_rng(2).standard_normal((2, 5, 3, 3)).astype(np.float32))
    biased = x.numpy().astype(np.float64).var(axis=(0, 2, 3))
    for count, want in ((18, _unbiased_update(x)), (72, 0.9 + 0.1 * biased * 72 / 71), (1, 0.9 + 0.1 * biased)):
        bn = BatchNorm2D(5)
        bn.train()
        _unbiased_running_variance(bn, _C_ops.batch_norm, x, paddle.to_tensor(float(count), dtype="float64"))
        np.testing.assert_allclose(bn._variance.numpy(), want, rtol=1e-6, err_msg=f"N = {count}")
