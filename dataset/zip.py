"""Several datasets read side by side: aligned (pha, fgr) pairs, and pairs + backgrounds."""
import numpy as np

from .base import SeededDataset


class ZipDataset(SeededDataset):
    """Sample i is ``tuple(d[i % len(d)] for d in datasets)``, then ``transforms(x, rng)``.

    Its length is the longest child's, shorter children wrap around (as the reference).
    Each child gets its own generator spawned from this sample's generator.

    Args:
        datasets: list of :class:`SeededDataset`.
        transforms: pair transform taking and returning the tuple, or None.
        assert_equal_length: the children are paired one to one (e.g. pha and fgr):
            their lengths and, where they have ``names``, their file names (relative
            path without extension) must match, checked at construction; every sample's
            elements must have the same height and width (error names both files).
            Skipping bad files must then be done here (``skip_unreadable`` on this
            dataset), never in a child, which would shift one side against the other.
        seed, skip_unreadable: see :class:`SeededDataset`.
    """

    def __init__(self, datasets, transforms=None, assert_equal_length=False, seed=0, skip_unreadable=False):
        super().__init__(seed, skip_unreadable)
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ZipDataset needs at least one dataset")
        for d in self.datasets:
            if len(d) == 0:
                raise ValueError(f"ZipDataset got an empty dataset: {_where(d)}")
        self.transforms = transforms
        self.paired = bool(assert_equal_length)
        if self.paired:
            self._check_paired()

    def _check_paired(self):
        first = self.datasets[0]
        for d in self.datasets[1:]:
            if len(d) != len(first):
                raise ValueError(f"paired datasets differ in length: {len(first)} in {_where(first)} "
                                 f"vs {len(d)} in {_where(d)}")
            names_a, names_b = getattr(first, "names", None), getattr(d, "names", None)
            if names_a is not None and names_b is not None and names_a != names_b:
                i = next(i for i, (a, b) in enumerate(zip(names_a, names_b)) if a != b)
                raise ValueError(f"paired datasets do not match at position {i}: "
                                 f"'{first.describe(i)}' vs '{d.describe(i)}'")
        for d in self.datasets:
            if d.skip_unreadable:
                raise ValueError(f"skip_unreadable is set on a paired child ({_where(d)}): set it on the "
                                 "ZipDataset instead so that both sides skip together")

    def __len__(self):
        return max(len(d) for d in self.datasets)

    def load(self, idx, rng):
        seeds = rng.integers(0, 2 ** 63, size=len(self.datasets))
        x = tuple(d.get(idx % len(d), np.random.default_rng(s)) for d, s in zip(self.datasets, seeds))
        if self.paired:
            sizes = [xi.shape[:2] for xi in x]
            if any(s != sizes[0] for s in sizes):
                files = " vs ".join(f"'{d.describe(idx % len(d))}' {s[1]}x{s[0]}"
                                    for d, s in zip(self.datasets, sizes))
                raise ValueError(f"paired images differ in size: {files}")
        if self.transforms is not None:
            x = self.transforms(x, rng)
        return x

    def describe(self, idx):
        return " + ".join(d.describe(idx % len(d)) for d in self.datasets)


def _where(d):
    return getattr(d, "root", type(d).__name__)
