"""Image and alpha-matte files <-> float32 arrays, decoded and encoded with OpenCV.

Conventions used across the project:

* images are ``float32 (H, W, 3)`` RGB in ``[0, 1]``;
* alpha mattes are ``float32 (H, W)`` in ``[0, 1]``.

Files are read whole into memory and decoded there; ``decode_image`` / ``decode_alpha`` /
``decode_cutout`` decode bytes that come from elsewhere (a zip entry) by the same rules.
Reading accepts 8- and 16-bit files, grayscale, RGB and RGBA/gray+alpha files, and
applies the EXIF orientation of JPEGs. Every failure raises an error naming the file.
Writing is atomic: the data goes to a temporary file in the target folder which is then
renamed, so an interrupted run never leaves a half-written image behind.
"""
import os

import cv2
import numpy as np

from common.atomic import write_bytes
from common.errors import BGMv2Error

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class MediaReadError(BGMv2Error, OSError):
    """A media file exists but cannot be decoded (corrupt, truncated, unsupported); ``what`` names its kind."""
    what = "file"

    def __init__(self, path, reason):
        super().__init__(f"cannot read {self.what} '{path}': {reason}")
        self.path = path
        self.reason = reason


class ImageReadError(MediaReadError):
    """An image file that cannot be decoded."""
    what = "image"


def _jpeg_is_complete(buf):
    """True when the JPEG byte stream reaches its end-of-image marker.

    Walks the marker segments (skipping EXIF thumbnails by their length) and the
    entropy-coded scans, so bytes appended after the image do not matter. Older OpenCV
    builds decode a truncated JPEG without error and fill the missing rows with gray;
    this check makes truncation an error on every version.
    """
    n = len(buf)
    pos = 2
    while pos + 1 < n:
        if buf[pos] != 0xFF:
            return False
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        if pos + 3 >= n:
            return False
        pos += 2 + (int(buf[pos + 2]) << 8 | int(buf[pos + 3]))
        if marker == 0xDA:  # start of scan: skip entropy-coded data up to the next marker
            ff = np.flatnonzero(buf[pos:n - 1] == 0xFF)
            following = buf[pos + ff + 1]
            is_marker = (following != 0x00) & (following != 0xFF) & ((following < 0xD0) | (following > 0xD7))
            markers = ff[is_marker]
            if not markers.size:
                return False
            pos += int(markers[0])
    return False


def _read_bytes(path):
    """The encoded bytes of ``path``; raise FileNotFoundError / ImageReadError naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: '{path}'")
    # np.fromfile + imdecode also works for non-ASCII paths on every platform.
    return _check_encoded(np.fromfile(path, dtype=np.uint8), path)


def _check_encoded(data, source):
    """``data`` (bytes or uint8 array) as a 1-D uint8 array; empty or truncated-JPEG data is an
    ImageReadError naming ``source``."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if not isinstance(buf, np.ndarray) or buf.dtype != np.uint8 or buf.ndim != 1:
        raise TypeError(f"encoded image data of '{source}' must be bytes or a 1-D uint8 array")
    if buf.size == 0:
        raise ImageReadError(source, "file is empty")
    if _is_jpeg(buf) and not _jpeg_is_complete(buf):
        raise ImageReadError(source, "truncated JPEG (no end-of-image marker)")
    return buf


def _is_jpeg(buf):
    return buf.size > 2 and buf[0] == 0xFF and buf[1] == 0xD8


def _decode(buf, flags, path):
    img = cv2.imdecode(buf, flags)
    if img is None:
        raise ImageReadError(path, "OpenCV could not decode it (corrupt, truncated or unsupported format)")
    return img


