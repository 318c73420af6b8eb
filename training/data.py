"""Training/validation datasets, the seeded distributed batch sampler and the per-batch random crop.

Samples are ``((pha, fgr), bgr)`` float32 arrays: pha (1, S, S), fgr and bgr (3, S, S) in [0, 1],
S = ``dataset.size``. Augmentations are the reference ``train_base.py`` / ``train_refine.py`` ones.
"""
import math

import numpy as np
import paddle

from dataset import SampleDataset, ZipDataset
from dataset import augmentation as A
from dataset.paths import load_dataset_paths, dataset_root
from dataset.releases import background_images, pairs_from_config
from model.utils import resize_bilinear

__all__ = ["build_datasets", "SeededBatchSampler", "random_crop", "crop_size"]


def build_datasets(cfg):
    """(train dataset, fixed validation subset) of a config; paths from ``cfg['dataset']['paths']``.

    Raises FileNotFoundError / KeyError naming the dataset key and YAML file when a path is missing.
    """
    d, seed = cfg["dataset"], cfg["seed"]
    size = (d["size"], d["size"])
    paths = load_dataset_paths(d["paths"])
    train = ZipDataset([
        pairs_from_config(paths, d["name"], "train", A.PairCompose([
            A.PairRandomAffineAndResize(size, degrees=(-5, 5), translate=(0.1, 0.1),
                                        scale=(0.4, 1) if cfg.get("refine") is None else (0.3, 1), shear=(-5, 5)),
            A.PairRandomHorizontalFlip(),
            A.PairRandomBoxBlur(0.1, 5),
            A.PairRandomSharpen(0.1),
            A.PairApplyOnlyAtIndices([1], A.ColorJitter(0.15, 0.15, 0.15, 0.05)),
            A.PairApply(A.ToCHW()),
        ]), seed),
        background_images(dataset_root(paths, d["backgrounds"], "train"), mode="RGB", transforms=A.Compose([
            A.RandomAffineAndResize(size, degrees=(-5, 5), translate=(0.1, 0.1), scale=(1, 2), shear=(-5, 5)),
            A.RandomHorizontalFlip(),
            A.RandomBoxBlur(0.1, 5),
            A.RandomSharpen(0.1),
            A.ColorJitter(0.15, 0.15, 0.15, 0.05),
            A.ToCHW(),
        ])),
    ], seed=seed)
    valid = ZipDataset([
        pairs_from_config(paths, d["name"], "valid", A.PairCompose([
            A.PairRandomAffineAndResize(size, degrees=(-5, 5), translate=(0.1, 0.1), scale=(0.3, 1), shear=(-5, 5)),
            A.PairApply(A.ToCHW()),
        ]), seed),
        background_images(dataset_root(paths, d["backgrounds"], "valid"), mode="RGB", transforms=A.Compose([
            A.RandomAffineAndResize(size, degrees=(-5, 5), translate=(0.1, 0.1), scale=(1, 1.2), shear=(-5, 5)),
            A.ToCHW(),
        ])),
    ], seed=seed)
    return train, SampleDataset(valid, d["valid_samples"], seed=seed)


class SeededBatchSampler(paddle.io.DistributedBatchSampler):
    """``DistributedBatchSampler`` whose shuffle order is a function of (seed, epoch), with resumable skipping.

    Each of ``num_replicas`` processes gets ``batch_size`` indices per batch, together covering
    every sample once per epoch (the dataset is padded by repetition to a multiple of
    ``num_replicas``; the last incomplete batch is dropped, as the reference does).

    Args:
        dataset, batch_size (per process), num_replicas, rank: as DistributedBatchSampler.
        seed: int; the order of epoch e is drawn from (seed, e).
    """

    def __init__(self, dataset, batch_size, num_replicas=None, rank=None, seed=0):
        super().__init__(dataset, batch_size, num_replicas=num_replicas, rank=rank, shuffle=True, drop_last=True)
        self.seed = int(seed)
        self.skip = 0

    def set_epoch(self, epoch, skip=0):
        """Select the order of ``epoch`` and skip its first ``skip`` batches (when resuming mid-epoch)."""
        # DistributedBatchSampler shuffles with RandomState(self.epoch): make that depend on the seed too.
        super().set_epoch(int(np.random.default_rng([self.seed, epoch]).integers(2 ** 31)))
        self.skip = int(skip)

    def __iter__(self):
        batches = super().__iter__()
        for _ in range(self.skip):
            next(batches)
        self.skip = 0
        yield from batches


def crop_size(model_type, crop_min, crop_max, rng):
    """(h, w) of the random crop of one batch: uniform integers in [crop_min, crop_max);
    for the refiner rounded down to multiples of 4, as the reference."""
    h, w = (int(v) for v in rng.integers(crop_min, crop_max, size=2))
    if model_type == "mattingrefine":
        h, w = h // 4 * 4, w // 4 * 4
    return h, w


def _center_crop(x, h, w):
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top:top + h, left:left + w]


def random_crop(model_type, tensors, size):
    """Resize and centre-crop every (B, C, S, S') tensor of ``tensors`` to ``size`` = (h, w).

    base (reference ``train_base.random_crop``): resize to a max(h, w) square, then crop;
    refine (``train_refine.random_crop``): scale to cover (h, w) keeping the aspect, then crop.
    """
    h, w = size
    src_h, src_w = tensors[0].shape[2:]
    if model_type == "mattingbase":
        resized = (max(h, w), max(h, w))
    else:
        scale = max(w / src_w, h / src_h)
        resized = (max(h, math.floor(src_h * scale)), max(w, math.floor(src_w * scale)))
    return [_center_crop(resize_bilinear(t, resized), h, w) for t in tensors]
