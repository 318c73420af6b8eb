"""Synthetic matting data: person-like subjects with real matting difficulties, and backgrounds.

A subject is built from layers composited with the "over" operator:

1. body: torso (rounded shoulders, often arms), neck and head, drawn supersampled and
   downsampled with area averaging (anti-aliased edges), then slightly defocused;
   clothing is textured (stripes, checks, noise, or patches cut from the background
   photos, so its colours are close to real backgrounds in places), skin is shaded;
2. hair: an opaque hair mass plus hundreds of thin strands drawn at sub-pixel width on
   the supersampled canvas, which become fractional alpha after downsampling;
3. often a semi-transparent veil/scarf or glass pane (alpha 0.15..0.7, soft edges).

``fgr`` is defined everywhere (layer colours continue outside the matte, like real
foreground plates). Backgrounds are random crops of the real photographs shipped with
scikit-image (no download) or procedural rooms and textures, each crop different.
All randomness comes from the ``np.random.Generator`` passed in.
"""
import functools

import cv2
import numpy as np

# Colour photographs in scikit-image's wheel (no download needed).
_PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")
# Gray textures in the wheel, tinted before use.
_TEXTURE_NAMES = ("brick", "grass", "gravel")

_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.88, 0.67, 0.52], [0.76, 0.57, 0.42], [0.55, 0.38, 0.26],
                        [0.36, 0.24, 0.16], [0.98, 0.86, 0.78]], dtype=np.float32)
