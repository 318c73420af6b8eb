"""Atomic writes: a file or folder appears complete under its name, or not at all.

Everything is staged beside its target (same folder, so the same filesystem: a rename never
crosses a mount point) under a name that starts with ``TMP_PREFIX``, then renamed into place.
New files and folders get the permissions of a plain ``open``/``mkdir`` (the umask applies).
"""
import contextlib
import hashlib
import os
import re
import shutil
import socket
import uuid

from .errors import InputError

__all__ = ["TMP_PREFIX", "temporary_path", "atomic_path", "write_bytes", "write_text", "atomic_folder",
           "staged_output", "check_writable", "remove_stale_temporaries"]

TMP_PREFIX = ".tmp-bgmv2-"
# The host in temporary names: on a shared filesystem another machine's live pid is not ours to judge.
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
# TMP_PREFIX PID-HOST-UNIQUE[suffix]; names of older versions have no HOST.
_CLEANED = set()  # folders whose stale temporaries this process has removed
_TMP_RE = re.compile(re.escape(TMP_PREFIX) + r"(\d+)-(?:([0-9a-f]{6})-)?[0-9a-f]{12}(?![0-9a-f])")


def temporary_path(target, suffix=""):
    """A new unique name beside ``target`` (nothing is created); ``suffix`` keeps an extension that writers need.

    Leftovers of killed processes in that folder are removed first (``remove_stale_temporaries``),
    so a kill -9 mid-write costs disk space only until the next write there.
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(target)))
    if folder not in _CLEANED:  # leftovers predate this process: one look per folder, not one per write
        remove_stale_temporaries(folder)
        _CLEANED.add(folder)
    return _temporary_name(folder, suffix)


def _temporary_name(folder, suffix=""):
    return os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{_HOST}-{uuid.uuid4().hex[:12]}{suffix}")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(folder):
    """Remove this host's temporary files and folders (``TMP_PREFIX``PID-...) in ``folder`` whose
    process is gone; returns their paths. Nothing else is touched; a missing folder is fine."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        m = _TMP_RE.match(name)
        if not m or (m.group(2) and m.group(2) != _HOST):
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        path = os.path.join(folder, name)
        try:
            _remove(path)
        except OSError:  # another process cleaned it first, or it is not ours to remove
            continue
        removed.append(path)
    return removed


def check_writable(path, what=None):
    """Raise InputError (one line naming ``what`` and ``path``) unless ``path`` can be created or replaced.

    ``path`` is a file or folder that a command will write (it need not exist). The nearest existing
    folder above it must take a new entry: tried by creating (and removing) a temporary file, since
    permission bits do not stop root but read-only mounts and /proc do. Nothing stays behind.
    """
    path = os.path.abspath(os.fspath(path))
    label = f"{what}: " if what else ""
    if os.path.isdir(path):
        folder = path
    else:
        folder = os.path.dirname(path)
        while not os.path.lexists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder):
            raise InputError(f"{label}cannot write '{path}': '{folder}' is a file, not a folder")
    probe = _temporary_name(folder)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.remove(probe)
    except OSError as e:
        raise InputError(f"{label}cannot write '{path}': folder '{folder}' is not writable "
                         f"({e.strerror or e})") from None


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary file name beside ``path`` for the block to write; on success it is renamed to
    ``path`` (replacing it), on any error removed. The parent folder is created."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def write_text(path, text):
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_folder(path, overwrite=False):
    """Yield a new temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    An existing ``path`` raises FileExistsError unless ``overwrite``. On any error the temporary
    folder is removed and ``path`` is untouched.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"folder already exists: '{path}' (pass overwrite=True / --overwrite)")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temporary_path(path)
    os.mkdir(tmp)
    try:
        yield tmp
        if os.path.lexists(path):
            _remove(path)
        os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


@contextlib.contextmanager
def staged_output(output_dir, overwrite=False):
    """Yield a temporary folder for a run's outputs; on success move its files into ``output_dir``.

    Unlike :func:`atomic_folder` the files are merged: with ``overwrite`` an existing
    ``output_dir`` keeps its other files and same-named ones are replaced; without it an existing
    ``output_dir`` raises FileExistsError. On any error ``output_dir`` keeps what it had. The
    staging folder is on ``output_dir``'s own filesystem: inside it when it exists (it may be a
    mount point), else beside it.
    """
    output_dir = os.path.abspath(os.fspath(output_dir))
    if os.path.exists(output_dir) and not overwrite:
        raise FileExistsError(f"output folder already exists: '{output_dir}' (use --overwrite / overwrite=True "
                              f"to write into it)")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise FileExistsError(f"output path exists and is not a folder: '{output_dir}'")
    inside = os.path.isdir(output_dir)
    if not inside:
        os.makedirs(os.path.dirname(output_dir), exist_ok=True)
    tmp = temporary_path(os.path.join(output_dir, "x") if inside else output_dir)
    os.mkdir(tmp)
    try:
        yield tmp
        for folder, dirs, files in os.walk(tmp):
            target = os.path.join(output_dir, os.path.relpath(folder, tmp))
            os.makedirs(target, exist_ok=True)
            for f in files:
                os.replace(os.path.join(folder, f), os.path.join(target, f))
    finally:
        _remove(tmp)
