"""Datasets exactly as released (issue #20): layouts recognised from what is on disk, folders and zips."""
import os

import numpy as np
import pytest

from tests.helpers import release_fixtures as rf
from dataset import ImagesDataset, VideoDataset, ZipDataset
from dataset.backgrounds import open_backgrounds
from dataset.io import ImageReadError, decode_alpha, decode_cutout, decode_image, list_images, read_alpha, read_image
from dataset.layouts import recognise
from dataset.paths import load_dataset_paths
from dataset.releases import ArchiveImagesDataset, pairs_from_config, training_pairs
from dataset.sources import LayoutError, ZipSource
from dataset.testset import open_test_set, test_set_from_config


def test_decode_from_bytes_equals_reading_the_file(tmp_path):
    path = rf.write(tmp_path / "a.png", rf.rgba(3))
    data = path.read_bytes()
    assert np.array_equal(decode_image(data), read_image(path))
    assert np.array_equal(decode_alpha(data), read_alpha(path))
    rgb, alpha, channels = decode_cutout(data)
    assert channels == 4 and np.array_equal(rgb, read_image(path)) and np.array_equal(alpha, read_alpha(path))
    jpg = rf.write(tmp_path / "b.jpg", rf.rgba(3)[..., :3])
    assert decode_cutout(jpg.read_bytes())[1] is None
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        decode_image(jpg.read_bytes()[:-20], "b.jpg")


@pytest.mark.parametrize("as_zip", [False, True])
def test_photomatte85_rgba_folder_and_release_zip(tmp_path, as_zip):
    root = rf.photomatte_rgba(tmp_path / "dl")
    path = rf.zip_folder(root, tmp_path / "PhotoMatte85.zip") if as_zip else root
    before = sorted(os.listdir(tmp_path))
    test = open_test_set(path)
    assert test.layout == "photomatte85-rgba" and test.names == ["0000.png", "0001.png", "0002.png"]
    pha, fgr, trimap = test.read("0001.png")
    ref = rf.rgba(1)
    assert pha.dtype == np.float32 and pha.shape == (rf.H, rf.W) and trimap is None
    assert np.allclose(pha, ref[..., 3] / 255) and np.allclose(fgr, ref[..., 2::-1] / 255)  # RGB, not premultiplied
    assert sorted(os.listdir(tmp_path)) == before  # nothing extracted
    assert "3 images" in test.describe() and "photomatte85-rgba" in test.describe()


@pytest.mark.parametrize("as_zip", [False, True])
def test_pha_fgr_split_with_trimap(tmp_path, as_zip):
    root = rf.pha_fgr(tmp_path / "gt")
    test = open_test_set(rf.zip_folder(root, tmp_path / "gt.zip") if as_zip else root)
    assert test.layout == "pha-fgr" and test.names == ["0000.png", "0001.png", "0002.png"]
    pha, fgr, trimap = test.read("0002.png")
    assert fgr.shape == (rf.H, rf.W, 3) and trimap.dtype == np.uint8 and set(np.unique(trimap)) == {128, 255}
    assert np.allclose(pha, rf.rgba(2)[..., 3] / 255)
    assert test.files("0002.png")["fgr"].endswith("0002.jpg")  # matched by name without extension


def test_unknown_layout_says_what_was_found_and_expected(tmp_path):
    rf.backgrounds(tmp_path / "bg")
    with pytest.raises(LayoutError, match=r"PhotoMatte85 \(RGBA PNG.*found 3 image.*not PNGs with an alpha") as e:
        open_test_set(tmp_path / "bg")
    assert isinstance(e.value, ValueError)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_test_set(tmp_path / "nowhere")
    (tmp_path / "d.rar").write_bytes(b"Rar!\x1a\x07\x01\x00")
    with pytest.raises(LayoutError, match="unpack it"):
        recognise(tmp_path / "d.rar")


def test_pha_without_fgr_is_an_error_naming_the_file(tmp_path):
    root = rf.pha_fgr(tmp_path / "gt", trimap=False)
    os.remove(root / "fgr" / "0001.jpg")
    with pytest.raises(LayoutError, match="0001.png"):
        open_test_set(root)


