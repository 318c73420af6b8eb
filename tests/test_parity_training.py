"""Training-mode parity with the official PyTorch implementation: BatchNorm running statistics.

One training forward of the reference and of our model, same weights (via our converter) and same
batch: every BatchNorm's running mean and variance must agree. torch updates the running variance
with the unbiased batch variance (N / (N - 1) times the biased one); Paddle's own BatchNorm does
not, which is largest where N is small (ASPP's image pooling: N = batch size).

The matrix runs in float64: there float32 rounding cannot flip ReLUs, so the check also holds
on the batch term of the update alone (10 times more sensitive than the running values). A float32
case checks the running values as training computes them.
"""
import copy
import os

import numpy as np
import paddle
import pytest

torch = pytest.importorskip("torch") if not os.environ.get("REQUIRE_PARITY") else __import__("torch")
pytest.importorskip("BackgroundMattingV2") if not os.environ.get("REQUIRE_PARITY") else None

from model import MattingBase, MattingRefine  # noqa: E402
from test_parity import NAMES, _convert  # noqa: E402
from tests.helpers.reference_checkpoint import (build_reference_model, calibration_inputs,  # noqa: E402
                                               train_without_dropout)

TOL = 1e-5  # relative: max |ours - reference| / max |reference| per BatchNorm and statistic
SIZES = {False: (32, 32), True: (64, 64)}  # base, refine: small for 2 cores; ResNet's last stage is 2x2
# backbone_scale 1/2 keeps the backbone input at 32x32 for the refine models; sampling 100 of the
# 256 patch locations per image (the refiner's BatchNorm sees only those whose error is > 0)
REFINE = {"backbone_scale": 0.5, "refine_mode": "sampling", "refine_sample_pixels": 1600}
MOMENTUM = 0.1  # torch's (Paddle's 0.9)
POOLING_BN = "aspp.convs.4.2"  # the image-pooling branch's BatchNorm: N = batch size


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """reference(backbone, refine) -> (torch model, our state dict), built once per module."""
    torch.set_num_threads(2)
    cache = {}

    def get(backbone, refine):
        if (backbone, refine) not in cache:
            ref = build_reference_model(backbone, refine=refine, seed=5, size=SIZES[refine], **(REFINE if refine else {}))
            cache[backbone, refine] = ref, _convert(ref, tmp_path_factory.mktemp("ckpt"), backbone)
        return cache[backbone, refine]

    return get


def _our_model(backbone, refine, state, dtype, **kwargs):
    net = MattingRefine(backbone, **{**REFINE, **kwargs}) if refine else MattingBase(backbone)
    net.set_state_dict(state)
    if dtype == "float64":
        net.to(dtype="float64")
    return net


