"""The daemon's watch set (design §11): pure merge rules.

``<home>/packages/`` always comes first, then the ``--watch-dir`` folders, then
``[watch] directories`` from config.toml; ``~`` is expanded, relative paths are
taken from ``base`` (the daemon's working directory), every path is resolved
(so a symlinked folder and its target are one entry) and duplicates are
dropped keeping the first occurrence: a stable order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def normalise_dir(path: str | os.PathLike[str], *, base: Path | None = None) -> Path:
    """``~`` expanded, made absolute against ``base`` and resolved (need not exist)."""
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.is_absolute():
        p = (base if base is not None else Path.cwd()) / p
    return p.resolve(strict=False)


def merge_watch_dirs(
    packages_dir: Path,
    cli_dirs: Iterable[str | os.PathLike[str]] = (),
    config_dirs: Iterable[str | os.PathLike[str]] = (),
    *,
    base: Path | None = None,
) -> tuple[Path, ...]:
    """The merged, de-duplicated watch set in a stable order."""
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in (packages_dir, *cli_dirs, *config_dirs):
        path = normalise_dir(raw, base=base)
        if path not in seen:
            seen.add(path)
            out.append(path)
    return tuple(out)


def diff_watch_dirs(
    old: Iterable[Path], new: Iterable[Path]
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(added, removed) between two watch sets, each in the order of its own set."""
    old_t, new_t = tuple(old), tuple(new)
    return (
        tuple(p for p in new_t if p not in old_t),
        tuple(p for p in old_t if p not in new_t),
    )
