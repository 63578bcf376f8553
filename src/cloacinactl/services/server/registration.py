"""Registering an uploaded package, for ``POST /v1/tenants/{tenant}/workflows``.

The archive is checked (``uploads.check_upload``, in a thread) and a refusal
becomes its envelope: a signature problem 403 with its own code, anything else
400 ``invalid_package``. A checked package is stored in one transaction (the
same bytes again are a no-op, other bytes under a stored name and version a
409); with no compiler to build it, it is loaded here at once and taken back
out if it does not load.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import trio

from cloacinactl.packages import PackageError
from cloacinactl.packages.errors import (
    BadSignatureError,
    MissingSignatureError,
    SignatureError,
    TamperedArchiveError,
    UntrustedSignerError,
)
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.state import ServerState
from cloacinactl.services.server.uploads import CheckedUpload, check_upload
from cloacinactl.store import Store, buildwatch
from cloacinactl.store.archives import store_upload
from cloacinactl.store.packages import delete_package, find_package

SIGNATURE_CODES: tuple[tuple[type[SignatureError], str], ...] = (
    (MissingSignatureError, "signature_not_found"),
    (TamperedArchiveError, "package_tampered"),
    (UntrustedSignerError, "untrusted_signer"),
    (BadSignatureError, "invalid_signature"),
)


def refusal(exc: PackageError) -> ApiError:
    for kind, code in SIGNATURE_CODES:
        if isinstance(exc, kind):
            return ApiError(403, code, exc.message)
    if isinstance(exc, SignatureError):
        return ApiError(403, "invalid_signature", exc.message)
    hint = f" ({exc.hint})" if exc.hint else ""
    return ApiError(400, "invalid_package", f"{exc.message}{hint}")


async def checked_archive(
    state: ServerState, data: bytes, sig: bytes | None
) -> tuple[CheckedUpload, bool]:
    """The checked archive, and whether a live compiler will build it."""
    compiler = await trio.to_thread.run_sync(state.control.read, buildwatch.compiler_alive)
    check = partial(
        check_upload,
        data,
        sig,
        require_signature=state.config.require_signatures,
        trusted=state.trusted_keys,
        python_only=not compiler,
    )
    try:
        return await trio.to_thread.run_sync(check), compiler
    except PackageError as exc:
        raise refusal(exc) from None


def store_checked(
    store: Store, checked: CheckedUpload, data: bytes, sig: bytes | None, pending: bool
) -> tuple[str, bool]:
    """Store the package (one transaction); (package id, stored anew). The same bytes
    again are a no-op; other bytes under a stored name and version are a 409."""
    manifest = checked.manifest

    def write(conn: Any) -> tuple[str, bool]:
        found = find_package(conn, manifest.name, manifest.version)
        if found is not None:
            if found.content_hash == checked.sha256:
                return found.id, False
            raise ApiError(
                409,
                "package_exists",
                f"{manifest.name} {manifest.version} is already stored with other content;"
                " raise the version, or delete the stored one first",
            )
        row = store_upload(
            conn,
            name=manifest.name,
            version=manifest.version,
            sha256=checked.sha256,
            archive=data,
            signature=sig,
            now=dt.datetime.now(dt.UTC),
            manifest=manifest.to_dict(),
            description=manifest.description,
            build_status="pending" if pending else "success",
        )
        if pending:
            buildwatch.notify_pending(conn)
        return row.id, True

    result: tuple[str, bool] = store.write(write)
    return result


async def load_here(state: ServerState, tenant: str, store: Store, package_id: str) -> None:
    """Load a directly registered package now; if it does not load, take it back out
    and answer 400 with the reason (nothing of it stays stored)."""
    runtime = state.running_tenant(tenant)
    if runtime is None:
        return  # the tenant's engine starts and loads it from the database
    await runtime.reconcile()
    error = runtime.load_error(package_id)
    if error is None:
        return
    await trio.to_thread.run_sync(store.write, lambda c: delete_package(c, package_id))
    await runtime.reconcile()
    raise ApiError(400, "invalid_package", f"the package does not load: {error}")
