"""Bad input, end to end: every command fails with its exit code and a one-line message naming the
problem, and writes nothing (or keeps what was there).

The commands run in-process through their ``main`` functions; only the signal cases use
subprocesses. Covered elsewhere and not repeated here: checkpoints that would run code when
unpickled (tests/test_weights_safety.py), inputs too small for Paddle's resize
(tests/test_parity.py::test_tiny_and_extreme_aspect_inputs_parity), corrupt video files
(tests/test_predict.py).
"""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

from common.atomic import TMP_PREFIX, atomic_path, check_writable
from common.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, InputError
from dataset.io import write_alpha, write_image
from dataset.synthetic import write_synthetic_dataset
from evaluation import cli as eval_cli
from inference import predict_cli
from tools import convert_torch_weights, export as export_tool
from training import cli as train_cli
from training.config import load_config
from training.trainer import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def files_below(folder):
    """Relative paths of every file and folder below ``folder`` (sorted), to see nothing changed."""
    return sorted(os.path.relpath(os.path.join(d, n), folder) for d, ds, fs in os.walk(folder) for n in ds + fs)


def image(seed, h=20, w=24):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def nan_checkpoint(checkpoint, tmp_path_factory):
    """The random-weight refine checkpoint with one tensor NaN (as a diverged run would write it)."""
    state = paddle.load(checkpoint)
    state["decoder.conv4.weight"] = paddle.full_like(state["decoder.conv4.weight"], float("nan"))
    path = str(tmp_path_factory.mktemp("nan") / "diverged.pdparams")
    paddle.save(state, path)
    return path


@pytest.fixture
def blocked(tmp_path):
    """A path that cannot be created even by root: its parent is a regular file."""
    (tmp_path / "a_file").write_text("x")
    return tmp_path / "a_file" / "out"


# ------------------------------------------------------------------ predict.py
def predict(capsys, *args):
    code = predict_cli.main([str(a) for a in args] + ["--no-progress"])
    return code, capsys.readouterr().err


def test_same_name_inputs_are_refused_naming_both_files(checkpoint, tmp_path, capsys):
    for name, seed in (("a.png", 0), ("a.jpg", 1), ("b.png", 2)):
        write_image(tmp_path / "src" / name, image(seed))
    write_image(tmp_path / "bgr.png", image(3))
    code, err = predict(capsys, "--model-path", checkpoint, "--engine", "dygraph", "--src", tmp_path / "src",
                        "--bgr", tmp_path / "bgr.png", "--output-dir", tmp_path / "out")
    assert code == EXIT_USAGE
    assert re.search(r"'.*a\.(png|jpg)' and '.*a\.(png|jpg)' .*same name", err), err
    assert not os.path.exists(tmp_path / "out")


def test_same_name_backgrounds_are_refused(checkpoint, tmp_path, capsys):
    write_image(tmp_path / "src" / "a.png", image(0))
    write_image(tmp_path / "bgr" / "a.png", image(1))
    write_image(tmp_path / "bgr" / "a.jpg", image(2))
    code, err = predict(capsys, "--model-path", checkpoint, "--engine", "dygraph", "--src", tmp_path / "src",
                        "--bgr", tmp_path / "bgr", "--output-dir", tmp_path / "out")
    assert code == EXIT_USAGE and "background folder" in err and "a.jpg" in err and "a.png" in err
    assert not os.path.exists(tmp_path / "out")


def test_unwritable_output_dir_fails_before_the_export(checkpoint, tmp_path, blocked, capsys):
    model = tmp_path / "m.pdparams"
    model.write_bytes(open(checkpoint, "rb").read())
    write_image(tmp_path / "src.png", image(0))
    write_image(tmp_path / "bgr.png", image(1))
    code, err = predict(capsys, "--model-path", model, "--src", tmp_path / "src.png", "--bgr", tmp_path / "bgr.png",
                        "--output-dir", blocked)
    assert code == EXIT_USAGE
    assert err.strip().splitlines()[-1].startswith(f"predict.py: error: --output-dir: cannot write '{blocked}'")
    assert "Traceback" not in err
    assert not os.path.exists(tmp_path / "m.inference")  # no export was started


def test_non_finite_checkpoint_is_refused_not_run(nan_checkpoint, tmp_path, capsys):
    write_image(tmp_path / "src.png", image(0))
    write_image(tmp_path / "bgr.png", image(1))
    code, err = predict(capsys, "--model-path", nan_checkpoint, "--src", tmp_path / "src.png",
                        "--bgr", tmp_path / "bgr.png", "--output-dir", tmp_path / "out")
    assert code == EXIT_USAGE
    assert "diverged.pdparams" in err and "'decoder.conv4.weight'" in err and "NaN or infinite" in err
    assert not os.path.exists(tmp_path / "out")


