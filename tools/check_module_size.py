"""Fail when a module of the ``graflow`` package is longer than the ceiling.

One concept per module keeps the code easy to read and change: aim under 400 lines, 600 is the ceiling. A module
that must stay longer is listed in ``ALLOW_LIST`` with the reason written out, and the check reports an entry that
no longer applies (file gone or back under the ceiling) so the list stays honest.

Usage: ``python tools/check_module_size.py [PACKAGE_DIR]`` (default: the ``graflow`` folder next to ``tools``).
Exit status 0 when every module fits, 1 otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

#: Longest module, in lines, allowed without an entry in ``ALLOW_LIST``.
MAX_LINES = 600

#: Modules allowed past ``MAX_LINES``: path relative to the repository root (POSIX form) -> the reason.
ALLOW_LIST: dict[str, str] = {}

REPO_ROOT = Path(__file__).resolve().parent.parent


def count_lines(path: Path) -> int:
    """Number of lines in ``path`` (a last line without a newline counts)."""
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def find_problems(
    package_dir: Path,
    *,
    root: Path,
    allow_list: Mapping[str, str] = ALLOW_LIST,
    max_lines: int = MAX_LINES,
) -> list[str]:
    """Every violation under ``package_dir``, one readable line each.

    Args:
        package_dir: Folder whose ``*.py`` files are measured, recursively.
        root: Folder the allow-list paths are relative to.
        allow_list: Relative path -> reason, for modules allowed past ``max_lines``.
        max_lines: The ceiling.

    Returns:
        Messages for modules over the ceiling without an allow-list entry, for allow-list entries without a reason,
        and for entries that no longer apply. Empty when everything fits.
    """
    problems: list[str] = []
    sizes = {
        path.relative_to(root).as_posix(): count_lines(path)
        for path in sorted(package_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    for rel, lines in sizes.items():
        if lines > max_lines and rel not in allow_list:
            problems.append(
                f"{rel}: {lines} lines, over the {max_lines}-line ceiling. Split it by concept, or add it to "
                f"ALLOW_LIST in tools/check_module_size.py with the reason it must stay whole."
            )
    for rel, reason in allow_list.items():
        if not reason.strip():
            problems.append(f"{rel}: allow-list entry has no reason; write down why the module must stay whole.")
        if rel not in sizes:
            problems.append(f"{rel}: listed in ALLOW_LIST but no such module exists; remove the entry.")
        elif sizes[rel] <= max_lines:
            problems.append(
                f"{rel}: listed in ALLOW_LIST but has {sizes[rel]} lines (ceiling {max_lines}); remove the entry."
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the check and print what it found; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    package_dir = Path(args[0]).resolve() if args else REPO_ROOT / "graflow"
    if not package_dir.is_dir():
        print(f"check_module_size: {package_dir} is not a folder", file=sys.stderr)
        return 2
    root = REPO_ROOT if package_dir.is_relative_to(REPO_ROOT) else package_dir.parent
    problems = find_problems(package_dir, root=root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    count = sum(1 for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts)
    print(f"check_module_size: {count} modules under {package_dir.name}/, none over {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
