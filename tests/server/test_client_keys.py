"""``cloacinactl tenant`` and ``key`` driven as a user would, against a real cloacina-server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from server_helpers import RunningServer


@pytest.fixture
def admin(cli: Any, shared_server: RunningServer, tmp_path: Path) -> Any:
    """``cloacinactl`` with a default profile holding the bootstrap key (file: scheme)."""
    key_file = tmp_path / "admin.key"
    key_file.write_text(shared_server.key + "\n")
    made = cli(
        "config",
        "profile",
        "set",
        "ops",
        "--server",
        shared_server.url,
        "--api-key",
        f"file:{key_file}",
        "--default",
    )
    assert made.returncode == 0, made.stderr
    return cli


def test_tenant_create_list_delete(admin: Any) -> None:
    name = f"acme_{uuid.uuid4().hex[:8]}"
    created = admin("tenant", "create", name, "--description", "Acme Corp")
    assert created.returncode == 0, created.stderr
    assert name in created.stdout and "Acme Corp" in created.stdout
    listed = admin("tenant", "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].split() == [
        "NAME",
        "DESCRIPTION",
    ]
    assert name in admin("tenant", "list", "-o", "id").stdout.split()
    again = admin("tenant", "create", name)
    assert again.returncode == 5 and "(HTTP 409" in again.stderr
    bad = admin("tenant", "create", "9-bad-name")
    assert bad.returncode == 5 and "HTTP 400" in bad.stderr
    refused = admin("tenant", "delete", name)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert name in admin("tenant", "list", "-o", "id").stdout.split()  # nothing happened
    deleted = admin("tenant", "delete", name, "--force")
    assert deleted.returncode == 0, deleted.stderr
    assert f"tenant '{name}' deleted" in deleted.stderr
    assert name not in admin("tenant", "list", "-o", "id").stdout.split()
    gone = admin("tenant", "delete", name, "--force")
    assert gone.returncode == 3 and "tenant_not_found" in gone.stderr
    protected = admin("tenant", "delete", "public", "--force")
    assert protected.returncode == 5 and "tenant_protected" in protected.stderr


def test_tenant_keys_create_list_revoke(admin: Any, shared_server: RunningServer) -> None:
    tenant = shared_server.new_tenant("keys")
    made = admin("--tenant", tenant, "key", "create", "ci", "--role", "write", "-o", "id")
    assert made.returncode == 0, made.stderr
    plaintext = made.stdout.strip()
    assert plaintext.startswith("clk_") and made.stdout == plaintext + "\n"
    assert "only time the key is shown" in made.stderr
    listed = admin("--tenant", tenant, "key", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["items"]
    (row,) = [r for r in rows if r["name"] == "ci"]
    assert row["permissions"] == "write" and plaintext not in listed.stdout
    # the new key works for its own tenant, as a user would use it
    whoami = admin("--api-key", plaintext, "--tenant", tenant, "workflow", "list")
    assert whoami.returncode in (0, 3), whoami.stderr  # 3 until the workflow routes exist
    other = admin("--api-key", plaintext, "--tenant", "public", "key", "list")
    assert other.returncode == 4 and "HTTP 403" in other.stderr
    revoked = admin("--tenant", tenant, "key", "revoke", row["id"], "--force")
    assert revoked.returncode == 0 and f"key {row['id']} revoked" in revoked.stderr
    after = admin("--api-key", plaintext, "--tenant", tenant, "key", "list")
    assert after.returncode == 4 and "unauthorized" in after.stderr
    unknown = admin("key", "revoke", str(uuid.uuid4()), "--force")
    assert unknown.returncode == 3


def test_global_keys_table_and_default_role(admin: Any) -> None:
    made = admin("key", "create", "reader")
    assert made.returncode == 0, made.stderr
    assert "clk_" in made.stdout and "read" in made.stdout
    table = admin("key", "list")
    header = table.stdout.splitlines()[0].split()
    assert header[:3] == ["ID", "NAME", "PERMISSIONS"]
    assert "reader" in table.stdout and "clk_" not in table.stdout


def test_exit_codes_for_transport_and_auth(
    cli: Any, shared_server: RunningServer, free_tcp_port: int
) -> None:
    down = cli(
        "--server",
        f"http://127.0.0.1:{free_tcp_port}",
        "--api-key",
        shared_server.key,
        "tenant",
        "list",
    )
    assert down.returncode == 2
    assert f"http://127.0.0.1:{free_tcp_port}/v1/tenants" in down.stderr
    wrong = cli("--server", shared_server.url, "--api-key", "clk_not_a_key", "tenant", "list")
    assert wrong.returncode == 4 and "unauthorized" in wrong.stderr
    nothing = cli("tenant", "list")
    assert nothing.returncode == 1 and "no server/key configured" in nothing.stderr
    bad_flag = cli(
        "--server",
        shared_server.url,
        "--api-key",
        shared_server.key,
        "key",
        "create",
        "x",
        "--role",
        "root",
    )
    assert bad_flag.returncode == 1
    keyring = cli("--server", shared_server.url, "--api-key", "keyring:prod", "tenant", "list")
    assert keyring.returncode == 1 and "keyring:" in keyring.stderr
