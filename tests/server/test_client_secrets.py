"""``cloacinactl secret`` against a real cloacina-server: values go in from a file or
stdin and never come out of any command, format or the server's log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

StartServer = Any  # the start_server fixture of tests/server/conftest.py

VALUE = "pw-" + os.urandom(8).hex()
ROTATED = "rot-" + os.urandom(8).hex()


def test_secret_lifecycle_never_shows_a_value(
    cli: Any, start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(env={"CLOACINA_SECRET_KEK": os.urandom(32).hex()})
    tenant = server.new_tenant("sec")

    def run(*args: str, **kw: Any) -> Any:
        return cli("--server", server.url, "--api-key", server.key, "--tenant", tenant, *args, **kw)

    value_file = tmp_path / "pw"
    value_file.write_text(VALUE + "\n")
    outputs = []
    created = run(
        "secret",
        "create",
        "warehouse",
        "--field",
        f"password=@{value_file}",
        "--field",
        "user=-",
        input="etl\n",
    )
    assert created.returncode == 0, created.stderr
    outputs.append(created)
    assert "password, user" in created.stdout or "user, password" in created.stdout
    for fmt in ("table", "json", "yaml", "id"):
        outputs += [run("secret", "list", "-o", fmt), run("secret", "get", "warehouse", "-o", fmt)]
    assert all(r.returncode == 0 for r in outputs), [r.stderr for r in outputs]
    listed = json.loads(run("secret", "list", "-o", "json").stdout)
    assert [(s["name"], sorted(s["field_names"])) for s in listed["items"]] == [
        ("warehouse", ["password", "user"])
    ]
    assert run("secret", "list", "-o", "id").stdout == "warehouse\n"

    rotated = run("secret", "rotate", "warehouse", "--field", "password=-", input=ROTATED)
    assert rotated.returncode == 0, rotated.stderr
    outputs.append(rotated)
    assert json.loads(run("secret", "get", "warehouse", "-o", "json").stdout)["field_names"] == [
        "password"
    ]

    dup = run("secret", "create", "warehouse", "--field", f"password=@{value_file}")
    assert dup.returncode == 5 and "409" in dup.stderr
    literal = run("secret", "create", "other", "--field", f"password={VALUE}")
    assert literal.returncode == 1 and VALUE not in literal.stderr
    outputs += [dup, literal]

    refused = run("secret", "delete", "warehouse")
    assert refused.returncode == 1
    deleted = run("secret", "delete", "warehouse", "--force")
    assert deleted.returncode == 0 and "deleted" in deleted.stderr
    assert run("secret", "get", "warehouse").returncode == 3
    outputs += [refused, deleted]

    seen = "".join(r.stdout + r.stderr for r in outputs) + server.log.read_text()
    assert VALUE not in seen and ROTATED not in seen


def test_secrets_without_a_kek_are_a_server_rejection(cli: Any, start_server: StartServer) -> None:
    server = start_server()
    result = cli("--server", server.url, "--api-key", server.key, "secret", "list")
    assert result.returncode == 5 and "secrets_not_configured" in result.stderr
