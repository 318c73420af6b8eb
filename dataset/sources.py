"""The files of a dataset release where they lie: a folder, or a zip archive read in place.

A *source* lists its files as '/'-separated paths relative to its root and returns the
bytes of one file. Nothing is extracted to disk and nothing is executed: a zip entry is
read through ``zipfile`` (only that entry's compressed bytes, checked against its CRC), and
an entry whose declared uncompressed size exceeds ``MAX_ENTRY_BYTES`` is refused before
anything is inflated, so a zip bomb cannot fill the memory.

    source = open_source("PhotoMatte85.zip")      # or a folder
    source.files()                                # ['PhotoMatte85/0001.png', ...]
    data = source.read('PhotoMatte85/0001.png')   # encoded bytes -> dataset.io.decode_*
"""
import os
import zipfile

import numpy as np

from common.errors import InputError
from .io import ImageReadError

MAX_ENTRY_BYTES = 1 << 30  # 1 GiB: no image or video frame of a matting release comes near it
UNSUPPORTED_ARCHIVES = (".rar", ".7z", ".tar", ".tgz", ".tar.gz", ".gz", ".bz2", ".xz")


class LayoutError(InputError):
    """What is at a dataset path fits no known release layout, or cannot be read as one.

    The message says what was found and what was expected.
    """


def is_hidden(rel):
    """True for paths with a component starting with '.' or the macOS zip folder ``__MACOSX``."""
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/"))


def open_source(path):
    """:class:`FolderSource` for a folder, :class:`ZipSource` for a zip file.

    Raises FileNotFoundError when nothing is at ``path`` and LayoutError for a file that is
    not a zip archive (a .rar or .tar release must be unpacked first; the error says so).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return FolderSource(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset path not found: '{path}'")
    if zipfile.is_zipfile(path):
        return ZipSource(path)
    lower = path.lower()
    if lower.endswith(UNSUPPORTED_ARCHIVES):
        raise LayoutError(f"'{path}' is an archive format this project does not read in place; "
                          "unpack it and pass the folder (only .zip archives are read directly)")
    raise LayoutError(f"'{path}' is a file, not a folder or a zip archive of a dataset")


class FolderSource:
    """Files below a folder (hidden files and folders skipped, symlinks followed)."""

    is_archive = False

    def __init__(self, root):
        self.root = os.fspath(root)
        self._files = None

    def files(self):
        """All files, '/'-separated relative paths, sorted by path components."""
        if self._files is None:
            found = []
            for folder, subfolders, names in os.walk(self.root, followlinks=True):
                subfolders[:] = [d for d in subfolders if not d.startswith(".")]
                rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
                found += [n if rel == "." else f"{rel}/{n}" for n in names if not n.startswith(".")]
            self._files = sorted(found, key=lambda f: f.split("/"))
        return self._files

    def where(self, rel):
        """The file's full path, for messages."""
        return os.path.join(self.root, *rel.split("/"))

    local_path = where

    def read(self, rel):
        """The whole file as a 1-D uint8 array; FileNotFoundError names it."""
        path = self.where(rel)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"file not found: '{path}'")
        return np.fromfile(path, dtype=np.uint8)

    def head(self, rel, size):
        """The first ``size`` bytes of the file."""
        with open(self.where(rel), "rb") as f:
            return f.read(size)

    def __str__(self):
        return self.root


class ZipSource:
    """Entries of a zip archive, read in place (one ``ZipFile`` handle per process).

    Directories, hidden entries and ``__MACOSX/`` are skipped. The handle is reopened after
    a ``fork()`` (DataLoader workers) and not pickled, since forked processes would otherwise
    share one file offset.
    """

    is_archive = True

    def __init__(self, path, max_entry_bytes=MAX_ENTRY_BYTES):
        self.path = os.fspath(path)
        self.max_entry_bytes = int(max_entry_bytes)
        self._zip, self._pid = None, None
        try:
            infos = self._handle().infolist()
        except (zipfile.BadZipFile, OSError) as e:
            raise LayoutError(f"'{self.path}' is not a readable zip archive: {e}") from e
        self._infos = {i.filename: i for i in infos if not i.is_dir() and not is_hidden(i.filename)}
        self._files = sorted(self._infos, key=lambda f: f.split("/"))

    def _handle(self):
        if self._zip is None or self._pid != os.getpid():
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_zip"], state["_pid"] = None, None
        return state

    def files(self):
        """All file entries, '/'-separated paths inside the archive, sorted by path components."""
        return self._files

    def where(self, rel):
        """'archive.zip:entry', for messages."""
        return f"{self.path}:{rel}"

    def local_path(self, rel):
        raise LayoutError(f"'{self.where(rel)}' is a video inside a zip archive: OpenCV reads videos "
                          f"from files only, so unpack '{self.path}' and pass the folder")

    def _info(self, rel):
        info = self._infos.get(rel)
        if info is None:
            raise FileNotFoundError(f"no entry '{rel}' in zip archive '{self.path}'")
        if info.file_size > self.max_entry_bytes:
            raise ImageReadError(self.where(rel), f"declared uncompressed size {info.file_size} bytes exceeds "
                                                  f"the limit of {self.max_entry_bytes} bytes (zip bomb?); refused")
        return info

    def read(self, rel):
        """The entry's bytes as a 1-D uint8 array (CRC checked); ImageReadError names a bad entry."""
        info = self._info(rel)
        try:
            with self._handle().open(info) as f:
                data = f.read(info.file_size)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
            raise ImageReadError(self.where(rel), f"corrupt or unsupported zip entry: {e}") from e
        return np.frombuffer(data, dtype=np.uint8)

    def head(self, rel, size):
        """The first ``size`` bytes of the entry (only those are inflated)."""
        info = self._info(rel)
        try:
            with self._handle().open(info) as f:
                return f.read(size)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
            raise ImageReadError(self.where(rel), f"corrupt or unsupported zip entry: {e}") from e

    def __str__(self):
        return self.path
