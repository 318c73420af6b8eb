"""PaddlePaddle implementation of BackgroundMattingV2 (Lin et al., CVPR 2021)."""
from . import cpu  # first: it reads $OMP_NUM_THREADS before Paddle's import overwrites it, and sets MKL's code path
from .inference import ModelOptions, load_engine
from .loading import MODEL_TYPES, build_model, checkpoint_info, load_checkpoint, read_state_dict
from .matting import BACKBONES, MattingBase, MattingRefine
from .predictor import convert, predict_images
from .refiner import REFINE_MODES, Refiner
from .torch_weights import CheckpointError

__all__ = ["BACKBONES", "MODEL_TYPES", "REFINE_MODES", "MattingBase", "MattingRefine", "Refiner", "ModelOptions",
           "build_model", "checkpoint_info", "load_checkpoint", "read_state_dict", "load_engine", "predict_images",
           "convert", "CheckpointError"]
