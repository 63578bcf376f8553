"""The build pipeline without a database: real pip, real sandboxed imports, real signatures."""

from __future__ import annotations

import bz2
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from build_helpers import TASKS, make_wheel, source_archive, write_source

from cloacinactl.packages.compile import BuildFailed, BuildLimits, build_archive
from cloacinactl.packages.signing import signature_path, verify_archive
from cloacinactl.packages.tools import Scrubber, tool_env

FAST = BuildLimits(import_timeout_s=20, pip_timeout_s=120, import_memory_mb=512)


def names_in(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(bz2.decompress(archive))) as tar:
        return tar.getnames()


def test_pure_python_build_is_signed_described_and_deterministic(
    tmp_path: Path, key, scratch: Path
) -> None:
    source = source_archive(tmp_path / "src")
    out = build_archive(source, scratch=scratch, key=key, limits=FAST)
    assert [wf["name"] for wf in out.description["workflows"]] == ["demo_pkg"]
    tasks = {t["id"]: t["dependencies"] for t in out.description["workflows"][0]["tasks"]}
    assert tasks == {"first": [], "second": ["first"]}
    assert out.sha256 == hashlib.sha256(out.archive).hexdigest()
    # the side-car verifies with the compiler's public key
    built = tmp_path / "built.cloacina"
    built.write_bytes(out.archive)
    signature_path(built).write_bytes(out.signature)
    assert verify_archive(built, [key.public_key()]).package_hash == out.sha256
    # same source, same bytes (a fresh scratch folder elsewhere)
    again = tmp_path / "again"
    again.mkdir()
    assert build_archive(source, scratch=again, key=key, limits=FAST).archive == out.archive
    assert str(scratch) not in out.log
    assert "sandbox" in out.log


def test_local_wheel_is_vendored_importable_and_no_host_paths(
    tmp_path: Path, key, scratch: Path
) -> None:
    wheel = make_wheel(tmp_path / "w", "tinylib", "1.0", "ANSWER = 42\n")
    tasks = "import tinylib\nassert tinylib.ANSWER == 42\n" + TASKS
    source = source_archive(
        tmp_path / "src",
        tasks=tasks,
        extra={
            f"wheels/{wheel.name}": wheel.read_bytes(),
            "requirements.txt": f"./wheels/{wheel.name}\n",
        },
    )
    env = {**os.environ, "PIP_NO_INDEX": "1"}  # no network: the wheel is local
    out = build_archive(source, scratch=scratch, key=key, limits=FAST, environ=env)
    assert out.vendored
    names = names_in(out.archive)
    assert "demo-pkg-0.1.0/vendor/tinylib.py" in names
    assert not [n for n in names if n.endswith("direct_url.json") or "/bin/" in n]
    again = tmp_path / "again"
    again.mkdir()
    rebuilt = build_archive(source, scratch=again, key=key, limits=FAST, environ=env)
    assert rebuilt.archive == out.archive  # deterministic with pip's output too
    with tarfile.open(fileobj=io.BytesIO(bz2.decompress(out.archive))) as tar:
        for member in tar.getmembers():
            if member.isfile():
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                assert str(scratch).encode() not in data, member.name


