"""Data layer: image/video/zip/sample datasets, seeded augmentation, dataset paths.

    from dataset import ImagesDataset, VideoDataset, ZipDataset, SampleDataset
    from dataset import augmentation as A
    from dataset.io import read_image, read_alpha, write_image, write_alpha
    from dataset.paths import load_dataset_paths, dataset_root
    from dataset import perturbation   # batch-level training perturbations (paddle)
"""
from .base import SeededDataset
from .images import ImagesDataset
from .sample import SampleDataset
from .video import VideoDataset
from .zip import ZipDataset

__all__ = ["SeededDataset", "ImagesDataset", "VideoDataset", "ZipDataset", "SampleDataset"]
