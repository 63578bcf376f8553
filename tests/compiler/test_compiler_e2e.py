"""Real compiler processes on SQLite and PostgreSQL: builds, failures, take-over, shutdown."""

from __future__ import annotations

import bz2
import io
import json
import os
import signal
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from build_helpers import TASKS, make_wheel, source_archive, upload
from compiler_procs import Compiler, raw_row, wait_status
from svc_helpers import BIN, Services, clean_env, wait_for

from cloacinactl.packages.signing import signature_path, verify_archive
from cloacinactl.services.server.mirror import ArchiveMirror
from cloacinactl.store import builds, buildwatch, open_store
from cloacinactl.store.archives import loadable_archives


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    s = Services(tmp_path / "home")
    try:
        yield s
    finally:
        s.cleanup()


USES_WHEEL = """

@cloaca.task(id="third", dependencies=["second"])
def third(context):
    import tinylib
    context.set("answer", tinylib.ANSWER)
    return context
"""


def public_key(pem: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_public_key(pem.encode())


def test_builds_failures_status_metrics_and_reuse(
    tmp_path: Path, services: Services, db_url: str
) -> None:
    compiler = Compiler(services, tmp_path / "c1", db_url)
    key_file = tmp_path / "c1" / "compiler-signing-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    wheel = make_wheel(tmp_path / "w", "tinylib", "1.0", "ANSWER = 42\n")
    with open_store(db_url) as store:
        good = source_archive(
            tmp_path / "a",
            "good-pkg",
            tasks="import tinylib\n" + TASKS + USES_WHEEL,
            extra={
                f"wheels/{wheel.name}": wheel.read_bytes(),
                "requirements.txt": f"./wheels/{wheel.name}\n",
            },
        )
        good_id = upload(store, good, "good-pkg")
        raises_id = upload(
            store, source_archive(tmp_path / "b", "bad-pkg", tasks="1 / 0\n"), "bad-pkg"
        )
        pip_id = upload(
            store,
            source_archive(
                tmp_path / "c", "pip-pkg", extra={"requirements.txt": "./missing.whl\n"}
            ),
            "pip-pkg",
        )
    row = wait_status(db_url, good_id, ("success", "failed"))
    assert row.build_status == "success", row.build_error
    bad = wait_status(db_url, raises_id, ("success", "failed"))
    assert bad.build_status == "failed"
    assert "raised at import: ZeroDivisionError" in (bad.build_error or "")
    pip = wait_status(db_url, pip_id, ("success", "failed"))
    assert pip.build_status == "failed"
    assert "installing requirements.txt failed" in (pip.build_error or "")
    assert "missing.whl" in (pip.build_error or "")
    assert str(tmp_path) not in (pip.build_error or "")

    # the built archive: signed by the compiler's key (which the database lists), vendored
    with open_store(db_url) as store:
        art = store.read(lambda c: builds.artifact_for(c, good_id))
        keys = store.read(buildwatch.trusted_compiler_keys)
        assert store.read(buildwatch.compiler_alive)
    assert art is not None and keys == [art.signer_public_key]
    built = tmp_path / "built.cloacina"
    built.write_bytes(art.archive)
    signature_path(built).write_bytes(art.signature)
    verify_archive(built, [public_key(art.signer_public_key)])
    with tarfile.open(fileobj=io.BytesIO(bz2.decompress(art.archive))) as tar:
        assert "good-pkg-0.1.0/vendor/tinylib.py" in tar.getnames()
    assert [w["name"] for w in art.description["workflows"]] == ["good_pkg"]
    # what the servers load: the built artifact (not the source), mirrored for the reconciler
    with open_store(db_url) as store:
        listed = {a.package_id: a.sha256 for a in store.read(loadable_archives)}
        assert listed == {good_id: art.sha256}
        ArchiveMirror(store, tmp_path / "mirror").sync()
    mirrored = tmp_path / "mirror" / f"{good_id}.cloacina"
    assert mirrored.read_bytes() == art.archive
    # the vendored wheel is importable when a task runs
    ran = subprocess.run(
        [str(BIN / "cloacinactl"), "--home", str(tmp_path / "runner"), "-o", "json",
         "package", "run", str(mirrored)],
        capture_output=True, text=True, timeout=120, env=clean_env(), check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["output_context"]["answer"] == 42
    assert "pip install" in (raw_row(db_url, good_id)["build_log"] or "")

    status = compiler.status()
    assert status["status"] == "idle" and status["pending"] == 0
    assert status["builds_succeeded"] == 1 and status["builds_failed"] == 2
    assert status["last_success_at"] and status["last_failure_at"] and status["heartbeat_at"]
    # cloacinactl status: the compiler is running; its queue is the detail
    shown = subprocess.run(
        [str(BIN / "cloacinactl"), "--home", str(tmp_path / "c1"), "-o", "json", "status"],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
    )  # fmt: skip
    rows = {r["service"]: r for r in json.loads(shown.stdout)}
    assert rows["compiler"]["state"] == "running", rows["compiler"]
    assert rows["compiler"]["detail"] == "queue=idle pending=0 building=0"
    metrics = compiler.metrics()
    assert 'cloacina_compiler_builds_total{status="success"} 1.0' in metrics
    assert 'cloacina_compiler_builds_total{status="failed"} 2.0' in metrics
    assert "cloacina_compiler_build_duration_seconds_count 3.0" in metrics
    assert "cloacina_compiler_queue_depth 0.0" in metrics

    # the same bytes uploaded again (another version row): the artifact is reused
    with open_store(db_url) as store:
        again_id = upload(store, good, "good-pkg", version="0.1.1")
    again = wait_status(db_url, again_id, ("success", "failed"))
    assert again.build_status == "success"
    assert "reused the artifact" in (raw_row(db_url, again_id)["build_log"] or "")
    assert 'cloacina_compiler_builds_total{status="reused"} 1.0' in compiler.metrics()

    # a clean stop marks the compiler stopped: the upload route sees no live compiler
    compiler.proc.send_signal(signal.SIGTERM)
    assert compiler.proc.wait(timeout=20) == 0
    with open_store(db_url) as store:
        assert not store.read(buildwatch.compiler_alive)


SLOW_IMPORT = "import time\ntime.sleep({s})\n" + TASKS


def test_killed_compiler_build_is_taken_over_once(
    tmp_path: Path, services: Services, db_url: str
) -> None:
    first = Compiler(services, tmp_path / "c1", db_url)
    with open_store(db_url) as store:
        pid = upload(store, source_archive(tmp_path / "s", tasks=SLOW_IMPORT.format(s=2)), "slow")
    wait_status(db_url, pid, ("building",), timeout=30)
    first_id = raw_row(db_url, pid)["build_claimed_by"]
    # kill -9 the compiler (and its import sandbox, as a crashed host would)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    services.cleanup()
    second = Compiler(services, tmp_path / "c2", db_url)
    started = time.monotonic()
    row = wait_status(db_url, pid, ("success", "failed"), timeout=60)
    assert row.build_status == "success", row.build_error
    assert time.monotonic() - started >= 2  # not before the stale threshold
    raw = raw_row(db_url, pid)
    assert raw["build_attempts"] == 2
    with open_store(db_url) as store:
        art = store.read(lambda c: builds.artifact_for(c, pid))
    assert (
        art is not None
        and art.built_by != first_id
        and art.built_by == second.status()["compiler_id"]
    )
    assert any("back in the queue" in m for m in second.messages())


def test_sigterm_hands_the_build_back(tmp_path: Path, services: Services) -> None:
    db_url = f"sqlite:///{tmp_path / 'c.db'}"  # hand_back's SQL is checked on both in test_queue
    compiler = Compiler(services, tmp_path / "c1", db_url, "--shutdown-timeout-s", "0.5")
    with open_store(db_url) as store:
        pid = upload(store, source_archive(tmp_path / "s", tasks=SLOW_IMPORT.format(s=20)), "slow")
    wait_status(db_url, pid, ("building",), timeout=30)
    compiler.proc.send_signal(signal.SIGTERM)
    assert compiler.proc.wait(timeout=20) == 0
    raw = raw_row(db_url, pid)
    assert raw["build_status"] == "pending" and raw["build_claimed_by"] is None
    assert raw["build_attempts"] == 0
    assert any("handed build" in m for m in compiler.messages())


@pytest.mark.postgres
def test_two_compilers_on_postgres_build_each_package_once(
    tmp_path: Path, services: Services, fresh_pg_url: str
) -> None:
    db_url = fresh_pg_url
    count = 50
    a = Compiler(services, tmp_path / "a", db_url)
    b = Compiler(services, tmp_path / "b", db_url)
    ids = []
    with open_store(db_url) as store:
        for i in range(count):
            src = source_archive(tmp_path / f"s{i}", f"pkg-{i}")
            ids.append(upload(store, src, f"pkg-{i}"))
    for pid in ids:
        row = wait_status(db_url, pid, ("success", "failed"), timeout=120)
        assert row.build_status == "success", row.build_error
    claims = Counter()
    for compiler in (a, b):
        for message in compiler.messages():
            if message.startswith("compiler: building "):
                claims[message.split()[2].split("/")[1]] += 1
    assert claims == Counter(ids)  # each built once, by one of them
    assert all(raw_row(db_url, pid)["build_attempts"] == 1 for pid in ids)
    done = [c.status()["builds_succeeded"] for c in (a, b)]
    assert sum(done) == count and min(done) > 0, done  # both took part


def test_sighup_applies_compiler_section(tmp_path: Path, services: Services) -> None:
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    home = tmp_path / "c1"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text("[compiler]\nsweep_interval_s = 9\n")
    # --sweep-interval-s is a flag: config.toml cannot override it
    compiler = Compiler(services, home, db_url, "--sweep-interval-s", "5", fast=False)
    assert compiler.status()["sweep_interval_s"] == 5
    (home / "config.toml").write_text(
        "[compiler]\npoll_interval_ms = 250\nheartbeat_interval_s = 7\n"
    )
    compiler.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: compiler.status()["poll_interval_ms"] == 250, what="reload")
    status = compiler.status()
    assert status["heartbeat_interval_s"] == 7 and status["sweep_interval_s"] == 5
    (home / "config.toml").write_text("[compiler]\npoll_interval_ms = [broken\n")
    compiler.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "rejected, nothing changed" in compiler.log, what="rejection")
    assert compiler.status()["poll_interval_ms"] == 250 and compiler.proc.poll() is None


