"""The reference's training/validation datasets, built from the project's datasets and transforms.

Samples are ``((pha, fgr), bgr)`` with ``pha`` float32 (1, S, S), ``fgr`` and ``bgr``
float32 (3, S, S), all in [0, 1], S = ``size``. The DataLoader stacks them into
batches ``(B, C, S, S)``; the batch perturbations of ``dataset.perturbation`` follow on
the device.

Reference settings: base training (train_base.py) uses size 512 with foreground scale
(0.4, 1); refiner training (train_refine.py) uses size 2048 with (0.3, 1); validation
uses foreground scale (0.3, 1), background scale (1, 1.2) and 50 fixed samples.
"""
from . import augmentation as A
from .images import ImagesDataset
from .sample import SampleDataset
from .video import VideoDataset
from .zip import ZipDataset

# Geometry shared by every reference pipeline (degrees, translate, shear).
_AFFINE = dict(degrees=(-5, 5), translate=(0.1, 0.1), shear=(-5, 5))


def train_dataset(pha_root, fgr_root, bgr_root, size, fgr_scale=(0.4, 1), bgr_scale=(1, 2), seed=0,
                  skip_unreadable=False):
    """Training set: augmented (pha, fgr) pairs and independently augmented backgrounds.

    ``pha_root``/``fgr_root`` may hold frame folders or videos (:class:`VideoDataset`);
    their names must match one to one. ``skip_unreadable`` skips bad files with a warning.
    Call ``set_epoch(epoch)`` on the result before each epoch.
    """
    pairs = ZipDataset([VideoDataset(pha_root, mode="L"), VideoDataset(fgr_root, mode="RGB")],
                       transforms=A.PairCompose([
                           A.PairRandomAffineAndResize((size, size), scale=fgr_scale, **_AFFINE),
                           A.PairRandomHorizontalFlip(),
                           A.PairRandomBoxBlur(0.1, 5),
                           A.PairRandomSharpen(0.1),
                           A.PairApplyOnlyAtIndices([1], A.ColorJitter(0.15, 0.15, 0.15, 0.05)),
                           A.PairApply(A.ToCHW()),
                       ]), assert_equal_length=True, skip_unreadable=skip_unreadable)
    backgrounds = ImagesDataset(bgr_root, mode="RGB", skip_unreadable=skip_unreadable, transforms=A.Compose([
        A.RandomAffineAndResize((size, size), scale=bgr_scale, **_AFFINE),
        A.RandomHorizontalFlip(),
        A.RandomBoxBlur(0.1, 5),
        A.RandomSharpen(0.1),
        A.ColorJitter(0.15, 0.15, 0.15, 0.05),
        A.ToCHW(),
    ]))
    return ZipDataset([pairs, backgrounds], seed=seed)


def valid_dataset(pha_root, fgr_root, bgr_root, size, samples=50, fgr_scale=(0.3, 1), bgr_scale=(1, 1.2), seed=0):
    """Validation set: ``samples`` fixed, evenly spaced composites with fixed (seeded) geometry."""
    pairs = ZipDataset([VideoDataset(pha_root, mode="L"), VideoDataset(fgr_root, mode="RGB")],
                       transforms=A.PairCompose([
                           A.PairRandomAffineAndResize((size, size), scale=fgr_scale, **_AFFINE),
                           A.PairApply(A.ToCHW()),
                       ]), assert_equal_length=True)
    backgrounds = ImagesDataset(bgr_root, mode="RGB", transforms=A.Compose([
        A.RandomAffineAndResize((size, size), scale=bgr_scale, **_AFFINE),
        A.ToCHW(),
    ]))
    return SampleDataset(ZipDataset([pairs, backgrounds]), samples, seed=seed)
