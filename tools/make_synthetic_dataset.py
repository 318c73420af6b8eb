"""Write a synthetic matting dataset (person-like subjects with hair, veils, soft edges).

    python -m tools.make_synthetic_dataset OUT [--size 512 | 512x384] [--seed 0]
        [--train-clips 16] [--frames-per-clip 8] [--valid 16] [--photo-train 32]
        [--test 16] [--backgrounds 48] [--valid-backgrounds N] [--workers 2] [--overwrite]

Layout (the same as the real datasets, see configs/datasets.yaml):

    OUT/videomatte/{train,valid}/{fgr,pha}/clip_XXXX/NNNNN.png   video-style clips
    OUT/photomatte/{train,valid}/{fgr,pha}/NNNN.png              photo-style sets
    OUT/photomatte85/{fgr,pha,trimap}/NNNN.png                    PhotoMatte85-style test set
    OUT/backgrounds/{train,valid}/NNNN.jpg                        backgrounds
    OUT/datasets.yaml                                              paths (relative to OUT)

Trimaps follow the paper (alpha thresholds 0.06/0.96, 10 dilations/erosions) via
dataset.trimap.make_trimap. The same seed and counts give the same files.
"""
import argparse
import os
import time

from dataset.synthetic import write_synthetic_dataset


def parse_size(text):
    """'512' -> (512, 512); 'WIDTHxHEIGHT' e.g. '512x384' -> (384, 512) as (height, width)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 32:
        raise argparse.ArgumentTypeError(f"--size must be N or WIDTHxHEIGHT with sides >= 32, got '{text}'")
    return parts[1], parts[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="output folder")
    parser.add_argument("--size", type=parse_size, default=(512, 512), help="N or WIDTHxHEIGHT (default 512)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-clips", type=int, default=16)
    parser.add_argument("--frames-per-clip", type=int, default=8)
    parser.add_argument("--valid", type=int, default=16, help="photo-style valid images (video valid: same frames)")
    parser.add_argument("--photo-train", type=int, default=32)
    parser.add_argument("--test", type=int, default=16, help="PhotoMatte85-style test images")
    parser.add_argument("--backgrounds", type=int, default=48, help="train backgrounds")
    parser.add_argument("--valid-backgrounds", type=int, default=None, help="default: max(2, backgrounds // 4)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--overwrite", action="store_true", help="replace the dataset in a non-empty OUT")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error("--seed must be non-negative")

    start = time.perf_counter()
    try:
        written = write_synthetic_dataset(
            args.out, size=args.size, seed=args.seed, train_clips=args.train_clips,
            frames_per_clip=args.frames_per_clip, valid=args.valid, photo_train=args.photo_train, test=args.test,
            backgrounds=args.backgrounds, valid_backgrounds=args.valid_backgrounds, overwrite=args.overwrite,
            workers=args.workers, progress=True)
    except (FileExistsError, ValueError) as e:
        parser.error(str(e))
    total = sum(written.values())
    print(f"wrote {total} images to {args.out} in {time.perf_counter() - start:.1f} s: "
          + ", ".join(f"{k} {v}" for k, v in written.items()))
    print(f"dataset paths: {os.path.join(args.out, 'datasets.yaml')}")


if __name__ == "__main__":
    main()
