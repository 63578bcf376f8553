"""A stored archive's text files, for ``GET …/workflows/{name}/source`` (blocking).

The archive is unpacked with the hostile-input limits into a private temporary
folder; every text file of the package is returned except what the build
adds (``vendor/``, byte code), in path order, up to a total size.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cloacinactl.packages import unpack_archive

MAX_TOTAL_BYTES = 4 * 1024 * 1024
SKIPPED_DIRS = frozenset({"vendor", "__pycache__", ".git"})
LANGUAGES = {".py": "python", ".toml": "toml", ".txt": "text", ".md": "markdown", ".json": "json"}


def source_files(data: bytes) -> list[dict[str, str]]:
    """``[{path, contents, language}]`` of the package in ``data`` (a .cloacina archive)."""
    with tempfile.TemporaryDirectory(prefix="cloacina-source-") as tmp:
        archive = Path(tmp) / "package.cloacina"
        archive.write_bytes(data)
        root = unpack_archive(archive, Path(tmp) / "tree")
        out: list[dict[str, str]] = []
        total = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root)
            language = LANGUAGES.get(path.suffix)
            if language is None or SKIPPED_DIRS.intersection(rel.parts[:-1]):
                continue
            raw = path.read_bytes()
            total += len(raw)
            if total > MAX_TOTAL_BYTES:
                break
            out.append(
                {
                    "path": rel.as_posix(),
                    "contents": raw.decode("utf-8", errors="replace"),
                    "language": language,
                }
            )
        return out
