"""dataset.io: decoding of real files (8/16 bit, gray, RGBA, EXIF), bad files, atomic writes."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from dataset.io import ImageReadError, list_images, read_alpha, read_image, write_alpha, write_image


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    img = rng.random((24, 32, 3)).astype(np.float32)
    img[:4, :6] = (1.0, 0.0, 0.0)  # red block in the top-left corner marks orientation
    return img


def test_png_roundtrip_8bit_and_16bit(tmp_path, rgb):
    write_image(tmp_path / "a.png", rgb)
    back = read_image(tmp_path / "a.png")
    assert back.dtype == np.float32 and back.shape == (24, 32, 3)
    assert np.abs(back - rgb).max() <= 0.5 / 255 + 1e-6
    assert np.allclose(back[0, 0], (1, 0, 0))  # RGB order, not BGR

    write_image(tmp_path / "b.png", rgb, bits=16)
    raw = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    assert np.abs(read_image(tmp_path / "b.png") - rgb).max() <= 0.5 / 65535 + 1e-6


def test_alpha_roundtrip_16bit_keeps_precision(tmp_path):
    pha = np.linspace(0, 1, 64 * 8, dtype=np.float32).reshape(8, 64)
    write_alpha(tmp_path / "p.png", pha[:, :, None], bits=16)
    back = read_alpha(tmp_path / "p.png")
    assert back.shape == (8, 64) and back.dtype == np.float32
    assert np.abs(back - pha).max() < 1e-4  # 8 bit would be off by up to 2e-3


def test_gray_file_read_as_rgb_and_alpha(tmp_path):
    gray = (np.arange(20 * 30) % 256).astype(np.uint8).reshape(20, 30)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    img = read_image(tmp_path / "g.png")
    assert img.shape == (20, 30, 3)
    assert np.allclose(img[:, :, 0], gray / 255) and np.allclose(img[:, :, 0], img[:, :, 2])
    assert np.allclose(read_alpha(tmp_path / "g.png"), gray / 255)


def test_rgba_file_colour_drops_alpha_and_alpha_reads_alpha_channel(tmp_path, rgb):
    bgr8 = (rgb[:, :, ::-1] * 255).round().astype(np.uint8)
    alpha8 = np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))
    cv2.imwrite(str(tmp_path / "cutout.png"), np.dstack([bgr8, alpha8]))
    img = read_image(tmp_path / "cutout.png")
    assert img.shape == (24, 32, 3)
    assert np.allclose(img, rgb, atol=0.5 / 255 + 1e-6)  # colour not premultiplied by alpha
    assert np.allclose(read_alpha(tmp_path / "cutout.png"), alpha8 / 255)


def test_rgb_matte_reads_as_luma(tmp_path):
    matte = np.zeros((10, 10, 3), np.uint8)
    matte[:, 5:] = 200
    matte[0, 0] = (255, 0, 0)  # BGR blue: luma 0.114
    cv2.imwrite(str(tmp_path / "m.png"), matte)
    pha = read_alpha(tmp_path / "m.png")
    assert pha.shape == (10, 10)
    assert np.allclose(pha[:, 5:], 200 / 255, atol=1e-6)
    assert abs(pha[0, 0] - 0.114) < 2 / 255


def test_exif_rotated_jpeg_is_upright(tmp_path, rgb):
    # Stored sideways with orientation 6 ("rotate 90 clockwise to display").
    stored = np.rot90((rgb * 255).round().astype(np.uint8), k=1)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=98)
    img = read_image(tmp_path / "r.jpg")
    assert img.shape == (24, 32, 3)
    assert np.all(img[1, 1] > (0.8, -1, -1)) and img[1, 1, 1] < 0.2  # red block back in the top-left
    gray = read_alpha(tmp_path / "r.jpg")
    assert gray.shape == (24, 32)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_file_error_names_it(tmp_path, rgb, ext):
    big = cv2.resize(rgb, (256, 256))
    write_image(tmp_path / f"full{ext}", big)
    data = (tmp_path / f"full{ext}").read_bytes()
    bad = tmp_path / f"cut{ext}"
    bad.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(ImageReadError, match=f"cut{ext}"):
        read_image(bad)
    with pytest.raises(ImageReadError, match=f"cut{ext}"):
        read_alpha(bad)


def test_jpeg_with_trailing_bytes_is_not_truncated(tmp_path, rgb):
    write_image(tmp_path / "t.jpg", rgb)
    with open(tmp_path / "t.jpg", "ab") as f:
        f.write(b"\x00" * 100 + b"trailer")  # e.g. data appended by a camera app
    assert read_image(tmp_path / "t.jpg").shape == (24, 32, 3)


def test_missing_empty_and_garbage_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.png"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.jpg").write_bytes(b"not an image at all" * 10)
    with pytest.raises(ImageReadError, match="text.jpg"):
        read_alpha(tmp_path / "text.jpg")


def test_write_is_atomic_and_validates(tmp_path, rgb):
    target = tmp_path / "sub" / "x.png"
    write_image(target, rgb)
    before = target.read_bytes()
    with pytest.raises(ValueError, match="x.png"):
        write_image(target, rgb[:, :, :2])  # wrong shape: the old file must survive
    with pytest.raises(ValueError, match="16-bit"):
        write_image(tmp_path / "y.jpg", rgb, bits=16)
    assert target.read_bytes() == before
    assert sorted(os.listdir(target.parent)) == ["x.png"]  # no temporary files left behind
    mask = os.umask(0o022)
    try:
        write_alpha(tmp_path / "perm.png", rgb[:, :, 0])
    finally:
        os.umask(mask)
    assert os.stat(tmp_path / "perm.png").st_mode & 0o777 == 0o644  # like any new file, not owner-only


def test_list_images_sorted_nested_and_filtered(tmp_path, rgb):
    for rel in ["b/2.png", "b/10.jpg", "a/z.png", "top.png", ".hidden/h.png", "b/notes.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("txt"):
            p.write_text("x")
        else:
            write_image(p, rgb)
    names = [os.path.relpath(p, tmp_path) for p in list_images(tmp_path)]
    assert names == ["a/z.png", "b/10.jpg", "b/2.png", "top.png"]
    with pytest.raises(FileNotFoundError, match="missing"):
        list_images(tmp_path / "missing")