def _train_forward(reference, backbone, refine, batch, dtype):
    """One training forward of both models on the same batch, dropout off in both (its masks
    cannot match). Returns (before, expected, actual), each {BatchNorm name: (mean, var)} of (C,)
    float64 arrays, and the reference's outputs."""
    ref, state = reference(backbone, refine)
    ref = copy.deepcopy(ref).double() if dtype == "float64" else copy.deepcopy(ref)
    net = _our_model(backbone, refine, state, dtype)
    train_without_dropout(ref, net)
    bns = {name: m for name, m in ref.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    stats = lambda: {name: (m.running_mean.double().numpy().copy(), m.running_var.double().numpy().copy())  # noqa: E731
                     for name, m in bns.items()}
    before = stats()
    src, bgr = (a.astype(dtype) for a in calibration_inputs(batch, *SIZES[refine], seed=11))
    with torch.no_grad():
        outputs = [t.numpy() for t in ref(torch.from_numpy(src), torch.from_numpy(bgr))]
    with paddle.no_grad():
        net(paddle.to_tensor(src), paddle.to_tensor(bgr))
    ours = net.state_dict()
    actual = {name: (ours[f"{name}._mean"].numpy().astype(np.float64), ours[f"{name}._variance"].numpy().astype(np.float64))
              for name in bns}
    assert len(actual) == sum(k.endswith("._variance") for k in ours)  # every BatchNorm of ours is compared
    return before, stats(), actual, outputs


def _relative(actual, expected):
    return np.abs(actual - expected).max() / np.abs(expected).max()


def _batch_term(after, before):
    """The batch statistic that the update mixed in: after = (1 - m) * before + m * batch."""
    return (after - (1 - MOMENTUM) * before) / MOMENTUM


@pytest.mark.parametrize("batch", [2, 8])
@pytest.mark.parametrize("refine", [False, True], ids=["base", "refine"])
@pytest.mark.parametrize("backbone", ["mobilenetv2", "resnet50", "resnet101"])
def test_running_statistics_float64(reference, backbone, refine, batch):
    before, expected, actual, outputs = _train_forward(reference, backbone, refine, batch, "float64")
    if refine:
        refined = outputs[5].mean()
        assert 0.05 < refined < 0.95, f"{refined:.2f} of the patches refined: not a real selection"
    for name, (e_mean, e_var) in expected.items():
        a_mean, a_var = actual[name]
        o_mean, o_var = before[name]
        for stat, a, e, o in (("mean", a_mean, e_mean, o_mean), ("var", a_var, e_var, o_var)):
            assert _relative(a, e) < TOL, f"{name} running {stat}: {_relative(a, e):.2e}"
            term = _relative(_batch_term(a, o), _batch_term(e, o))
            assert term < TOL, f"{name} batch {stat}: {term:.2e}"
    # The case can fail: Paddle's biased update would miss the image-pooling BatchNorm by far more.
    e_var, o_var = expected[POOLING_BN][1], before[POOLING_BN][1]
    biased = (1 - MOMENTUM) * o_var + MOMENTUM * _batch_term(e_var, o_var) * (batch - 1) / batch
    assert _relative(biased, e_var) > 100 * TOL


@pytest.mark.parametrize("refine", [False, True], ids=["base", "refine"])
def test_running_statistics_float32(reference, refine):
    """Running values after a float32 training forward (float32 rounding of the activations stays
    well inside TOL here: ~5e-7 measured)."""
    _, expected, actual, _ = _train_forward(reference, "mobilenetv2", refine, 8, "float32")
    for name, (e_mean, e_var) in expected.items():
        a_mean, a_var = actual[name]
        assert _relative(a_mean, e_mean) < TOL, f"{name} running mean: {_relative(a_mean, e_mean):.2e}"
        assert _relative(a_var, e_var) < TOL, f"{name} running var: {_relative(a_var, e_var):.2e}"


@pytest.mark.parametrize("mode", ["full", "sampling", "thresholding"])
def test_refine_float64_parity(reference, mode):
    """MattingRefine runs in float64 in every refine mode and matches the reference run in double
    (evaluation mode; sampling compares the pixels where both select the same patches)."""
    ref, state = reference("mobilenetv2", True)
    ref = copy.deepcopy(ref).double()
    ref.refiner.mode = mode
    ref.refiner.threshold = 0.3
    net = _our_model("mobilenetv2", True, state, "float64", refine_mode=mode, refine_threshold=0.3)
    net.eval()
    src, bgr = (a.astype(np.float64) for a in calibration_inputs(2, *SIZES[True], seed=12))
    with torch.no_grad():
        expected = [t.numpy() for t in ref(torch.from_numpy(src), torch.from_numpy(bgr))]
    with paddle.no_grad():
        actual = [t.numpy() for t in net(paddle.to_tensor(src), paddle.to_tensor(bgr))]
    agree = expected[5] == actual[5]
    assert agree.mean() > 0.99, f"{mode}: selections agree on only {agree.mean():.4f} of the locations"
    if mode != "full":
        assert 0.05 < expected[5].mean() < 0.95, f"{mode}: not a real selection"
    full_agree = np.kron(agree, np.ones((1, 1, 4, 4), bool))
    for name, e, a in zip(NAMES, expected, actual):
        assert a.dtype == np.float64 and a.shape == e.shape, name
        diff = (np.abs(e - a) * (full_agree if name in ("pha", "fgr") else 1)).max()
        # not ~1e-15: Paddle's float64 resize kernels keep float32 scale ratios (measured 3e-8)
        assert diff < 1e-6, f"float64 {mode} {name}: max diff {diff:.2e}"
