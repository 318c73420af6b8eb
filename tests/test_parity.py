"""Parity with the official PyTorch implementation (backgroundmattingv2==1.0), same weights via our converter."""
import os

import numpy as np
import paddle
import pytest

torch = pytest.importorskip("torch") if not os.environ.get("REQUIRE_PARITY") else __import__("torch")
pytest.importorskip("BackgroundMattingV2") if not os.environ.get("REQUIRE_PARITY") else None

from model import MattingBase, MattingRefine  # noqa: E402
from model.torch_weights import convert_checkpoint  # noqa: E402
from tests.helpers.reference_checkpoint import (build_reference_model, calibration_inputs,  # noqa: E402
                                               train_without_dropout)

TOL = 1e-4
NAMES = ("pha", "fgr", "pha_sm", "fgr_sm", "err_sm", "ref_sm")
SIZE = (256, 320)  # non-square on purpose


@pytest.fixture(scope="module")
def inputs():
    return calibration_inputs(2, *SIZE, seed=7)


def _convert(ref, tmp_path, name):
    pth, pdparams = tmp_path / f"{name}.pth", tmp_path / f"{name}.pdparams"
    torch.save(ref.state_dict(), pth)
    convert_checkpoint(str(pth), str(pdparams))
    return paddle.load(str(pdparams))


def _run_both(ref, net, src, bgr):
    with torch.no_grad():
        expected = [t.numpy() for t in ref(torch.from_numpy(src), torch.from_numpy(bgr))]
    net.eval()
    with paddle.no_grad():
        actual = [t.numpy() for t in net(paddle.to_tensor(src), paddle.to_tensor(bgr))]
    return expected, actual


def _assert_non_degenerate(pha):
    fractional = ((pha > 0.01) & (pha < 0.99)).mean()
    assert fractional > 0.1, f"alpha is nearly all 0/1 ({fractional:.3f} fractional): the test would prove little"


@pytest.fixture(scope="module", params=["mobilenetv2", "resnet50", "resnet101"])
def refine_pair(request, tmp_path_factory):
    torch.set_num_threads(2)
    ref = build_reference_model(request.param, refine=True, seed=0, refine_mode="full")
    state = _convert(ref, tmp_path_factory.mktemp("ckpt"), request.param)
    return request.param, ref, state


@pytest.mark.parametrize("mode", ["full", "thresholding"])
def test_refine_parity_exact_modes(refine_pair, inputs, mode):
    backbone, ref, state = refine_pair
    ref.refiner.mode = mode
    net = MattingRefine(backbone, refine_mode=mode, refine_threshold=0.1)
    net.set_state_dict(state)
    expected, actual = _run_both(ref, net, *inputs)
    _assert_non_degenerate(expected[0])
    if mode == "thresholding":
        selected = expected[5].mean()
        assert 0.05 < selected < 0.95, f"threshold selects {selected:.2f} of the patches: not a real selection"
    for name, e, a in zip(NAMES, expected, actual):
        assert e.shape == a.shape, name
        assert np.abs(e - a).max() < TOL, f"{backbone} {mode} {name}: max diff {np.abs(e - a).max():.2e}"


def test_refine_parity_sampling(refine_pair, inputs):
    backbone, ref, state = refine_pair
    ref.refiner.mode = "sampling"
    ref.refiner.sample_pixels = 16_000  # 1000 of the 5120 locations per image
    net = MattingRefine(backbone, refine_mode="sampling", refine_sample_pixels=16_000)
    net.set_state_dict(state)
    expected, actual = _run_both(ref, net, *inputs)
    _assert_non_degenerate(expected[0])
    agree = expected[5] == actual[5]
    assert agree.mean() > 0.99, f"selections agree on only {agree.mean():.4f} of the locations"
    assert actual[5].sum(axis=(1, 2, 3)).tolist() == expected[5].sum(axis=(1, 2, 3)).tolist()
    for name, e, a in zip(NAMES[2:5], expected[2:5], actual[2:5]):
        assert np.abs(e - a).max() < TOL, f"{backbone} sampling {name}"
    full_agree = np.kron(agree, np.ones((1, 1, 4, 4), bool))
    for name, e, a in zip(NAMES[:2], expected[:2], actual[:2]):
        diff = np.abs(e - a) * full_agree
        assert diff.max() < TOL, f"{backbone} sampling {name}: max diff {diff.max():.2e} where selections agree"


