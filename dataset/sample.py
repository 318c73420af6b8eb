"""A fixed, evenly spaced subset of a dataset (e.g. 50 validation samples)."""
from .base import SeededDataset


class SampleDataset(SeededDataset):
    """``samples`` items of ``dataset`` at indices ``i * (len(dataset) // samples)`` (as the reference).

    The subset is fixed; its random augmentation is drawn from this dataset's
    (seed, epoch, index), and the epoch stays 0 unless ``set_epoch`` is called, so a
    validation subset is the same every time it is evaluated.
    """

    def __init__(self, dataset, samples, seed=0):
        super().__init__(seed)
        if not isinstance(samples, int) or samples <= 0:
            raise ValueError(f"samples must be a positive int, got {samples!r}")
        self.dataset = dataset
        samples = min(samples, len(dataset))
        step = len(dataset) // samples
        self.indices = [i * step for i in range(samples)]

    def __len__(self):
        return len(self.indices)

    def load(self, idx, rng):
        return self.dataset.get(self.indices[idx], rng)

    def describe(self, idx):
        return self.dataset.describe(self.indices[idx])
