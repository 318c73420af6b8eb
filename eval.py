"""Score BGMv2 on PhotoMatte85 with the official matting metrics (SAD, MSE, Grad, Conn, fgr MSE).

    python eval.py --model-path M.pdparams --data-path PhotoMatte85 --bgr-path backgrounds/valid

``python eval.py --help`` lists every option and the protocols; the command lives in ``evaluation.cli``.
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle

import sys

from evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
