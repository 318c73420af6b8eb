"""The background-differencing baseline (evaluation.baseline, tools.background_difference), run.sh's argument
handling and Ctrl-C in training (both exercised on the baseline's synthetic data)."""
import json
import os
import subprocess

import numpy as np
import pytest

from evaluation.baseline import difference
from tools import background_difference as bd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("args, code, text", [
    ([], 2, "bash run.sh demo"),
    (["stage9"], 2, "bash run.sh stage1"),
    (["stage1", "resnet18"], 2, "unknown backbone 'resnet18'"),
    (["demo", "--seed", "x"], 2, "'demo' takes only --seed N"),
    (["demo", "7"], 2, "'demo' takes only --seed N"),
])
def test_run_sh_rejects_bad_arguments(args, code, text):
    result = subprocess.run(["bash", os.path.join(ROOT, "run.sh")] + args, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == code
    assert text in result.stdout + result.stderr


def test_difference_is_the_largest_channel_difference():
    src = np.zeros((2, 2, 3), np.float32)
    bgr = np.zeros((2, 2, 3), np.float32)
    src[0, 0] = [0.1, 0.5, 0.2]
    bgr[1, 1] = [0.0, 0.0, 0.3]
    np.testing.assert_allclose(difference(src, bgr), [[0.5, 0.0], [0.0, 0.3]])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from dataset.synthetic import write_synthetic_dataset
    out = str(tmp_path_factory.mktemp("synthetic"))
    write_synthetic_dataset(out, size=(64, 64), seed=0, train_clips=1, frames_per_clip=2, valid=2,
                            photo_train=2, test=3, backgrounds=2, valid_backgrounds=2)
    return out


def test_baseline_sweep_picks_the_lowest_sad_and_compares_with_a_model(data, tmp_path):
    args = ["--data-path", os.path.join(data, "photomatte85"), "--bgr-path", os.path.join(data, "backgrounds", "valid"),
            "--size", "64", "--thresholds", "0.0,0.05,0.2,0.9"]
    model = tmp_path / "results.json"
    model.write_text(json.dumps({"mean": {"sad": 0.001, "mse": 0.0, "grad": 0.0, "conn": 0.0}}))
    summary = bd.run(bd.build_parser().parse_args(args + ["--output-json", str(tmp_path / "b.json"),
                                                          "--model-results", str(model), "--report",
                                                          str(tmp_path / "m.md")]))
    sads = {float(t): v["sad"] for t, v in summary["sweep"].items()}
    assert summary["threshold"] == min(sads, key=sads.get) and summary["sad"] == pytest.approx(min(sads.values()))
    assert sads[0.0] > summary["sad"]  # everything foreground is worse than the best threshold
    assert json.loads((tmp_path / "b.json").read_text())["threshold"] == summary["threshold"]
    report = (tmp_path / "m.md").read_text()
    assert "trained model beats background differencing" in report


def test_baseline_rejects_missing_folders(tmp_path, capsys):
    assert bd.main(["--data-path", str(tmp_path / "none"), "--bgr-path", str(tmp_path)]) == 2
    assert "none" in capsys.readouterr().err


def test_ctrl_c_saves_a_checkpoint_and_exits_130(data, tmp_path):
    import signal
    import time

    cmd = ["python", os.path.join(ROOT, "train_base.py"), "--dataset-paths", os.path.join(data, "datasets.yaml"),
           "--dataset-size", "64", "--dataset-crop-min", "48", "--dataset-crop-max", "64",
           "--dataset-valid-samples", "2", "--model-backbone", "mobilenetv2", "--batch-size", "1",
           "--num-workers", "0", "--train-epoch-end", "1000", "--device", "cpu", "--work-dir", str(tmp_path),
           "--name", "interrupted"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "interrupted" / "checkpoints"
    deadline = time.time() + 120
    # wait for the end of the first epoch (2 frames, batch 1: a checkpoint at step 2), then interrupt
    while time.time() < deadline and not (folder / "step-0000002.pdstate").exists():
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted at step" in err and "--resume" in err
    steps = sorted(int(p.name[5:12]) for p in folder.glob("step-*.pdstate"))
    assert steps and steps[-1] >= 2
    assert (folder / f"step-{steps[-1]:07d}.pdparams").exists()
