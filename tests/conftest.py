"""Shared pytest setup: import the project from the repository root, keep runs small and seeded."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Two cores on CI: keep every framework on them without oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A seeded random-weight MattingRefine (MobileNetV2) checkpoint: plumbing tests need no trained model."""
    import paddle

    from model import MattingRefine

    path = tmp_path_factory.mktemp("ckpt") / "refine.pdparams"
    paddle.seed(0)
    paddle.save(MattingRefine("mobilenetv2").state_dict(), str(path))
    return str(path)