def test_pip_failure_message_is_the_reason(tmp_path: Path, key, scratch: Path) -> None:
    source = source_archive(
        tmp_path / "src", extra={"requirements.txt": "no-such-dist-cloacina==9.9.9\n"}
    )
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    with pytest.raises(BuildFailed) as info:
        build_archive(source, scratch=scratch, key=key, limits=FAST, environ=env)
    reason = info.value.reason
    assert reason.startswith("installing requirements.txt failed (pip exit 1)")
    assert "no-such-dist-cloacina" in reason
    assert "No matching distribution" in reason
    assert "pip install" in info.value.log


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("raise ValueError('boom at import')", "raised at import: ValueError: boom at import"),
        ("while True:\n    pass", "did not finish within 3s"),
        (
            "hog = []\nwhile True:\n    hog.append(bytearray(16 * 1024 * 1024))",
            "exceeded the memory limit of 256 MiB",
        ),
        ("import os\nos.fork()", "creating a process (os.fork) is not allowed"),
        ("import subprocess\nsubprocess.run(['true'])", "subprocess.Popen) is not allowed"),
        (
            "import socket\nsocket.create_connection(('127.0.0.1', 5432))",
            "network access (socket.connect) is not allowed",
        ),
        # the parent's memory holds its signing key, its environment the database URL
        ("import os\nopen(f'/proc/{os.getppid()}/mem', 'rb')", "/mem is not allowed"),
        ("import os\nopen('/proc/%d/environ' % os.getppid()).read()", "/environ is not allowed"),
        ("import os\nos.listdir(f'/proc/{os.getppid()}/fd')", "/fd is not allowed"),
        ("import os, signal\nos.kill(os.getppid(), 0)", "signalling another process (os.kill)"),
        ("import os\nos.killpg(1, 0)", "signalling another process (os.killpg)"),
    ],
    ids=[
        "raises",
        "loops",
        "allocates",
        "forks",
        "subprocess",
        "connects",
        "parent-memory",
        "parent-environ",
        "parent-fds",
        "kills-parent",
        "kills-group",
    ],
)
def test_hostile_imports_fail_with_their_reason(
    tmp_path: Path, key, scratch: Path, code: str, expected: str
) -> None:
    source = source_archive(tmp_path / "src", tasks=code + "\n" + TASKS)
    limits = BuildLimits(import_timeout_s=3, import_memory_mb=256)
    with pytest.raises(BuildFailed) as info:
        build_archive(source, scratch=scratch, key=key, limits=limits)
    assert expected in info.value.reason


def test_import_may_use_its_own_process(tmp_path: Path, key, scratch: Path) -> None:
    """The fence stops at other processes: /proc/self and signals to itself still work."""
    tasks = (
        "import os, signal\n"
        "assert 'Name:' in open('/proc/self/status').read()\n"
        "assert open(f'/proc/{os.getpid()}/cmdline', 'rb').read()\n"
        "os.kill(os.getpid(), 0)\n"
        "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
        "os.killpg(os.getpgrp(), signal.SIGUSR1)\n" + TASKS
    )
    out = build_archive(
        source_archive(tmp_path / "src", tasks=tasks), scratch=scratch, key=key, limits=FAST
    )
    assert [wf["name"] for wf in out.description["workflows"]] == ["demo_pkg"]


def test_import_cannot_read_the_protected_home(tmp_path: Path, key, scratch: Path) -> None:
    home = tmp_path / "compiler-home"
    home.mkdir()
    (home / "compiler-signing-key").write_text("PRIVATE")
    tasks = f"print(open({str(home / 'compiler-signing-key')!r}).read())\n" + TASKS
    source = source_archive(tmp_path / "src", tasks=tasks)
    with pytest.raises(BuildFailed) as info:
        build_archive(source, scratch=scratch, key=key, limits=FAST, deny=[home])
    assert "is not allowed while importing" in info.value.reason
    assert str(home) not in info.value.reason and "<protected>" in info.value.reason
    assert "PRIVATE" not in info.value.log


def test_environment_of_tools_and_sandbox_holds_no_compiler_secrets(
    tmp_path: Path, key, scratch: Path
) -> None:
    tasks = "import os, json\nprint('ENV=' + json.dumps(sorted(os.environ)))\n" + TASKS
    source = source_archive(tmp_path / "src", tasks=tasks)
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://u:hunter22@db/x",
        "CLOACINA_BOOTSTRAP_KEY": "clk_abcdef123456",
        "AWS_SECRET_ACCESS_KEY": "abcdefghijkl",
    }
    out = build_archive(source, scratch=scratch, key=key, limits=FAST, environ=env)
    line = next(x for x in out.log.splitlines() if x.startswith("ENV="))
    for name in ("DATABASE_URL", "CLOACINA_BOOTSTRAP_KEY", "AWS_SECRET_ACCESS_KEY"):
        assert name not in line
    assert set(tool_env(env)) & {"DATABASE_URL", "CLOACINA_BOOTSTRAP_KEY"} == set()
    assert "AWS_SECRET_ACCESS_KEY" not in tool_env(env)


def test_scrubber_removes_paths_secrets_and_url_passwords() -> None:
    scrub = Scrubber({"/tmp/b/x": "<build>", "/tmp/b": "<tmp>"}, {"API_TOKEN": "tok-123456"})
    text = "at /tmp/b/x/a.py and /tmp/b/c: tok-123456 postgresql://me:pw@host/db"
    assert scrub(text) == "at <build>/a.py and <tmp>/c: *** postgresql://me:***@host/db"


