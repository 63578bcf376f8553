"""``package.toml``: parse, fill in defaults and reject unknown keys (design §7).

The core (:func:`parse_manifest`) is pure: it takes the decoded TOML and two
facts about the folder (is there a ``workflow/``, is there a ``Cargo.toml``)
and returns a :class:`Manifest` or raises :class:`ManifestError` naming the
offending key. :func:`load_manifest` is the thin file-reading shell.

Two modes:

* lenient (default, used when loading any archive, ours or upstream's): keys
  and types are checked, and names are checked only for what makes them safe
  to use as a folder name and an import path;
* strict (used for archives we produce, ``package pack``): additionally the
  name must be lower-case ``[a-z0-9_-]``, the version must be semantic
  (``1.2.3`` with optional ``-pre``/``+build``) and ``interface``,
  ``interface_version`` and ``extension`` must hold their only valid values.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cloacinactl.packages.errors import ManifestError

MANIFEST_FILE = "package.toml"
INTERFACE = "cloacina-workflow-plugin"
INTERFACE_VERSION = 1
EXTENSION = "cloacina"

PACKAGE_KEYS = frozenset({"name", "version", "interface", "interface_version", "extension"})
METADATA_KEYS = frozenset(
    {
        "language",
        "workflow_name",
        "entry_module",
        "description",
        "author",
        "requires_python",
        "graph_name",
        "reaction_mode",
        "input_strategy",
        "accumulators",
    }
)
LANGUAGES = ("python", "rust")
REACTION_MODES = ("when_any", "when_all")
INPUT_STRATEGIES = ("latest", "sequential")

# Safe as a folder name in the archive and free of path separators.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_STRICT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Manifest:
    """A validated ``package.toml`` with every default filled in."""

    name: str
    version: str
    language: str
    workflow_name: str
    entry_module: str
    interface: str = INTERFACE
    interface_version: int = INTERFACE_VERSION
    extension: str = EXTENSION
    description: str | None = None
    author: str | None = None
    requires_python: str | None = None
    graph_name: str | None = None
    reaction_mode: str | None = None
    input_strategy: str | None = None
    accumulators: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def folder_name(self) -> str:
        """The archive's single top-level folder: ``<name>-<version>``."""
        return f"{self.name}-{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``accumulators`` as a list)."""
        data = asdict(self)
        data["accumulators"] = [dict(a) for a in self.accumulators]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Inverse of :meth:`to_dict` (no validation: the dict came from us)."""
        values = dict(data)
        values["accumulators"] = tuple(dict(a) for a in values.get("accumulators", ()))
        return cls(**values)


def default_entry_module(name: str) -> str:
    """``<name with - as _>.tasks`` (upstream's convention)."""
    return f"{name.replace('-', '_')}.tasks"


def _str(table: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ManifestError(f"{MANIFEST_FILE}: missing required key '{where}.{key}'")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{MANIFEST_FILE}: '{where}.{key}' must be a non-empty string")
    return value


def _reject_unknown(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ManifestError(
                f"{MANIFEST_FILE}: unknown key '{where}.{key}'",
                hint=f"allowed in [{where}]: " + ", ".join(sorted(allowed)),
            )


def _language(declared: str | None, has_workflow_dir: bool, has_cargo: bool) -> str:
    if declared is not None:
        if declared not in LANGUAGES:
            raise ManifestError(
                f"{MANIFEST_FILE}: 'metadata.language' must be one of {', '.join(LANGUAGES)},"
                f" not '{declared}'"
            )
        return declared
    if has_workflow_dir and has_cargo:
        raise ManifestError(
            "cannot infer the language: the package has both workflow/ and Cargo.toml",
            hint='set metadata.language = "python" or "rust" in package.toml',
        )
    if has_workflow_dir:
        return "python"
    if has_cargo:
        return "rust"
    raise ManifestError(
        "no workflow/ folder (and no Cargo.toml): nothing to load",
        hint="a Python package keeps its modules under workflow/",
    )


def _accumulators(value: Any) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise ManifestError(f"{MANIFEST_FILE}: 'metadata.accumulators' must be [[tables]]")
    for index, acc in enumerate(value):
        if not isinstance(acc.get("name"), str) or not acc["name"]:
            raise ManifestError(
                f"{MANIFEST_FILE}: 'metadata.accumulators[{index}].name' must be a string"
            )
    return tuple(dict(a) for a in value)


def _choice(value: str | None, key: str, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ManifestError(
            f"{MANIFEST_FILE}: 'metadata.{key}' must be one of {', '.join(allowed)}, not '{value}'"
        )


def _check_entry_module(entry: str) -> None:
    if not all(_IDENT.match(part) for part in entry.split(".")):
        raise ManifestError(
            f"{MANIFEST_FILE}: 'metadata.entry_module' must be a dotted module path"
            f" (like pkg.tasks), not '{entry}'"
        )


def parse_manifest(
    data: Mapping[str, Any],
    *,
    has_workflow_dir: bool,
    has_cargo: bool = False,
    strict: bool = False,
) -> Manifest:
    """Validate decoded ``package.toml`` data and fill in the defaults of design §7."""
    _reject_unknown(data, frozenset({"package", "metadata"}), "")
    package = data.get("package")
    if not isinstance(package, dict):
        raise ManifestError(f"{MANIFEST_FILE}: missing the [package] table")
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ManifestError(f"{MANIFEST_FILE}: [metadata] must be a table")
    _reject_unknown(package, PACKAGE_KEYS, "package")
    _reject_unknown(metadata, METADATA_KEYS, "metadata")

    name = _str(package, "name", "package", required=True)
    version = _str(package, "version", "package", required=True)
    assert name is not None and version is not None
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ManifestError(f"{MANIFEST_FILE}: invalid package name '{name}'")
    if not _SAFE_NAME.match(version) or ".." in version:
        raise ManifestError(f"{MANIFEST_FILE}: invalid package version '{version}'")
    interface = _str(package, "interface", "package") or INTERFACE
    extension = _str(package, "extension", "package") or EXTENSION
    interface_version = package.get("interface_version", INTERFACE_VERSION)
    if not isinstance(interface_version, int) or isinstance(interface_version, bool):
        raise ManifestError(f"{MANIFEST_FILE}: 'package.interface_version' must be an integer")
    if strict:
        if not _STRICT_NAME.match(name):
            raise ManifestError(
                f"{MANIFEST_FILE}: package name '{name}' must be lower-case letters, digits,"
                " '-' or '_'"
            )
        if not _SEMVER.match(version):
            raise ManifestError(
                f"{MANIFEST_FILE}: package version '{version}' is not semantic (like 1.2.3)"
            )
        for key, got, want in (
            ("interface", interface, INTERFACE),
            ("interface_version", interface_version, INTERFACE_VERSION),
            ("extension", extension, EXTENSION),
        ):
            if got != want:
                raise ManifestError(f"{MANIFEST_FILE}: 'package.{key}' must be {want!r}")

    language = _language(_str(metadata, "language", "metadata"), has_workflow_dir, has_cargo)
    if language == "python" and not has_workflow_dir:
        raise ManifestError(
            "no workflow/ folder: a Python package keeps its modules under workflow/"
        )
    # a computation-graph package's module is <name>.graph (upstream's convention)
    graph_package = metadata.get("graph_name") is not None and "workflow_name" not in metadata
    entry_module = _str(metadata, "entry_module", "metadata") or (
        f"{name.replace('-', '_')}.graph" if graph_package else default_entry_module(name)
    )
    _check_entry_module(entry_module)
    text: dict[str, str | None] = {
        key: _str(metadata, key, "metadata")
        for key in (
            "description",
            "author",
            "requires_python",
            "graph_name",
            "reaction_mode",
            "input_strategy",
        )
    }
    _choice(text["reaction_mode"], "reaction_mode", REACTION_MODES)
    _choice(text["input_strategy"], "input_strategy", INPUT_STRATEGIES)
    return Manifest(
        name=name,
        version=version,
        language=language,
        workflow_name=_str(metadata, "workflow_name", "metadata") or name,
        entry_module=entry_module,
        interface=interface,
        interface_version=interface_version,
        extension=extension,
        accumulators=_accumulators(metadata.get("accumulators")),
        **text,
    )


def load_manifest(root: Path, *, strict: bool = False) -> Manifest:
    """Read and validate ``<root>/package.toml``."""
    path = root / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"no {MANIFEST_FILE} in {root}") from None
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: invalid TOML: {exc}") from exc
    return parse_manifest(
        data,
        has_workflow_dir=(root / "workflow").is_dir(),
        has_cargo=(root / "Cargo.toml").is_file(),
        strict=strict,
    )
