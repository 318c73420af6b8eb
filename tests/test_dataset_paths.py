"""dataset.paths: YAML dataset locations, relative paths, errors naming key and path."""
import os

import pytest

from dataset.paths import DatasetKeyError, dataset_root, load_dataset_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_the_yaml_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "bg").mkdir(parents=True)
    cfg = _write(tmp_path / "cfg" / "d.yaml", "backgrounds:\n  train: ../data/bg\n  valid: $BGDIR\n")
    monkeypatch.setenv("BGDIR", str(tmp_path / "data" / "bg"))
    monkeypatch.chdir(ROOT)  # the working directory must not matter
    paths = load_dataset_paths(cfg)
    assert dataset_root(paths, "backgrounds", "train") == str(tmp_path / "data" / "bg")
    assert dataset_root(paths, "backgrounds", "valid") == str(tmp_path / "data" / "bg")


def test_missing_key_and_missing_path_errors_name_key_and_path(tmp_path):
    cfg = _write(tmp_path / "d.yaml", "videomatte240k:\n  train:\n    fgr: vm/fgr\n    pha: vm/pha\n")
    paths = load_dataset_paths(cfg)
    with pytest.raises(DatasetKeyError, match=r"videomate240k.*d\.yaml.*videomatte240k"):
        dataset_root(paths, "videomate240k", "train", "fgr")  # typo in the key
    with pytest.raises(KeyError, match="videomatte240k.valid"):
        dataset_root(paths, "videomatte240k", "valid", "fgr")
    with pytest.raises(KeyError, match="is a group"):
        dataset_root(paths, "videomatte240k", "train")
    with pytest.raises(FileNotFoundError) as err:
        dataset_root(paths, "videomatte240k", "train", "fgr")
    assert "videomatte240k.train.fgr" in str(err.value) and str(tmp_path / "vm" / "fgr") in str(err.value)
    assert dataset_root(paths, "videomatte240k", "train", "fgr", must_exist=False) == str(tmp_path / "vm" / "fgr")


def test_bad_files_are_rejected_with_the_file_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        load_dataset_paths(tmp_path / "absent.yaml")
    with pytest.raises(ValueError, match=r"backgrounds\.train"):
        load_dataset_paths(_write(tmp_path / "a.yaml", "backgrounds:\n  train: 3\n"))
    with pytest.raises(ValueError, match="b.yaml"):
        load_dataset_paths(_write(tmp_path / "b.yaml", "- just\n- a list\n"))
    with pytest.raises(ValueError, match="c.yaml"):
        load_dataset_paths(_write(tmp_path / "c.yaml", "a: [unclosed\n"))


def test_project_config_has_every_dataset_of_the_schema():
    paths = load_dataset_paths(os.path.join(ROOT, "configs", "datasets.yaml"))
    for name in ("videomatte240k", "photomatte13k", "distinctions646", "custom"):
        for split in ("train", "valid"):
            for part in ("fgr", "pha"):
                assert os.path.isabs(dataset_root(paths, name, split, part, must_exist=False))
    for part in ("fgr", "pha", "trimap"):
        dataset_root(paths, "photomatte85", part, must_exist=False)
    for split in ("train", "valid"):
        dataset_root(paths, "backgrounds", split, must_exist=False)