@pytest.mark.postgres
def test_postgres_upload_wakes_an_idle_compiler(
    tmp_path: Path, services: Services, fresh_pg_url: str
) -> None:
    db_url = fresh_pg_url
    # polls once a minute: only the NOTIFY of the upload can start the build in time
    compiler = Compiler(services, tmp_path / "c1", db_url, "--poll-interval-ms", "60000")
    assert compiler.status()["poll_interval_ms"] == 60000
    time.sleep(1.5)  # past the first poll and the LISTEN set-up
    with open_store(db_url) as store:
        pid = upload(store, source_archive(tmp_path / "s"), "woken")
    started = time.monotonic()
    row = wait_status(db_url, pid, ("success", "failed"), timeout=20)
    assert row.build_status == "success" and time.monotonic() - started < 10


HOSTILE = {
    # name: (import code, what build_error says)
    "forks": ("import os\nos.fork()", "creating a process (os.fork) is not allowed"),
    "loops": ("while True:\n    pass", "did not finish within 3s"),
    "hogs": (
        "hog = []\nwhile True:\n    hog.append(bytearray(16 * 1024 * 1024))",
        "exceeded the memory limit of 256 MiB",
    ),
    "reads-key": (
        "open({key!r}).read()",
        "access to <protected>/compiler-signing-key is not allowed while importing",
    ),
    "reads-memory": (
        "import os\nopen(f'/proc/{{os.getppid()}}/mem', 'rb')",
        "/mem is not allowed while importing",
    ),
    "kills-compiler": (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
        "signalling another process (os.kill) is not allowed",
    ),
}


