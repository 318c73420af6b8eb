"""Check a dataset release before a run: layout, counts, and every problem in one summary.

    python -m tools.check_dataset PATH [--kind auto|photomatte85|videomatte240k|distinctions646|backgrounds]

PATH is a folder or a zip as downloaded. Exit status: 0 when the data would load (warnings
may be printed), 2 when something would break the run (see ``dataset.checker`` for which
problem is which).
"""
import argparse

from dataset.checker import check_dataset
from dataset.layouts import KINDS


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.check_dataset", description=__doc__.splitlines()[0],
                                epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="dataset folder or zip archive")
    p.add_argument("--kind", default="auto", choices=("auto",) + KINDS,
                   help="which release to expect (default: recognise it)")
    p.add_argument("--examples", type=int, default=5, help="files listed per problem (default 5)")
    args = p.parse_args(argv)
    report = check_dataset(args.path, args.kind)
    print(report.format(examples=args.examples))
    return report.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
