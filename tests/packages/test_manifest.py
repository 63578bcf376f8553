"""The manifest core: defaults, inference, unknown/forbidden keys, strict mode."""

from __future__ import annotations

from typing import Any

import pytest

from cloacinactl.packages import Manifest, ManifestError, parse_manifest


def parse(data: dict[str, Any], **kw: Any) -> Manifest:
    kw.setdefault("has_workflow_dir", True)
    return parse_manifest(data, **kw)


def test_minimal_upstream_manifest_gets_every_default() -> None:
    m = parse({"package": {"name": "data-pipeline", "version": "0.1.0"}})
    assert m.language == "python"
    assert m.workflow_name == "data-pipeline"
    assert m.entry_module == "data_pipeline.tasks"
    assert (m.interface, m.interface_version, m.extension) == (
        "cloacina-workflow-plugin",
        1,
        "cloacina",
    )
    assert m.folder_name == "data-pipeline-0.1.0"
    assert Manifest.from_dict(m.to_dict()) == m


def test_explicit_metadata_is_kept() -> None:
    m = parse(
        {
            "package": {"name": "x", "version": "1.0.0"},
            "metadata": {
                "workflow_name": "wf",
                "entry_module": "pkg.main",
                "description": "d",
                "author": "a",
                "requires_python": ">=3.11",
                "accumulators": [{"name": "ticks", "config": {"k": 1}}],
            },
        }
    )
    assert (m.workflow_name, m.entry_module, m.author) == ("wf", "pkg.main", "a")
    assert m.accumulators == ({"name": "ticks", "config": {"k": 1}},)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"package": {"name": "x", "version": "1", "package_type": "w"}}, "package.package_type"),
        (
            {"package": {"name": "x", "version": "1"}, "metadata": {"package_type": ["w"]}},
            "metadata.package_type",
        ),
        (
            {"package": {"name": "x", "version": "1"}, "metadata": {"triggers": [{"a": 1}]}},
            "metadata.triggers",
        ),
        ({"package": {"name": "x", "version": "1"}, "extra": {}}, "'.extra'"),
    ],
)
def test_unknown_and_forbidden_keys_are_named(data: dict[str, Any], named: str) -> None:
    with pytest.raises(ManifestError, match="unknown key") as err:
        parse(data)
    assert named in str(err.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "missing the \\[package\\] table"),
        ({"package": {"version": "1"}}, "package.name"),
        ({"package": {"name": "x"}}, "package.version"),
        ({"package": {"name": "../evil", "version": "1"}}, "invalid package name"),
        ({"package": {"name": "x", "version": "1/2"}}, "invalid package version"),
        (
            {"package": {"name": "x", "version": "1"}, "metadata": {"entry_module": "a/b"}},
            "dotted module path",
        ),
        (
            {"package": {"name": "x", "version": "1"}, "metadata": {"language": "go"}},
            "must be one of",
        ),
        ({"package": {"name": "x", "version": "1", "interface_version": "1"}}, "integer"),
    ],
)
def test_invalid_values(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse(data)


def test_language_inference() -> None:
    base = {"package": {"name": "x", "version": "1"}}
    assert parse(base, has_workflow_dir=False, has_cargo=True).language == "rust"
    with pytest.raises(ManifestError, match=r"both workflow/ and Cargo\.toml"):
        parse(base, has_workflow_dir=True, has_cargo=True)
    with pytest.raises(ManifestError, match="no workflow/"):
        parse(base, has_workflow_dir=False)
    declared = {**base, "metadata": {"language": "python"}}
    with pytest.raises(ManifestError, match="no workflow/"):
        parse(declared, has_workflow_dir=False)


def test_strict_mode_checks_names_versions_and_interface() -> None:
    ok = {"package": {"name": "my-pkg", "version": "1.2.3-rc.1"}}
    assert parse(ok, strict=True).version == "1.2.3-rc.1"
    for bad, message in (
        ({"package": {"name": "MyPkg", "version": "1.0.0"}}, "lower-case"),
        ({"package": {"name": "p", "version": "1.0"}}, "not semantic"),
        ({"package": {"name": "p", "version": "1.0.0", "interface": "x"}}, "package.interface"),
    ):
        assert parse(bad).name  # lenient mode accepts it
        with pytest.raises(ManifestError, match=message):
            parse(bad, strict=True)
