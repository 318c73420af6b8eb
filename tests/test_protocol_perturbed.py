"""The 'perturbed' evaluation protocol: bgmv2's composites with the reference's training perturbations
of the pair, seeded per image, deterministic, leaving the caller's random stream alone; and the demo's
report (metrics.md, metrics.json, comparison.png) built from eval.py's and the baseline's outputs."""
import json
import os

import numpy as np
import paddle
import pytest

from dataset.perturbation import training_perturbations
from dataset.synthetic import write_synthetic_dataset
from dataset.testset import open_test_set
from evaluation.protocols import Protocol, image_rng, perturb_pair
from tools import background_difference as bd
from tools import demo_report

SIZE = 48


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synthetic"))
    write_synthetic_dataset(out, size=(64, 64), seed=0, train_clips=1, frames_per_clip=2, valid=1,
                            photo_train=1, test=4, backgrounds=2, valid_backgrounds=2)
    return os.path.join(out, "photomatte85"), os.path.join(out, "backgrounds", "valid")


def _samples(data, name, seed=0):
    gt = open_test_set(data[0])
    protocol = Protocol(name, data[1], SIZE, seed)
    return [protocol.sample(gt, i, n) for i, n in enumerate(gt.names)]


def test_perturbed_is_bgmv2_plus_the_training_perturbations_seeded_per_image(data):
    plain, perturbed = _samples(data, "bgmv2"), _samples(data, "perturbed")
    again = _samples(data, "perturbed")
    for (src, bgr, pha, fgr, tri), (src2, bgr2, pha2, fgr2, tri2) in zip(perturbed, again):
        np.testing.assert_array_equal(src, src2)  # deterministic
        np.testing.assert_array_equal(bgr, bgr2)
    for (_, _, pha, fgr, tri), (_, _, pha_p, fgr_p, tri_p) in zip(plain, perturbed):
        np.testing.assert_array_equal(pha, pha_p)  # same placement as bgmv2: only the pair is perturbed
        np.testing.assert_array_equal(tri, tri_p)
    # background jitter has p = 0.8 per image: some of the 4 plates differ from the clean ones
    assert sum(not np.array_equal(a[1], b[1]) for a, b in zip(plain, perturbed)) >= 2
    assert all(s[0].dtype == np.float32 and 0 <= s[0].min() and s[0].max() <= 1 for s in perturbed)
    other = _samples(data, "perturbed", seed=1)
    assert not np.array_equal(other[0][1], perturbed[0][1])


def test_perturb_pair_runs_dataset_perturbation_on_a_one_image_batch_and_restores_the_generator():
    rng = np.random.default_rng(3)
    pha = rng.random((32, 40)).astype(np.float32)
    fgr, bgr = rng.random((32, 40, 3)).astype(np.float32), rng.random((32, 40, 3)).astype(np.float32)
    paddle.seed(11)
    before = paddle.rand([4]).numpy()
    paddle.seed(11)
    src, plate = perturb_pair(pha, fgr, bgr, seed=7)
    after = paddle.rand([4]).numpy()
    np.testing.assert_array_equal(before, after)  # the caller's stream is untouched

    def batch(x):
        return paddle.to_tensor(x.transpose(2, 0, 1)[None].copy())

    paddle.seed(7)
    want_src, want_bgr = training_perturbations(batch(fgr), batch(pha[:, :, None]), batch(bgr))
    np.testing.assert_array_equal(src, want_src.numpy()[0].transpose(1, 2, 0))
    np.testing.assert_array_equal(plate, want_bgr.numpy()[0].transpose(1, 2, 0))


def test_perturbed_plates_break_background_differencing(data):
    """The point of the protocol: a threshold tuned on the test set does worse on perturbed plates."""
    common = ["--data-path", data[0], "--bgr-path", data[1], "--size", str(SIZE)]
    plain = bd.run(bd.build_parser().parse_args(common))
    perturbed = bd.run(bd.build_parser().parse_args(common + ["--protocol", "perturbed"]))
    assert perturbed["sad"] > plain["sad"]


def test_demo_report_writes_both_protocols_and_the_figure(data, tmp_path):
    """metrics.json holds the inputs' numbers; comparison.png has one row per figure image."""
    from dataset.io import read_image, write_alpha

    gt = open_test_set(data[0])
    baselines = {}
    for name in ("perturbed", "bgmv2"):
        folder = tmp_path / "eval" / name
        baselines[name] = bd.run(bd.build_parser().parse_args(
            ["--data-path", data[0], "--bgr-path", data[1], "--size", str(SIZE), "--protocol", name,
             "--output-json", str(folder / "background_difference.json")]))
        per_image = {}
        for i, n in enumerate(gt.names):  # a stand-in "model": alpha 0.5 everywhere
            write_alpha(str(folder / "pred" / "pha" / (os.path.splitext(n)[0] + ".png")),
                        np.full((SIZE, SIZE), 0.5, np.float32))
            per_image[n] = {"sad": 1.0 + i, "mse": 0.1, "grad": 2.0, "conn": 3.0, "fgr_mse": 0.0}
        mean = {k: float(np.mean([v[k] for v in per_image.values()])) for k in per_image[gt.names[0]]}
        (folder / "results.json").write_text(json.dumps({"per_image": per_image, "mean": mean}))
    demo_report.main([str(tmp_path), "--data-path", data[0], "--bgr-path", data[1], "--size", str(SIZE),
                      "--seed", "0", "--figure-images", "3"])
    out = json.loads((tmp_path / "metrics.json").read_text())
    assert list(out["protocols"]) == ["perturbed", "bgmv2"]
    p = out["protocols"]["perturbed"]
    assert p["model"] == {"sad": 2.5, "mse": 0.1, "grad": 2.0, "conn": 3.0}
    for name in ("perturbed", "bgmv2"):
        assert out["protocols"][name]["background_differencing"] == {
            k: baselines[name][k] for k in ("threshold", "sad", "mse", "grad", "conn")}
    assert p["sad_ratio"] == pytest.approx(2.5 / p["background_differencing"]["sad"])
    text = (tmp_path / "metrics.md").read_text()
    assert "## perturbed protocol" in text and "## bgmv2 protocol" in text
    figure = read_image(str(tmp_path / "comparison.png"))
    assert figure.shape[0] > 3 * 2 * SIZE and figure.shape[1] > 7 * 2 * SIZE
