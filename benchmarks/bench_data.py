"""Data-loading throughput of the reference training pipelines (samples/s), by output size and workers.

    python -m benchmarks.bench_data [--data DATASETS_YAML] [--sizes 512 2048] [--workers 0 1 2]
                                    [--batches 6] [--batch-size 0]

Without ``--data`` a synthetic dataset at 1920x1080 (VideoMatte240K HD frames) is
generated once in a temporary folder. Each row times ``--batches`` batches after the
first (worker start-up and the first batch are excluded) of the training set that
train_base.py / train_refine.py read (``model.training.data.build_datasets``: decode +
paired affine/flip/blur/sharpen/jitter + background augmentation + collation into
paddle tensors), with the trainer's ``SeededBatchSampler``. 512 uses the base
pipeline, 2048 the refine one. Batch size defaults to the reference's: 8 at 512, 4 at
2048 (split over GPUs there; per process here).
"""
import argparse
import os
import tempfile
import time


import paddle

from dataset.synthetic import write_synthetic_dataset
from training.data import SeededBatchSampler, build_datasets

REFERENCE_BATCH = {512: 8, 2048: 4}


def measure(dataset, batch_size, workers, batches):
    """Samples/s over ``batches`` batches, after a first batch that absorbs worker start-up."""
    # Exactly the batches needed, in a seeded random order: the loader ends cleanly and
    # its workers exit before the data folder is removed.
    sampler = SeededBatchSampler(dataset, batch_size, num_replicas=1, rank=0)
    sampler.set_epoch(0)
    wanted = list(sampler)[:batches + 1]
    if len(wanted) < batches + 1:
        raise ValueError(f"the dataset has {len(dataset)} samples: too few for {batches + 1} batches of {batch_size}")
    loader = paddle.io.DataLoader(dataset, batch_sampler=wanted, num_workers=workers)
    start = None
    for _ in loader:
        start = start or time.perf_counter()
    return batches * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="datasets.yaml to read (default: generate synthetic HD data)")
    parser.add_argument("--dataset", default="videomatte240k", help="dataset key in the YAML")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the reference's batch size per size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        yaml_path = args.data
        if yaml_path is None:
            start = time.perf_counter()
            write_synthetic_dataset(os.path.join(tmp, "data"), size=(1080, 1920), train_clips=8, frames_per_clip=8,
                                    valid=1, photo_train=0, test=0, backgrounds=8, workers=2)
            yaml_path = os.path.join(tmp, "data", "datasets.yaml")
            print(f"generated synthetic 1920x1080 data in {time.perf_counter() - start:.0f} s")
        print(f"paddle {paddle.__version__}, {os.cpu_count()} CPU cores, data: {yaml_path}")
        print("| output size | workers | batch | samples/s | ms/sample |")
        print("|---|---|---|---|---|")
        for size in args.sizes:
            cfg = {"seed": 0, "refine": {} if size > 512 else None,
                   "dataset": {"paths": yaml_path, "name": args.dataset, "backgrounds": "backgrounds",
                               "size": size, "valid_samples": 1}}
            dataset, _ = build_datasets(cfg)
            batch = args.batch_size or REFERENCE_BATCH.get(size, 4)
            for workers in args.workers:
                rate = measure(dataset, batch, workers, args.batches)
                print(f"| {size}x{size} | {workers} | {batch} | {rate:.2f} | {1000 / rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