@pytest.mark.parametrize("backbone", ["mobilenetv2", "resnet50", "resnet101"])
def test_base_parity(backbone, inputs, tmp_path):
    ref = build_reference_model(backbone, refine=False, seed=1)
    net = MattingBase(backbone)
    net.set_state_dict(_convert(ref, tmp_path, backbone))
    expected, actual = _run_both(ref, net, *inputs)
    _assert_non_degenerate(expected[0])
    for name, e, a in zip(("pha", "fgr", "err", "hid"), expected, actual):
        assert np.abs(e - a).max() < TOL, f"{backbone} base {name}: max diff {np.abs(e - a).max():.2e}"


@pytest.mark.parametrize("mode", ["full", "sampling"])
def test_kernel_size_1_parity(mode, inputs, tmp_path):
    ref = build_reference_model("mobilenetv2", refine=True, seed=2, refine_mode="full", refine_kernel_size=1)
    ref.refiner.mode = mode
    ref.refiner.sample_pixels = 16_000
    net = MattingRefine("mobilenetv2", refine_mode=mode, refine_kernel_size=1, refine_sample_pixels=16_000)
    net.set_state_dict(_convert(ref, tmp_path, "k1"))
    expected, actual = _run_both(ref, net, *inputs)
    assert (expected[5] == actual[5]).mean() > 0.99
    agree = np.kron(expected[5] == actual[5], np.ones((1, 1, 4, 4), bool))
    for name, e, a in zip(NAMES, expected, actual):
        mask = agree if name in ("pha", "fgr") else True
        assert (np.abs(e - a) * mask).max() < TOL, f"kernel 1 {mode} {name}"


@pytest.mark.parametrize("scale", [0.5, 0.125, 0.2])
def test_backbone_scales_parity(scale, inputs, tmp_path):
    """Scales other than the default 1/4: the refiner's coarse taps per window and the coarse size
    (floor(H * scale)) change with the scale.

    Compared with the reference run in float64: at these scales the float32 reference itself
    strays up to ~1.4e-4 from it (fgr), so we must be within TOL or the reference's own float32 error.
    """
    ref = build_reference_model("mobilenetv2", refine=True, seed=3, refine_mode="thresholding")
    ref.backbone_scale = scale
    ref.refiner.threshold = 0.3
    net = MattingRefine("mobilenetv2", backbone_scale=scale, refine_mode="thresholding", refine_threshold=0.3)
    net.set_state_dict(_convert(ref, tmp_path, "scale"))
    expected, actual = _run_both(ref, net, *inputs)
    with torch.no_grad():
        exact = [t.numpy() for t in ref.double()(*(torch.from_numpy(x).double() for x in inputs))]
    selected = expected[5].mean()
    assert 0.05 < selected < 0.95, f"threshold selects {selected:.2f} of the patches: not a real selection"
    for name, e, x, a in zip(NAMES, expected, exact, actual):
        assert e.shape == a.shape, name
        tol = max(TOL, 1.5 * np.abs(e - x).max())
        assert np.abs(a - x).max() < tol, f"scale {scale} {name}: max diff {np.abs(a - x).max():.2e} > {tol:.2e}"


def _module_gradients(named_parameters, transpose_2d):
    """{module: {name: gradient as numpy}} of the parameters that received one."""
    grads = {}
    for name, p in named_parameters:
        if p.grad is not None:
            g = p.grad.numpy()
            grads.setdefault(name.split(".")[0], {})[name] = g.T if transpose_2d and g.ndim == 2 else g
    return grads


