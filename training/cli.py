"""Command-line entry point shared by train_base.py and train_refine.py."""
import sys

from common.errors import run_main
from .config import build_parser, config_from_args
from .trainer import Trainer

__all__ = ["main"]


def main(model_type, description, argv=None):
    """Parse ``argv``, validate the config, train; exits with ``common.errors``' codes: 2 for bad
    configuration, data or checkpoints, 1 for a non-finite loss, 130 after Ctrl-C (state saved)."""
    parser = build_parser(model_type, description)
    args = parser.parse_args(argv)

    def train(_):
        cfg = config_from_args(model_type, args)
        Trainer(model_type, cfg, resume=args.resume, overwrite=args.overwrite).run()

    script = "train_base.py" if model_type == "mattingbase" else "train_refine.py"
    sys.exit(run_main(script, train))