def make_inputs(folder, problem):
    """(src, bgr, expected message) of an input problem that predict.py already reported."""
    src, bgr = folder / "src.png", folder / "bgr.png"
    write_image(src, image(0))
    write_image(bgr, image(1))
    if problem == "missing":
        return src, folder / "nothere.png", r"input not found: '.*nothere\.png'"
    if problem == "empty_folder":
        (folder / "empty").mkdir()
        return folder / "empty", bgr, r"no images .* in folder '.*empty'"
    if problem == "empty_file":
        bgr.write_bytes(b"")
        return src, bgr, r"cannot read image '.*bgr\.png'"
    if problem == "truncated":
        bgr.write_bytes(bgr.read_bytes()[:60])
        return src, bgr, r"cannot read image '.*bgr\.png'"
    if problem == "misnamed":
        (folder / "bgr.txt").write_text("not an image")
        return src, folder / "bgr.txt", r"'.*bgr\.txt' is neither an image"
    if problem == "size_mismatch":
        write_image(bgr, image(1, h=16))
        return src, bgr, r"size mismatch: source 'src' is 24x20 but background 'bgr' is 24x16"
    if problem == "unmatched_folders":
        write_image(folder / "s" / "x.png", image(0))
        write_image(folder / "b" / "y.png", image(1))
        return folder / "s", folder / "b", r"1 source image\(s\) .* have no background of the same name .*: x"
    raise ValueError(problem)


@pytest.mark.parametrize("problem", ["missing", "empty_folder", "empty_file", "truncated", "misnamed",
                                     "size_mismatch", "unmatched_folders"])
def test_bad_predict_inputs(checkpoint, tmp_path, capsys, problem):
    src, bgr, message = make_inputs(tmp_path, problem)
    code, err = predict(capsys, "--model-path", checkpoint, "--engine", "dygraph", "--src", src, "--bgr", bgr,
                        "--output-dir", tmp_path / "out")
    assert code == EXIT_USAGE and re.search(message, err), err
    assert "Traceback" not in err and not os.path.exists(tmp_path / "out")


def test_existing_output_is_kept_and_onnx_runtime_is_quiet(checkpoint, tmp_path, capfd):
    """The default engine (exported, ONNX Runtime): no "Removing initializer" chatter, and a second
    run into the same folder without --overwrite changes nothing."""
    model = tmp_path / "m.pdparams"
    model.write_bytes(open(checkpoint, "rb").read())
    write_image(tmp_path / "src.png", image(0))
    write_image(tmp_path / "bgr.png", image(1))
    args = ["--model-path", model, "--src", tmp_path / "src.png", "--bgr", tmp_path / "bgr.png",
            "--output-dir", tmp_path / "out", "--outputs", "pha"]
    assert predict_cli.main([str(a) for a in args] + ["--no-progress"]) == 0
    err = capfd.readouterr().err
    assert "exporting" in err and "Removing initializer" not in err, err
    before = {p: os.path.getmtime(tmp_path / "out" / p) for p in files_below(tmp_path / "out")}
    assert predict_cli.main([str(a) for a in args] + ["--no-progress"]) == EXIT_USAGE
    assert "already exists" in capfd.readouterr().err
    assert {p: os.path.getmtime(tmp_path / "out" / p) for p in files_below(tmp_path / "out")} == before


# ------------------------------------------------------------------ eval.py, tools
@pytest.fixture(scope="module")
def ground_truth(tmp_path_factory):
    root = tmp_path_factory.mktemp("gt")
    yy, xx = np.mgrid[0:20, 0:24]
    write_alpha(root / "gt" / "pha" / "p.png", (np.hypot(yy - 10, xx - 12) < 6).astype(np.float32))
    write_image(root / "gt" / "fgr" / "p.png", image(0))
    write_image(root / "bgr" / "b.png", image(1))
    return root


def test_eval_unwritable_outputs(ground_truth, blocked, capsys):
    pred = ["--pred-dir", str(ground_truth / "gt"), "--data-path", str(ground_truth / "gt")]
    assert eval_cli.main(pred + ["--output-json", str(blocked / "r.json")]) == EXIT_USAGE
    assert f"--output-json: cannot write '{blocked / 'r.json'}'" in capsys.readouterr().err
    assert eval_cli.main(pred + ["--output-dir", str(blocked)]) == EXIT_USAGE
    assert f"--output-dir: cannot write '{blocked}'" in capsys.readouterr().err


