"""ModelOptions: everything that defines a BGMv2 network besides its weights, and the home of every model default."""
import dataclasses

__all__ = ["MODEL_TYPES", "OUTPUTS", "ModelOptions", "output_names", "build_model"]

MODEL_TYPES = ("mattingbase", "mattingrefine")
OUTPUTS = {"mattingbase": ("pha", "fgr", "err", "hid"),
           "mattingrefine": ("pha", "fgr", "pha_sm", "fgr_sm", "err_sm", "ref_sm")}


def output_names(model_type):
    """Names of the model's outputs, in forward() order."""
    if model_type not in OUTPUTS:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    return OUTPUTS[model_type]


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Everything that defines the network besides its weights; the defaults are the reference's."""
    model_type: str = "mattingrefine"
    backbone: str = "resnet50"
    backbone_scale: float = 0.25
    refine_mode: str = "sampling"
    refine_sample_pixels: int = 80_000
    refine_threshold: float = 0.1
    refine_kernel_size: int = 3
    refine_prevent_oversampling: bool = True

    @classmethod
    def for_checkpoint(cls, path, **overrides):
        """Options whose backbone, model type and refiner kernel size come from the checkpoint's keys.

        ``overrides`` (option=value; None means "not given") replace the defaults and the
        checkpoint's values; unknown names raise TypeError.
        """
        from .loading import checkpoint_info
        return cls.from_info(checkpoint_info(path), **overrides)

    @classmethod
    def from_info(cls, info, **overrides):
        """Options from a checkpoint's ``model.loading.state_info`` and ``overrides`` (as for_checkpoint)."""
        values = {"backbone": info["backbone"], "model_type": info["model_type"]}
        if info["refine_kernel_size"] is not None:
            values["refine_kernel_size"] = info["refine_kernel_size"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown model option(s): {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def defining(self):
        """The options that change the network: the refine_* options do not change a base network."""
        values = self.to_dict()
        if self.model_type == "mattingbase":
            return {k: values[k] for k in ("model_type", "backbone")}
        return values

    @property
    def outputs(self):
        return output_names(self.model_type)

    def build(self):
        """The network (weights uninitialised), in eval mode."""
        net = build_model(**self.to_dict())
        net.eval()
        return net


def build_model(model_type=ModelOptions.model_type, backbone=ModelOptions.backbone, **refine_options):
    """MattingBase or MattingRefine; ``refine_options`` are ModelOptions' backbone_scale and refine_*
    (their defaults are ModelOptions'; ignored for mattingbase)."""
    from .matting import MattingBase, MattingRefine  # matting reads its defaults from this module
    if model_type == "mattingbase":
        return MattingBase(backbone)
    if model_type == "mattingrefine":
        return MattingRefine(backbone, **refine_options)
    raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
