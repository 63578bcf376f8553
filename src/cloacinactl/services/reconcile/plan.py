"""Reconcile planning (design §11): pure, no trio, no I/O.

Given what is on disk (fingerprinted archives, plus files still settling) and
what the daemon holds (loaded packages, broken archives), decide what to do:

- **load** new archives, and broken ones that deserve a retry: their content
  changed, or they were blocked by a same-named package that is going away;
- **reload** loaded archives whose content hash changed (same version or not);
- **unload** loaded archives that vanished (file deleted, or its folder left
  the watch set);
- **forget** broken archives that vanished (their error is dropped).

A broken archive with unchanged content is left alone: reported once, never
retried on every tick. A file still settling (recently modified) is neither
loaded nor unloaded this pass. ``orphans`` names packages whose schedules are
in the database but which no loaded archive provides (removed while the daemon
was down, or broken now).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoadedState:
    """A loaded archive as the planner sees it."""

    name: str
    sha256: str


@dataclass(frozen=True)
class BrokenState:
    """An archive that failed to load: its content hash and why."""

    sha256: str
    error: str
    blocked_by: str | None = None  # a same-named package already loaded elsewhere


@dataclass(frozen=True)
class ReconcilePlan:
    unload: tuple[Path, ...] = ()
    reload: tuple[Path, ...] = ()
    load: tuple[Path, ...] = ()
    forget: tuple[Path, ...] = ()
    pending: tuple[Path, ...] = ()

    @property
    def changes(self) -> bool:
        """Whether applying the plan changes what is loaded."""
        return bool(self.unload or self.reload or self.load)


def plan_reconcile(
    present: Mapping[Path, str],
    loaded: Mapping[Path, LoadedState],
    broken: Mapping[Path, BrokenState],
    *,
    pending: Collection[Path] = (),
) -> ReconcilePlan:
    """Decide a pass. ``present`` maps settled archives to their SHA-256."""
    pending_set = set(pending)
    unload = sorted(p for p in loaded if p not in present and p not in pending_set)
    reload = sorted(p for p, st in loaded.items() if p in present and present[p] != st.sha256)
    going = set(unload) | set(reload)
    names_staying = {st.name for p, st in loaded.items() if p not in going}
    load: list[Path] = []
    for path in sorted(present):
        if path in loaded:
            continue
        prev = broken.get(path)
        if (
            prev is None
            or prev.sha256 != present[path]
            or (prev.blocked_by is not None and prev.blocked_by not in names_staying)
        ):
            load.append(path)
    forget = sorted(p for p in broken if p not in present and p not in pending_set)
    return ReconcilePlan(
        unload=tuple(unload),
        reload=tuple(reload),
        load=tuple(load),
        forget=tuple(forget),
        pending=tuple(sorted(pending_set)),
    )


def orphans(known_in_db: Collection[str], live_names: Collection[str]) -> list[str]:
    """Packages with schedules in the database that no loaded archive provides."""
    live = set(live_names)
    return sorted(n for n in set(known_in_db) if n not in live)
