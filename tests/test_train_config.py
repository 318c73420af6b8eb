"""training.config: defaults, YAML + command line, and clear errors before training."""
import pytest
import yaml

from training.config import ConfigError, build_parser, config_from_args, defaults, load_config


def _write(tmp_path, data, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


def test_defaults_follow_the_reference_scripts():
    base, refine = defaults("mattingbase"), defaults("mattingrefine")
    assert "refine" not in base and "lr_refiner" not in base["optim"]
    assert (base["optim"]["lr_backbone"], base["optim"]["lr_aspp"], base["optim"]["lr_decoder"]) == (1e-4, 5e-4, 5e-4)
    assert refine["optim"] == {"lr_backbone": 5e-5, "lr_aspp": 5e-5, "lr_decoder": 1e-4, "lr_refiner": 3e-4,
                               "warmup_steps": 0, "decay": "none"}
    assert (base["dataset"]["crop_min"], base["dataset"]["crop_max"]) == (256, 512)
    assert (refine["dataset"]["crop_min"], refine["dataset"]["crop_max"]) == (1024, 2048)
    assert refine["refine"]["backbone_scale"] == 0.25 and refine["refine"]["sample_pixels"] == 80_000


def test_yaml_then_command_line_overrides_including_reference_flag_names(tmp_path):
    path = _write(tmp_path, {"model": {"backbone": "mobilenetv2"}, "train": {"batch_size": 8},
                             "optim": {"lr_backbone": "2e-4"},  # PyYAML reads 2e-4 as a string
                             "refine": {"mode": "full"}})
    parser = build_parser("mattingrefine", "test")
    args = parser.parse_args(["--config", path, "--batch-size", "6", "--model-refine-sample-pixels", "1000",
                              "--model-name", "run1", "--optim-lr-decoder", "1e-3", "--train-max-steps", "null"])
    cfg = config_from_args("mattingrefine", args)
    assert cfg["model"]["backbone"] == "mobilenetv2"
    assert cfg["train"]["batch_size"] == 6
    assert cfg["optim"]["lr_backbone"] == pytest.approx(2e-4) and cfg["optim"]["lr_decoder"] == pytest.approx(1e-3)
    assert cfg["refine"]["mode"] == "full" and cfg["refine"]["sample_pixels"] == 1000
    assert cfg["name"] == "run1" and cfg["train"]["max_steps"] is None
    assert cfg["refine"]["kernel_size"] == 3  # untouched default


@pytest.mark.parametrize("data, model_type, match", [
    ({"trian": {"batch_size": 2}}, "mattingbase", "unknown key 'trian'"),
    ({"train": {"batchsize": 2}}, "mattingbase", r"unknown key 'train.batchsize'"),
    ({"train": {"batch_size": "four"}}, "mattingbase", r"'train.batch_size' must be int, got 'four'"),
    ({"train": {"batch_size": 2.5}}, "mattingbase", r"'train.batch_size' must be int"),
    ({"refine": {"prevent_oversampling": 1}}, "mattingrefine", r"'refine.prevent_oversampling' must be bool"),
    ({"model": {"backbone": "resnet18"}}, "mattingbase", r"'model.backbone' must be one of"),
    ({"refine": {"mode": "all"}}, "mattingrefine", r"'refine.mode' must be one of"),
    ({"optim": {"decay": "step"}}, "mattingbase", r"'optim.decay' must be one of"),
    ({"optim": {"lr_backbone": 0, "lr_aspp": 0.0, "lr_decoder": 0}}, "mattingbase", r"'optim' every learning rate is 0"),
    ({"refine": {"backbone_scale": 0.75}}, "mattingrefine", r"'refine.backbone_scale' must be in \(0, 0.5\]"),
    ({"dataset": {"crop_min": 300, "crop_max": 300}}, "mattingbase", r"'dataset.crop_max' must be > dataset.crop_min"),
    ({"refine": {"mode": "full"}}, "mattingbase", "section 'refine' is only for train_refine.py"),
    ({"model": {"backbone": "mobilenetv2"}}, "mattingrefine", "train_refine.py needs a 'refine' section"),
    ({"amp": "sometimes"}, "mattingbase", "'amp' must be true, false or auto"),
    ("- a\n- list\n", "mattingbase", "top level must be a mapping"),
])
def test_bad_configs_name_file_and_key(tmp_path, data, model_type, match):
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(model_type, path)
    assert path in str(info.value)


def test_bad_command_line_value_names_the_flag():
    args = build_parser("mattingbase", "test").parse_args(["--train-batch-size", "many"])
    with pytest.raises(ConfigError, match=r"--train-batch-size.*must be int"):
        config_from_args("mattingbase", args)


def test_missing_and_unparsable_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config("mattingbase", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("mattingbase", _write(tmp_path, "train: [1, 2\n"))


def test_shipped_configs_are_valid():
    import glob
    import os
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
    files = [f for f in glob.glob(os.path.join(root, "*.yaml")) if os.path.basename(f) != "datasets.yaml"]
    assert files
    for f in files:
        with open(f) as fh:
            model_type = "mattingrefine" if "refine" in yaml.safe_load(fh) else "mattingbase"
        assert load_config(model_type, f)["name"]
