"""Base class of the project's datasets: per-sample seeding and optional skipping of bad files.

Randomness: the dataset the DataLoader indexes derives one ``np.random.Generator`` per
sample from ``(seed, epoch, index)`` and hands it down to nested datasets and transforms.
A sample therefore depends only on the seed, the epoch and its index: not on the number
of DataLoader workers, their order, or which worker loads it. Call ``set_epoch(e)``
before iterating epoch ``e``, before creating the iterator: a worker keeps the copy of the dataset it was started
with, so keep ``persistent_workers=False`` (the default).
"""
import warnings

import numpy as np
import paddle

from .io import ImageReadError


class SeededDataset(paddle.io.Dataset):
    """A ``paddle.io.Dataset`` whose samples are reproducible functions of (seed, epoch, index).

    Subclasses implement ``__len__``, ``load(idx, rng)`` and ``describe(idx)``.

    Args:
        seed: non-negative int; only the seed of the dataset you index matters, nested
            datasets receive their generator from their parent.
        skip_unreadable: when True, a sample whose file cannot be read (corrupt, truncated,
            missing) is replaced by the next readable index, with a warning that names the
            file and counts the skips so far in this process. When False (default) the
            error propagates, naming the file.
    """

    def __init__(self, seed=0, skip_unreadable=False):
        super().__init__()
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self.epoch = 0
        self.skip_unreadable = bool(skip_unreadable)
        self.skipped = 0

    def set_epoch(self, epoch):
        """Select the epoch whose random draws ``__getitem__`` reproduces."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)

    def rng(self, idx):
        """The generator of sample ``idx`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(idx)])

    def __getitem__(self, idx):
        return self.get(self._check_index(idx), self.rng(idx))

    def _check_index(self, idx):
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for {type(self).__name__} of length {n}")
        return int(idx) % n

    def get(self, idx, rng):
        """Sample ``idx`` drawn with ``rng`` (used by parents; applies ``skip_unreadable``)."""
        if not self.skip_unreadable:
            return self.load(idx, rng)
        n = len(self)
        for attempt in range(n):
            try:
                return self.load((idx + attempt) % n, rng)
            except (ImageReadError, FileNotFoundError) as e:
                self.skipped += 1
                warnings.warn(f"skipping unreadable sample: {e} ({self.skipped} skipped so far "
                              f"by this {type(self).__name__} in this process)", stacklevel=2)
        raise ImageReadError(self.describe(idx), f"no readable sample in all {n} entries")

    def load(self, idx, rng):
        raise NotImplementedError

    def describe(self, idx):
        """The file(s) behind sample ``idx``, for error messages."""
        raise NotImplementedError
