"""``python -m tools.app``: a local web page to try the model (photo + plate, or the webcam).

    pip install -r requirements-app.txt
    python -m tools.app --model-path M.pdparams            # then open http://127.0.0.1:7860
"""
import argparse
import sys

from common.errors import run_main
from inference.cli import add_engine_arguments, add_model_arguments, add_weights_arguments, make_engine, parse_args


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tools.app", description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_weights_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    add_model_arguments(p.add_argument_group("model (with --model-path)"))
    add_engine_arguments(p.add_argument_group("runtime"))
    return p


def serve(args):
    try:
        from inference.webapp import build_app
    except ImportError as e:
        raise ValueError(f"the app needs Gradio ({e}): pip install -r requirements-app.txt") from None
    make_engine(args)  # a bad checkpoint or option fails here, before the page is served
    demo = build_app(lambda size: make_engine(args, size))
    print(f"serving on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    demo.launch(server_name=args.host, server_port=args.port, show_error=True)


def main(argv=None):
    args = parse_args(build_parser(), argv)
    return run_main("tools.app", lambda _: serve(args))


if __name__ == "__main__":
    sys.exit(main())
