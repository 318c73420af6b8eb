"""tools.export and tools.speed_test: Paddle Inference and ONNX exports agree with dygraph; predict.py runs an export."""
import os

import numpy as np
import pytest

from inference import predict_cli as predict
from dataset.io import read_alpha
from inference.export import export_model
from model import ModelOptions, load_checkpoint
from inference.onnx_engine import export_onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "dataset", "samples")
TOLERANCE = 1e-4


def load_tool():
    from tools import export
    return export



def test_export_cli_writes_a_program_that_predict_runs(checkpoint, tmp_path, capsys):
    tool = load_tool()
    out = tmp_path / "exported"
    assert tool.main(["--model-path", checkpoint, "--output-dir", str(out), "--refine-mode", "full",
                      "--check", "--check-size", "64x96"]) == 0
    printed = capsys.readouterr().out
    assert "paddle.inference vs dygraph" in printed
    assert sorted(os.listdir(out)) == ["meta.json", "model.json", "model.pdiparams"]
    assert tool.main(["--model-path", checkpoint, "--output-dir", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err

    args = ["--src", os.path.join(SAMPLES, "src.jpg"), "--bgr", os.path.join(SAMPLES, "bgr.jpg"),
            "--outputs", "pha", "--no-progress"]
    assert predict.main(["--inference-model", str(out), "--refine-mode", "sampling",
                         "--output-dir", str(tmp_path / "a")] + args) == 2
    assert "--refine-mode: the options of --inference-model are fixed" in capsys.readouterr().err
    assert predict.main(["--inference-model", str(out), "--output-dir", str(tmp_path / "a")] + args) == 0
    assert predict.main(["--model-path", checkpoint, "--refine-mode", "full", "--engine", "dygraph",
                         "--output-dir", str(tmp_path / "b")] + args) == 0
    a = read_alpha(tmp_path / "a" / "pha" / "src.png")
    b = read_alpha(tmp_path / "b" / "pha" / "src.png")
    assert a.shape == (384, 512)
    assert np.abs(a - b).max() <= 1 / 255  # 8-bit files: at most one step of rounding apart


def test_export_check_agrees_with_dygraph(checkpoint, tmp_path):
    tool = load_tool()
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="sampling", refine_sample_pixels=640)
    net = options.build()
    load_checkpoint(net, checkpoint)
    out = export_model(net, options, tmp_path / "sampling")
    diffs = tool.compare(options, net, out, None, (64, 96))["paddle.inference"]
    assert set(diffs) == set(options.outputs) and max(diffs.values()) < TOLERANCE


# The model avoids what paddle2onnx 2.1 cannot convert (expand_as with a dynamic batch, float64
# interpolation scales); export_onnx runs the converted model once and raises ExportError otherwise.
@pytest.mark.parametrize("mode", ["full", "sampling", "thresholding"])
def test_onnx_agrees_with_dygraph_and_paddle_inference(checkpoint, tmp_path, mode):
    tool = load_tool()
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode=mode, refine_sample_pixels=640)
    net = options.build()
    load_checkpoint(net, checkpoint)
    out = export_model(net, options, tmp_path / mode)
    onnx_path = export_onnx(out, os.path.join(out, "model.onnx"))
    diffs = tool.compare(options, net, out, onnx_path, (64, 96))
    assert sorted(diffs) == ["onnxruntime", "paddle.inference"]
    for engine, per_output in diffs.items():
        assert max(per_output.values()) < TOLERANCE, (engine, per_output)


def test_speed_test_prints_a_table(capsys):
    from tools import speed_test as tool
    assert tool.main(["--backbone", "mobilenetv2", "--refine-mode", "full", "--resolution", "96", "64",
                      "--engine", "auto", "inference", "dygraph", "--warmup", "1", "--runs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "96x64, batch 1" in lines[0]
    rows = {line.split("|")[1].strip(): float(line.split("|")[3]) for line in lines[3:]}
    assert sorted(rows) == ["auto", "dygraph", "inference"] and all(fps > 0 for fps in rows.values())
    assert tool.main(["--resolution", "97", "64"]) == 2
