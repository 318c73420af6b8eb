"""PaddlePaddle implementation of BackgroundMattingV2 (Lin et al., CVPR 2021)."""
from .matting import BACKBONES, MattingBase, MattingRefine
from .refiner import REFINE_MODES, Refiner

__all__ = ["BACKBONES", "REFINE_MODES", "MattingBase", "MattingRefine", "Refiner"]
