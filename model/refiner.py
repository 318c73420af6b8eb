"""BGMv2 refiner: re-computes selected 4x4 patches at full resolution.

The math is the reference's (bilinear upsampling of the coarse maps to half resolution, 8x8
crops around each selected 4x4 location with zero padding, two stages of valid 3x3 convs,
patch replacement in the bilinearly upsampled coarse output). Outside ``full`` mode the
refiner's inputs are evaluated only at the selected patches: the half-resolution upsampling is
done by gathering the four bilinear neighbours of each patch pixel from the coarse maps, and
the source/background crops are gathered from the unpadded full-resolution images with
out-of-image pixels masked to zero. The work is proportional to the refined pixels plus one
upsampling of the coarse output to full resolution.

Large elementwise products and sums expand their small operands explicitly (``paddle.expand``):
Paddle's CPU elementwise kernels are about 5x slower when they broadcast than on equal shapes.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .batchnorm import BatchNorm2D
from .utils import resize_bilinear, spatial_size

__all__ = ["Refiner", "REFINE_MODES"]

REFINE_MODES = ("full", "sampling", "thresholding")


def _minimum(a, b):
    """min() of two sizes that are Python ints in dygraph and may be int tensors when tracing."""
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return paddle.minimum(paddle.to_tensor(a, dtype="int64"), paddle.to_tensor(b, dtype="int64").astype("int64"))


def _clamp(index, last):
    """Clamp int64 indices to [0, last]; ``last`` is an int or an int tensor."""
    if isinstance(last, int):
        return paddle.clip(index, 0, last)
    return paddle.minimum(paddle.maximum(index, paddle.zeros_like(index)), last.astype(index.dtype))


def _expand(x, shape):
    """``x`` expanded to ``shape``, whose -1 entries keep x's size. Exported programs get the sizes
    as tensors: ONNX's Expand has no -1."""
    if not paddle.in_dynamic_mode() and -1 in shape:
        sizes = paddle.shape(x)
        shape = [sizes[i] if n == -1 else n for i, n in enumerate(shape)]
    return paddle.expand(x, shape)


def _tap_weights(pos, out_size, in_size, k, dtype):
    """Interpolation matrix of a half-pixel bilinear resize from ``in_size`` to ``out_size`` along one
    axis, restricted to output positions ``pos`` (P, S) and to k input taps per row of ``pos``,
    computed in ``dtype`` ("float32" or "float64").

    Returns weights (P, S, k) and first (P,), the input index of tap 0: output ``pos[p, s]`` equals
    sum_j weights[p, s, j] * input[first[p] + j], and 0 where ``pos`` lies outside [0, out_size).
    """
    inside = paddle.logical_and(pos >= 0, pos < out_size)
    pos = _clamp(pos, out_size - 1)
    scale = in_size / out_size if isinstance(in_size, int) else \
        in_size.astype(dtype) / out_size.astype(dtype)
    src = paddle.clip((pos.astype(dtype) + 0.5) * scale - 0.5, min=0.0)
    i0 = _clamp(paddle.floor(src).astype("int64"), in_size - 1)
    i1 = _clamp(i0 + 1, in_size - 1)
    w1 = (src - i0.astype(dtype)) * inside.astype(dtype)
    w0 = inside.astype(dtype) - w1
    first = i0[:, 0]
    local = first.unsqueeze(1)
    shape = [-1, pos.shape[1], k]
    weights = (_one_hot(paddle.clip(i0 - local, 0, k - 1), k, dtype) * _expand(w0.unsqueeze(2), shape)
               + _one_hot(paddle.clip(i1 - local, 0, k - 1), k, dtype) * _expand(w1.unsqueeze(2), shape))
    return weights, first


def _one_hot(index, k, dtype):
    """(..., k) rows of ``dtype`` with a 1 at ``index`` (int64 in [0, k)). A comparison, not F.one_hot:
    ONNX Runtime's CUDA provider runs the OneHot that F.one_hot exports to on the CPU (measured on
    an H100), a copy to the host and back that stalls the GPU every frame."""
    return (index.unsqueeze(-1) == paddle.arange(k, dtype=index.dtype)).astype(dtype)