def test_invalid_manifest_and_garbage_fail_clearly(tmp_path: Path, key, scratch: Path) -> None:
    from cloacinactl.packages.manifest import Manifest
    from cloacinactl.packages.pack import pack_bytes

    text = '[package]\nname = "x"\nversion = "1.0.0"\npackage_type = 1\n'
    root = write_source(tmp_path / "src", "x", version="1.0.0", manifest=text)
    bad, _ = pack_bytes(root, Manifest("x", "1.0.0", "python", "x", "x.tasks"))
    with pytest.raises(
        BuildFailed, match=r"invalid package: .*unknown key 'package\.package_type'"
    ):
        build_archive(bad, scratch=scratch, key=key, limits=FAST)
    other = tmp_path / "s2"
    other.mkdir()
    with pytest.raises(BuildFailed, match=r"invalid package: .*not a bzip2"):
        build_archive(b"not an archive", scratch=other, key=key, limits=FAST)


def test_rust_package_without_toolchain_fails_clearly(tmp_path: Path, key, scratch: Path) -> None:
    root = tmp_path / "rs" / "rusty-0.1.0"
    root.mkdir(parents=True)
    (root / "package.toml").write_text('[package]\nname = "rusty"\nversion = "0.1.0"\n')
    (root / "Cargo.toml").write_text('[package]\nname = "rusty"\nversion = "0.1.0"\n')
    from cloacinactl.packages.manifest import load_manifest
    from cloacinactl.packages.pack import pack_bytes

    data, _ = pack_bytes(root, load_manifest(root))
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    with pytest.raises(BuildFailed, match="no Rust toolchain is installed"):
        build_archive(data, scratch=scratch, key=key, limits=FAST, environ=env)


@pytest.mark.skipif(shutil.which("cargo") is None, reason="no Rust toolchain on this host")
def test_rust_package_builds_with_cargo(tmp_path: Path, key, scratch: Path) -> None:
    root = tmp_path / "rs" / "rusty-0.1.0"
    (root / "src").mkdir(parents=True)
    (root / "package.toml").write_text('[package]\nname = "rusty"\nversion = "0.1.0"\n')
    (root / "Cargo.toml").write_text(
        '[package]\nname = "rusty"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\ncrate-type = ["cdylib"]\n'
    )
    (root / "src" / "lib.rs").write_text('#[no_mangle]\npub extern "C" fn answer() -> i32 { 42 }\n')
    from cloacinactl.packages.manifest import load_manifest
    from cloacinactl.packages.pack import pack_bytes

    data, _ = pack_bytes(root, load_manifest(root))
    limits = BuildLimits(cargo_timeout_s=300)
    out = build_archive(data, scratch=scratch, key=key, limits=limits)
    assert out.manifest.language == "rust"
    assert "rusty-0.1.0/lib/librusty.so" in names_in(out.archive)

    (root / "src" / "lib.rs").write_text("this is not rust\n")
    broken, _ = pack_bytes(root, load_manifest(root))
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(BuildFailed, match=r"cargo build failed \(exit 101\)") as info:
        build_archive(broken, scratch=again, key=key, limits=limits)
    # rustc's message, with the build folder scrubbed
    assert "expected" in info.value.reason and str(again) not in info.value.reason


def test_description_records_params_secrets_triggers_and_schedules(
    tmp_path: Path, key, scratch: Path
) -> None:
    tasks = (
        TASKS
        + """

cloaca.workflow_params(region=str, limit=(int, 10))
cloaca.workflow_secrets("warehouse")


@cloaca.trigger(name="nightly", cron="0 0 3 * * *", timezone="UTC")
def nightly():
    return None
"""
    )
    source = source_archive(tmp_path / "src", tasks=tasks)
    out = build_archive(source, scratch=scratch, key=key, limits=FAST)
    (workflow,) = out.description["workflows"]
    assert [(p["name"], p["type"], p["required"]) for p in workflow["params"]] == [
        ("region", "str", True),
        ("limit", "int", False),
    ]
    assert workflow["secrets"] == ["warehouse"]
    (trigger,) = out.description["triggers"]
    assert (trigger["name"], trigger["kind"], trigger["cron"]) == ("nightly", "cron", "0 0 3 * * *")
