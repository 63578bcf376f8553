"""Helpers for the packages tests: package folders and hand-made (hostile) archives."""

from __future__ import annotations

import bz2
import io
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

MANIFEST = """\
[package]
name = "{name}"
version = "{version}"

[metadata]
workflow_name = "{workflow}"
entry_module = "{module}.tasks"
"""

TASKS = """\
import cloaca


@cloaca.task(id="first", dependencies=[])
def first(context):
    context.set("first", True)
    return context


@cloaca.task(id="second", dependencies=["first"])
def second(context):
    context.set("second", context.get("first"))
    return context
"""

PackageFactory = Callable[..., Path]


def write_package(
    parent: Path,
    name: str = "demo-pkg",
    *,
    version: str = "0.1.0",
    tasks: str = TASKS,
    manifest: str | None = None,
    extra: dict[str, str] | None = None,
) -> Path:
    """A Python package folder with a manifest and workflow/<module>/tasks.py."""
    module = name.replace("-", "_")
    root = parent / name
    package = root / "workflow" / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(tasks)
    text = manifest if manifest is not None else MANIFEST
    (root / "package.toml").write_text(
        text.format(name=name, version=version, workflow=module, module=module)
    )
    for rel, content in (extra or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture
def make_package(tmp_path: Path) -> PackageFactory:
    def make(name: str = "demo-pkg", **kwargs: object) -> Path:
        return write_package(tmp_path / "src", name, **kwargs)  # type: ignore[arg-type]

    return make


Entry = tuple[tarfile.TarInfo, bytes | None]


def file_entry(name: str, data: bytes = b"x", **attrs: object) -> Entry:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def special_entry(name: str, kind: bytes, linkname: str = "") -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def dir_entry(name: str) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def build_archive(path: Path, entries: Iterable[Entry]) -> Path:
    """A bzip2 tar holding exactly ``entries`` (no safety applied: tests make bad ones)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(bz2.compress(raw.getvalue()))
    return path


def valid_entries(top: str = "demo-0.1.0") -> list[Entry]:
    manifest = b'[package]\nname = "demo"\nversion = "0.1.0"\n'
    return [
        dir_entry(top),
        file_entry(f"{top}/package.toml", manifest),
        dir_entry(f"{top}/workflow"),
        dir_entry(f"{top}/workflow/demo"),
        file_entry(f"{top}/workflow/demo/__init__.py", b""),
        file_entry(f"{top}/workflow/demo/tasks.py", b"import cloaca\n"),
    ]


class ArchiveKit:
    """The archive helpers, handed to tests as the ``kit`` fixture."""

    file = staticmethod(file_entry)
    special = staticmethod(special_entry)
    dir = staticmethod(dir_entry)
    build = staticmethod(build_archive)
    valid = staticmethod(valid_entries)
    write_package = staticmethod(write_package)
    TASKS = TASKS


@pytest.fixture
def kit() -> type[ArchiveKit]:
    return ArchiveKit