def test_hostile_packages_fail_their_own_build_and_the_compiler_goes_on(
    tmp_path: Path, services: Services, db_url: str
) -> None:
    """Each package below fails with its reason, on a real compiler (SQLite and
    PostgreSQL); the same compiler process then builds a good package."""
    home = tmp_path / "c1"
    compiler = Compiler(
        services, home, db_url, "--import-timeout-s", "3", "--import-memory-mb", "256"
    )
    key_file = home / "compiler-signing-key"
    key_before = key_file.read_bytes()
    ids = {}
    with open_store(db_url) as store:
        for name, (code, _) in HOSTILE.items():
            tasks = code.format(key=str(key_file)) + "\n" + TASKS
            src = source_archive(tmp_path / name, f"{name}-pkg", tasks=tasks)
            ids[name] = upload(store, src, f"{name}-pkg")
        good = upload(store, source_archive(tmp_path / "good", "good-pkg"), "good-pkg")
    for name, (_, expected) in HOSTILE.items():
        row = wait_status(db_url, ids[name], ("success", "failed"), timeout=90)
        assert row.build_status == "failed", name
        assert expected in (row.build_error or ""), (name, row.build_error)
        assert str(home) not in (row.build_error or "") + (raw_row(db_url, ids[name])["build_log"])
        assert raw_row(db_url, ids[name])["build_attempts"] == 1, name  # failed, not swept
    assert wait_status(db_url, good, ("success", "failed")).build_status == "success"
    assert compiler.proc.poll() is None  # the same process all along
    status = compiler.status()
    assert status["builds_failed"] == len(HOSTILE) and status["builds_succeeded"] == 1
    assert key_file.read_bytes() == key_before
    metrics = compiler.metrics()
    assert f'cloacina_compiler_builds_total{{status="failed"}} {len(HOSTILE)}.0' in metrics


