"""The BGMv2 networks and their weights (PaddlePaddle port of Lin et al., CVPR 2021).

Networks: ``MattingBase``, ``MattingRefine`` (``matting.py``) built from ``resnet.py``,
``mobilenet.py``, ``aspp.py``, ``decoder.py`` and ``refiner.py``. Options and defaults:
``options.py``. Weights: ``loading.py`` (checkpoints of every format), ``torch_weights.py`` (the
authors' ``.pth`` files, read without torch). Running a model lives in ``inference``, training in
``training``, metrics in ``evaluation``.
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS and sets MKL's code path before Paddle loads
from .loading import checkpoint_info, load_checkpoint, load_model, read_state_dict, state_info
from .matting import BACKBONES, MattingBase, MattingRefine
from .init import init_weights
from .options import MODEL_TYPES, ModelOptions, build_model
from .pretrained import load_pretrained
from .refiner import REFINE_MODES, Refiner
from .torch_weights import CheckpointError

__all__ = ["BACKBONES", "MODEL_TYPES", "REFINE_MODES", "MattingBase", "MattingRefine", "Refiner", "ModelOptions",
           "build_model", "checkpoint_info", "load_checkpoint", "load_model", "read_state_dict", "state_info", "CheckpointError",
           "load_pretrained", "init_weights"]