_HAIR_COLOURS = np.array([[0.06, 0.04, 0.03], [0.23, 0.14, 0.08], [0.45, 0.30, 0.16], [0.80, 0.66, 0.40],
                          [0.55, 0.20, 0.08], [0.70, 0.70, 0.68], [0.15, 0.15, 0.17]], dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _photos():
    """The real photographs as float32 RGB arrays (loaded once per process)."""
    import skimage.data

    photos = []
    for name in _PHOTO_NAMES:
        img = getattr(skimage.data, name)()
        # stereo_motorcycle is (left, right, disparity): keep the colour images only.
        for im in (img if isinstance(img, tuple) else (img,)):
            if im.ndim == 3 and im.dtype == np.uint8:
                photos.append(im.astype(np.float32) / 255)
    return tuple(photos)


@functools.lru_cache(maxsize=1)
def _textures():
    import skimage.data

    return tuple(getattr(skimage.data, name)().astype(np.float32) / 255 for name in _TEXTURE_NAMES)


# ---------------------------------------------------------------- colour fields (H, W, 3)


def _smooth_noise(rng, h, w, cells, channels=1):
    """Low-frequency noise in [0, 1], (h, w, channels): random grid upsampled bicubically."""
    gh, gw = max(2, int(h / cells) + 2), max(2, int(w / cells) + 2)
    grid = rng.random((gh, gw, channels)).astype(np.float32)
    out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(out.reshape(h, w, channels), 0, 1)


def _random_crop(rng, img, h, w, min_frac=0.35):
    """A random crop of ``img`` with the aspect of (h, w), resized to (h, w), maybe mirrored."""
    ih, iw = img.shape[:2]
    frac = rng.uniform(min_frac, 1.0)
    ch = min(ih, iw * h / w) * frac
    cw = ch * w / h
    y0 = rng.uniform(0, ih - ch)
    x0 = rng.uniform(0, iw - cw)
    # Crop via an affine so the crop box can be fractional and flipped in one resample.
    flip = rng.random() < 0.5
    sx, sy = w / cw, h / ch
    m = np.array([[-sx if flip else sx, 0, (x0 + cw) * sx if flip else -x0 * sx],
                  [0, sy, -y0 * sy]], dtype=np.float64)
    interp = cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(img, m, (w, h), flags=interp, borderMode=cv2.BORDER_REFLECT)
    return crop.reshape(h, w, -1)


def _jitter_colour(rng, img, strength=0.15):
    gain = rng.uniform(1 - strength, 1 + strength, size=3).astype(np.float32)
    bias = rng.uniform(-strength / 2, strength / 2, size=3).astype(np.float32)
    return np.clip(img * gain + bias, 0, 1)


def _texture_field(rng, h, w):
    """A clothing-like colour field: patterned, noisy or cut from a background photo."""
    kind = rng.choice(["solid", "stripes", "checks", "noise", "photo", "photo"])
    base = rng.random(3).astype(np.float32) * 0.9 + 0.05
    if rng.random() < 0.5:  # a colour that real backgrounds have
        photo = _photos()[rng.integers(len(_photos()))]
        base = photo[rng.integers(photo.shape[0]), rng.integers(photo.shape[1])].copy()
    if kind == "photo":
        source = _photos()[rng.integers(len(_photos()))]
        field = _jitter_colour(rng, _random_crop(rng, source, h, w, min_frac=0.15), 0.1)
    else:
        field = np.broadcast_to(base, (h, w, 3)).copy()
        if kind in ("stripes", "checks"):
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            angle = rng.uniform(0, np.pi)
            period = rng.uniform(0.01, 0.08) * max(h, w)
            u = (xx * np.cos(angle) + yy * np.sin(angle)) / period
            pattern = (np.sin(2 * np.pi * u) > 0).astype(np.float32)
            if kind == "checks":
                v = (-xx * np.sin(angle) + yy * np.cos(angle)) / period
                pattern = np.abs(pattern - (np.sin(2 * np.pi * v) > 0))
            pattern = cv2.GaussianBlur(pattern, (0, 0), 0.6)
            second = rng.random(3).astype(np.float32)
            field = field * (1 - pattern[..., None]) + second * pattern[..., None]
        elif kind == "noise":
            tex = _textures()[rng.integers(len(_textures()))]
            t = _random_crop(rng, tex[..., None], h, w)
            field = field * (0.6 + 0.8 * t)
    shading = 0.75 + 0.5 * _smooth_noise(rng, h, w, max(h, w) / 3)
    return np.clip(field * shading, 0, 1).astype(np.float32)


def _shaded_colour(rng, colour, h, w, variation=0.08, cells=None):
    noise = _smooth_noise(rng, h, w, cells or max(h, w) / 6, 3) - 0.5
    light = 0.85 + 0.3 * _smooth_noise(rng, h, w, max(h, w) / 2)
    return np.clip((colour + variation * noise) * light, 0, 1).astype(np.float32)


# ---------------------------------------------------------------- alpha layers


class _Canvas:
    """A supersampled uint8 canvas: draw with pixel coordinates of the output image."""

    SHIFT = 4  # sub-pixel bits for OpenCV drawing

    def __init__(self, h, w, ss):
        self.h, self.w, self.ss = h, w, ss
        self.img = np.zeros((h * ss, w * ss), np.uint8)

    def _pt(self, x, y):
        k = self.ss * (1 << self.SHIFT)
        return int(round(x * k)), int(round(y * k))

    def ellipse(self, cx, cy, ax, ay, angle=0.0, value=255):
        k = self.ss * (1 << self.SHIFT)
        cv2.ellipse(self.img, self._pt(cx, cy), (int(ax * k), int(ay * k)), angle, 0, 360, value, -1,
                    cv2.LINE_AA, self.SHIFT)

    def polygon(self, pts, value=255):
        k = self.ss * (1 << self.SHIFT)
        cv2.fillPoly(self.img, [np.round(np.asarray(pts) * k).astype(np.int32)], value, cv2.LINE_AA, self.SHIFT)

    def capsule(self, x0, y0, x1, y1, width, value=255):
        thickness = max(1, int(round(width * self.ss)))
        cv2.line(self.img, self._pt(x0, y0), self._pt(x1, y1), value, thickness, cv2.LINE_AA, self.SHIFT)

    def polylines(self, curves, value, thickness=1):
        k = self.ss * (1 << self.SHIFT)
        pts = [np.round(c * k).astype(np.int32) for c in curves]
        cv2.polylines(self.img, pts, False, value, thickness, cv2.LINE_AA, self.SHIFT)

    def alpha(self):
        """Area-averaged down to (h, w) float32 in [0, 1]: anti-aliased edges, sub-pixel strands."""
        out = cv2.resize(self.img, (self.w, self.h), interpolation=cv2.INTER_AREA) if self.ss > 1 else self.img
        return out.astype(np.float32) / 255


def _supersampling(h, w):
    return int(np.clip(4096 // max(h, w), 1, 4))


def _body(rng, h, w, ss):
    """Torso, arms, neck and head. Returns (alpha, skin mask, head geometry)."""
    unit = min(h, w)
    cx = w * rng.uniform(0.3, 0.7)
    size = unit * rng.uniform(0.55, 0.95)
    head_ax, head_ay = size * rng.uniform(0.11, 0.14), size * rng.uniform(0.14, 0.18)
    head_cy = h - size * rng.uniform(0.72, 0.9)
    head_cx = cx + size * rng.uniform(-0.04, 0.04)
    tilt = rng.uniform(-12, 12)
    shoulder_y = head_cy + head_ay + size * rng.uniform(0.08, 0.14)
    shoulder_w = size * rng.uniform(0.32, 0.48)

    body = _Canvas(h, w, ss)
    skin = _Canvas(h, w, ss)
    # Torso: the upper half of a wide ellipse gives rounded shoulders; continue to the bottom.
    torso_h = size * rng.uniform(0.25, 0.4)
    body.ellipse(cx, shoulder_y + torso_h, shoulder_w, torso_h)
    body.polygon([[cx - shoulder_w, shoulder_y + torso_h], [cx + shoulder_w, shoulder_y + torso_h],
                  [cx + shoulder_w * rng.uniform(0.85, 1.1), h + 2], [cx - shoulder_w * rng.uniform(0.85, 1.1), h + 2]])
    # Arms: thick segments hanging from the shoulders, sometimes raised.
    for side in (-1, 1):
        if rng.random() < 0.7:
            x0, y0 = cx + side * shoulder_w * 0.85, shoulder_y + torso_h * 0.45
            angle = np.radians(rng.uniform(-25, 60)) * side
            length = size * rng.uniform(0.3, 0.55)
            x1, y1 = x0 + np.sin(angle) * length, y0 + np.cos(angle) * length * (1 if rng.random() < 0.8 else -1)
            width = size * rng.uniform(0.08, 0.13)
            body.capsule(x0, y0, x1, y1, width)
            if rng.random() < 0.5:  # bare forearm/hand
                hx, hy = x0 + (x1 - x0) * 1.08, y0 + (y1 - y0) * 1.08
                skin.ellipse(hx, hy, width * 0.5, width * 0.65, np.degrees(-angle))
                body.ellipse(hx, hy, width * 0.5, width * 0.65, np.degrees(-angle))
    # Neck and head (skin).
    neck_w = head_ax * rng.uniform(0.45, 0.65)
    for canvas in (body, skin):
        canvas.polygon([[head_cx - neck_w, head_cy], [head_cx + neck_w, head_cy],
                        [cx + neck_w * 1.15, shoulder_y + size * 0.03], [cx - neck_w * 1.15, shoulder_y + size * 0.03]])
        canvas.ellipse(head_cx, head_cy, head_ax, head_ay, tilt)
    alpha = body.alpha()
    defocus = rng.uniform(0.2, 1.0)  # a little depth-of-field blur on the outline
    alpha = cv2.GaussianBlur(alpha, (0, 0), defocus)
    return alpha, skin.alpha(), (head_cx, head_cy, head_ax, head_ay, tilt)


def _bezier(p0, p1, p2, n=10):
    """Quadratic Bezier curves: control points (k, 2) each -> (k, n, 2) polylines."""
    t = np.linspace(0, 1, n)[None, :, None]
    return (1 - t) ** 2 * p0[:, None] + 2 * (1 - t) * t * p1[:, None] + t ** 2 * p2[:, None]


def _hair(rng, h, w, ss, head):
    """Hair mass (opaque) plus thin strands (fractional alpha). Returns alpha (h, w)."""
    hx, hy, ax, ay, tilt = head
    canvas = _Canvas(h, w, ss)
    style = rng.choice(["short", "long", "curly", "bun"])
    # Mass over the top of the head.
    canvas.ellipse(hx, hy - ay * rng.uniform(0.25, 0.4), ax * rng.uniform(1.04, 1.15), ay * rng.uniform(0.75, 0.9), tilt)
    if style == "long":
        length = ay * rng.uniform(1.5, 3.0)
        canvas.polygon([[hx - ax * 1.1, hy - ay * 0.2], [hx + ax * 1.1, hy - ay * 0.2],
                        [hx + ax * rng.uniform(1.0, 1.5), hy + length], [hx - ax * rng.uniform(1.0, 1.5), hy + length]])
    elif style == "bun":
        canvas.ellipse(hx + rng.uniform(-0.3, 0.3) * ax, hy - ay * 1.05, ax * 0.45, ay * 0.35)
    # Strands: roots on the hair outline, growing outwards and falling with gravity.
    n = int(rng.integers(150, 400) * max(1.0, ax / 40))
    theta = rng.uniform(-np.pi, 0.15 * np.pi, n) if style != "long" else rng.uniform(-np.pi * 1.1, 0.1 * np.pi, n)
    rx, ry = ax * 1.05, ay * 0.95
    roots = np.stack([hx + rx * np.cos(theta), hy - ay * 0.15 + ry * np.sin(theta)], axis=1)
    outward = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    lengths = ay * rng.gamma(2.0, 0.25 if style != "long" else 0.6, n)[:, None]
    curl = 1.5 if style == "curly" else 0.5
    mid = roots + outward * lengths * 0.6 + rng.normal(0, curl * 0.25, (n, 2)) * lengths
    gravity = np.array([0, 1.0]) * lengths * (1.2 if style == "long" else 0.4)
    tips = roots + outward * lengths + gravity + rng.normal(0, curl * 0.3, (n, 2)) * lengths
    curves = _bezier(roots, mid, tips)
    # A few intensity groups: darker groups read as finer / thinner strands.
    groups = rng.integers(0, 4, n)
    for g, value in enumerate((70, 120, 180, 255)):
        if (groups == g).any():
            canvas.polylines(list(curves[groups == g]), value, thickness=1)
    return canvas.alpha()


def _translucent(rng, h, w, ss, head):
    """A veil/scarf or a glass pane: semi-transparent with soft edges. Returns alpha (h, w)."""
    hx, hy, ax, ay, _ = head
    canvas = _Canvas(h, w, ss)
    opacity = rng.uniform(0.15, 0.7)
    if rng.random() < 0.6:  # veil from the head over the shoulders
        drop = ay * rng.uniform(2.5, 4.5)
        spread = ax * rng.uniform(2.0, 3.5)
        canvas.polygon([[hx - ax * 1.1, hy - ay * 0.9], [hx + ax * 1.1, hy - ay * 0.9],
                        [hx + spread, hy + drop], [hx - spread, hy + drop]], int(255 * opacity))
    else:  # glass pane held beside the body
        gx = hx + rng.choice([-1, 1]) * ax * rng.uniform(2.0, 3.5)
        gy = hy + ay * rng.uniform(1.5, 3.0)
        canvas.ellipse(gx, gy, ax * rng.uniform(0.8, 1.6), ay * rng.uniform(1.0, 2.0), rng.uniform(-30, 30),
                       int(255 * opacity))
    alpha = canvas.alpha()
    # Fabric folds: opacity varies across the veil.
    alpha *= 0.6 + 0.8 * _smooth_noise(rng, h, w, max(h, w) / 10)[..., 0]
    return np.clip(cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 2.0)), 0, 1)


def _over(layers, h, w):
    """Composite [(alpha (h, w), colour (h, w, 3)), ...] bottom to top with "over".

    Returns (pha (h, w), fgr (h, w, 3)); fgr is un-premultiplied and, where pha = 0,
    continues the bottom layer's colour.
    """
    pha = np.zeros((h, w), np.float32)
    premult = np.zeros((h, w, 3), np.float32)
    for a, colour in layers:
        premult = colour * a[..., None] + premult * (1 - a[..., None])
        pha = a + pha * (1 - a)
    fgr = np.where(pha[..., None] > 1e-4, premult / np.maximum(pha, 1e-4)[..., None], layers[0][1])
    return np.clip(pha, 0, 1), np.clip(fgr, 0, 1).astype(np.float32)


def make_subject(rng, size):
    """One person-like subject.

    Args:
        rng: np.random.Generator. size: (height, width).
    Returns:
        pha: float32 (H, W) in [0, 1]; fgr: float32 (H, W, 3) RGB in [0, 1].
    """
    h, w = size
    ss = _supersampling(h, w)
    body_a, skin_a, head = _body(rng, h, w, ss)
    skin = _shaded_colour(rng, _SKIN_TONES[rng.integers(len(_SKIN_TONES))], h, w, 0.05)
    cloth = _texture_field(rng, h, w)
    body_colour = cloth * (1 - skin_a[..., None]) + skin * skin_a[..., None]
    hair_colour = _shaded_colour(rng, _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))], h, w, 0.1,
                                 cells=max(h, w) / 40)
    layers = [(body_a, body_colour), (_hair(rng, h, w, ss, head), hair_colour)]
    if rng.random() < 0.6:
        veil = _texture_field(rng, h, w) if rng.random() < 0.5 else _shaded_colour(rng, rng.random(3), h, w)
        layers.append((_translucent(rng, h, w, ss, head), veil))
    pha, fgr = _over(layers, h, w)
    if rng.random() < 0.15:  # motion blur of a moving subject
        length = int(rng.integers(3, max(4, min(h, w) // 40)))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1 / length
        rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        kernel /= kernel.sum()
        premult = cv2.filter2D(fgr * pha[..., None], -1, kernel, borderType=cv2.BORDER_REPLICATE)
        pha = np.clip(cv2.filter2D(pha, -1, kernel, borderType=cv2.BORDER_REPLICATE), 0, 1)
        fgr = np.where(pha[..., None] > 1e-4, np.clip(premult / np.maximum(pha, 1e-4)[..., None], 0, 1), fgr)
    return pha, fgr.astype(np.float32)


def make_clip(rng, size, frames):
    """``frames`` (pha, fgr) pairs of one subject moving slightly (random walk of shift/rotation)."""
    h, w = size
    pha, fgr = make_subject(rng, size)
    out = []
    dx = dy = angle = 0.0
    for _ in range(frames):
        m = cv2.getRotationMatrix2D(((w - 1) / 2, h - 1), angle, 1.0)
        m[:, 2] += (dx, dy)
        # Replicate the border: the torso continues below the frame.
        out.append((cv2.warpAffine(pha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
                    cv2.warpAffine(fgr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)))
        dx += rng.normal(0, 0.006) * w
        dy += rng.normal(0, 0.003) * h
        angle += rng.normal(0, 0.6)
    return out


# ---------------------------------------------------------------- backgrounds


def _procedural_background(rng, h, w):
    """A room-like scene: wall and floor, furniture/window blocks, texture, light falloff."""
    wall = _texture_field(rng, h, w) if rng.random() < 0.5 else _shaded_colour(rng, rng.random(3) * 0.8 + 0.1, h, w)
    floor = _shaded_colour(rng, rng.random(3) * 0.7 + 0.1, h, w, 0.15)
    horizon = int(h * rng.uniform(0.55, 0.95))
    img = wall.copy()
    img[horizon:] = floor[horizon:]
    for _ in range(int(rng.integers(2, 7))):  # furniture, frames, windows
        x0, y0 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        bw, bh = int(rng.uniform(0.05, 0.4) * w), int(rng.uniform(0.05, 0.5) * h)
        colour = tuple(float(v) for v in rng.random(3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x0 + bw, y0 + bh), colour, -1, cv2.LINE_AA)
        else:
            cv2.ellipse(img, (x0, y0), (bw // 2 + 1, bh // 2 + 1), 0, 0, 360, colour, -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 2.5))  # camera focus on the subject
    light = 0.7 + 0.5 * _smooth_noise(rng, h, w, max(h, w) / 1.5)
    return np.clip(img * light + rng.normal(0, 0.01, (h, w, 3)).astype(np.float32), 0, 1)


def make_background(rng, size):
    """One background: a random crop of a real photo (60%) or a procedural room.

    Returns float32 (H, W, 3) RGB in [0, 1].
    """
    h, w = size
    if rng.random() < 0.6:
        photo = _photos()[rng.integers(len(_photos()))]
        img = _jitter_colour(rng, _random_crop(rng, photo, h, w), 0.12)
    else:
        img = _procedural_background(rng, h, w)
    return img.astype(np.float32)


# ---------------------------------------------------------------- dataset on disk


def dataset_layout(videomatte="videomatte", photomatte="photomatte", photomatte85="photomatte85",
                   backgrounds="backgrounds"):
    """The ``datasets.yaml`` content (relative paths) describing a generated dataset."""
    def pair(root, split):
        return {"fgr": f"{root}/{split}/fgr", "pha": f"{root}/{split}/pha"}

    def photo():  # a fresh dict each time: no YAML anchors/aliases in the written file
        return {"train": pair(photomatte, "train"), "valid": pair(photomatte, "valid")}

    return {
        "videomatte240k": {"train": pair(videomatte, "train"), "valid": pair(videomatte, "valid")},
        "photomatte13k": photo(),
        "distinctions646": photo(),
        "photomatte85": {"fgr": f"{photomatte85}/fgr", "pha": f"{photomatte85}/pha",
                         "trimap": f"{photomatte85}/trimap"},
        "backgrounds": {"train": f"{backgrounds}/train", "valid": f"{backgrounds}/valid"},
        "custom": photo(),
    }


_KINDS = {"videomatte/train": 1, "videomatte/valid": 2, "photomatte/train": 3, "photomatte/valid": 4,
          "photomatte85": 5, "backgrounds/train": 6, "backgrounds/valid": 7}


def _write_item(task):
    """Generate and write one item; its randomness depends only on (seed, kind, index)."""
    from .io import write_alpha, write_image
    from .trimap import make_trimap

    root, kind, index, size, seed, frames = task
    rng = np.random.default_rng([seed, _KINDS[kind], index])
    folder = f"{root}/{kind}"
    if kind.startswith("backgrounds"):
        write_image(f"{folder}/{index:04d}.jpg", make_background(rng, size), jpeg_quality=92)
        return 1
    if kind.startswith("videomatte"):
        for f, (pha, fgr) in enumerate(make_clip(rng, size, frames)):
            write_image(f"{folder}/fgr/clip_{index:04d}/{f:05d}.png", fgr)
            write_alpha(f"{folder}/pha/clip_{index:04d}/{f:05d}.png", pha)
        return frames
    pha, fgr = make_subject(rng, size)
    write_image(f"{folder}/fgr/{index:04d}.png", fgr)
    write_alpha(f"{folder}/pha/{index:04d}.png", pha)
    if kind == "photomatte85":
        # The trimap must match the alpha as stored (8 bit), not the float before quantisation.
        write_alpha(f"{folder}/trimap/{index:04d}.png",
                    make_trimap(np.round(np.clip(pha, 0, 1) * 255).astype(np.uint8)).astype(np.float32) / 255)
    return 1


def write_synthetic_dataset(out, size=(512, 512), seed=0, train_clips=16, frames_per_clip=8, valid=16,
                            photo_train=32, test=16, backgrounds=48, valid_backgrounds=None,
                            overwrite=False, workers=1, progress=False):
    """Write a synthetic matting dataset under ``out`` (layout in tools/make_synthetic_dataset.py).

    Args:
        out: output folder; an existing non-empty folder is refused unless ``overwrite``
            (which replaces only the generated sub-folders and datasets.yaml).
        size: (height, width) of every image.
        seed: everything written is a function of the seed and the counts, whatever ``workers``.
        train_clips, frames_per_clip: video-style train set (clips of slightly moving subjects).
        valid: photo-style valid images; the video-style valid set gets
            ceil(valid / frames_per_clip) clips.
        photo_train: photo-style train images (photomatte/train, used by photomatte13k/custom).
        test: PhotoMatte85-style test images with trimaps.
        backgrounds: train backgrounds; ``valid_backgrounds`` defaults to max(2, backgrounds // 4).
        workers: processes generating in parallel.
    Returns:
        dict: number of images written per kind.
    The data is generated in a temporary sibling folder and moved into place at the end,
    so an interrupted run never leaves a half-written dataset in ``out``.
    """
    import concurrent.futures
    import os
    import shutil
    import tempfile

    import yaml

    h, w = size
    if h < 32 or w < 32:
        raise ValueError(f"size must be at least 32x32, got {w}x{h}")
    counts = {"train_clips": train_clips, "frames_per_clip": frames_per_clip, "valid": valid,
              "photo_train": photo_train, "test": test, "backgrounds": backgrounds}
    for name, value in counts.items():
        if not isinstance(value, (int, np.integer)) or value < (1 if name in ("frames_per_clip",) else 0):
            raise ValueError(f"{name} must be a non-negative int (frames_per_clip >= 1), got {value!r}")
    valid_backgrounds = max(2, backgrounds // 4) if valid_backgrounds is None else valid_backgrounds
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"output '{out}' exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise FileExistsError(f"output folder '{out}' is not empty; pass overwrite=True (--overwrite) to replace "
                              "its generated dataset")
    layout = dataset_layout()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.partial-", dir=os.path.dirname(out))
    try:
        valid_clips = -(-valid // frames_per_clip) if valid else 0
        plan = [("videomatte/train", train_clips, frames_per_clip), ("videomatte/valid", valid_clips, frames_per_clip),
                ("photomatte/train", photo_train, 1), ("photomatte/valid", valid, 1), ("photomatte85", test, 1),
                ("backgrounds/train", backgrounds, 1), ("backgrounds/valid", valid_backgrounds, 1)]
        tasks = [(tmp, kind, i, (h, w), seed, frames) for kind, n, frames in plan for i in range(n)]
        # Empty splits still get their folders so that every path in datasets.yaml exists.
        for kind, _, _ in plan:
            for sub in (("fgr", "pha") if not kind.startswith("backgrounds") else ("",)):
                os.makedirs(os.path.join(tmp, kind, sub), exist_ok=True)
        os.makedirs(os.path.join(tmp, "photomatte85", "trimap"), exist_ok=True)
        written = dict.fromkeys(_KINDS, 0)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=sum(n * f for _, n, f in plan), unit="img", desc="synthetic")
        if workers > 1:
            with concurrent.futures.ProcessPoolExecutor(workers) as pool:
                results = pool.map(_write_item, tasks, chunksize=4)
                for task, n in zip(tasks, results):
                    written[task[1]] += n
                    bar and bar.update(n)
        else:
            for task in tasks:
                n = _write_item(task)
                written[task[1]] += n
                bar and bar.update(n)
        if bar:
            bar.close()
        with open(os.path.join(tmp, "datasets.yaml"), "w", encoding="utf-8") as f:
            f.write(f"# Synthetic matting data: tools/make_synthetic_dataset.py, seed {seed}, {w}x{h}.\n"
                    "# Relative paths resolve against this file's folder.\n")
            yaml.safe_dump(layout, f, sort_keys=False)
        # Move into place: replace only what this generator owns.
        os.makedirs(out, exist_ok=True)
        for name in ("videomatte", "photomatte", "photomatte85", "backgrounds", "datasets.yaml"):
            target = os.path.join(out, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
            os.replace(os.path.join(tmp, name), target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
