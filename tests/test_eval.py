"""eval.py end to end on tiny generated data: units, determinism, both modes, clear errors."""
import json
import os

import numpy as np
import paddle
import pytest

from common.errors import user_error
from evaluation.cli import build_parser, evaluate, parse_args
from dataset.io import write_alpha, write_image
from model import MattingRefine

H, W = 38, 46  # deliberately not multiples of 4


def run_eval(argv):
    """eval.py's command in-process: {name: metrics}; what eval.py reports as an error raises SystemExit with it."""
    args = parse_args(build_parser(), argv)
    try:
        return evaluate(args)
    except Exception as e:
        failure = user_error(e)
        if failure is None:
            raise
        raise SystemExit(f"eval.py: {failure[1]}") from e


def soft_disc(shift):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.clip((12 - np.hypot(xx - 23 - shift, yy - 19)) / 4, 0, 1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A PhotoMatte85-style folder (no trimap/), backgrounds and a random-weight checkpoint."""
    root = tmp_path_factory.mktemp("eval_data")
    rng = np.random.default_rng(0)
    for i in range(3):
        write_alpha(root / "gt" / "pha" / f"p{i}.png", soft_disc(i))
        write_image(root / "gt" / "fgr" / f"p{i}.png", rng.uniform(0, 1, (H, W, 3)).astype(np.float32))
    for i in range(2):
        write_image(root / "bgr" / f"b{i}.png", rng.uniform(0, 1, (30 + 9 * i, 50, 3)).astype(np.float32))
    paddle.seed(0)
    paddle.save(MattingRefine("mobilenetv2").state_dict(), str(root / "mnv2.pdparams"))
    return root


def model_args(data, out, *extra):
    return ["--model-path", str(data / "mnv2.pdparams"), "--backbone", "mobilenetv2",
            "--data-path", str(data / "gt"), "--bgr-path", str(data / "bgr"), "--output-dir", str(out), *extra]


def load(path):
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------ scoring saved predictions
def make_predictions(root, names, error_pixels):
    """Predictions equal to an all-zero ground truth except ``error_pixels`` opaque pixels."""
    for name, n in zip(names, error_pixels):
        pha = np.zeros((H, W), np.float32)
        pha.flat[:n] = 1.0
        write_alpha(root / "pred" / "pha" / name, pha)
        write_image(root / "pred" / "fgr" / name, np.full((H, W, 3), 0.5, np.float32))
        write_alpha(root / "gt" / "pha" / name, np.zeros((H, W), np.float32))
        write_image(root / "gt" / "fgr" / name, np.full((H, W, 3), 0.2, np.float32))
        write_alpha(root / "gt" / "trimap" / name, np.full((H, W), 128 / 255, np.float32))


def test_pred_dir_json_holds_official_units_and_plain_means(tmp_path, capsys):
    make_predictions(tmp_path, ["a.png", "b.png"], [10, 0])
    out = tmp_path / "r.json"
    run_eval(["--pred-dir", str(tmp_path / "pred"), "--data-path", str(tmp_path / "gt"),
                     "--output-json", str(out)])
    result = load(out)
    assert set(result) == {"per_image", "mean"}
    # 10 pixels off by 1 inside a 36x44 crop, all unknown: SAD = 10 / 1000, MSE = 10 / (36 * 44).
    a = result["per_image"]["a.png"]
    assert a["sad"] == pytest.approx(0.010)
    assert a["mse"] == pytest.approx(10 / (36 * 44))
    assert a["fgr_mse"] == 0.0  # the ground-truth alpha is 0 everywhere: foreground masked away
    assert result["per_image"]["b.png"] == {"sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0, "fgr_mse": 0.0}
    assert result["mean"]["sad"] == pytest.approx(0.005)
    printed = capsys.readouterr().out
    assert "MSE x1e3" in printed and "3.1566" in printed  # mean MSE 10 / 1584 / 2 = 3.1566e-3


def test_generated_trimap_limits_the_scored_region(tmp_path):
    """Without trimap/, errors far inside the opaque region (outside the band) are not counted."""
    gt = np.zeros((64, 64), np.float32)
    gt[:, 32:] = 1.0
    pred = gt.copy()
    pred[:, 60:] = 0.0  # 28 px from the edge: beyond the 10 px band of the paper's trimap
    for folder, pha in (("gt", gt), ("pred", pred)):
        write_alpha(tmp_path / folder / "pha" / "x.png", pha)
        write_image(tmp_path / folder / "fgr" / "x.png", np.zeros((64, 64, 3), np.float32))
    args = ["--pred-dir", str(tmp_path / "pred"), "--data-path", str(tmp_path / "gt")]
    assert run_eval(args)["x.png"]["sad"] == 0.0
    pred[:, 30] = 1.0  # inside the band: one column of 64 pixels fully wrong
    write_alpha(tmp_path / "pred" / "pha" / "x.png", pred)
    assert run_eval(args)["x.png"]["sad"] == pytest.approx(64 / 1000)


@pytest.mark.parametrize("damage,message", [
    ("missing", "missing prediction: '.*pred/pha/a.png'"),
    ("size", "size mismatch: prediction '.*pred/pha/a.png' is 40x38"),
    ("garbage", "cannot read image '.*pred/pha/a.png'"),
])
def test_bad_predictions_are_errors_naming_the_file(tmp_path, damage, message):
    make_predictions(tmp_path, ["a.png"], [0])
    path = tmp_path / "pred" / "pha" / "a.png"
    if damage == "missing":
        os.remove(path)
    elif damage == "size":
        write_alpha(path, np.zeros((H, 40), np.float32))
    else:
        path.write_bytes(b"\x89PNG not really")
    with pytest.raises(SystemExit, match=message):
        run_eval(["--pred-dir", str(tmp_path / "pred"), "--data-path", str(tmp_path / "gt")])


def test_ground_truth_folders_must_match(tmp_path):
    make_predictions(tmp_path, ["a.png", "b.png"], [0, 0])
    os.remove(tmp_path / "gt" / "fgr" / "b.png")
    with pytest.raises(SystemExit, match="gt/pha/' have no counterpart in '.*gt/fgr/': b.png"):
        run_eval(["--pred-dir", str(tmp_path / "pred"), "--data-path", str(tmp_path / "gt")])


def test_existing_results_are_not_overwritten(tmp_path):
    make_predictions(tmp_path, ["a.png"], [3])
    out = tmp_path / "r.json"
    out.write_text("precious")
    args = ["--pred-dir", str(tmp_path / "pred"), "--data-path", str(tmp_path / "gt"), "--output-json", str(out)]
    with pytest.raises(SystemExit, match="would overwrite .*r.json"):
        run_eval(args)
    assert out.read_text() == "precious"
    run_eval(args + ["--overwrite"])
    assert load(out)["per_image"]["a.png"]["sad"] == pytest.approx(0.003)


# ------------------------------------------------------------------ running a model
def test_native_protocol_is_deterministic_and_rescorable(data, tmp_path):
    first = run_eval(model_args(data, tmp_path / "a", "--protocol", "native", "--save-pred"))
    second = run_eval(model_args(data, tmp_path / "b", "--protocol", "native"))
    assert first == second
    assert (tmp_path / "a" / "results.json").read_bytes() == (tmp_path / "b" / "results.json").read_bytes()
    csv_lines = (tmp_path / "a" / "results.csv").read_text().splitlines()
    assert csv_lines[0] == "name,sad,mse,grad,conn,fgr_mse" and len(csv_lines) == 4
    # Saved predictions keep the ground truth's (non multiple of 4) size ...
    import cv2
    assert cv2.imread(str(tmp_path / "a" / "pred" / "pha" / "p0.png"), cv2.IMREAD_UNCHANGED).shape == (H, W)
    # ... and scoring the saved files gives exactly the numbers of the run that wrote them.
    rescored = run_eval(["--pred-dir", str(tmp_path / "a" / "pred"),
                                "--data-path", str(tmp_path / "a" / "gt")])
    assert rescored == first


def test_bgmv2_protocol_is_seeded_per_image(data, tmp_path):
    all_images = run_eval(model_args(data, tmp_path / "a", "--size", "64", "--save-pred"))
    import cv2
    gt = cv2.imread(str(tmp_path / "a" / "gt" / "pha" / "p0.png"), cv2.IMREAD_UNCHANGED)
    assert gt.shape == (64, 64) and 0 < (gt > 0).mean() < 1  # warped, not empty
    # One image's numbers do not depend on the others being evaluated.
    first_only = run_eval(model_args(data, tmp_path / "b", "--size", "64", "--num-images", "1"))
    assert first_only["p0.png"] == all_images["p0.png"]
    other_seed = run_eval(model_args(data, tmp_path / "c", "--size", "64", "--seed", "1"))
    assert other_seed["p0.png"] != all_images["p0.png"]


@pytest.mark.parametrize("extra,message", [
    (["--model-type", "mattingbase"], "mnv2.pdparams does not fit the model: 17 unexpected: refiner"),
    (["--backbone", "resnet50"], "does not fit the model \\(checkpoint backbone 'mobilenetv2', "
                                 "model backbone 'resnet50'\\): .*missing"),
])
def test_checkpoint_that_does_not_fit_is_a_clear_error(data, tmp_path, extra, message):
    args = model_args(data, tmp_path, "--protocol", "native") + extra
    with pytest.raises(SystemExit, match=message):
        run_eval(args)


def test_command_line_errors(data, tmp_path):
    with pytest.raises(SystemExit):
        run_eval(["--data-path", str(data / "gt")])  # neither --model-path nor --pred-dir
    with pytest.raises(SystemExit, match="dataset path not found: '.*nowhere'"):
        run_eval(["--pred-dir", str(tmp_path), "--data-path", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="checkpoint not found: .*none.pdparams"):
        run_eval(["--model-path", str(tmp_path / "none.pdparams"), "--data-path", str(data / "gt"),
                         "--bgr-path", str(data / "bgr"), "--output-dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        run_eval(model_args(data, tmp_path, "--size", "30"))  # not a multiple of 4


def test_image_without_unknown_pixels_scores_zero_with_a_warning(tmp_path, capsys):
    make_predictions(tmp_path, ["a.png"], [50])
    write_alpha(tmp_path / "gt" / "trimap" / "a.png", np.zeros((H, W), np.float32))
    result = run_eval(["--pred-dir", str(tmp_path / "pred"), "--data-path", str(tmp_path / "gt")])
    assert result["a.png"] == {"sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0, "fgr_mse": 0.0}
    assert "a.png: the trimap has no unknown (128) pixel" in capsys.readouterr().out


def test_yaml_config_and_dataset_paths_supply_defaults(data, tmp_path):
    """--config options (type-checked, overridden by the command line) and --dataset-config folders."""
    (tmp_path / "datasets.yaml").write_text(
        f"photomatte85:\n  pha: {data / 'gt' / 'pha'}\n  fgr: {data / 'gt' / 'fgr'}\n"
        f"backgrounds:\n  valid: {data / 'bgr'}\n")
    (tmp_path / "eval.yaml").write_text(
        f"dataset_config: {tmp_path / 'datasets.yaml'}\nbackbone: mobilenetv2\nprotocol: native\n"
        f"model_path: {data / 'mnv2.pdparams'}\nnum_images: 1\nseed: 5\n")
    from_config = run_eval(["--config", str(tmp_path / "eval.yaml"), "--output-dir", str(tmp_path / "a")])
    explicit = run_eval(model_args(data, tmp_path / "b", "--protocol", "native", "--num-images", "1",
                                          "--seed", "5"))
    assert list(from_config) == ["p0.png"] and from_config == explicit
    overridden = run_eval(["--config", str(tmp_path / "eval.yaml"), "--output-dir", str(tmp_path / "c"),
                                  "--num-images", "2"])
    assert list(overridden) == ["p0.png", "p1.png"]

    (tmp_path / "bad.yaml").write_text("protocl: native\n")
    with pytest.raises(SystemExit):
        run_eval(["--config", str(tmp_path / "bad.yaml"), "--pred-dir", str(tmp_path)])
    (tmp_path / "bad.yaml").write_text("num_images: many\n")
    with pytest.raises(SystemExit):
        run_eval(["--config", str(tmp_path / "bad.yaml"), "--pred-dir", str(tmp_path)])
    (tmp_path / "datasets.yaml").write_text("backgrounds:\n  valid: /nowhere\n")
    with pytest.raises(SystemExit, match="dataset key 'photomatte85' is missing in '.*datasets.yaml'"):
        run_eval(["--config", str(tmp_path / "eval.yaml"), "--output-dir", str(tmp_path / "d")])
