"""Convert an official BGMv2 PyTorch checkpoint (.pth) into a Paddle .pdparams file.

    python -m tools.convert_torch_weights --input pytorch_resnet50.pth --output resnet50.pdparams

Torch is not needed: the .pth (zip or legacy format) is read directly (tensors only; anything else is
rejected, not run; tensors are checked against their storages).
The result loads with ``net.set_state_dict(load_paddle_file(output))`` into MattingRefine (or MattingBase
for a base-only checkpoint) of the detected backbone.
"""
import argparse
import os
import sys

from common.atomic import check_writable
from common.errors import run_main
from model.torch_weights import convert_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="official .pth state_dict (MattingRefine or MattingBase)")
    parser.add_argument("--output", required=True, help="where to write the .pdparams file")
    parser.add_argument("--backbone", choices=["resnet50", "resnet101", "mobilenetv2"],
                        help="expected backbone (default: detected from the keys)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    if os.path.exists(args.output) and not args.overwrite:
        parser.error(f"--output {args.output} exists; pass --overwrite to replace it")

    def convert(_):
        check_writable(args.output, "--output")
        info = convert_checkpoint(args.input, args.output, args.backbone)
        kernel = f", refine_kernel_size={info['refine_kernel_size']}" if info["refine_kernel_size"] else ""
        print(f"wrote {args.output}: {info['model_type']} weights, backbone {info['backbone']!r}{kernel}")

    return run_main("convert_torch_weights", convert)


if __name__ == "__main__":
    sys.exit(main())
