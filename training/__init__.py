"""Training MattingBase and MattingRefine: what train_base.py and train_refine.py share.

* ``config``:     YAML + command-line configuration, validated before training starts;
* ``data``:       datasets with the reference augmentation, seeded distributed sampler, random crop;
* ``losses``:     the reference's base and refine losses;
* ``optim``:      Adam with per-module learning rates;
* ``checkpoint``: atomic checkpoints, resume, keep-last-N, best/final weights;
* ``validation``: loss and official SAD/MSE on a fixed validation subset;
* ``logger``:     VisualDL scalars and image grids;
* ``trainer``:    the loop (AMP on GPU, DataParallel across processes, NaN guard, Ctrl-C);
* ``cli``:        the scripts' shared ``main``.
"""
from .config import ConfigError, load_config
from .trainer import NonFiniteLossError, Trainer, TrainingInterrupted

__all__ = ["ConfigError", "load_config", "Trainer", "NonFiniteLossError", "TrainingInterrupted"]