def test_backlog_shows_in_status_and_queue_depth_while_building(
    tmp_path: Path, services: Services
) -> None:
    """With builds following one another, /v1/status and the queue-depth gauge count
    what is still waiting (not what the last idle poll saw)."""
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    compiler = Compiler(services, tmp_path / "c1", db_url)
    time.sleep(0.5)  # an idle poll or more: the figures start at zero
    assert compiler.status()["pending"] == 0
    with open_store(db_url) as store:
        ids = [
            upload(
                store,
                source_archive(tmp_path / f"s{i}", f"slow-{i}", tasks=SLOW_IMPORT.format(s=5)),
                f"slow-{i}",
            )
            for i in range(3)
        ]
    wait_status(db_url, ids[0], ("building",), timeout=30)

    def figures() -> tuple[int, int]:
        status = compiler.status()
        return status["pending"], status["building"]

    # the first build takes 5s; its claim, or its next heartbeat (1s), counts the rest
    wait_for(lambda: figures() == (2, 1), timeout=3, what="pending 2, building 1")
    assert "cloacina_compiler_queue_depth 2.0" in compiler.metrics()
    wait_status(db_url, ids[1], ("building",), timeout=30)
    wait_for(lambda: figures() == (1, 1), timeout=3, what="pending 1, building 1")
    for pid in ids:
        assert wait_status(db_url, pid, ("success", "failed")).build_status == "success"
    wait_for(lambda: compiler.status()["status"] == "idle", timeout=5, what="idle")
    assert "cloacina_compiler_queue_depth 0.0" in compiler.metrics()
