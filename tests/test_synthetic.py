"""Synthetic dataset generator: layout, loadability, matting realism, determinism, CLI."""
import filecmp
import os
import subprocess
import sys

import numpy as np
import pytest

from dataset import ImagesDataset, VideoDataset, ZipDataset
from dataset.io import read_alpha, read_image
from dataset.paths import dataset_root, load_dataset_paths
from dataset.synthetic import make_background, make_subject, write_synthetic_dataset
from dataset.trimap import make_trimap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = dict(size=(72, 96), train_clips=2, frames_per_clip=3, valid=2, photo_train=2, test=3, backgrounds=4)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn") / "data"
    written = write_synthetic_dataset(out, seed=7, **SMALL)
    return out, written


def test_layout_and_counts(generated):
    out, written = generated
    assert written == {"videomatte/train": 6, "videomatte/valid": 3, "photomatte/train": 2, "photomatte/valid": 2,
                       "photomatte85": 3, "backgrounds/train": 4, "backgrounds/valid": 2}
    assert sorted(os.listdir(out / "videomatte" / "train" / "fgr")) == ["clip_0000", "clip_0001"]
    assert sorted(os.listdir(out / "videomatte" / "train" / "pha" / "clip_0001")) == [
        "00000.png", "00001.png", "00002.png"]
    assert sorted(os.listdir(out / "photomatte85")) == ["fgr", "pha", "trimap"]
    assert sorted(os.listdir(out / "backgrounds" / "valid")) == ["0000.jpg", "0001.jpg"]
    assert not [n for n in os.listdir(out.parent) if "partial" in n]  # temporary folder cleaned up


def test_datasets_yaml_drives_the_datasets(generated):
    out, _ = generated
    paths = load_dataset_paths(out / "datasets.yaml")
    for name in ("videomatte240k", "photomatte13k", "distinctions646", "custom"):
        for split in ("train", "valid"):
            pairs = ZipDataset([VideoDataset(dataset_root(paths, name, split, "pha"), mode="L"),
                                VideoDataset(dataset_root(paths, name, split, "fgr"), mode="RGB")],
                               assert_equal_length=True)
            pha, fgr = pairs[0]
            assert pha.shape == (72, 96, 1) and fgr.shape == (72, 96, 3)
    test = ZipDataset([ImagesDataset(dataset_root(paths, "photomatte85", p), mode=m)
                       for p, m in (("pha", "L"), ("fgr", "RGB"), ("trimap", "L"))], assert_equal_length=True)
    assert len(test) == 3
    bgr = ImagesDataset(dataset_root(paths, "backgrounds", "train"))
    assert len(bgr) == 4 and bgr[0].shape == (72, 96, 3)


def test_trimaps_follow_the_paper_protocol(generated):
    out, _ = generated
    for name in sorted(os.listdir(out / "photomatte85" / "pha")):
        pha8 = np.round(read_alpha(out / "photomatte85" / "pha" / name) * 255).astype(np.uint8)
        trimap8 = np.round(read_alpha(out / "photomatte85" / "trimap" / name) * 255).astype(np.uint8)
        assert set(np.unique(trimap8)) <= {0, 128, 255}
        assert np.array_equal(trimap8, make_trimap(pha8))


def test_subjects_are_a_matting_problem_not_segmentation():
    rng = np.random.default_rng(0)
    shares, mids, strands = [], [], []
    for _ in range(6):
        pha, fgr = make_subject(rng, (192, 160))
        assert pha.dtype == np.float32 and fgr.dtype == np.float32 and fgr.shape == (192, 160, 3)
        assert 0 <= pha.min() and pha.max() <= 1 and 0 <= fgr.min() and fgr.max() <= 1
        subject = pha > 0.01
        fractional = subject & (pha < 0.99)
        shares.append(fractional.sum() / subject.sum())
        mids.append(((pha > 0.2) & (pha < 0.8)).sum())
        # hair strands: isolated thin fractional pixels above the head, most rows above the body
        strands.append(((pha > 0.02) & (pha < 0.5)).sum())
        assert 0.1 < subject.mean() < 0.9  # a subject, not empty nor full frame
    assert np.mean(shares) > 0.08  # a real share of the subject has fractional alpha
    assert min(mids) > 50 and min(strands) > 100


def test_foreground_colours_come_close_to_backgrounds_in_places():
    """Colour alone must not separate subject and background: many subject colours occur in backgrounds."""
    rng = np.random.default_rng(1)
    shared = []
    for _ in range(8):
        pha, fgr = make_subject(rng, (128, 128))
        bgr = make_background(rng, (128, 128))
        bins = 12  # colour cells of 1/12 per channel
        occupied = np.zeros((bins,) * 3, bool)
        occupied[tuple(np.minimum(bgr * bins, bins - 1).astype(int).reshape(-1, 3).T)] = True
        colours = np.minimum(fgr[pha > 0.99] * bins, bins - 1).astype(int)
        shared.append(occupied[tuple(colours.T)].mean())
    assert np.mean(shared) > 0.2 and max(shared) > 0.5


def test_backgrounds_are_different_crops():
    rng = np.random.default_rng(2)
    bgs = [make_background(rng, (64, 64)) for _ in range(6)]
    assert all(b.dtype == np.float32 and b.shape == (64, 64, 3) and 0 <= b.min() and b.max() <= 1 for b in bgs)
    assert min(np.abs(a - b).mean() for i, a in enumerate(bgs) for b in bgs[i + 1:]) > 0.01


def test_same_seed_same_files_any_workers_and_overwrite_rules(tmp_path, generated):
    out, _ = generated
    again = tmp_path / "again"
    write_synthetic_dataset(again, seed=7, workers=2, **SMALL)
    cmp = filecmp.dircmp(out, again)
    for sub in ("videomatte/train/fgr/clip_0001", "photomatte85/pha", "backgrounds/train"):
        left = sorted(os.listdir(out / sub))
        match, mismatch, errors = filecmp.cmpfiles(out / sub, again / sub, left, shallow=False)
        assert match == left and not mismatch and not errors
    assert not cmp.left_only and not cmp.right_only

    with pytest.raises(FileExistsError, match="again"):
        write_synthetic_dataset(again, seed=8, **SMALL)
    (again / "notes.txt").write_text("keep me")
    write_synthetic_dataset(again, seed=8, overwrite=True, **dict(SMALL, train_clips=1))
    assert (again / "notes.txt").read_text() == "keep me"
    assert os.listdir(again / "videomatte" / "train" / "fgr") == ["clip_0000"]  # stale clip removed
    assert not np.array_equal(read_image(again / "photomatte85" / "fgr" / "0000.png"),
                              read_image(out / "photomatte85" / "fgr" / "0000.png"))


def test_command_line(tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "tools.make_synthetic_dataset", str(out), "--size", "64x48",
           "--train-clips", "1", "--frames-per-clip", "2", "--valid", "1", "--photo-train", "1", "--test", "1",
           "--backgrounds", "2", "--workers", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert read_image(out / "photomatte85" / "fgr" / "0000.png").shape == (48, 64, 3)
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "not empty" in refused.stderr
    bad = subprocess.run(cmd[:3] + ["--size", "10"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--size" in bad.stderr

