"""Remove the background of a photo, a folder of photos or a video, given a shot of the same scene without the subject.

    python predict.py --model-path M.pdparams --src photo.jpg --bgr empty.jpg --output-dir out

``python predict.py --help`` lists every option; the command lives in ``inference.predict_cli``.
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle

import sys

from inference.predict_cli import main

if __name__ == "__main__":
    sys.exit(main())
