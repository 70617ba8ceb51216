"""Atomic writes: write a temporary file beside the target, then rename it into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from invdn_mobile.errors import InvdnError


def make_dir(path: Path) -> Path:
    """Create the folder ``path`` (and its parents) or raise a one-line :class:`InvdnError` saying why not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvdnError(f"{path}: exists and is not a folder") from None
    except NotADirectoryError:
        raise InvdnError(f"{path}: a parent of this path is a file, not a folder") from None
    except OSError as exc:
        raise InvdnError(f"{path}: cannot create the folder ({exc.strerror or exc})") from None
    return path


@contextlib.contextmanager
def output_dir(path: Path) -> Iterator[Path]:
    """:func:`make_dir` for a command's output folder: when the command fails, the folders this call created are
    removed again if they are still empty (a failed run leaves no empty folder behind; one with files stays)."""
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists() and not p.is_symlink()]  # deepest first
    make_dir(path)
    try:
        yield path
    except BaseException:
        for folder in created:
            try:
                folder.rmdir()  # only an empty folder goes
            except OSError:
                break
        raise


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success it replaces ``target``, on error it is removed."""
    target = Path(target)
    make_dir(target.parent)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Like :func:`atomic_path` for an artifact that is a folder (e.g. ``.mlpackage``): the writer creates the yielded
    path (same suffix as ``target``); on success it replaces ``target``, on error it is removed."""
    target = Path(target)
    make_dir(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent))
    tmp.rmdir()
    try:
        yield tmp
        remove_artifact(target)
        os.replace(tmp, target)
    except BaseException:
        remove_artifact(tmp)
        raise


def remove_artifact(path: Path) -> None:
    """Remove a file or a folder artifact if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