def test_zip_entry_with_absurd_size_is_refused_before_inflating(tmp_path):
    path = rf.zip_entries(tmp_path / "bomb.zip", {"PhotoMatte85/0000.png": b"\0" * 5000})
    source = ZipSource(path, max_entry_bytes=1000)
    with pytest.raises(ImageReadError, match=r"bomb.zip:PhotoMatte85/0000.png.*exceeds the limit of 1000"):
        source.read("PhotoMatte85/0000.png")


@pytest.mark.parametrize("as_zip", [False, True])
def test_backgrounds_folder_or_zip_in_list_images_order(tmp_path, as_zip):
    root = rf.backgrounds(tmp_path / "Backgrounds")
    bgrs = open_backgrounds(rf.zip_folder(root, tmp_path / "bg.zip") if as_zip else root)
    files = list_images(root)
    assert [os.path.relpath(f, root).replace(os.sep, "/") for f in files] == bgrs.names
    assert all(np.array_equal(bgrs[i], read_image(f)) for i, f in enumerate(files))


@pytest.mark.parametrize("as_zip", [False, True])
def test_videomatte240k_jpeg_release(tmp_path, as_zip):
    root = rf.videomatte_jpeg(tmp_path / "vm")
    path = rf.zip_folder(root, tmp_path / "VideoMatte240K_JPEG_SD.zip") if as_zip else root
    assert recognise(path).name == "videomatte240k-jpeg"
    train, valid = training_pairs(path, "train"), training_pairs(path, "valid")
    assert isinstance(train, ZipDataset) and len(train) == len(valid) == 4
    side = ArchiveImagesDataset if as_zip else VideoDataset
    assert all(isinstance(d, side) for d in train.datasets)
    assert train.datasets[0].names == ["0000/00000", "0000/00001", "0001/00000", "0001/00001"]
    assert "test" in valid.describe(0)  # 'valid' falls back to the release's test/ split
    pha, fgr = train[3]
    assert pha.shape == (rf.H, rf.W, 1) and fgr.shape == (rf.H, rf.W, 3)
    assert abs(float(pha.mean()) - rf.rgba(2)[..., 3].mean() / 255) < 0.02


def test_videomatte240k_video_release(tmp_path):
    root = rf.videomatte_video(tmp_path / "VideoMatte240K")
    assert recognise(root).name == "videomatte240k-video"
    train = training_pairs(root, "train")
    assert len(train) == 6 and train.datasets[1].names[:3] == ["0000/00000", "0000/00001", "0000/00002"]
    assert train[4][1].shape == (rf.H, rf.W, 3)
    with pytest.raises(LayoutError, match="unpack"):  # OpenCV cannot read a video from a zip entry
        training_pairs(rf.zip_folder(root, tmp_path / "vm.zip"), "train")


def test_distinctions646_release(tmp_path):
    root = rf.distinctions646(tmp_path / "dl")
    assert recognise(root).name == "distinctions646"
    train, valid = training_pairs(root, "train"), training_pairs(root, "valid")
    assert all(isinstance(d, ImagesDataset) for d in train.datasets)
    assert train.datasets[0].names == ["train_0", "train_1"] and valid.datasets[1].names == ["test_0", "test_1"]
    with pytest.raises(LayoutError, match="not a training release"):
        training_pairs(rf.photomatte_rgba(tmp_path / "pm"), "train")


def test_config_root_form_beside_the_explicit_form(tmp_path):
    rf.distinctions646(tmp_path / "d646")
    rf.videomatte_jpeg(tmp_path / "vm", wrapper="")
    rf.photomatte_rgba(tmp_path / "pm")
    (tmp_path / "datasets.yaml").write_text(
        "distinctions646: {root: d646}\n"
        "videomatte240k: {train: {fgr: vm/train/fgr, pha: vm/train/pha}}\n"
        "photomatte85: {root: pm}\n")
    paths = load_dataset_paths(tmp_path / "datasets.yaml")
    assert len(pairs_from_config(paths, "distinctions646", "valid")) == 2
    assert len(pairs_from_config(paths, "videomatte240k", "train")) == 4
    assert test_set_from_config(paths).layout == "photomatte85-rgba"
    rf.pha_fgr(tmp_path / "gt", trimap=False)
    (tmp_path / "old.yaml").write_text("photomatte85: {fgr: gt/fgr, pha: gt/pha, trimap: gt/trimap}\n")
    old = test_set_from_config(load_dataset_paths(tmp_path / "old.yaml"))
    assert old.layout == "pha-fgr" and len(old) == 3 and old.read("0000.png")[2] is None
