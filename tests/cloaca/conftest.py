"""Fixtures for the authoring API: throwaway importable modules in tmp_path."""

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import cloacinactl.cloaca


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """``modules(name=source, ...)`` writes modules (dotted names make packages) under
    tmp_path, puts it on sys.path with ``cloaca`` importable, and cleans up after."""
    root = tmp_path / "src"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setitem(sys.modules, "cloaca", cloacinactl.cloaca)
    written: list[str] = []

    def write(**sources: str) -> Path:
        for dotted, source in sources.items():
            parts = dotted.split(".")
            folder = root
            for part in parts[:-1]:
                folder = folder / part
                folder.mkdir(exist_ok=True)
                (folder / "__init__.py").touch()
            (folder / f"{parts[-1]}.py").write_text(textwrap.dedent(source))
            written.append(parts[0])
        importlib.invalidate_caches()
        return root

    yield write
    for name in list(sys.modules):
        if name.split(".")[0] in written:
            del sys.modules[name]
