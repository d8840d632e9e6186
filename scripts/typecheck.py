"""Run mypy over the kancc package with its real module names.

kancc maps two top-level folders into its namespace (``ir/`` is ``kancc.ir``, ``backends/``
is ``kancc.backends``; pyproject's package-dir), which mypy's command line cannot express:
given the folders, it would check ``ir`` and ``backends`` as packages of their own and
resolve none of the ``kancc.ir`` imports. So this script names every file's module itself
and hands the list to mypy's API; the settings are pyproject's [tool.mypy]. Exit status 1
when mypy reports anything.

    python scripts/typecheck.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from mypy import build
from mypy.main import process_options
from mypy.modulefinder import BuildSource

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"kancc": ROOT / "kancc", "kancc.ir": ROOT / "ir",
                "kancc.backends": ROOT / "backends"}


def sources() -> list[BuildSource]:
    found = []
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts
                     if p != "__init__"]
            found.append(BuildSource(str(path), ".".join([package, *parts]), None))
    return found


def main() -> int:
    _, options = process_options(["--config-file", str(ROOT / "pyproject.toml")],
                                 require_targets=False)
    result = build.build(sources=sources(), options=options)
    for line in result.errors:
        print(line)
    print(f"mypy: {len(result.errors)} finding(s) in {len(sources())} files")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
