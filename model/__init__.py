"""PaddlePaddle implementation of BackgroundMattingV2 (Lin et al., CVPR 2021)."""
from .matting import BACKBONES, MattingBase, MattingRefine
from .refiner import REFINE_MODES, Refiner

__all__ = ["BACKBONES", "REFINE_MODES", "MattingBase", "MattingRefine", "Refiner"]
from .loading import MODEL_TYPES, build_model, checkpoint_info, load_checkpoint, read_state_dict  # noqa: E402
from .torch_weights import CheckpointError  # noqa: E402

__all__ += ["MODEL_TYPES", "build_model", "checkpoint_info", "load_checkpoint", "read_state_dict", "CheckpointError"]
