"""Reading .npy and .npz files a user hands to kancc: one place where every way a file can
be wrong (missing, not a regular file, empty, truncated, a bad checksum, pickled objects)
becomes one KanccError naming the file."""

from __future__ import annotations

import os
import stat

import numpy as np

from kancc.errors import KanccError

Arrays = np.ndarray | dict[str, np.ndarray]


def read_arrays(path: str | os.PathLike[str], what: str) -> Arrays:
    """The array of an .npy file, or every array of an .npz archive (read now, so a damaged
    member is found here), never unpickling; ``what`` names the file in messages
    ("--input", "checkpoint")."""
    where = f"{what} {os.fspath(path)}"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise KanccError(f"{where}: no such file") from None
    except OSError as exc:
        raise KanccError(f"{where}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise KanccError(f"{where}: not a regular file")
    if info.st_size == 0:
        raise KanccError(f"{where}: the file is empty")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {name: loaded[name] for name in loaded.files}
        return np.asarray(loaded)
    except MemoryError:
        raise KanccError(f"{where}: too large to load") from None
    except Exception as exc:  # numpy, zipfile and zlib raise many kinds on a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KanccError(f"{where}: not a readable .npy/.npz file ({reason})") from None