def test_eval_non_finite_checkpoint(ground_truth, nan_checkpoint, tmp_path, capsys):
    code = eval_cli.main(["--model-path", nan_checkpoint, "--data-path", str(ground_truth / "gt"),
                          "--bgr-path", str(ground_truth / "bgr"), "--output-dir", str(tmp_path / "out")])
    assert code == EXIT_USAGE and "'decoder.conv4.weight'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


def test_export_refuses_unwritable_output_and_non_finite_weights(checkpoint, nan_checkpoint, blocked, tmp_path,
                                                                 capsys):
    assert export_tool.main(["--model-path", checkpoint, "--output-dir", str(blocked)]) == EXIT_USAGE
    assert f"--output-dir: cannot write '{blocked}'" in capsys.readouterr().err
    assert export_tool.main(["--model-path", nan_checkpoint, "--output-dir", str(tmp_path / "e")]) == EXIT_USAGE
    assert "'decoder.conv4.weight'" in capsys.readouterr().err and not os.path.exists(tmp_path / "e")


def test_converter_refuses_unwritable_output(tmp_path, blocked, capsys):
    (tmp_path / "in.pth").write_bytes(b"whatever: the output is checked first")
    code = convert_torch_weights.main(["--input", str(tmp_path / "in.pth"), "--output", str(blocked / "w.pdparams")])
    assert code == EXIT_USAGE and "--output: cannot write" in capsys.readouterr().err


def test_check_writable_leaves_nothing_and_accepts_new_folders(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "file.txt")
    assert os.listdir(tmp_path) == []
    with pytest.raises(InputError, match="is not writable"):
        check_writable("/proc/bgmv2-test/out")  # /proc takes no new entries, even from root


# ------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(str(out), size=(48, 48), seed=0, train_clips=2, frames_per_clip=2, valid=2,
                            photo_train=0, test=1, backgrounds=2, valid_backgrounds=1)
    return os.path.join(str(out), "datasets.yaml")


def train_args(data, work_dir, *extra):
    return ["--dataset-paths", data, "--dataset-size", "48", "--dataset-crop-min", "32", "--dataset-crop-max", "48",
            "--dataset-valid-samples", "1", "--model-backbone", "mobilenetv2", "--train-batch-size", "2",
            "--train-num-workers", "0", "--train-epoch-end", "100", "--work-dir", str(work_dir), "--device", "cpu", "--log-valid-interval", "1",
            "--checkpoint-interval", "1", *[str(e) for e in extra]]


