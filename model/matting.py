"""BGMv2 networks: the base encoder-decoder and the base + refiner model."""
import math

import paddle
import paddle.nn as nn

from .aspp import ASPP
from .decoder import Decoder
from .mobilenet import MobileNetV2Encoder
from .options import ModelOptions
from .refiner import Refiner
from .resnet import ResNetEncoder
from .utils import resize_bilinear, spatial_size

__all__ = ["BACKBONES", "Base", "MattingBase", "MattingRefine"]

BACKBONES = ("resnet50", "resnet101", "mobilenetv2")


def check_inputs(src, bgr, multiple_of=1):
    """Validate a (src, bgr) pair before it reaches a convolution; raises ValueError naming the problem."""
    if not paddle.in_dynamic_mode():
        return  # shapes are symbolic while tracing an export
    for name, t in (("src", src), ("bgr", bgr)):
        if not isinstance(t, paddle.Tensor):
            raise TypeError(f"{name} must be a paddle.Tensor, got {type(t).__name__}")
        if t.ndim != 4 or t.shape[1] != 3:
            raise ValueError(f"{name} must have shape (B, 3, H, W), got {list(t.shape)}")
        if t.dtype not in (paddle.float32, paddle.float16, paddle.bfloat16, paddle.float64):
            raise ValueError(f"{name} must be a floating point tensor with values in [0, 1], got {t.dtype}")
    if src.shape != bgr.shape:
        raise ValueError(f"src and bgr must have the same shape, got {list(src.shape)} and {list(bgr.shape)}")
    H, W = src.shape[2:]
    if H % multiple_of or W % multiple_of:
        raise ValueError(f"src and bgr height and width must be divisible by {multiple_of}, got {H}x{W}")


class Base(nn.Layer):
    """Encoder (ResNet-50/101 or MobileNetV2), ASPP and decoder with arbitrary in/out channels.

    Input:  x: (B, in_channels, H, W).
    Output: (B, out_channels, H, W).
    """

    def __init__(self, backbone, in_channels, out_channels):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        self.backbone_name = backbone
        if backbone in ("resnet50", "resnet101"):
            self.backbone = ResNetEncoder(in_channels, variant=backbone)
            self.aspp = ASPP(2048, (3, 6, 9))
            self.decoder = Decoder([256, 128, 64, 48, out_channels], [512, 256, 64, in_channels])
        else:
            self.backbone = MobileNetV2Encoder(in_channels)
            self.aspp = ASPP(320, (3, 6, 9))
            self.decoder = Decoder([256, 128, 64, 48, out_channels], [32, 24, 16, in_channels])

    def forward(self, x):
        x, *shortcuts = self.backbone(x)
        return self.decoder(self.aspp(x), *shortcuts)


class MattingBase(Base):
    """Coarse matting network, run at the input's resolution.

    Args:
        backbone: "resnet50", "resnet101" or "mobilenetv2".

    Input:
        src: (B, 3, H, W) source image, RGB in [0, 1].
        bgr: (B, 3, H, W) background image, RGB in [0, 1].
    Output:
        pha: (B, 1, H, W) alpha in [0, 1].
        fgr: (B, 3, H, W) foreground, RGB in [0, 1].
        err: (B, 1, H, W) predicted error of pha in [0, 1].
        hid: (B, 32, H, W) hidden features (>= 0) for the refiner.

    Example:
        pha, fgr, err, hid = MattingBase("resnet50")(src, bgr)
    """

    def __init__(self, backbone):
        super().__init__(backbone, in_channels=6, out_channels=1 + 3 + 1 + 32)

    def forward(self, src, bgr):
        check_inputs(src, bgr)
        x = super().forward(paddle.concat([src, bgr], axis=1))
        pha = paddle.clip(x[:, 0:1], 0.0, 1.0)
        fgr = paddle.clip(x[:, 1:4] + src, 0.0, 1.0)
        err = paddle.clip(x[:, 4:5], 0.0, 1.0)
        hid = nn.functional.relu(x[:, 5:])
        return pha, fgr, err, hid


