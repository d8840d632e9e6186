"""Write files atomically: a reader (or a crash) never sees half a file.

The data goes to a temporary file in the target's directory, is flushed to disk, and is then
renamed over the target (``os.replace`` is atomic on POSIX and Windows). The temporary file
is unnamed while it is written where the system allows it (Linux's O_TMPFILE), so a crash
mid-write leaves nothing behind; otherwise, and for the moment between naming it and the
rename, it is ``.<target name>.<host>.<pid>.<random>.tmp``, and the next write of the same
target removes such files whose process (on this host: a shared folder may have writers on
others) is gone, as far as the folder can be listed. Names stay within the file system's
limit however long the target's name is, and may hold any bytes the target's name holds.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from kancc.errors import KanccError

NAME_BYTES = 100  # of the target's name kept in a temporary file's name
TEMPORARY_TAIL = re.compile(r"([A-Za-z0-9-]+)\.(\d+)\.[A-Za-z0-9_]{8}\.tmp")  # host, pid, random


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file, then rename it to ``path``."""
    target = Path(path)
    if target.is_dir():
        raise KanccError(f"cannot write {target}: it is a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target)
        _write_then_rename(target, write)
    except OSError as exc:
        raise KanccError(f"cannot write {target}: {exc.strerror or exc}") from None


def _stem(target: Path) -> str:
    """The start of the target's temporary names: its name cut to NAME_BYTES bytes."""
    return f".{os.fsdecode(os.fsencode(target.name)[:NAME_BYTES])}."


def _host() -> str:
    """This host's name as a temporary name may hold it."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def _write_then_rename(target: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, tmp = _open_temporary(target)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # what open() would give
            if tmp is None:  # unnamed until now: name it beside the target
                tmp = _temporary_name(target)
                _link_unnamed(f.fileno(), Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _open_temporary(target: Path) -> tuple[int, str | None]:
    """An unnamed file in the target's directory (O_TMPFILE), or a named one where the
    system or file system has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is not None and Path("/proc/self/fd").is_dir():
        try:
            return os.open(target.parent, flag | os.O_WRONLY, 0o600), None
        except OSError:
            pass  # the file system does not support it
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp",
                               prefix=f"{_stem(target)}{_host()}.{os.getpid()}.")
    return fd, tmp


def _link_unnamed(fd: int, path: Path) -> None:
    """Give the O_TMPFILE file ``fd`` the name ``path`` (linkat with AT_SYMLINK_FOLLOW on its
    /proc entry; os.link takes that route only when given a directory descriptor)."""
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


def _temporary_name(target: Path) -> str:
    return str(target.parent /
               f"{_stem(target)}{_host()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _remove_stale(target: Path) -> None:
    """Remove temporary files of ``target`` left by writers that no longer run."""
    stem, host = _stem(target), _host()
    try:
        names = os.listdir(target.parent)
    except OSError:  # a folder we may write but not list: leave them
        return
    for name in names:
        ours = name.startswith(stem) and TEMPORARY_TAIL.fullmatch(name[len(stem):])
        if ours and ours.group(1) == host and not _running(int(ours.group(2))):
            try:
                (target.parent / name).unlink(missing_ok=True)
            except OSError:
                pass


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _umask() -> int:
    """The process umask, read without changing it where /proc says it (setting it, even
    briefly, would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current
