"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2.

Anything else that escapes is a bug in kancc and keeps its traceback.
"""

from __future__ import annotations


class KanccError(Exception):
    """Bad input: a spec, an option, a file, a pipeline the backend cannot render."""


class SpecError(KanccError):
    """A model spec is malformed; ``path`` names the field, e.g. ``layers[1].grid``."""

    def __init__(self, path: str, message: str, origin: str | None = None) -> None:
        self.path, self.message, self.origin = path, message, origin
        where = f"{origin}: " if origin else ""
        field = f"{path}: " if path else ""
        super().__init__(f"{where}{field}{message}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str | None]]:
        """Rebuilt from its fields, so that it crosses a process pool intact."""
        return (SpecError, (self.path, self.message, self.origin))


class PassError(KanccError):
    """A pass failed or produced IR that does not verify; names the pass and those before."""


class BackendError(KanccError):
    """The final IR holds something a backend cannot render, or the runtime is missing."""


class DataError(KanccError):
    """Training data is unusable; ``source`` names the file or synthetic target."""

    def __init__(self, source: str, message: str) -> None:
        self.source, self.message = source, message
        super().__init__(f"{source}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (DataError, (self.source, self.message))


class KanccWarning(UserWarning):
    """The compiler cannot guarantee accuracy (e.g. the float32 ReLU-basis hazard); the CLI
    prints it as one ``kancc: warning:`` line."""


class SlowTargetWarning(KanccWarning):
    """A target runs here far slower than it is built for (Triton in its interpreter on the
    CPU). Python shows it once per place it is raised from; the CLI, once per run."""
