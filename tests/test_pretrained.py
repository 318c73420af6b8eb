"""load_pretrained: VainF DeepLabV3, ImageNet backbones (torchvision, Paddle) and BGMv2 starts load
what the reference loads, key for key (issue #18, section 1)."""
import numpy as np
import paddle
import pytest

from model import MattingBase, MattingRefine
from model.init import init_weights
from model.pretrained import load_pretrained
from model.safe_pickle import UnsafeCheckpointError
from model.torch_weights import rename_key

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


def _vainf_model_state(backbone):
    """VainF's key names over torchvision modules with seeded random weights (incl. BN statistics)."""
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead

    torch.manual_seed(0)
    state = {}
    if backbone == "mobilenetv2":
        features = torchvision.models.mobilenet_v2().features
        for key, value in features.state_dict().items():
            index = int(key.split(".")[0])
            if index == 18:
                continue  # VainF keeps features[4:-1]
            part = "low_level_features" if index < 4 else "high_level_features"
            state[f"backbone.{part}.{key}"] = value
        head = DeepLabHead(320, 21)
    else:
        net = getattr(torchvision.models, backbone)(replace_stride_with_dilation=[False, False, True])
        state.update({f"backbone.{k}": v for k, v in net.state_dict().items() if not k.startswith("fc.")})
        head = DeepLabHead(2048, 21)
    state.update({f"classifier.classifier.{k}": v for k, v in head.state_dict().items()})
    for key, value in state.items():  # BN statistics too: the test must see them copied
        if value.is_floating_point():
            value.copy_(torch.randn_like(value) * 0.1 + (1 if key.endswith("running_var") else 0))
    return state


def _save_vainf(path, backbone, legacy):
    """As VainF's main.py saves: model, SGD (momentum) and poly scheduler state, cur_itrs, best_score."""
    model_state = _vainf_model_state(backbone)
    params = [torch.nn.Parameter(v.clone()) for k, v in model_state.items() if v.is_floating_point()
              and "running" not in k][:8]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=30000, power=0.9)
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()
    scheduler.step()
    torch.save({"cur_itrs": 30000, "model_state": model_state, "optimizer_state": optimizer.state_dict(),
                "scheduler_state": scheduler.state_dict(), "best_score": np.float64(0.7721)},
               str(path), _use_new_zipfile_serialization=not legacy)
    return str(path)


def _paddle_name(key):
    return rename_key(key)


@pytest.mark.parametrize("backbone,legacy", [("mobilenetv2", False), ("mobilenetv2", True),
                                             ("resnet50", True), ("resnet101", False)])
def test_deeplabv3_loads_what_the_reference_loads(backbone, legacy, tmp_path):
    from BackgroundMattingV2.model.model import MattingBase as RefBase

    path = _save_vainf(tmp_path / f"best_deeplabv3_{backbone}_voc_os16.pth", backbone, legacy)
    torch.manual_seed(1)
    ref = RefBase(backbone)
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    ref.load_pretrained_deeplabv3_state_dict(torch.load(path, weights_only=False)["model_state"],
                                             print_stats=False)
    ref_state = ref.state_dict()
    ref_loaded = {_paddle_name(k) for k, v in ref_state.items()
                  if not torch.equal(v, before[k]) and _paddle_name(k) is not None}

    paddle.seed(1)
    net = MattingBase(backbone)
    init = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    report = load_pretrained(net, path)
    assert report["source"] == "deeplabv3"
    assert set(report["loaded"]) == ref_loaded
    ours = net.state_dict()
    for key, value in ref_state.items():
        name = _paddle_name(key)
        if name in ref_loaded:
            np.testing.assert_array_equal(ours[name].numpy(), value.numpy(), err_msg=key)
    # What the reference left alone keeps our initialisation: the 6-channel first conv, the decoder.
    first = "backbone.features.0.0.weight" if backbone == "mobilenetv2" else "backbone.conv1.weight"
    assert first in dict((k, 0) for k, _, _ in report["mismatched"])
    for key in (first, "decoder.conv1.weight"):
        assert key not in report["loaded"]
        np.testing.assert_array_equal(ours[key].numpy(), init[key])
    assert "aspp.project.0.weight" in report["loaded"] and "backbone.features.17.conv.2.weight" in \
        report["loaded"] if backbone == "mobilenetv2" else "backbone.layer4.2.conv3.weight" in report["loaded"]


