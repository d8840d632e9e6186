"""Load emitted source as a real module from a content-addressed file.

Triton reads a kernel's source with ``inspect``, so generated code must live in a file; the
NumPy module goes the same way so that tracebacks show its lines. Files are named by the
hash of their text in the cache directory: ``$KANCC_CACHE_DIR``, else
``$XDG_CACHE_HOME/kancc``, else ``~/.cache/kancc``. The same text is written once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from kancc.errors import KanccError

from .atomic_files import write_text_atomic


def cache_dir() -> Path:
    if os.environ.get("KANCC_CACHE_DIR"):
        return Path(os.environ["KANCC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kancc"


def load_module(source: str, prefix: str) -> ModuleType:
    """Import ``source`` as module ``kancc_generated_<prefix>_<hash>`` (cached by content)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:20]
    name = f"kancc_generated_{prefix}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = cache_dir() / f"{name}.py"
    if not path.exists():  # the name is the hash of the text: an existing file is this one
        try:
            write_text_atomic(path, source)
        except KanccError as exc:
            raise KanccError(f"{exc} (set KANCC_CACHE_DIR to a writable directory)") from None
    return import_file(name, path)


def import_file(name: str, path: Path) -> ModuleType:
    """The module ``name`` imported from ``path`` (once a process: sys.modules keeps it)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
