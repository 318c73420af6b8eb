"""Command-line entry point shared by train_base.py and train_refine.py."""
import sys

from dataset.paths import DatasetKeyError
from ..torch_weights import CheckpointError
from .config import ConfigError, build_parser, config_from_args
from .trainer import NonFiniteLossError, Trainer, TrainingInterrupted

__all__ = ["main"]


def main(kind, description, argv=None):
    """Parse ``argv``, validate the config, train. Errors become a one-line message and exit status:
    1 for bad configuration/data/checkpoints or a non-finite loss, 130 after Ctrl-C (state saved)."""
    parser = build_parser(kind, description)
    args = parser.parse_args(argv)
    script = "train_base.py" if kind == "base" else "train_refine.py"
    try:
        cfg = config_from_args(kind, args)
        trainer = Trainer(kind, cfg, resume=args.resume, overwrite=args.overwrite)
        return trainer.run()
    except (ConfigError, CheckpointError, DatasetKeyError, FileNotFoundError, NonFiniteLossError) as e:
        print(f"{script}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except TrainingInterrupted as e:
        print(f"{script}: {e}", file=sys.stderr)
        raise SystemExit(130) from None
