"""How training starts (issue #18): a pretrained file through model.load_pretrained with its report,
a clear stop when the file is missing, and the initialisation scheme of what no file covers."""
import math
import os

import numpy as np
import pytest

from dataset.synthetic import write_synthetic_dataset
from training.config import ConfigError, load_config
from training.trainer import Trainer


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(str(out), size=(64, 64), seed=0, train_clips=1, frames_per_clip=2, valid=2,
                            photo_train=2, test=1, backgrounds=2, valid_backgrounds=1)
    return os.path.join(str(out), "datasets.yaml")


def _cfg(data, work_dir, changes=None):
    overrides = {("dataset", "paths"): data, ("dataset", "size"): 64, ("dataset", "crop_min"): 48,
                 ("dataset", "crop_max"): 64, ("dataset", "valid_samples"): 2, ("model", "backbone"): "mobilenetv2",
                 ("train", "batch_size"): 2, ("train", "num_workers"): 0, (None, "work_dir"): str(work_dir),
                 (None, "device"): "cpu"}
    overrides.update(changes or {})
    return load_config("mattingbase", None, overrides)


def test_trainer_starts_from_a_vainf_deeplabv3_file_and_reports_loaded_and_skipped(data, tmp_path):
    pytest.importorskip("torch")
    from tests.test_pretrained import _save_vainf

    path = _save_vainf(tmp_path / "best_deeplabv3_mobilenet_voc_os16.pth", "mobilenetv2", legacy=False)
    lines = []
    trainer = Trainer("mattingbase", _cfg(data, tmp_path, {("model", "pretrain_initialization"): path}),
                      log=lines.append)
    report = [line for line in lines if line.startswith(f"initialised from {path} (deeplabv3)")]
    assert len(report) == 1, lines
    # loaded: VainF's ASPP (classifier.classifier.0) and backbone; skipped: the 3-channel first conv
    # (ours has 6), the decoder (not in the file) and VainF's classifier tail (no place in ours)
    assert "skipped for their shape (backbone.features.0.0.weight ours [32, 6, 3, 3] file [32, 3, 3, 3]" in report[0]
    assert "keep the reference initialisation (decoder." in report[0]
    assert "in the file unused (classifier.classifier." in report[0]
    import torch
    state = torch.load(path, weights_only=False)["model_state"]
    net = trainer.net.state_dict()
    np.testing.assert_array_equal(net["aspp.convs.0.0.weight"].numpy(),
                                  state["classifier.classifier.0.convs.0.0.weight"].numpy())
    np.testing.assert_array_equal(net["backbone.features.8.conv.0.0.weight"].numpy(),
                                  state["backbone.high_level_features.8.conv.0.0.weight"].numpy())


def test_missing_pretrained_file_stops_before_data_loading_and_says_where_to_get_it(tmp_path):
    missing = str(tmp_path / "pretrained" / "best_deeplabv3_mobilenet_voc_os16.pth")
    # no dataset exists at all: reaching data loading would fail with another message
    cfg = _cfg(str(tmp_path / "no_datasets.yaml"), tmp_path, {("model", "pretrain_initialization"): missing})
    with pytest.raises(ConfigError) as e:
        Trainer("mattingbase", cfg, log=lambda *a: None)
    message = str(e.value)
    assert f"'{missing}' not found" in message
    assert "DeepLabV3" in message and "VainF/DeepLabV3Plus-Pytorch" in message
    assert "--model-pretrain-initialization none" in message


def test_pretrain_initialization_none_trains_from_scratch_on_purpose(data, tmp_path):
    lines = []
    Trainer("mattingbase", _cfg(data, tmp_path, {("model", "pretrain_initialization"): "none",
                                                 ("model", "init"): "paddle"}), log=lines.append)
    assert "no pretrained weights: every layer starts from the paddle initialisation" in lines


@pytest.mark.parametrize("scheme", ["reference", "paddle"])
def test_init_scheme_selects_how_layers_start(data, tmp_path, scheme):
    net = Trainer("mattingbase", _cfg(data, tmp_path, {("model", "init"): scheme}), log=lambda *a: None).net
    w = net.state_dict()["decoder.conv1.weight"].numpy()   # (128, 288, 3, 3)
    fan_in = w.shape[1] * 9
    if scheme == "reference":  # PyTorch's default layer init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert np.abs(w).max() <= 1 / math.sqrt(fan_in) and w.std() == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.05)
    else:                      # Paddle's: N(0, 2 / fan_in)
        assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)


def test_unknown_init_scheme_is_a_config_error(data, tmp_path):
    with pytest.raises(ConfigError, match="'model.init' must be one of \\('reference', 'paddle'\\), got 'torch'"):
        _cfg(data, tmp_path, {("model", "init"): "torch"})


def test_paddle_scheme_draws_what_paddle_layers_draw_when_built():
    """Per conv, the std of init_weights(paddle) matches a freshly built model's, depthwise convs included
    (Paddle's default does not divide the fan-in by groups: 0.016 for MobileNetV2's 960-channel 3x3)."""
    import paddle
    from model import MattingRefine
    from model.init import init_weights

    paddle.seed(0)
    built = {k: v.numpy().std() for k, v in MattingRefine("mobilenetv2").state_dict().items() if v.ndim == 4}
    paddle.seed(1)
    ours = {k: v.numpy().std() for k, v in init_weights(MattingRefine("mobilenetv2"), "paddle").state_dict().items()
            if v.ndim == 4}
    depthwise = "backbone.features.17.conv.1.0.weight"
    assert built[depthwise] == pytest.approx(math.sqrt(2 / (960 * 9)), rel=0.1)
    assert all(ours[k] == pytest.approx(built[k], rel=0.25) for k in built), \
        {k: (ours[k], built[k]) for k in built if ours[k] != pytest.approx(built[k], rel=0.25)}