def _window_taps(size, pad, backbone_scale):
    """How many coarse rows (or columns) the half-resolution upsampling of a window of ``size``
    pixels starting at 2y - pad reads: the coarse/half-res ratio is at most 2 * backbone_scale, so
    at most floor((size - 1) * ratio) + 2 taps, plus one for the window's unknown phase. At scales
    1/2 and 1/4 the ratio is exactly 1 or 1/2 (H and W are divisible by 4), every window starts at
    the same phase, and that extra tap is not needed (5 instead of 6 at the default 1/4).
    """
    ratio = 2 * backbone_scale
    if ratio in (1.0, 0.5):
        first = (0.5 - pad) * ratio - 0.5  # the first pixel's coarse position, up to an integer
        return int(math.floor(first - math.floor(first) + (size - 1) * ratio)) + 2
    return int(math.floor((size - 1) * ratio)) + 3


def _upsampled_conv_weight(weight):
    """A valid k x k convolution of the nearest 2x upsampling of a map, as a convolution of the map
    itself followed by ``pixel_shuffle(., 2)``: output row 2m + p reads upsampled rows 2m + p + t
    (t < k), i.e. source rows m + (p + t) // 2, so each output phase (p, q) is a valid n x n
    convolution with n = k // 2 + 1 whose taps sum the kernel taps that read the same source pixel.

    weight: (O, C, k, k). Returns (4 * O, C, n, n), output channels in pixel_shuffle order (o, p, q).
    """
    out_channels, channels, k = weight.shape[:3]
    n = k // 2 + 1
    taps = np.zeros((2, n, k), np.float32)  # taps[p, a, t] = 1 where kernel tap t reads source tap a
    for p in range(2):
        for t in range(k):
            taps[p, (p + t) // 2, t] = 1
    taps = paddle.to_tensor(taps.reshape(2 * n, k), dtype=weight.dtype)
    phases = paddle.matmul(paddle.matmul(taps, weight.reshape([-1, k, k])), taps, transpose_y=True)
    phases = phases.reshape([out_channels, channels, 2, n, 2, n]).transpose([0, 2, 4, 1, 3, 5])
    return phases.reshape([4 * out_channels, channels, n, n])


def _crop_windows(images, b, rows, aligned_start, inner, width):
    """Crop a window per patch from unpadded images (not masked: see ``_window_mask``).

    images: list of (B, 3, H, W) with H, W divisible by 4; b: (P,) batch index; rows: (P, R) image
    rows; the window's columns start at aligned_start + inner, with aligned_start: (P,) a multiple
    of 4 and inner a Python int. Returns one (P, 3, R, width) per image; pixels outside the image
    hold arbitrary image values.

    An image is read as rows of 4 contiguous floats: a window row covers whole 4-float blocks
    from its aligned start, so one gather of blocks and a constant slice replace a per-pixel gather.
    """
    H, W = spatial_size(images[0])
    R = rows.shape[1]
    n_blocks = (inner + width + 3) // 4
    plane = b.unsqueeze(1) * 3 + paddle.arange(3, dtype="int64")                        # (P, 3)
    first = (_expand(plane.unsqueeze(2) * H, [-1, 3, R])
             + _expand(_clamp(rows, H - 1).unsqueeze(1), [-1, 3, R])) * (W // 4)
    first = first + _expand((aligned_start // 4).reshape([-1, 1, 1]), [-1, 3, R])  # (P, 3, R)
    # (P, n_blocks) block offsets, built small by broadcasting and then expanded
    offsets = paddle.zeros_like(aligned_start).unsqueeze(1) + paddle.arange(n_blocks, dtype="int64")
    index = (_expand(first.unsqueeze(3), [-1, 3, R, n_blocks])
             + _expand(offsets.reshape([-1, 1, 1, n_blocks]), [-1, 3, R, n_blocks]))
    blocks = [paddle.reshape(image, [-1, 4]) for image in images]
    last = blocks[0].shape[0] - 1 if paddle.in_dynamic_mode() else paddle.shape(blocks[0])[0] - 1
    index = _clamp(index, last).flatten()
    return [paddle.reshape(paddle.gather(table, index), [-1, 3, R, 4 * n_blocks])[:, :, :, inner:inner + width]
            for table in blocks]


def _window_mask(rows, cols, H, W, step=1, start=0, stop=None):
    """(P, 1, n, n) bool mask, True where window pixel (rows[start:stop:step], cols[...]) is in the image.

    rows, cols: (P, R) image coordinates of a window's rows and columns."""
    rows, cols = rows[:, start:stop:step], cols[:, start:stop:step]
    n = rows.shape[1]
    rows_in = paddle.logical_and(rows >= 0, rows < H)
    cols_in = paddle.logical_and(cols >= 0, cols < W)
    return paddle.logical_and(_expand(rows_in.unsqueeze(2), [-1, n, n]),
                              _expand(cols_in.unsqueeze(1), [-1, n, n])).unsqueeze(1)


class Refiner(nn.Layer):
    """Refines the coarse output to full resolution.

    Args:
        mode: "full" (refine everywhere with dense convs), "sampling" (refine a fixed number of
            pixels with the highest predicted error) or "thresholding" (refine where err > threshold).
        sample_pixels: pixels to refine in "sampling" mode (rounded down to whole 4x4 patches and
            capped at the number of patch locations).
        threshold: error threshold in [0, 1] for "thresholding" mode.
        kernel_size: 1 or 3, the kernel size of the refiner's convolutions.
        prevent_oversampling: in "sampling" mode skip locations whose error is 0.
        backbone_scale: upper bound of coarse size / full size (bounds the coarse taps a patch reads).

    Input:
        src, bgr: (B, 3, H, W) full-resolution source and background in [0, 1]; H, W divisible by 4.
        pha: (B, 1, Hc, Wc) coarse alpha in [0, 1].
        fgr: (B, 3, Hc, Wc) coarse foreground residual.
        err: (B, 1, Hc, Wc) coarse error in [0, 1].
        hid: (B, 32, Hc, Wc) coarse hidden features.
    Output:
        pha: (B, 1, H, W) full-resolution alpha (not clamped).
        fgr: (B, 3, H, W) full-resolution foreground residual.
        ref: (B, 1, H/4, W/4) 1 where a 4x4 patch was refined, else 0.
    """

    def __init__(self, mode, sample_pixels, threshold, kernel_size=3, prevent_oversampling=True,
                 backbone_scale=0.5):
        super().__init__()
        if mode not in REFINE_MODES:
            raise ValueError(f"refine_mode must be one of {REFINE_MODES}, got {mode!r}")
        if kernel_size not in (1, 3):
            raise ValueError(f"refine_kernel_size must be 1 or 3, got {kernel_size!r}")
        if mode == "sampling" and (not isinstance(sample_pixels, int) or sample_pixels < 16):
            raise ValueError(f"refine_sample_pixels must be an int >= 16 (one 4x4 patch), got {sample_pixels!r}")
        if mode == "thresholding" and not 0 <= threshold <= 1:
            raise ValueError(f"refine_threshold must be in [0, 1], got {threshold!r}")
        self.mode = mode
        self.sample_pixels = sample_pixels
        self.threshold = threshold
        self.kernel_size = kernel_size
        self.prevent_oversampling = prevent_oversampling
        self.backbone_scale = backbone_scale
        # Context around each patch: 3 half-res / 2 full-res pixels for the two valid 3x3 convs.
        self.pad_half = 3 if kernel_size == 3 else 0
        self.pad_full = 2 if kernel_size == 3 else 0

        channels = [32, 24, 16, 12, 4]
        self.conv1 = nn.Conv2D(channels[0] + 6 + 4, channels[1], kernel_size, bias_attr=False)
        self.bn1 = BatchNorm2D(channels[1])
        self.conv2 = nn.Conv2D(channels[1], channels[2], kernel_size, bias_attr=False)
        self.bn2 = BatchNorm2D(channels[2])
        self.conv3 = nn.Conv2D(channels[2] + 6, channels[3], kernel_size, bias_attr=False)
        self.bn3 = BatchNorm2D(channels[3])
        self.conv4 = nn.Conv2D(channels[3], channels[4], kernel_size)
        self.relu = nn.ReLU()

    def forward(self, src, bgr, pha, fgr, err, hid):
        if self.mode == "full":
            return self._refine_full(src, bgr, pha, fgr, hid)
        H, W = spatial_size(src)
        ref, b, y, x, keep = self.select_refinement_regions(err, H // 4, W // 4)
        if self.training:
            return self._refine_for_training(src, bgr, pha, fgr, hid, ref, b, y, x, keep)
        return self._refine_selected(src, bgr, pha, fgr, hid, ref, b, y, x, keep)

    def _refine_selected(self, src, bgr, pha, fgr, hid, ref, b, y, x, keep):
        """Refine the patches at b, y, x (P,) and paste those whose ``keep`` is True."""
        H, W = spatial_size(src)
        stage1, crops = self._crop_inputs(src, bgr, paddle.concat([hid, pha, fgr], axis=1), b, y, x)
        patches = self._refine_patches(stage1, crops)
        pha = self._paste(resize_bilinear(pha, (H, W), sides_above_one=True), patches[:, :1], b, y, x, keep)
        fgr = self._paste(resize_bilinear(fgr, (H, W), sides_above_one=True), patches[:, 1:], b, y, x, keep)
        return pha, fgr, ref

    def _refine_for_training(self, src, bgr, pha, fgr, hid, ref, b, y, x, keep):
        """Refine only the patches that count: BatchNorm's batch statistics (and so every refined
        value and gradient) must come from them alone, as in the reference, not from the padding
        patches that the fixed-count selection carries along."""
        kept = paddle.nonzero(keep).flatten()
        if kept.shape[0] == 0:
            H, W = spatial_size(src)
            return (resize_bilinear(pha, (H, W), sides_above_one=True),
                    resize_bilinear(fgr, (H, W), sides_above_one=True), ref)
        b, y, x = paddle.gather(b, kept), paddle.gather(y, kept), paddle.gather(x, kept)
        return self._refine_selected(src, bgr, pha, fgr, hid, ref, b, y, x, paddle.ones_like(b, dtype="bool"))

    def select_refinement_regions(self, err, hq, wq):
        """Choose the 4x4 locations to refine.

        err: (B, 1, Hc, Wc) coarse error; hq, wq: the quarter-resolution size.
        Returns ref (B, 1, hq, wq) in {0, 1}, the patch coordinates b, y, x: (P,) int64, and
        keep: (P,) bool mask of the patches that count (sampling mode keeps a fixed patch count,
        P = B * k, so that exported programs have static shapes; outside training, thresholding
        mode adds one patch so that P > 0).
        """
        err = resize_bilinear(err.detach(), (hq, wq))  # the selection is not differentiable
        if self.mode == "thresholding":
            ref = (err > self.threshold).astype(err.dtype)
            idx = paddle.nonzero(ref[:, 0])
            keep = paddle.ones_like(idx[:, 0], dtype="bool")
            if not self.training:
                # One extra patch at image 0's highest error keeps the patch batch non-empty (Paddle's
                # oneDNN convolutions fail on empty batches). It counts only if that location is
                # selected anyway, in which case both copies compute the same values.
                first = paddle.flatten(err[0:1], 1)
                top = paddle.argmax(first, axis=1)
                extra = paddle.stack([paddle.zeros_like(top), top // wq, top % wq], axis=1)
                idx = paddle.concat([idx, extra.astype(idx.dtype)], axis=0)
                keep = paddle.concat([keep, paddle.max(first, axis=1) > self.threshold])
            return ref, idx[:, 0], idx[:, 1], idx[:, 2], keep
        batch = err.shape[0]
        flat = paddle.flatten(err, 1)
        k = _minimum(self.sample_pixels // 16, hq * wq)
        value, loc = paddle.topk(flat, k, axis=1, sorted=False)
        keep = value > 0 if self.prevent_oversampling else paddle.ones_like(value, dtype="bool")
        ref = paddle.put_along_axis(paddle.zeros_like(flat), loc, keep.astype(flat.dtype), axis=1)
        ref = paddle.reshape(ref, [-1, 1, hq, wq])
        # Broadcast by addition: exporters handle it better than expand_as with a dynamic batch.
        b = paddle.zeros_like(loc) + paddle.arange(batch if batch > 0 else paddle.shape(flat)[0],
                                                   dtype="int64").unsqueeze(1)
        loc = paddle.flatten(loc)
        return ref, paddle.flatten(b), loc // wq, loc % wq, paddle.flatten(keep)

    def _crop_inputs(self, src, bgr, coarse, b, y, x):
        """Gather the refiner's inputs at the selected patches.

        coarse: (B, 36, Hc, Wc) concat of hid, pha, fgr residual.
        Returns stage1: (P, 42, s, s) with s = 2 + 2 * pad_half, the half-resolution crop of
        [coarse upsampled, src/bgr downsampled], and crops: (P, 6, 4 + 2 * pad_full, ...), the
        full-resolution src/bgr crops of the second stage.
        """
        H, W = spatial_size(src)
        size = 2 + 2 * self.pad_half
        feat = self._upsample_at_patches(coarse, b, y, x, H // 2, W // 2, size)
        rows = 4 * y.unsqueeze(1) - 2 * self.pad_half + paddle.arange(2 * size, dtype="int64")
        # Columns start at 4x - 2 * pad_half = (4x - 8) + 2 for pad 3, or 4x for pad 0.
        inner = (2 * self.pad_half) % 4
        aligned = 4 * x - 2 * self.pad_half - inner
        src_window, bgr_window = _crop_windows([src, bgr], b, rows, aligned, inner, 2 * size)
        # Out-of-image pixels read as zero (the reference's zero padding). Masking the small pooled
        # and cropped results is exact: image borders fall between 2x2 blocks (H, W and offsets even).
        cols = (aligned + inner).unsqueeze(1) + paddle.arange(2 * size, dtype="int64")
        a, z = 2 * self.pad_half - self.pad_full, 2 * self.pad_half + 4 + self.pad_full
        pooled_mask = _expand(_window_mask(rows, cols, H, W, step=2).astype(src.dtype), [-1, 3, size, size])
        crop_mask = _expand(_window_mask(rows, cols, H, W, start=a, stop=z).astype(src.dtype),
                            [-1, 6, z - a, z - a])
        # Half-pixel bilinear downsampling by exactly 2 is the mean of each 2x2 block.
        stage1 = paddle.concat([feat, F.avg_pool2d(src_window, 2) * pooled_mask,
                                F.avg_pool2d(bgr_window, 2) * pooled_mask], axis=1)
        crops = paddle.concat([src_window[:, :, a:z, a:z], bgr_window[:, :, a:z, a:z]], axis=1) * crop_mask
        return stage1, crops

    def _upsample_at_patches(self, coarse, b, y, x, out_h, out_w, size):
        """Bilinear upsampling of ``coarse`` (B, C, Hc, Wc) to (out_h, out_w), evaluated only on the
        size x size windows at rows 2y - pad_half + i, cols 2x - pad_half + j (zero outside).

        Each window reads a small K x K block of the coarse map; the interpolation is then two
        small matrix products with per-patch row/column weight matrices. Returns (P, C, size, size).
        """
        Hc, Wc = spatial_size(coarse)
        channels = coarse.shape[1]
        k = _window_taps(size, self.pad_half, self.backbone_scale)
        offsets = paddle.arange(size, dtype="int64")
        # float64 weights for a float64 model; otherwise float32, also under AMP (fp16 positions
        # would round: their spacing is 0.5 beyond 1024)
        dtype = "float64" if coarse.dtype == paddle.float64 else "float32"
        weight_r, first_r = _tap_weights(2 * y.unsqueeze(1) - self.pad_half + offsets, out_h, Hc, k, dtype)
        weight_c, first_c = _tap_weights(2 * x.unsqueeze(1) - self.pad_half + offsets, out_w, Wc, k, dtype)
        block = paddle.arange(k, dtype="int64")
        rows = _clamp(first_r.unsqueeze(1) + block, Hc - 1)
        cols = _clamp(first_c.unsqueeze(1) + block, Wc - 1)
        index = (_expand((b.unsqueeze(1) * Hc + rows).unsqueeze(2) * Wc, [-1, k, k])
                 + _expand(cols.unsqueeze(1), [-1, k, k])).flatten()
        table = paddle.reshape(paddle.transpose(coarse, [0, 2, 3, 1]), [-1, channels])
        taps = paddle.reshape(paddle.gather(table, index), [-1, k, k * channels])      # (P, k, k * C)
        # Separable interpolation as two batched products without broadcasting (fast under oneDNN):
        # rows on (P, k, k * C), then columns on (P, C * size, k), which yields NCHW directly.
        taps = paddle.reshape(paddle.matmul(weight_r, taps), [-1, size, k, channels])
        taps = paddle.reshape(paddle.transpose(taps, [0, 3, 1, 2]), [-1, channels * size, k])
        return paddle.reshape(paddle.matmul(taps, weight_c, transpose_y=True), [-1, channels, size, size])

    def _refine_patches(self, stage1, crops):
        """Two conv stages on the patches. stage1: (P, 42, s, s); crops: (P, 6, 4 + 2 * pad_full, ...).
        Returns (P, 4, 4, 4): refined alpha and foreground residual of each 4x4 patch."""
        x = self.relu(self.bn1(self.conv1(stage1)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.relu(self.bn3(self._conv3_upsampled(x, crops)))
        return self.conv4(x)

    def _conv3_upsampled(self, x, skip, skip_padding=0):
        """conv3(concat([nearest 2x upsampling of x, skip zero-padded by skip_padding])) without
        materialising the upsampling (see ``_upsampled_conv_weight``; the reference upsamples and
        concatenates). x: (N, 16, h, w); skip: (N, 6, 2h - 2 * skip_padding, ...).
        Returns (N, 12, 2h - k + 1, 2w - k + 1)."""
        channels = x.shape[1]
        upsampled = F.pixel_shuffle(F.conv2d(x, _upsampled_conv_weight(self.conv3.weight[:, :channels])), 2)
        return upsampled + F.conv2d(skip, self.conv3.weight[:, channels:], padding=skip_padding)

    @staticmethod
    def _paste(image, patches, b, y, x, keep):
        """Write 4x4 patches into an image. image: (B, C, H, W); patches: (P, C, 4, 4).
        Patches whose ``keep`` is False leave the image as it is.

        Each patch row is one aligned block of 4 floats, so rows are gathered and scattered whole."""
        H, W = spatial_size(image)
        channels = image.shape[1]
        plane = b.unsqueeze(1) * channels + paddle.arange(channels, dtype="int64")          # (P, C)
        rows = (4 * y).unsqueeze(1) + paddle.arange(4, dtype="int64")                        # (P, 4)
        shape = [-1, channels, 4]
        index = ((_expand(plane.unsqueeze(2) * H, shape) + _expand(rows.unsqueeze(1), shape)) * (W // 4)
                 + _expand(x.reshape([-1, 1, 1]), shape)).flatten()
        blocks = paddle.reshape(image, [-1, 4])
        updates = paddle.reshape(patches, [-1, 4])
        keep = _expand(keep.reshape([-1, 1, 1, 1]), [-1, channels, 4, 4]).reshape([-1, 4])
        updates = paddle.where(keep, updates, paddle.gather(blocks, index))
        blocks = paddle.scatter(blocks, index, updates, overwrite=True)
        return paddle.reshape(blocks, paddle.shape(image) if not paddle.in_dynamic_mode() else image.shape)

    def _refine_full(self, src, bgr, pha, fgr, hid):
        """Dense refinement of every pixel (the reference's "full" mode)."""
        H, W = spatial_size(src)
        src_bgr = paddle.concat([src, bgr], axis=1)
        x = resize_bilinear(paddle.concat([hid, pha, fgr], axis=1), (H // 2, W // 2), sides_above_one=True)
        y = resize_bilinear(src_bgr, (H // 2, W // 2), sides_above_one=True)  # H, W: multiples of 4
        # The reference zero-pads x and y by 3 and src_bgr by 2 for its valid convs: padded convs
        # compute the same (and paddle2onnx 2.1 exports F.pad with an uninitialised pad value).
        x = F.conv2d(paddle.concat([x, y], axis=1), self.conv1.weight, padding=self.pad_half)
        x = self.relu(self.bn1(x))
        x = self.relu(self.bn2(self.conv2(x)))
        # The reference's nearest upsampling from H/2 + 2 to H + 4 is an exact 2x repeat.
        x = self.relu(self.bn3(self._conv3_upsampled(x, src_bgr, self.pad_full)))
        x = self.conv4(x)
        ref = paddle.ones_like(x[:, :1, ::4, ::4])
        return x[:, :1], x[:, 1:], ref
