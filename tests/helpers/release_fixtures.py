"""Tiny datasets written in each release layout (16x24 images), shared by the layout and checker tests."""
import os
import shutil
import zipfile

import cv2
import numpy as np

H, W = 16, 24


def rgba(i, alpha=None):
    """uint8 (H, W, 4) BGRA: a colour depending on ``i``, alpha a ramp (or the constant ``alpha``)."""
    img = np.zeros((H, W, 4), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10 * i, 100, 200
    img[..., 3] = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1)) if alpha is None else alpha
    return img


def write(path, img):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def photomatte_rgba(root, n=3, wrapper="PhotoMatte85"):
    """PhotoMatte85 as released: ``n`` RGBA PNGs in one folder (inside ``wrapper/``)."""
    for i in range(n):
        write(os.path.join(root, wrapper, f"{i:04d}.png"), rgba(i))
    return root


def pha_fgr(root, n=3, trimap=True):
    """The ``pha/`` + ``fgr/`` (+ ``trimap/``) split: fgr JPEGs, pha and trimap PNGs."""
    for i in range(n):
        img = rgba(i)
        write(os.path.join(root, "pha", f"{i:04d}.png"), img[..., 3])
        write(os.path.join(root, "fgr", f"{i:04d}.jpg"), img[..., :3])
        if trimap:
            write(os.path.join(root, "trimap", f"{i:04d}.png"), np.where(img[..., 3] > 128, 255, 128).astype(np.uint8))
    return root


def videomatte_jpeg(root, clips=2, frames=2, wrapper="VideoMatte240K_JPEG_SD"):
    """VideoMatte240K_JPEG_*: ``{train,test}/{fgr,pha}/<clip>/<frame>.jpg``."""
    for split in ("train", "test"):
        for c in range(clips):
            for f in range(frames):
                img = rgba(c + f)
                write(os.path.join(root, wrapper, split, "fgr", f"{c:04d}", f"{f:05d}.jpg"), img[..., :3])
                write(os.path.join(root, wrapper, split, "pha", f"{c:04d}", f"{f:05d}.jpg"), img[..., 3])
    return root


def video(path, frames, size=(W, H)):
    """An mp4v video of ``frames`` gray frames of ``size`` (width, height)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    assert out.isOpened()
    for f in range(frames):
        out.write(np.full((size[1], size[0], 3), 40 * f + 20, np.uint8))
    out.release()
    return path


def videomatte_video(root, clips=2, frames=3):
    """The VideoMatte240K video release: ``{train,test}/{fgr,pha}/<clip>.mp4``."""
    for split in ("train", "test"):
        for c in range(clips):
            for kind in ("fgr", "pha"):
                video(os.path.join(root, split, kind, f"{c:04d}.mp4"), frames)
    return root


def distinctions646(root, n=2):
    """Distinctions-646: ``{Train,Test}/{FG,GT}/<name>.png``, same names in FG and GT."""
    for split in ("Train", "Test"):
        for i in range(n):
            img = rgba(i)
            write(os.path.join(root, "Distinctions-646", split, "FG", f"{split.lower()}_{i}.png"), img[..., :3])
            write(os.path.join(root, "Distinctions-646", split, "GT", f"{split.lower()}_{i}.png"), img[..., 3])
    return root


def backgrounds(root, n=3):
    for i in range(n):
        write(os.path.join(root, "sub" if i % 2 else "", f"bg{i}.jpg"), rgba(i)[..., :3])
    return root


def zip_folder(folder, zip_path):
    """A zip of ``folder``'s contents (entries relative to it), as a release zip."""
    return shutil.make_archive(str(zip_path)[:-4], "zip", folder)


def zip_entries(zip_path, entries):
    """A zip with {name: bytes} entries."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return str(zip_path)
