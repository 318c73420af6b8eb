"""Data layer: image/video/zip/sample datasets, seeded augmentation, dataset paths.

    from dataset import ImagesDataset, VideoDataset, ZipDataset, SampleDataset
    from dataset import augmentation as A           # per-sample transforms (numpy, seeded)
    from dataset import perturbation                # batch perturbations (paddle, on device)
    from dataset.io import read_image, read_alpha, write_image, write_alpha
    from dataset.paths import load_dataset_paths, dataset_root
    from dataset.testset import open_test_set        # PhotoMatte85 as released (RGBA folder/zip, pha/fgr)
    from dataset.backgrounds import open_backgrounds # background folder or zip
    from dataset.releases import training_pairs, pairs_from_config  # VideoMatte240K, Distinctions-646
    from dataset.checker import check_dataset        # python -m tools.check_dataset PATH

Importing this package turns OpenCV's own thread pool off (``cv2.setNumThreads(0)``):
the pool does not survive ``fork()``, and paddle DataLoader workers forked after the
main process had used it were seen to hang (paddle 3.3.1, opencv 5.0). Parallelism in
data loading comes from DataLoader workers instead.
"""
import cv2

cv2.setNumThreads(0)

from .base import SeededDataset  # noqa: E402
from .images import ImagesDataset  # noqa: E402
from .sample import SampleDataset  # noqa: E402
from .video import VideoDataset  # noqa: E402
from .zip import ZipDataset  # noqa: E402

__all__ = ["SeededDataset", "ImagesDataset", "VideoDataset", "ZipDataset", "SampleDataset"]
