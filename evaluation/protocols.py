"""Composition protocols: how one ground-truth (pha, fgr) becomes the (src, bgr) a model is scored on.

Each image ``i`` (sorted by name) draws from its own generator ``np.random.default_rng([seed, i])``,
so its numbers do not depend on the other images. See ``eval.py --help`` for the protocols.
"""
import cv2
import numpy as np
import paddle

from dataset.augmentation import PairRandomAffineAndResize, RandomAffineAndResize
from dataset.backgrounds import open_backgrounds
from dataset.perturbation import training_perturbations
from dataset.trimap import make_trimap
from .metrics import to_uint8

__all__ = ["PROTOCOLS", "image_rng", "cover_resize", "perturb_pair", "Protocol"]

PROTOCOLS = ("bgmv2", "native", "perturbed")


def image_rng(seed, index):
    """The generator of image ``index``: independent of every other image's draws."""
    return np.random.default_rng([seed, index])


def cover_resize(image, height, width):
    """Scale (H', W', 3) ``image`` to cover height x width, then centre-crop to it."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return image[top:top + height, left:left + width]


def perturb_pair(pha, fgr, bgr, seed):
    """The reference's training perturbations (``dataset.perturbation.training_perturbations``:
    shadow, noise, background jitter, misalignment, with its probabilities and ranges) on one image.

    Args: pha (H, W), fgr and bgr (H, W, 3), float32 in [0, 1]; seed: int seeding Paddle's
    generator for this call only (the caller's generator state is restored afterwards).
    Returns: (src, bgr) float32 (H, W, 3) in [0, 1]: the composite over the (possibly shadowed)
    background, and the perturbed plate.
    """
    def batch(x):  # (H, W, C) -> (1, C, H, W) on the CPU: the result does not depend on a GPU
        return paddle.to_tensor(np.ascontiguousarray(x.transpose(2, 0, 1)[None]), dtype="float32",
                                place=paddle.CPUPlace())

    state = paddle.get_rng_state()
    try:
        paddle.seed(seed)
        src, plate = training_perturbations(batch(fgr), batch(pha[:, :, None]), batch(bgr))
    finally:
        paddle.set_rng_state(state)  # a caller's own random stream (e.g. training) is not disturbed
    return src.numpy()[0].transpose(1, 2, 0), plate.numpy()[0].transpose(1, 2, 0)


class Protocol:
    """Turns one ground-truth (pha, fgr) into the (pha, fgr, bgr) the model is evaluated on.

    Arrays: pha float32 (H, W) in [0, 1]; fgr, bgr float32 (H, W, 3) in [0, 1].
    ``keeps_trimap`` says whether a given trimap still matches the returned pha.

    ``perturbed`` composites as ``bgmv2``, then perturbs the pair as the reference does in
    training (:func:`perturb_pair`, seeded from the image's generator): the plate the model
    receives is no longer exactly the background in the photo.
    """

    def __init__(self, name, bgr_path, size, seed):
        self.backgrounds = open_backgrounds(bgr_path)  # a folder or a zip of images
        self.name, self.size, self.seed = name, size, seed
        self.keeps_trimap = name == "native"
        if name in ("bgmv2", "perturbed"):
            self.pair_transform = PairRandomAffineAndResize(
                (size, size), degrees=(-5, 5), translate=(0.1, 0.1), scale=(0.3, 1), shear=(-5, 5))
            self.bgr_transform = RandomAffineAndResize(
                (size, size), degrees=(-5, 5), translate=(0.1, 0.1), scale=(1, 1.2), shear=(-5, 5))

    def __call__(self, index, pha, fgr):
        """(pha, fgr, bgr) of image ``index``, placed by its own generator (no perturbation)."""
        return self._place(image_rng(self.seed, index), pha, fgr)

    def _place(self, rng, pha, fgr):
        bgr = self.backgrounds[rng.integers(len(self.backgrounds))]
        if self.name == "native":
            return pha, fgr, cover_resize(bgr, *pha.shape)
        pha, fgr = self.pair_transform((pha[:, :, None], fgr), rng)
        bgr = self.bgr_transform(bgr, rng)
        return pha[:, :, 0], fgr, bgr

    def sample(self, gt, index, name):
        """Ground-truth image ``name`` (number ``index`` in sorted order) of the test set ``gt``
        (``dataset.testset.TestSet``) composited for scoring.

        Returns (src, bgr) float32 (H, W, 3) in [0, 1], the model's input, and the scored ground
        truth as 8 bits: (pha (H, W), fgr (H, W, 3), trimap (H, W)) uint8. The trimap is the
        given one when it still fits, else made from the (transformed) alpha.
        """
        pha, fgr, trimap = gt.read(name)
        rng = image_rng(self.seed, index)
        pha, fgr, bgr = self._place(rng, pha, fgr)
        if self.name == "perturbed":
            # drawn after the placement's draws, so the geometry is bgmv2's for the same seed
            src, bgr = perturb_pair(pha, fgr, bgr, int(rng.integers(2 ** 31)))
        else:
            src = pha[:, :, None] * fgr + (1 - pha[:, :, None]) * bgr
        gt_pha = to_uint8(pha)
        if trimap is None or not self.keeps_trimap:
            trimap = make_trimap(gt_pha)
        return src.astype(np.float32), bgr.astype(np.float32), gt_pha, to_uint8(fgr), trimap

    def describe(self):
        if self.name == "native":
            return f"native size, seed {self.seed}"
        if self.name == "perturbed":
            return (f"perturbed protocol (bgmv2 at {self.size}x{self.size} + the reference's training "
                    f"perturbations), seed {self.seed}")
        return f"bgmv2 validation protocol at {self.size}x{self.size}, seed {self.seed}"