def train(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        train_cli.main("mattingbase", "test", list(argv))
    return exit_.value.code, capsys.readouterr()


@pytest.mark.parametrize("where, value", [("yaml", ".nan"), ("yaml", ".inf"), ("cli", "nan"), ("cli", "1e999"),
                                          ("cli", "-inf")])
def test_non_finite_config_numbers_are_refused(data, tmp_path, capsys, where, value):
    extra = [f"--optim-lr-decoder={value}"] if where == "cli" else ["--config", tmp_path / "c.yaml"]
    (tmp_path / "c.yaml").write_text(f"loss:\n  laplacian_weight: {value}\n")
    code, out = train(capsys, *train_args(data, tmp_path / "w", *extra))
    key = "optim.lr_decoder" if where == "cli" else "loss.laplacian_weight"
    assert code == EXIT_USAGE and f"'{key}' must be a finite number" in out.err
    assert not os.path.exists(tmp_path / "w")


def test_config_typo_is_refused(data, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("optim:\n  lr_decodr: 0.001\n")
    code, out = train(capsys, *train_args(data, tmp_path / "w", "--config", tmp_path / "c.yaml"))
    assert code == EXIT_USAGE and "unknown key 'optim.lr_decodr'" in out.err
    assert not os.path.exists(tmp_path / "w")


def test_unwritable_work_dir(data, blocked, capsys):
    code, out = train(capsys, *train_args(data, blocked))
    assert code == EXIT_USAGE and f"cannot write '{blocked}" in out.err and "Traceback" not in out.err


def all_finite(path):
    return all(np.isfinite(np.asarray(v)).all() for v in paddle.load(str(path)).values())


@pytest.mark.parametrize("lr", ["1e10", "3e38"])
def test_diverging_weights_stop_training_and_are_never_saved(data, tmp_path, capsys, lr):
    """1e10: the loss stays finite while the weights turn NaN; 3e38: the loss overflows. Both stop
    with exit 1 naming a last good checkpoint that is finite and resumable (or none)."""
    rates = [f"--optim-lr-{m}" for m in ("backbone", "aspp", "decoder")]
    work = tmp_path / "w"
    code, out = train(capsys, *train_args(data, work, "--train-max-steps", "1"))
    assert code == 0
    extra = [a for r in rates for a in (r, lr)]
    code, out = train(capsys, *train_args(data, work, "--train-max-steps", "4", "--resume", *extra))
    assert code == EXIT_FAILURE, out.err
    last_good = re.search(r"not finite .*the last good checkpoint is (\S+step-(\d+)\.pdparams);", out.err)
    assert last_good, out.err
    folder = work / "mattingbase" / "checkpoints"
    saved = sorted(p for p in os.listdir(folder) if p.endswith(".pdparams"))
    assert "final.pdparams" in saved  # of the first, finite run
    assert all(all_finite(folder / p) for p in saved) and os.path.basename(last_good[1]) in saved
    assert not any(p.startswith(TMP_PREFIX) for p in os.listdir(folder))
    # it resumes (nothing left to train at that step: it validates and writes final.pdparams)
    code, out = train(capsys, *train_args(data, work, "--train-max-steps", str(int(last_good[2])), "--resume"))
    assert code == 0 and f"resumed from {last_good[1]}" in out.out and all_finite(folder / "final.pdparams")


def quiet_cfg(data, work, **changes):
    overrides = {("dataset", "paths"): data, ("dataset", "size"): 48, ("dataset", "crop_min"): 32,
                 ("dataset", "crop_max"): 48, ("dataset", "valid_samples"): 1, ("model", "backbone"): "mobilenetv2",
                 ("train", "batch_size"): 2, ("train", "num_workers"): 0, (None, "work_dir"): str(work),
                 (None, "device"): "cpu", ("log", "valid_interval"): 100, ("checkpoint", "interval"): 1,
                 ("train", "epoch_end"): 100}
    overrides.update({tuple(k.split(".")): v for k, v in changes.items()})
    return load_config("mattingbase", None, overrides)


def test_resume_falls_back_past_an_unreadable_checkpoint_and_warns_on_batch_size(data, tmp_path):
    Trainer("mattingbase", quiet_cfg(data, tmp_path, **{"train.max_steps": 2}), log=lambda *a: None).run()
    folder = tmp_path / "mattingbase" / "checkpoints"
    latest = folder / "step-0000002.pdparams"
    latest.write_bytes(latest.read_bytes()[:100])  # torn by a disk error
    lines = []
    trainer = Trainer("mattingbase", quiet_cfg(data, tmp_path, **{"train.max_steps": 3, "train.batch_size": 1}),
                      resume=True, log=lines.append)
    assert trainer.step == 1
    text = "\n".join(lines)
    assert "warning: cannot resume from checkpoint step 2" in text and "step-0000002.pdparams" in text
    assert "resumed from" in text and "step-0000001.pdparams" in text
    assert "trained with batch size 2 using batch size 1" in text


# ------------------------------------------------------------------ signals and kill -9
def test_kill_9_mid_write_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    code = ("import os, signal, sys\nfrom common.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    open(tmp, 'wb').write(b'x' * 1000)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    target = tmp_path / "checkpoints" / "step-0000001.pdparams"
    result = subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT)
    assert result.returncode == -signal.SIGKILL
    left = [p for p in os.listdir(target.parent) if p.startswith(TMP_PREFIX)]
    assert len(left) == 1 and not target.exists()
    (target.parent / "notes.txt").write_text("not ours")
    with atomic_path(target.parent / "best.pdparams") as tmp:
        open(tmp, "wb").write(b"y")
    assert sorted(os.listdir(target.parent)) == ["best.pdparams", "notes.txt"]


def test_sigterm_during_predict_cleans_up_like_ctrl_c(checkpoint, tmp_path):
    for i in range(60):
        write_image(tmp_path / "src" / f"{i:03d}.png", image(i, 64, 64))
    write_image(tmp_path / "bgr.png", image(99, 64, 64))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "predict.py", "--model-path", checkpoint, "--engine", "dygraph",
                                "--src", str(tmp_path / "src"), "--bgr", str(tmp_path / "bgr.png"),
                                "--output-dir", str(out), "--no-progress"], cwd=ROOT, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 60
    while not any(p.startswith(TMP_PREFIX) for p in os.listdir(tmp_path)) and time.time() < deadline:
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    assert time.time() < deadline, "the staging folder never appeared"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["bgr.png", "src"]  # no output, no staging folder
