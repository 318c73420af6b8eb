"""DataLoader helper: a seeded, epoch-aware batch sampler."""
import numpy as np
import paddle


class SeededBatchSampler(paddle.io.BatchSampler):
    """Batches of indices in an order that depends only on (seed, epoch).

    Paddle's ``shuffle=True`` draws the order from numpy's global generator; this sampler
    makes the order reproducible and resumable. ``set_epoch(e)`` also selects epoch ``e``
    of the dataset's augmentation (when it has ``set_epoch``), so one call per epoch
    fixes everything a training run reads.

    With ``num_replicas`` > 1 (data parallel), process ``rank`` takes every
    ``num_replicas``-th index of the shared order: disjoint parts of equal length.

    Use as ``paddle.io.DataLoader(dataset, batch_sampler=sampler, num_workers=...)``.
    """

    def __init__(self, dataset, batch_size, shuffle=True, drop_last=False, seed=0, num_replicas=1, rank=0):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must lie in [0, num_replicas={num_replicas}), got {rank!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def _indices(self):
        n = len(self.dataset)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)
        per_replica = n // self.num_replicas
        return order[self.rank::self.num_replicas][:per_replica].tolist()

    def __iter__(self):
        indices = self._indices()
        for start in range(0, len(indices), self.batch_size):
            batch = indices[start:start + self.batch_size]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __len__(self):
        n = len(self.dataset) // self.num_replicas
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
