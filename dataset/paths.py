"""Dataset locations from a YAML file (``configs/datasets.yaml``) instead of a Python dict.

Schema (any subset of datasets; every leaf is a path string)::

    videomatte240k: {train: {fgr: PATH, pha: PATH}, valid: {fgr: PATH, pha: PATH}}
    photomatte13k:  {train: {fgr, pha}, valid: {fgr, pha}}
    distinctions646: {train: {fgr, pha}, valid: {fgr, pha}}
    photomatte85:   {fgr: PATH, pha: PATH, trimap: PATH}       # test set, trimap optional
    backgrounds:    {train: PATH, valid: PATH}
    custom:         {train: {fgr, pha}, valid: {fgr, pha}}      # your own data for stage 3

or, instead of the explicit folders, the root of a release as downloaded (folder or zip;
its layout is recognised, see ``dataset.layouts`` and docs/data.md)::

    videomatte240k:  {root: PATH}    # VideoMatte240K_JPEG_SD/_HD (folder or zip) or the mp4 release
    distinctions646: {root: PATH}    # Distinctions-646 (Train/, Test/)
    photomatte85:    {root: PATH}    # RGBA PNGs (folder or zip) or pha/ + fgr/ [+ trimap/]

``dataset.releases.pairs_from_config`` and ``dataset.testset.test_set_from_config`` read either form.

Relative paths are resolved against the folder of the YAML file (so a dataset folder
can carry its own ``datasets.yaml``); ``~`` and ``$VARS`` are expanded. Paths are only
checked when asked for, so a file may list datasets you do not have.
"""
import os

import yaml

from common.errors import BGMv2Error


class DatasetKeyError(BGMv2Error, KeyError):
    """A dataset key is missing or names a group instead of a path (message printed as is)."""

    def __str__(self):
        return str(self.args[0])


class DatasetPaths(dict):
    """Nested dict of absolute path strings; ``source`` is the YAML file it came from."""

    def __init__(self, mapping, source):
        super().__init__(mapping)
        self.source = source


def load_dataset_paths(yaml_path):
    """Read the YAML file; returns :class:`DatasetPaths` (nested dict of absolute path strings).

    Raises FileNotFoundError (naming the file) or ValueError (naming the file and the key)
    for a missing file, bad YAML, a non-mapping top level, or a leaf that is not a string.
    """
    yaml_path = os.fspath(yaml_path)
    if not os.path.isfile(yaml_path):
        raise FileNotFoundError(f"dataset paths file not found: '{yaml_path}'")
    with open(yaml_path, encoding="utf-8") as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"'{yaml_path}' is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"'{yaml_path}' must map dataset names to paths, got {type(raw).__name__}")
    base = os.path.dirname(os.path.abspath(yaml_path))
    return DatasetPaths(_resolve(raw, base, yaml_path, ()), os.path.abspath(yaml_path))


def _resolve(node, base, yaml_path, keys):
    out = {}
    for key, value in node.items():
        where = keys + (str(key),)
        if isinstance(value, dict):
            out[str(key)] = _resolve(value, base, yaml_path, where)
        elif isinstance(value, str) and value.strip():
            path = os.path.expandvars(os.path.expanduser(value))
            out[str(key)] = os.path.normpath(os.path.join(base, path))
        else:
            raise ValueError(f"'{yaml_path}': key '{'.'.join(where)}' must be a path string or a mapping, "
                             f"got {value!r}")
    return out


def dataset_root(paths, *keys, must_exist=True):
    """The path at ``paths[keys[0]][keys[1]]...``, e.g. ``dataset_root(p, 'videomatte240k', 'train', 'fgr')``.

    Raises DatasetKeyError (a KeyError) naming the dotted key, the YAML file and the keys available there when
    the key is absent, and FileNotFoundError naming the key and the path when
    ``must_exist`` and the path does not exist.
    """
    source = getattr(paths, "source", "<dataset paths>")
    node = paths
    for depth, key in enumerate(keys):
        dotted = ".".join(keys[:depth + 1])
        if not isinstance(node, dict):
            raise DatasetKeyError(f"dataset key '{dotted}' in '{source}': '{'.'.join(keys[:depth])}' is a path, "
                                  "not a group")
        if key not in node:
            raise DatasetKeyError(f"dataset key '{dotted}' is missing in '{source}' "
                                  f"(available here: {sorted(node)})")
        node = node[key]
    dotted = ".".join(keys)
    if not isinstance(node, str):
        raise DatasetKeyError(f"dataset key '{dotted}' in '{source}' is a group ({sorted(node)}), not a path")
    if must_exist and not os.path.exists(node):
        raise FileNotFoundError(f"dataset key '{dotted}' in '{source}' points to '{node}', which does not exist")
    return node