class MattingRefine(MattingBase):
    """Base network at reduced resolution plus the patch refiner at full resolution.

    Args:
        backbone: "resnet50", "resnet101" or "mobilenetv2".
        backbone_scale: downsampling of the input for the base network, in (0, 1/2].
        refine_mode: "full", "sampling" or "thresholding" (see ``Refiner``).
        refine_sample_pixels: pixels refined in "sampling" mode.
        refine_threshold: error threshold of "thresholding" mode.
        refine_kernel_size: 1 or 3.
        refine_prevent_oversampling: skip zero-error locations in "sampling" mode.

    Input:
        src: (B, 3, H, W) source image, RGB in [0, 1]; H and W divisible by 4.
        bgr: (B, 3, H, W) background image, RGB in [0, 1].
    Output (Hc = floor(H * backbone_scale), Wc likewise):
        pha: (B, 1, H, W) alpha in [0, 1].
        fgr: (B, 3, H, W) foreground, RGB in [0, 1].
        pha_sm: (B, 1, Hc, Wc) coarse alpha in [0, 1].
        fgr_sm: (B, 3, Hc, Wc) coarse foreground in [0, 1].
        err_sm: (B, 1, Hc, Wc) coarse error in [0, 1].
        ref_sm: (B, 1, H/4, W/4) 1 where a 4x4 patch was refined, else 0.

    Example:
        model = MattingRefine("resnet50", backbone_scale=1/4, refine_mode="sampling", refine_sample_pixels=80_000)
        pha, fgr = model(src, bgr)[:2]
    """

    def __init__(self, backbone, backbone_scale=ModelOptions.backbone_scale, refine_mode=ModelOptions.refine_mode,
                 refine_sample_pixels=ModelOptions.refine_sample_pixels, refine_threshold=ModelOptions.refine_threshold,
                 refine_kernel_size=ModelOptions.refine_kernel_size,
                 refine_prevent_oversampling=ModelOptions.refine_prevent_oversampling):
        if not 0 < backbone_scale <= 1 / 2:
            raise ValueError(f"backbone_scale must be in (0, 1/2], got {backbone_scale!r}")
        super().__init__(backbone)
        self.backbone_scale = backbone_scale
        self.refiner = Refiner(refine_mode, refine_sample_pixels, refine_threshold,
                               refine_kernel_size, refine_prevent_oversampling, backbone_scale)

    def coarse_size(self, H, W):
        """Base-network input size: floor(H * backbone_scale) x floor(W * backbone_scale)."""
        if isinstance(H, int):
            return math.floor(H * self.backbone_scale), math.floor(W * self.backbone_scale)
        return tuple(paddle.floor(s.astype("float64") * self.backbone_scale).astype("int32") for s in (H, W))

    def forward(self, src, bgr):
        check_inputs(src, bgr, multiple_of=4)
        size = self.coarse_size(*spatial_size(src))
        src_sm = resize_bilinear(src, size, downscale=True)
        bgr_sm = resize_bilinear(bgr, size, downscale=True)
        x = Base.forward(self, paddle.concat([src_sm, bgr_sm], axis=1))
        pha_sm = paddle.clip(x[:, 0:1], 0.0, 1.0)
        fgr_sm = x[:, 1:4]
        err_sm = paddle.clip(x[:, 4:5], 0.0, 1.0)
        hid_sm = nn.functional.relu(x[:, 5:])
        pha, fgr, ref_sm = self.refiner(src, bgr, pha_sm, fgr_sm, err_sm, hid_sm)
        pha = paddle.clip(pha, 0.0, 1.0)
        fgr = paddle.clip(fgr + src, 0.0, 1.0)
        fgr_sm = paddle.clip(src_sm + fgr_sm, 0.0, 1.0)
        return pha, fgr, pha_sm, fgr_sm, err_sm, ref_sm