def test_imagenet_backbones_from_torchvision_and_paddle(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.resnet50()
    torch.save(tv.state_dict(), str(tmp_path / "resnet50-imagenet.pth"))
    paddle.seed(0)
    pd = paddle.vision.models.mobilenet_v2()
    paddle.save(pd.state_dict(), str(tmp_path / "mobilenet_v2_x1.0.pdparams"))

    net = MattingRefine("resnet50")
    report = load_pretrained(net, str(tmp_path / "resnet50-imagenet.pth"))
    assert report["source"] == "imagenet"
    assert report["mismatched"] == [("backbone.conv1.weight", (64, 6, 7, 7), (64, 3, 7, 7))]
    assert report["unused"] == ["backbone.fc.bias", "backbone.fc.weight"]
    assert {k for k in net.state_dict() if k.startswith("backbone.")} - set(report["loaded"]) == \
        {"backbone.conv1.weight"}
    np.testing.assert_array_equal(net.backbone.layer3[5].bn2._variance.numpy(),
                                  tv.layer3[5].bn2.running_var.numpy())

    net = MattingBase("mobilenetv2")
    report = load_pretrained(net, str(tmp_path / "mobilenet_v2_x1.0.pdparams"))
    assert report["source"] == "imagenet"
    assert [k for k, _, _ in report["mismatched"]] == ["backbone.features.0.0.weight"]
    assert all(k.startswith(("backbone.features.18.", "backbone.classifier.")) for k in report["unused"])
    np.testing.assert_array_equal(net.backbone.features[17].conv[2].weight.numpy(),
                                  pd.features[17].conv[2].weight.numpy())


def test_bgmv2_checkpoints_and_bad_files(tmp_path):
    paddle.seed(0)
    base = MattingBase("mobilenetv2")
    paddle.save(base.state_dict(), str(tmp_path / "base.pdparams"))
    refine = MattingRefine("mobilenetv2")
    report = load_pretrained(refine, str(tmp_path / "base.pdparams"))
    assert report["source"] == "bgmv2" and not report["mismatched"] and not report["unused"]
    assert report["missing"] and all(k.startswith("refiner.") for k in report["missing"])
    np.testing.assert_array_equal(refine.decoder.conv4.bias.numpy(), base.decoder.conv4.bias.numpy())

    with pytest.raises(Exception, match="no tensor matches"):
        torch.save({"head.weight": torch.zeros(2)}, str(tmp_path / "other.pth"))
        load_pretrained(refine, str(tmp_path / "other.pth"))

    class Exploit:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"model_state": {"w": torch.zeros(1)}, "x": Exploit()}, str(tmp_path / "evil.pth"))
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth: refusing to load: it calls (__builtin__|builtins)\.print"):
        load_pretrained(refine, str(tmp_path / "evil.pth"))
    with pytest.raises(ValueError, match="paddle:resnet50"):
        load_pretrained(refine, "paddle:resnet18")


# ---------------------------------------------------------------- reference initialisation (model/init.py)


@pytest.fixture(scope="module")
def initialised():
    """(ours after init_weights(reference), the reference torch model): MattingRefine resnet50."""
    from BackgroundMattingV2.model.model import MattingRefine as RefRefine

    paddle.seed(5)
    net = init_weights(MattingRefine("resnet50"), "reference")
    torch.manual_seed(5)
    return {k: v.numpy() for k, v in net.state_dict().items()}, \
        {_paddle_name(k): v.numpy() for k, v in RefRefine("resnet50").state_dict().items() if _paddle_name(k)}


@pytest.mark.parametrize("key,fan_out", [("backbone.layer3.0.conv2.weight", 256 * 9),
                                         ("backbone.layer4.1.conv3.weight", 2048),
                                         ("backbone.layer1.0.downsample.0.weight", 256)])
def test_encoder_convs_are_kaiming_normal_fan_out(initialised, key, fan_out):
    ours, ref = initialised
    std = np.sqrt(2.0 / fan_out)
    for weights in (ours[key], ref[key]):  # the target std is the one torch really draws
        assert abs(weights.mean()) < 0.01 * std * 10
        assert abs(weights.std() / std - 1) < 0.02, (key, weights.std(), std)
        assert abs(np.abs(weights).max() / std) > 3.5  # normal, not uniform (uniform stays below 1.74 std)


@pytest.mark.parametrize("key,fan_in", [("backbone.conv1.weight", 6 * 49), ("aspp.convs.1.0.weight", 2048 * 9),
                                        ("aspp.project.0.weight", 1280), ("decoder.conv1.weight", 768 * 9),
                                        ("decoder.conv4.weight", 54 * 9), ("decoder.conv4.bias", 54 * 9),
                                        ("refiner.conv1.weight", 42 * 9), ("refiner.conv4.weight", 12 * 9)])
def test_first_conv_aspp_decoder_refiner_are_torch_default_uniform(initialised, key, fan_in):
    ours, ref = initialised
    bound = 1.0 / np.sqrt(fan_in)
    for weights in (ours[key], ref[key]):
        assert np.abs(weights).max() <= bound * (1 + 1e-6), key
        if weights.size > 1000:
            assert np.abs(weights).max() > 0.98 * bound
            assert abs(weights.std() * np.sqrt(3) / bound - 1) < 0.03, key


def test_batchnorm_and_determinism(initialised):
    ours, ref = initialised
    for key in ours:
        if key.endswith(("bn1.weight", "1.weight")) and ours[key].ndim == 1:
            np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)  # ones
        if key.endswith(("_mean", "_variance", "bn2.bias")):
            np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    draws = []
    for seed in (5, 5, 6):
        paddle.seed(seed)
        draws.append(init_weights(MattingBase("mobilenetv2"), "reference").state_dict()["aspp.convs.1.0.weight"])
    np.testing.assert_array_equal(draws[0].numpy(), draws[1].numpy())
    assert not np.array_equal(draws[0].numpy(), draws[2].numpy())
    paddle.seed(6)
    other = init_weights(MattingBase("mobilenetv2"), "paddle").state_dict()["backbone.features.17.conv.0.0.weight"]
    assert abs(other.numpy().std() / np.sqrt(2.0 / 160) - 1) < 0.03  # Paddle's N(0, 2 / fan_in)


def test_mobilenet_encoder_init(tmp_path):
    paddle.seed(0)
    net = init_weights(MattingBase("mobilenetv2"), "reference")
    dw = net.backbone.features[16].conv[1][0].weight.numpy()  # depthwise (960, 1, 3, 3): fan_out 960 * 9
    assert abs(dw.std() / np.sqrt(2.0 / (960 * 9)) - 1) < 0.05
    first = net.backbone.features[0][0].weight.numpy()
    assert np.abs(first).max() <= 1 / np.sqrt(6 * 9) and np.abs(first).max() > 0.9 / np.sqrt(6 * 9)
