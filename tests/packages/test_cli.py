"""The `package` commands end to end, through the installed cloacinactl."""

from __future__ import annotations

import json
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cloacinactl.packages import pack_dir

HANGS = "import time\nwhile True:\n    time.sleep(1)\n"


def test_new_build_pack_sign_validate_round_trip(cli: Any, tmp_path: Path) -> None:
    r = cli("package", "new", "round-trip", "--dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    root = tmp_path / "round-trip"
    assert (root / "workflow/round_trip/tasks.py").is_file()

    r = cli("package", "build", str(root), "--json")
    assert r.returncode == 0, r.stderr
    built = json.loads(r.stdout)
    wf = built["workflows"][0]
    assert wf["name"] == "round_trip"
    assert [t["id"] for t in wf["tasks"]] == ["extract", "summarize"]
    assert wf["tasks"][1]["dependencies"] == ["extract"]
    assert built["triggers"][0]["cron"] == "0 * * * *"

    key = tmp_path / "keys" / "release"
    r = cli("package", "keygen", str(key))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    archive = tmp_path / "rt.cloacina"
    r = cli("package", "pack", str(root), "-o", str(archive), "--sign", str(key), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["signature"] == f"{archive}.sig"
    assert (tmp_path / "rt.cloacina.sig").is_file()

    r = cli("package", "validate", str(archive), "--trusted-key", f"{key}.pub", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["signature"].startswith("verified")
    assert doc["name"] == "round-trip" and doc["workflow"] == "round_trip"
    assert [t["id"] for t in doc["workflows"][0]["tasks"]] == ["extract", "summarize"]

    r = cli("package", "validate", str(archive))  # table output, no signature check
    assert r.returncode == 0, r.stderr
    assert "summarize" in r.stdout and "not checked" in r.stdout

    records = '{"records": [1, 2, 3, 4]}'
    r = cli("package", "run", str(archive), "--json", "--context", "-", input=records, timeout=120)
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert run["status"] == "Completed"
    assert run["output_context"]["summary"] == {"count": 4, "total": 10}
    assert [(t["task"], t["state"]) for t in run["tasks"]] == [
        ("extract", "Completed"),
        ("summarize", "Completed"),
    ]


def test_pack_twice_same_bytes_via_cli(cli: Any, make_package: Any, tmp_path: Path) -> None:
    root = make_package()
    for name in ("a", "b"):
        r = cli("package", "pack", str(root), "-o", str(tmp_path / f"{name}.cloacina"))
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.cloacina").read_bytes() == (tmp_path / "b.cloacina").read_bytes()


def test_tampered_signed_archive_is_refused(cli: Any, make_package: Any, tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert cli("package", "keygen", str(key)).returncode == 0
    archive = tmp_path / "p.cloacina"
    r = cli("package", "pack", str(make_package()), "-o", str(archive), "--sign", str(key))
    assert r.returncode == 0, r.stderr
    data = bytearray(archive.read_bytes())
    data[-1] ^= 0x01
    archive.write_bytes(bytes(data))
    r = cli("package", "validate", str(archive), "--trusted-key", f"{key}.pub")
    assert r.returncode == 1
    assert "modified after signing" in r.stderr


def test_signature_failures_are_distinct(cli: Any, make_package: Any, tmp_path: Path) -> None:
    for name in ("k1", "k2"):
        assert cli("package", "keygen", str(tmp_path / name)).returncode == 0
    archive = tmp_path / "p.cloacina"
    assert cli("package", "pack", str(make_package()), "-o", str(archive)).returncode == 0
    r = cli("package", "validate", str(archive), "--trusted-key", str(tmp_path / "k1.pub"))
    assert r.returncode == 1 and "no signature" in r.stderr
    r = cli("package", "pack", str(make_package("second")), "-o", str(archive), "--sign",
            str(tmp_path / "k2"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli("package", "validate", str(archive), "--trusted-key", str(tmp_path / "k1.pub"))
    assert r.returncode == 1 and "untrusted key" in r.stderr


@pytest.mark.parametrize(
    ("tasks", "extra", "message"),
    [
        ("def broken(:\n", {}, "syntax error in entry module 'demo_pkg.tasks'"),
        ("raise RuntimeError('boom at import')\n", {}, "raised at import: RuntimeError: boom"),
        (HANGS, {}, "did not finish within 2s"),
        ("import cloaca\n", {"workflow/os.py": "x = 1\n"}, "workflow/os.py would shadow"),
        ("import cloaca\n", {"vendor/json/__init__.py": ""}, "vendor/json/ would shadow"),
        ("import sys\nsys.exit(3)\n", {}, "raised at import: SystemExit"),
    ],
)
def test_bad_entry_modules_exit_1_naming_the_problem(
    cli: Any, make_package: Any, tmp_path: Path, tasks: str, extra: dict[str, str], message: str
) -> None:
    root = make_package(tasks=tasks, extra=extra)
    archive = pack_dir(root, tmp_path / "bad.cloacina").path
    r = cli("package", "validate", str(archive), "--import-timeout", "2")
    assert r.returncode == 1, r.stdout
    assert message in r.stderr
    assert r.stdout == ""


def test_build_reports_syntax_errors_with_file_and_line(cli: Any, make_package: Any) -> None:
    root = make_package(extra={"workflow/demo_pkg/helpers.py": "x = 1\ny = (\n"})
    r = cli("package", "build", str(root))
    assert r.returncode == 1
    assert "syntax error in" in r.stderr and "helpers.py:" in r.stderr


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda root: (root / "package.toml").unlink(), "no package.toml"),
        (
            lambda root: (root / "package.toml").write_text(
                '[package]\nname = "p"\nversion = "0.1.0"\npackage_type = "workflow"\n'
            ),
            "unknown key 'package.package_type'",
        ),
        (
            lambda root: (root / "package.toml").write_text(
                '[package]\nname = "p"\nversion = "0.1.0"\n[[metadata.triggers]]\nname = "t"\n'
            ),
            "unknown key 'metadata.triggers'",
        ),
    ],
)
def test_bad_manifests(cli: Any, make_package: Any, mutate: Any, message: str) -> None:
    root = make_package()
    mutate(root)
    for verb in ("build", "validate", "pack"):
        r = cli("package", verb, str(root))
        assert r.returncode == 1, (verb, r.stdout)
        assert message in r.stderr, (verb, r.stderr)


def test_archive_without_manifest_or_workflow(cli: Any, kit: Any, tmp_path: Path) -> None:
    entries = [kit.dir("p-1"), kit.file("p-1/workflow/p/tasks.py", b"")]
    r = cli("package", "validate", str(kit.build(tmp_path / "a.cloacina", entries)))
    assert r.returncode == 1 and "no package.toml" in r.stderr
    manifest = b'[package]\nname = "p"\nversion = "1"\n'
    entries = [kit.dir("p-1"), kit.file("p-1/package.toml", manifest)]
    r = cli("package", "validate", str(kit.build(tmp_path / "b.cloacina", entries)))
    assert r.returncode == 1 and "no workflow/" in r.stderr


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (("file", "p-1/../../escape.py"), "escapes the archive"),
        (("file", "/abs.py"), "absolute path"),
        (("special", "p-1/l", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (("special", "p-1/h", tarfile.LNKTYPE, "p-1/package.toml"), "hard link"),
        (("special", "p-1/d", tarfile.CHRTYPE), "device file"),
    ],
)
def test_hostile_archives_via_cli(
    cli: Any, kit: Any, tmp_path: Path, home: Path, entry: tuple[Any, ...], message: str
) -> None:
    kind, *rest = entry
    bad = kit.file(*rest) if kind == "file" else kit.special(*rest)
    archive = kit.build(tmp_path / "h.cloacina", [*kit.valid("p-1"), bad])
    r = cli("package", "validate", str(archive))
    assert r.returncode == 1
    assert message in r.stderr
    assert not (tmp_path / "escape.py").exists()


def test_not_bzip2_via_cli(cli: Any, tmp_path: Path) -> None:
    archive = tmp_path / "x.cloacina"
    archive.write_bytes(b"PK\x03\x04 definitely a zip")
    r = cli("package", "validate", str(archive))
    assert r.returncode == 1 and "not a bzip2-compressed archive" in r.stderr


def test_build_vendors_requirements(cli: Any, make_package: Any, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "tinydep", "VALUE = 42\n")
    tasks = "import cloaca\nimport tinydep\n\n@cloaca.task\ndef t(context):\n    return context\n"
    root = make_package(tasks=tasks, extra={"requirements.txt": f"{wheel}\n"})
    r = cli("package", "build", str(root), "--json", env={"PIP_NO_INDEX": "1"})
    assert r.returncode == 0, r.stderr
    assert (root / "vendor/tinydep/__init__.py").is_file()
    assert json.loads(r.stdout)["vendored"] is True
    r = cli("package", "validate", str(root))
    assert r.returncode == 0, r.stderr


def make_wheel(folder: Path, name: str, code: str) -> Path:
    """A minimal pure-Python wheel, so pip installs offline."""
    import zipfile

    version = "1.0"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": code,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for n, content in files.items():
            zf.writestr(n, content)
        zf.writestr(f"{info}/RECORD", record)
    return path


FAILING = """\
import cloaca


@cloaca.task(id="ok", dependencies=[])
def ok(context):
    print("ok ran")
    return context


@cloaca.task(id="boom", dependencies=["ok"], retry_attempts=2, retry_backoff="fixed",
             retry_delay_ms=10)
def boom(context):
    raise ValueError("no luck")


@cloaca.task(id="after", dependencies=["boom"])
def after(context):
    return context
"""


def test_run_failing_workflow_exits_1_with_task_table(cli: Any, make_package: Any) -> None:
    root = make_package(tasks=FAILING)
    r = cli("package", "run", str(root), timeout=120)
    assert r.returncode == 1, r.stderr
    assert "Failed" in r.stdout
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.split()}
    assert "Completed" in lines["ok"]
    assert "Failed" in lines["boom"] and "no luck" in lines["boom"]
    assert lines["boom"].split()[2] == "2"  # both attempts used
    assert "Skipped" in lines["after"]
    assert "[ok] ok ran" in r.stderr


def test_run_examples_with_context_file(cli: Any, tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    context = tmp_path / "ctx.json"
    context.write_text('{"sensor": "attic", "samples": 10}')
    r = cli("package", "run", str(examples / "linear-pipeline"), "--context", str(context),
            "--json", env={"CLOACINA_VAR_REPORT_TITLE": "Attic"}, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)["output_context"]["report"]
    assert report["title"] == "Attic" and report["sensor"] == "attic"
    assert report["count"] + report["dropped"] == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workflow", "nope"], "has no workflow 'nope'"),
        (["--context", "/nonexistent.json"], "cannot read context file"),
    ],
)
def test_run_bad_arguments(cli: Any, make_package: Any, args: list[str], message: str) -> None:
    r = cli("package", "run", str(make_package()), *args)
    assert r.returncode == 1
    assert message in r.stderr


def test_run_rejects_non_object_context(cli: Any, make_package: Any) -> None:
    r = cli("package", "run", str(make_package()), "--context", "-", input="[1, 2]")
    assert r.returncode == 1 and "must be a JSON object" in r.stderr


def test_build_rust_folder_runs_cargo(cli: Any, tmp_path: Path) -> None:
    import shutil

    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    root = tmp_path / "rusty"
    root.mkdir()
    (root / "package.toml").write_text('[package]\nname = "rusty"\nversion = "0.1.0"\n')
    (root / "Cargo.toml").write_text("this is not toml [[[\n")
    r = cli("package", "build", str(root))
    assert r.returncode == 1
    assert "cargo build failed" in r.stderr


@pytest.mark.parametrize("release", [False, True])
def test_build_rust_folder_builds_with_cargo(cli: Any, tmp_path: Path, release: bool) -> None:
    import shutil

    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    root = tmp_path / "rusty"
    (root / "src").mkdir(parents=True)
    (root / "package.toml").write_text('[package]\nname = "rusty"\nversion = "0.1.0"\n')
    (root / "Cargo.toml").write_text(
        '[package]\nname = "rusty"\nversion = "0.1.0"\nedition = "2021"\n'
        '\n[lib]\npath = "src/lib.rs"\n'
    )
    (root / "src" / "lib.rs").write_text("pub fn answer() -> u32 { 42 }\n")
    args = ["package", "build", str(root)] + (["--release"] if release else [])
    r = cli(*args, env={"CARGO_NET_OFFLINE": "true"}, timeout=300)
    assert r.returncode == 0, r.stderr
    profile = "release" if release else "debug"
    assert (root / "target" / profile / "librusty.rlib").is_file()
