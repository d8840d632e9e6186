"""kancc.storage: what kancc writes and reads back.

Checkpoints (parameters + spec + version in one .npz, read without pickle), atomic file
writes (a crash never leaves half a file at the target), and emitted modules loaded from a
content-addressed cache file.
"""

from .atomic_files import write_atomic, write_bytes_atomic, write_text_atomic
from .checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from .module_cache import import_file, load_module

__all__ = ["Checkpoint", "import_file", "load_checkpoint", "load_module", "save_checkpoint",
           "write_atomic", "write_bytes_atomic", "write_text_atomic"]