@pytest.mark.parametrize("mode, err_shift", [("thresholding", 0.0), ("sampling", 0.5)])
def test_refine_training_parity(mode, err_shift, tmp_path):
    """Training mode (batch statistics in BatchNorm) and the backward pass match the reference.

    With err_shift most coarse errors are clamped to 0, so the fixed-count sampling selection
    carries padding patches: they must not enter the refiner's batch statistics or gradients.
    Dropout is disabled in both (its random masks cannot match)."""
    ref = build_reference_model("mobilenetv2", refine=True, seed=4, refine_mode=mode,
                                refine_threshold=0.1, refine_sample_pixels=8192)
    with torch.no_grad():
        ref.decoder.conv4.bias[4] -= err_shift
    net = MattingRefine("mobilenetv2", refine_mode=mode, refine_threshold=0.1, refine_sample_pixels=8192)
    net.set_state_dict(_convert(ref, tmp_path, "train"))
    train_without_dropout(ref, net)
    src, bgr = calibration_inputs(2, 128, 160, seed=7)
    weights = [np.random.default_rng(i).standard_normal((2, c, 128, 160)).astype(np.float32)
               for i, c in enumerate((1, 3))]

    expected = ref(torch.from_numpy(src), torch.from_numpy(bgr))
    sum(((o * torch.from_numpy(w)).sum() for o, w in zip(expected, weights))).backward()
    actual = net(paddle.to_tensor(src), paddle.to_tensor(bgr))
    sum(((o * paddle.to_tensor(w)).sum() for o, w in zip(actual, weights))).backward()

    refined = expected[5].detach().numpy()
    assert 0.05 < refined.mean() < 0.95, f"{refined.mean():.2f} of the patches refined: not a real selection"
    if mode == "sampling":
        assert refined.sum(axis=(1, 2, 3)).max() < 8192 // 16, "no padding patches: the case tests nothing"
    for name, e, a in zip(NAMES, expected, actual):
        diff = np.abs(e.detach().numpy() - a.numpy()).max()
        assert diff < TOL, f"training {mode} {name}: max diff {diff:.2e}"
    want = _module_gradients(ref.named_parameters(), False)
    got = _module_gradients(net.named_parameters(), True)
    assert sorted(want) == sorted(got) == ["aspp", "backbone", "decoder", "refiner"]
    for module in want:
        err = sum(float(((want[module][k] - got[module][k]) ** 2).sum()) for k in want[module])
        norm = sum(float((g ** 2).sum()) for g in want[module].values())
        # Batch statistics of random-weight activations amplify float32 rounding to ~1e-2.
        assert (err / norm) ** 0.5 < 2e-2, f"training {mode}: {module} gradients differ by {(err / norm) ** 0.5:.2e}"


# Sides of 1 after the backbone scale or in the decoder: Paddle's own bilinear kernel samples
# position 0 there (torch and ONNX Runtime: the centre), see model.utils.resize_bilinear.
TINY_SIZES = [(4, 64), (2000, 4), (3, 2)]  # 3x2: padded to 4x4, 1x1 at backbone scale 1/4


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    """(reference model, our net, its export folder): a MobileNetV2 refine model in full mode."""
    from inference.export import export_model
    from model import ModelOptions

    torch.set_num_threads(2)
    ref = build_reference_model("mobilenetv2", refine=True, seed=0, refine_mode="full")
    options = ModelOptions("mattingrefine", "mobilenetv2", refine_mode="full")
    net = options.build()
    folder = tmp_path_factory.mktemp("tiny")
    net.set_state_dict(_convert(ref, folder, "tiny"))
    return ref, net, export_model(net, options, folder / "export")


@pytest.mark.parametrize("size", TINY_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tiny_and_extreme_aspect_inputs_parity(tiny_pair, size):
    """Every engine (dygraph, Paddle Inference, ONNX Runtime) matches the reference on inputs with a
    side of 4 px or less, through the predictor's padding to multiples of 4."""
    from inference.engines import DygraphEngine, InferenceEngine
    from inference.onnx_engine import OnnxRuntimeEngine
    from inference.predictor import _pad4, options_of, predict_batch

    ref, net, folder = tiny_pair
    rng = np.random.default_rng(sum(size))
    src = rng.random((1, *size, 3), dtype=np.float32)
    bgr = np.clip(src + rng.normal(0, 0.2, src.shape), 0, 1).astype(np.float32)
    h, w = size
    with torch.no_grad():
        expected = ref(torch.from_numpy(_pad4(src)), torch.from_numpy(_pad4(bgr)))[0].numpy()[:, 0, :h, :w]
    assert expected.std() > 1e-3, "alpha is flat: the case would prove little"
    engines = {"dygraph": DygraphEngine(net, options_of(net)), "inference": InferenceEngine(folder),
               "onnxruntime": OnnxRuntimeEngine(folder)}
    for name, engine in engines.items():
        actual = predict_batch(engine, src, bgr)["pha"]
        assert actual.shape == expected.shape
        diff = np.abs(actual - expected).max()
        assert diff < TOL, f"{name} {h}x{w}: alpha differs from the reference by {diff:.2e}"
