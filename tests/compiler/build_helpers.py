"""Helpers for the compiler tests: source archives as a user uploads them, local wheels."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from cloacinactl.packages.manifest import load_manifest
from cloacinactl.packages.pack import pack_bytes


def _packages_conftest() -> ModuleType:
    """tests/packages/conftest.py (its package folder helpers), loaded under its own name."""
    path = Path(__file__).parent.parent / "packages" / "conftest.py"
    spec = importlib.util.spec_from_file_location("packages_test_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PACKAGES = _packages_conftest()
TASKS: str = _PACKAGES.TASKS


def write_source(
    parent: Path,
    name: str = "demo-pkg",
    *,
    extra: dict[str, str | bytes] | None = None,
    **kwargs: object,
) -> Path:
    """A Python package folder (tests/packages' ``write_package``) plus ``extra`` files."""
    root: Path = _PACKAGES.write_package(parent, name, **kwargs)
    for rel, content in (extra or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def source_archive(parent: Path, name: str = "demo-pkg", **kwargs: object) -> bytes:
    """The .cloacina bytes a user would upload for :func:`write_source`'s folder."""
    root = write_source(parent, name, **kwargs)  # type: ignore[arg-type]
    data, _count = pack_bytes(root, load_manifest(root))
    return data


def make_wheel(folder: Path, dist: str, version: str, module_source: str) -> Path:
    """A minimal pure-Python wheel ``<dist>-<version>-py3-none-any.whl`` with one module."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}.py": module_source.encode(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n").encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def upload(store: Any, source: bytes, name: str, version: str = "0.1.0") -> str:
    """What the server's upload route stores when a compiler is alive: a ``pending``
    package row with its source archive, then a wake-up for the compilers."""
    from cloacinactl.store import buildwatch
    from cloacinactl.store.archives import store_upload

    digest = hashlib.sha256(source).hexdigest()
    now = dt.datetime.now(dt.UTC)

    def write(conn: Any) -> str:
        row = store_upload(
            conn,
            name=name,
            version=version,
            sha256=digest,
            archive=source,
            signature=None,
            now=now,
            build_status="pending",
        )
        buildwatch.notify_pending(conn)
        return row.id

    return str(store.write(write))
