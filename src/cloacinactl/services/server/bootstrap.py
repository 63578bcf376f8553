"""The bootstrap admin key: made at start when the database has no unrevoked key.

The key is ``--bootstrap-key`` / ``CLOACINA_BOOTSTRAP_KEY`` when given, else a new
``clk_`` key written to ``<home>/bootstrap-key`` (mode 0600, created exclusively:
never overwritten). Only its SHA-256 is stored; the plaintext is never logged.
Blocking: run it in a thread.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loguru import logger
from sqlalchemy import Connection, text

from cloacinactl.errors import UserError
from cloacinactl.services.server.authz import Role
from cloacinactl.store import Store
from cloacinactl.store import control as ctl

MIN_GIVEN_KEY_CHARS = 16
BOOTSTRAP_LOCK = zlib.crc32(b"cloacina-bootstrap-key") - 2**31

Outcome = Literal["existing", "given", "generated"]


@dataclass(frozen=True)
class Bootstrap:
    outcome: Outcome
    key_file: Path | None = None


def check_given_key(key: str) -> str:
    if len(key) < MIN_GIVEN_KEY_CHARS or any(c.isspace() for c in key) or len(key) > 512:
        raise UserError(
            f"the bootstrap key must be {MIN_GIVEN_KEY_CHARS}-512 characters without spaces",
            hint="leave --bootstrap-key / CLOACINA_BOOTSTRAP_KEY unset to have one generated",
        )
    return key


def write_key_file(path: Path, key: str) -> None:
    """Create ``path`` 0600 holding ``key``; refuses to replace an existing file. The
    file appears whole (written under a hidden name, then linked into place): a reader
    never sees it empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise _key_file_exists(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        os.link(tmp, path)  # fails if the name exists: never replaces a key file
    except FileExistsError:
        raise _key_file_exists(path) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _key_file_exists(path: Path) -> UserError:
    return UserError(
        f"the database has no API keys but {path} exists already; it is never overwritten",
        hint=f"pass its key with --bootstrap-key (or CLOACINA_BOOTSTRAP_KEY), or move {path}"
        " aside to have a new key generated",
    )


def ensure_bootstrap_key(store: Store, key_file: Path, given: str | None) -> Bootstrap:
    """Create the is_admin bootstrap key unless an unrevoked key exists."""
    if given is not None:
        check_given_key(given)
    written: list[Path] = []

    def run(conn: Connection) -> Bootstrap:
        if store.backend == "postgresql":
            # servers starting together on one database make one key, not several
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": BOOTSTRAP_LOCK})
        if ctl.count_active_keys(conn) > 0:
            return Bootstrap("existing")
        key = given if given is not None else ctl.new_key()
        ctl.insert_key(
            conn,
            name="bootstrap",
            key_hash=ctl.hash_key(key),
            role=Role.ADMIN.label,
            tenant="public",
            is_admin=True,
            now=ctl.utcnow(),
        )
        if given is not None:
            return Bootstrap("given")
        write_key_file(key_file, key)
        written.append(key_file)
        return Bootstrap("generated", key_file)

    try:
        result = store.write(run, attempts=1)
    except BaseException:
        for path in written:  # the key never reached the database: do not leave it behind
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    if result.outcome == "generated":
        logger.warning("bootstrap admin key generated; written to {} (mode 0600)", key_file)
    elif result.outcome == "given":
        logger.info("bootstrap admin key from --bootstrap-key / CLOACINA_BOOTSTRAP_KEY stored")
    elif given is not None:
        logger.info("API keys exist already; the given bootstrap key was not added")
    return result