def _to_unit_float(img, path):
    """uint8 / uint16 / float array -> float32 in [0, 1]."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(1 / 255)
    if img.dtype == np.uint16:
        return img.astype(np.float32) * np.float32(1 / 65535)
    if np.issubdtype(img.dtype, np.floating):
        return np.clip(img.astype(np.float32), 0, 1)
    raise ImageReadError(path, f"unsupported pixel type {img.dtype}")


def decode_image(data, source="<bytes>"):
    """Decode an encoded colour image held in memory (the bytes of a file, e.g. a zip entry).

    Same rules as :func:`read_image`; ``source`` names the data in error messages.

    Returns:
        float32 (H, W, 3) RGB in [0, 1].
    Raises:
        ImageReadError: the data is empty, a truncated JPEG, or cannot be decoded.
    """
    # IMREAD_COLOR | ANYDEPTH: 3 channels (gray expanded, alpha dropped), 8 or 16 bit,
    # EXIF orientation applied (IMREAD_UNCHANGED would skip it).
    img = _decode(_check_encoded(data, source), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH, source)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return _to_unit_float(img, source)


def decode_alpha(data, source="<bytes>"):
    """Decode an encoded alpha matte held in memory; same rules as :func:`read_alpha`.

    Returns:
        float32 (H, W) in [0, 1].
    Raises:
        ImageReadError: the data is empty, a truncated JPEG, or cannot be decoded.
    """
    buf = _check_encoded(data, source)
    if _is_jpeg(buf):
        # JPEG has no alpha channel; GRAYSCALE applies EXIF orientation and converts to luma.
        return _to_unit_float(_decode(buf, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH, source), source)
    return _alpha_of(_decode(buf, cv2.IMREAD_UNCHANGED, source), source)


def _alpha_of(img, source):
    """Alpha of an IMREAD_UNCHANGED array: the alpha channel, else the single channel, else luma."""
    if img.ndim == 3 and img.shape[2] in (2, 4):
        img = img[:, :, -1]
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return _to_unit_float(np.ascontiguousarray(img), source)


def decode_cutout(data, source="<bytes>"):
    """Decode a cut-out (e.g. an RGBA PNG of PhotoMatte85) once into its colour and its alpha.

    The colour is the file's RGB, not premultiplied (gray files expanded to 3 channels);
    JPEGs, which have no alpha, are rotated by their EXIF orientation as in :func:`read_image`.

    Returns:
        (rgb float32 (H, W, 3) in [0, 1],
         alpha float32 (H, W) in [0, 1], or None when the file has no alpha channel,
         channels: int, the number of channels stored in the file: 1, 2, 3 or 4).
    Raises:
        ImageReadError: the data is empty, a truncated JPEG, or cannot be decoded.
    """
    buf = _check_encoded(data, source)
    if _is_jpeg(buf):
        channels = 1 if _decode(buf, cv2.IMREAD_UNCHANGED, source).ndim == 2 else 3
        return decode_image(buf, source), None, channels
    img = _decode(buf, cv2.IMREAD_UNCHANGED, source)
    channels = 1 if img.ndim == 2 else img.shape[2]
    alpha = _alpha_of(img, source) if channels in (2, 4) else None
    if channels in (1, 2):
        rgb = cv2.cvtColor(img[:, :, 0] if img.ndim == 3 else img, cv2.COLOR_GRAY2RGB)
    else:
        rgb = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
    return _to_unit_float(rgb, source), alpha, channels


def read_image(path):
    """Read a colour image.

    Gray files are expanded to 3 equal channels, an alpha channel (RGBA, gray+alpha) is
    dropped, 16-bit files keep their precision, JPEGs are rotated by their EXIF orientation.

    Returns:
        float32 (H, W, 3) RGB in [0, 1].
    Raises:
        FileNotFoundError: no such file. ImageReadError: the file cannot be decoded.
    """
    return decode_image(_read_bytes(path), os.fspath(path))


def read_alpha(path):
    """Read an alpha matte.

    * single-channel file: that channel;
    * file with an alpha channel (RGBA, gray+alpha, e.g. a cut-out PNG): its alpha channel,
      so fgr and pha may both point at the same RGBA cut-outs;
    * RGB file without alpha: its luma (0.299 R + 0.587 G + 0.114 B, as PIL's ``convert('L')``
      in the reference), which is exact for gray mattes stored as RGB.

    EXIF orientation of JPEG mattes is applied.

    Returns:
        float32 (H, W) in [0, 1].
    Raises:
        FileNotFoundError: no such file. ImageReadError: the file cannot be decoded.
    """
    return decode_alpha(_read_bytes(path), os.fspath(path))


def _atomic_write(path, encoded_ext, array, params=()):
    """Encode ``array`` (OpenCV channel order) as ``encoded_ext`` and write it atomically (``common.atomic``)."""
    path = os.fspath(path)
    ok, buf = cv2.imencode(encoded_ext, array, list(params))
    if not ok:
        raise ValueError(f"OpenCV could not encode '{path}' as {encoded_ext}")
    write_bytes(path, buf.tobytes())


def quantize(x, bits=8, name="array"):
    """Float array in [0, 1] (clipped) -> uint8 (``bits=8``) or uint16 (``bits=16``), rounding half up:
    exactly what the writers store. A non-float array is a ValueError naming ``name``."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be a float array in [0, 1], got dtype {x.dtype}")
    peak = 65535 if bits == 16 else 255
    dtype = np.uint16 if bits == 16 else np.uint8
    return (np.clip(x, 0, 1) * peak + 0.5).astype(dtype)


def _output_ext(path, bits):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"unsupported image extension '{ext}' for '{path}' (use one of {IMAGE_EXTENSIONS})")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    if bits == 16 and ext not in (".png", ".tif", ".tiff"):
        raise ValueError(f"16-bit output needs a .png or .tif file, got '{path}'")
    return ext


def write_image(path, img, bits=8, jpeg_quality=95):
    """Write ``img``: float (H, W, 3) RGB in [0, 1] (values outside are clipped).

    The format follows the extension; ``bits=16`` for PNG/TIFF keeps more precision.
    The file appears atomically (temporary file + rename); folders are created.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"write_image('{path}'): expected (H, W, 3) RGB, got shape {img.shape}")
    ext = _output_ext(path, bits)
    params = (cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)) if ext in (".jpg", ".jpeg") else ()
    _atomic_write(path, ext, cv2.cvtColor(quantize(img, bits, "img"), cv2.COLOR_RGB2BGR), params)


def write_alpha(path, pha, bits=8):
    """Write an alpha matte ``pha``: float (H, W) or (H, W, 1) in [0, 1] as a single-channel file.

    Atomic like :func:`write_image`. Use PNG (JPEG compression damages mattes).
    """
    pha = np.asarray(pha)
    if pha.ndim == 3 and pha.shape[2] == 1:
        pha = pha[:, :, 0]
    if pha.ndim != 2:
        raise ValueError(f"write_alpha('{path}'): expected (H, W) or (H, W, 1), got shape {pha.shape}")
    ext = _output_ext(path, bits)
    _atomic_write(path, ext, quantize(pha, bits, "pha"))


def list_images(root):
    """All image files below ``root`` (nested folders allowed), sorted by relative path.

    Hidden files and folders (names starting with '.') are ignored.
    Raises FileNotFoundError when ``root`` is not a folder.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder not found: '{root}'")
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found += [os.path.join(folder, f) for f in files
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=lambda p: os.path.relpath(p, root).split(os.sep))
