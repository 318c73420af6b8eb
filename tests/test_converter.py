"""Official-checkpoint converter: round trip, torch-free reading, and rejection of bad files."""
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import paddle
import pytest

from model import MattingBase, MattingRefine
from model.torch_weights import CheckpointError, convert_checkpoint, load_torch_state_dict

torch = pytest.importorskip("torch") if not os.environ.get("REQUIRE_PARITY") else __import__("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reference_state(backbone, refine=True, **kwargs):
    from BackgroundMattingV2.model.model import MattingBase as RefBase, MattingRefine as RefRefine

    torch.manual_seed(0)
    return (RefRefine(backbone, **kwargs) if refine else RefBase(backbone)).state_dict()


def _save(state, path):
    torch.save(state, str(path))
    return str(path)


@pytest.mark.parametrize("backbone", ["mobilenetv2", "resnet50", "resnet101"])
def test_round_trip_loads_every_parameter(backbone, tmp_path):
    state = _reference_state(backbone)
    out = tmp_path / "w.pdparams"
    info = convert_checkpoint(_save(state, tmp_path / "w.pth"), str(out))
    assert info == {"backbone": backbone, "model_type": "mattingrefine", "refine_kernel_size": 3}
    net = MattingRefine(backbone)
    loaded = paddle.load(str(out))
    assert set(loaded) == set(net.state_dict())
    net.set_state_dict(loaded)
    ours = net.state_dict()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        name = key.replace("running_mean", "_mean").replace("running_var", "_variance")
        np.testing.assert_array_equal(ours[name].numpy(), value.numpy(), err_msg=key)


def test_base_checkpoint_and_kernel_size_1(tmp_path):
    info = convert_checkpoint(_save(_reference_state("mobilenetv2", refine=False), tmp_path / "b.pth"),
                              str(tmp_path / "b.pdparams"))
    assert info["model_type"] == "mattingbase"
    MattingBase("mobilenetv2").set_state_dict(paddle.load(str(tmp_path / "b.pdparams")))
    info = convert_checkpoint(_save(_reference_state("mobilenetv2", refine_kernel_size=1), tmp_path / "k.pth"),
                              str(tmp_path / "k.pdparams"))
    assert info["refine_kernel_size"] == 1


def test_reader_needs_no_torch(tmp_path):
    pth = _save(_reference_state("mobilenetv2"), tmp_path / "w.pth")
    code = ("import sys; sys.modules['torch'] = None; sys.path.insert(0, sys.argv[1]);"
            "from model.torch_weights import convert_checkpoint;"
            "print(convert_checkpoint(sys.argv[2], sys.argv[3])['backbone'])")
    result = subprocess.run([sys.executable, "-c", code, ROOT, pth, str(tmp_path / "w.pdparams")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("mobilenetv2")


def test_wrong_backbone_is_named(tmp_path):
    pth = _save(_reference_state("mobilenetv2"), tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="mobilenetv2 model, but backbone='resnet50'"):
        convert_checkpoint(pth, str(tmp_path / "w.pdparams"), backbone="resnet50")


def test_missing_extra_and_misshaped_keys_are_named(tmp_path):
    state = _reference_state("mobilenetv2")
    del state["decoder.conv4.bias"]
    state["refiner.extra.weight"] = torch.zeros(3)
    state["aspp.project.0.weight"] = torch.zeros(256, 1280, 3, 3)
    with pytest.raises(CheckpointError) as err:
        convert_checkpoint(_save(state, tmp_path / "w.pth"), str(tmp_path / "w.pdparams"))
    message = str(err.value)
    assert "decoder.conv4.bias" in message and "refiner.extra.weight" in message
    assert "aspp.project.0.weight" in message
    assert not (tmp_path / "w.pdparams").exists()


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_code_in_a_pth_is_rejected_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    pth = tmp_path / "evil.pth"
    with zipfile.ZipFile(pth, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"x": _Exploit(marker)}))
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_torch_state_dict(str(pth))
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "x.pth"
    bogus.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a zip-format"):
        load_torch_state_dict(str(bogus))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_torch_state_dict(str(tmp_path / "nope.pth"))
    buffer = io.BytesIO()
    torch.save({"weights": [1, 2, 3]}, buffer)
    (tmp_path / "list.pth").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="not a tensor"):
        load_torch_state_dict(str(tmp_path / "list.pth"))


def test_cli_refuses_to_overwrite(tmp_path):
    pth = _save(_reference_state("mobilenetv2"), tmp_path / "w.pth")
    out = tmp_path / "w.pdparams"
    out.write_text("keep me")
    cmd = [sys.executable, "-m", "tools.convert_torch_weights", "--input", pth, "--output", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode != 0 and "--overwrite" in result.stderr
    assert out.read_text() == "keep me"
    result = subprocess.run(cmd + ["--overwrite"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "mattingrefine" in result.stdout
