"""Datasets: folder/video reading, pairing checks, bad files, seeding across DataLoader workers."""
import os
import warnings

import cv2
import numpy as np
import paddle
import pytest

from dataset import ImagesDataset, SampleDataset, VideoDataset, ZipDataset
from dataset import augmentation as A
from dataset.io import ImageReadError, write_alpha, write_image


def _pair_folder(root, names, size=(20, 28), seed=0):
    """fgr/pha folders with the given relative names; fgr channel 0 encodes the index."""
    rng = np.random.default_rng(seed)
    for i, name in enumerate(names):
        fgr = rng.random(size + (3,)).astype(np.float32)
        fgr[0, 0] = i / 50
        write_image(root / "fgr" / f"{name}.png", fgr)
        write_alpha(root / "pha" / f"{name}.png", rng.random(size).astype(np.float32))
    return root / "fgr", root / "pha"


def test_images_dataset_modes_order_and_names(tmp_path):
    fgr_root, pha_root = _pair_folder(tmp_path, ["clip1/00001", "clip1/00000", "clip0/00003"])
    fgr = ImagesDataset(fgr_root, mode="RGB")
    pha = ImagesDataset(pha_root, mode="L")
    assert fgr.names == ["clip0/00003", "clip1/00000", "clip1/00001"]
    x, a = fgr[0], pha[0]
    assert x.shape == (20, 28, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert a.shape == (20, 28, 1) and a.dtype == np.float32
    assert abs(fgr[1][0, 0, 0] - 1 / 50) < 1 / 255  # clip1/00000 was written second
    with pytest.raises(IndexError):
        fgr[3]
    with pytest.raises(ValueError, match="mode"):
        ImagesDataset(fgr_root, mode="RGBA")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImagesDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        ImagesDataset(tmp_path / "empty")


def test_zip_checks_paired_counts_and_names(tmp_path):
    fgr_root, pha_root = _pair_folder(tmp_path, ["a", "b", "c"])
    os.remove(pha_root / "c.png")
    with pytest.raises(ValueError, match="differ in length"):
        ZipDataset([ImagesDataset(pha_root, "L"), ImagesDataset(fgr_root)], assert_equal_length=True)
    write_alpha(pha_root / "d.png", np.zeros((20, 28), np.float32))
    with pytest.raises(ValueError, match=r"c\.png.*d\.png|d\.png.*c\.png"):
        ZipDataset([ImagesDataset(pha_root, "L"), ImagesDataset(fgr_root)], assert_equal_length=True)
    # Unpaired zips (pairs + backgrounds) may differ; shorter datasets wrap around.
    z = ZipDataset([ImagesDataset(fgr_root), ImagesDataset(pha_root, "L")])
    assert len(z) == 3 and z[2][1].shape == (20, 28, 1)


def test_zip_size_mismatch_names_both_files(tmp_path):
    fgr_root, pha_root = _pair_folder(tmp_path, ["a", "b"])
    write_alpha(pha_root / "b.png", np.zeros((10, 28), np.float32))
    z = ZipDataset([ImagesDataset(pha_root, "L"), ImagesDataset(fgr_root)], assert_equal_length=True)
    z[0]
    with pytest.raises(ValueError) as err:
        z[1]
    assert str(pha_root / "b.png") in str(err.value) and str(fgr_root / "b.png") in str(err.value)


def test_unreadable_file_raises_or_is_skipped_keeping_pairs_aligned(tmp_path):
    fgr_root, pha_root = _pair_folder(tmp_path, ["a", "b", "c"])
    data = (fgr_root / "b.png").read_bytes()
    (fgr_root / "b.png").write_bytes(data[: len(data) // 2])  # truncated
    strict = ZipDataset([ImagesDataset(pha_root, "L"), ImagesDataset(fgr_root)], assert_equal_length=True)
    with pytest.raises(ImageReadError, match="b.png"):
        strict[1]

    lenient = ZipDataset([ImagesDataset(pha_root, "L"), ImagesDataset(fgr_root)], assert_equal_length=True,
                         skip_unreadable=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pha, fgr = lenient[1]
    messages = [str(w.message) for w in caught]
    assert any("b.png" in m and "1 skipped" in m for m in messages)
    # Sample 1 was replaced by sample 2 on both sides: c's alpha with c's foreground.
    assert np.array_equal(pha, ImagesDataset(pha_root, "L")[2])
    assert abs(fgr[0, 0, 0] - 2 / 50) < 1 / 255
    assert lenient.skipped == 1

    with pytest.raises(ValueError, match="skip_unreadable"):
        ZipDataset([ImagesDataset(pha_root, "L", skip_unreadable=True), ImagesDataset(fgr_root)],
                   assert_equal_length=True)


def test_video_dataset_reads_videos_and_frame_folders_that_pair_by_name(tmp_path):
    (tmp_path / "fgr").mkdir()
    writer = cv2.VideoWriter(str(tmp_path / "fgr" / "0000.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (32, 24))
    assert writer.isOpened()
    for i in range(6):
        writer.write(np.full((24, 32, 3), (10, 60, 40 * i), np.uint8))  # BGR: red channel grows
    writer.release()
    for i in range(6):
        write_alpha(tmp_path / "pha" / "0000" / f"{i:05d}.jpg", np.full((24, 32), i / 8, np.float32))

    fgr = VideoDataset(tmp_path / "fgr", mode="RGB")
    pha = VideoDataset(tmp_path / "pha", mode="L")
    assert len(fgr) == 6 and fgr.names == pha.names == [f"0000/{i:05d}" for i in range(6)]
    reds = [fgr[i][:, :, 0].mean() for i in (0, 3, 5, 4, 1)]  # out of order: seeks
    assert np.allclose(reds, np.array([0, 3, 5, 4, 1]) * 40 / 255, atol=8 / 255)
    assert fgr[2].shape == (24, 32, 3) and pha[2].shape == (24, 32, 1)
    assert "frame 2" in fgr.describe(2)
    single = VideoDataset(tmp_path / "fgr" / "0000.mp4", mode="L")
    assert len(single) == 6 and single[0].shape == (24, 32, 1)
    pairs = ZipDataset([pha, fgr], assert_equal_length=True)
    a, f = pairs[5]
    assert abs(a.mean() - 5 / 8) < 2 / 255 and abs(f[:, :, 0].mean() - 200 / 255) < 8 / 255


def test_sample_dataset_is_fixed_and_evenly_spaced(tmp_path):
    fgr_root, _ = _pair_folder(tmp_path, [f"{i:02d}" for i in range(10)])
    base = ImagesDataset(fgr_root, transforms=A.RandomAffineAndResize((8, 8), 5, (0.1, 0.1), (1, 1.2), 5))
    sub = SampleDataset(base, 4)
    assert sub.indices == [0, 2, 4, 6] and len(SampleDataset(base, 50)) == 10
    assert np.array_equal(sub[1], sub[1])  # same augmentation every evaluation


def _augmented_pairs(tmp_path, seed=0):
    fgr_root, pha_root = _pair_folder(tmp_path, [f"{i:02d}" for i in range(12)], size=(40, 48))
    return ZipDataset([
        ZipDataset([ImagesDataset(pha_root, "L"), ImagesDataset(fgr_root)], assert_equal_length=True,
                   transforms=A.PairCompose([
                       A.PairRandomAffineAndResize((32, 32), (-5, 5), (0.1, 0.1), (0.4, 1), (-5, 5)),
                       A.PairRandomHorizontalFlip(), A.PairRandomBoxBlur(0.3, 3), A.PairRandomSharpen(0.3),
                       A.PairApplyOnlyAtIndices([1], A.ColorJitter(0.15, 0.15, 0.15, 0.05)),
                       A.PairApply(A.ToCHW())])),
        ImagesDataset(fgr_root, transforms=A.Compose([
            A.RandomAffineAndResize((32, 32), (-5, 5), (0.1, 0.1), (1, 2), (-5, 5)), A.ToCHW()])),
    ], seed=seed)


def _epoch(dataset, workers):
    loader = paddle.io.DataLoader(dataset, batch_size=4, shuffle=False, num_workers=workers)
    return [np.concatenate([pha.numpy().ravel(), fgr.numpy().ravel(), bgr.numpy().ravel()])
            for (pha, fgr), bgr in loader]


def test_same_seed_same_samples_with_any_number_of_workers(tmp_path):
    ds = _augmented_pairs(tmp_path)
    single = _epoch(ds, 0)
    assert len(single) == 3 and single[0].dtype == np.float32
    workers = _epoch(ds, 2)
    assert all(np.array_equal(a, b) for a, b in zip(single, workers))
    (pha0, _), _ = ds[0]
    ds.set_epoch(1)
    (pha0_e1, _), _ = ds[0]
    assert not np.array_equal(pha0, pha0_e1)  # a new epoch draws new augmentations
    ds.set_epoch(0)
    assert np.array_equal(ds[0][0][0], pha0)  # and going back reproduces them
    other = _augmented_pairs(tmp_path, seed=1)
    assert not np.array_equal(other[0][0][0], pha0)


def test_wrapped_around_background_gets_a_new_augmentation_each_time(tmp_path):
    fgr_root, _ = _pair_folder(tmp_path / "subjects", ["a", "b", "c", "d"], size=(40, 48))
    bgr_root, _ = _pair_folder(tmp_path / "backgrounds", ["only"], size=(40, 48))
    bgr = ImagesDataset(bgr_root, transforms=A.RandomAffineAndResize((32, 32), 5, (0.1, 0.1), (1, 2), 5))
    z = ZipDataset([ImagesDataset(fgr_root), bgr])
    draws = [z[i][1] for i in range(4)]  # index i uses background 0 every time
    assert all(not np.array_equal(draws[0], d) for d in draws[1:])

