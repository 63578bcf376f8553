"""The ``config`` noun: read and edit ``<home>/config.toml`` (comments and layout kept)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from cloacinactl.errors import UserError

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _stored(ctx: Ctx) -> dict[str, Any]:
    """The raw TOML data actually in the file (after validation), {} when missing."""
    import tomllib

    from cloacinactl.config.loader import read_text

    _ = ctx.config  # validate first: unknown keys are reported with their line
    text = read_text(ctx.home.config_file)
    return tomllib.loads(text) if text else {}


def _dig(data: dict[str, Any], parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def mask(api_key: Any) -> Any:
    """Show scheme keys (env:, file:) whole; hide most of a raw key."""
    if not isinstance(api_key, str) or api_key.startswith(("env:", "file:", "keyring:")):
        return api_key
    return api_key[:4] + "…" if len(api_key) > 8 else "…"


def _entries(ctx: Ctx) -> list[dict[str, Any]]:
    from cloacinactl.config.schema import PROFILE_KEYS, PROFILES, all_keys, lookup

    stored = _stored(ctx)
    rows = []
    for dotted in all_keys():
        spec = lookup(dotted)
        assert spec is not None
        value = _dig(stored, dotted.split("."))
        if value is not None:
            rows.append({"key": dotted, "value": value, "source": "file"})
        elif spec.has_default or spec.kind == "list[str]":
            rows.append({"key": dotted, "value": spec.default, "source": "default"})
        else:
            rows.append({"key": dotted, "value": None, "source": "unset"})
    for name, profile in sorted(stored.get(PROFILES, {}).items()):
        for key in PROFILE_KEYS:
            value = profile.get(key)
            shown = mask(value) if key == "api_key" else value
            source = "file" if value is not None else "unset"
            rows.append({"key": f"{PROFILES}.{name}.{key}", "value": shown, "source": source})
    return rows


def list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List every config key with its effective value and where it comes from.

    Source is "file" (set in config.toml), "default" or "unset". Raw API keys
    are shown shortened; use `config get profiles.<name>.api_key` to see one.
    """
    ctx.render(_entries(ctx))


def get_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Print the value of a dotted key (e.g. daemon.poll_interval_ms).

    Keys with a default print the default when not set in the file. A key that
    is not in the schema, or has no default and is not set, exits 1. A section
    (daemon, compiler, watch, profiles.<name>) prints all its keys.
    """
    from cloacinactl.config.schema import PROFILES, SECTIONS, lookup

    dotted: str = args.key
    parts = dotted.split(".")
    stored = _stored(ctx)
    if parts[0] in SECTIONS and parts[0] and len(parts) == 1:
        section = {
            row["key"].split(".", 1)[1]: row["value"]
            for row in _entries(ctx)
            if row["key"].startswith(dotted + ".")
        }
        ctx.render(section)
        return
    if parts[0] == PROFILES and len(parts) == 2:
        profile = _dig(stored, parts)
        if profile is None:
            raise UserError(f"profile '{parts[1]}' does not exist")
        ctx.render(dict(profile))
        return
    spec = lookup(dotted)
    if spec is None:
        raise UserError(
            f"unknown config key '{dotted}'", hint="see `cloacinactl config list` for every key"
        )
    value = _dig(stored, parts)
    if value is None:
        if parts[0] == PROFILES and _dig(stored, parts[:2]) is None:
            raise UserError(f"profile '{parts[1]}' does not exist")
        if not spec.has_default and spec.kind != "list[str]":
            raise UserError(
                f"config key '{dotted}' is not set",
                hint=f"cloacinactl config set {dotted} <VALUE>",
            )
        value = spec.default
    ctx.render(value)


def set_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Set a dotted key; the value keeps the schema's type.

    Integers stay integers, booleans stay booleans, arrays take comma-separated
    values (watch.directories "a,b"). The file (0600) and home (0700) are created
    on first set; comments and layout of the rest of the file are kept.
    """
    from cloacinactl.config.edit import coerce, edit_config, set_values, split_dotted
    from cloacinactl.config.schema import lookup

    parts = split_dotted(args.key)
    spec = lookup(args.key)
    assert spec is not None
    value = coerce(spec, args.key, args.value)
    if args.key == "default_profile" and value not in ctx.config.profiles:
        raise UserError(
            f"profile '{value}' does not exist",
            hint=f"cloacinactl config profile set {value} --server <URL> --api-key <KEY>",
        )
    edit_config(ctx.home, lambda text: set_values(text, [(parts, value)]))
    _note(f"set {args.key} in {ctx.home.config_file}")


def unset_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Remove a dotted key from config.toml (its default applies again)."""
    from cloacinactl.config.edit import edit_config, split_dotted, unset_value

    parts = split_dotted(args.key)
    found = False

    def change(text: str | None) -> str:
        nonlocal found
        new, found = unset_value(text, parts)
        return new if text is not None or found else ""

    if not ctx.home.config_file.exists():
        _note(f"{args.key} was not set")
        return
    edit_config(ctx.home, change)
    _note(f"unset {args.key}" if found else f"{args.key} was not set")


def path_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Print the path of the config file (it may not exist yet)."""
    print(ctx.home.config_file)


def profile_set_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Create or update a profile: cloacinactl config profile set NAME --server URL --api-key KEY.

    --server and --api-key (the global flags, given after NAME) are both required.
    The key may be raw, env:VAR or file:PATH (decoded when used, not now).
    --default also makes it the default profile.
    """
    missing = [
        flag for flag, value in (("--server", ctx.server), ("--api-key", ctx.api_key)) if not value
    ]
    if missing:
        raise UserError(
            f"config profile set needs {' and '.join(missing)}",
            hint="cloacinactl config profile set NAME --server URL --api-key KEY [--default]",
        )
    assert ctx.server is not None and ctx.api_key is not None
    from cloacinactl.cli.http import check_server_url
    from cloacinactl.config.edit import edit_config, set_values
    from cloacinactl.config.profiles import check_profile_name, profile_values

    name = check_profile_name(args.name)
    server = check_server_url(ctx.server)
    if ctx.api_key.startswith("keyring:"):
        from cloacinactl.config.apikey import resolve_api_key

        resolve_api_key(ctx.api_key)  # raises the "reserved for v1.1" error
    values = profile_values(name, server, ctx.api_key, make_default=args.make_default)
    edit_config(ctx.home, lambda text: set_values(text, values))
    _note(f"profile '{name}' saved" + (" (default)" if args.make_default else ""))


def profile_list_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """List profiles (raw API keys shortened); the default one is marked."""
    config = ctx.config
    ctx.render(
        [
            {
                "name": p.name,
                "server": p.server,
                "api_key": mask(p.api_key),
                "default": p.name == config.default_profile,
            }
            for p in sorted(config.profiles.values(), key=lambda p: p.name)
        ]
    )


def _require_profile(ctx: Ctx, name: str) -> None:
    if name not in ctx.config.profiles:
        known = ", ".join(sorted(ctx.config.profiles)) or "none"
        raise UserError(f"profile '{name}' does not exist (known profiles: {known})")


def profile_use_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Make NAME the default profile (default_profile = NAME)."""
    from cloacinactl.config.edit import edit_config, set_values

    _require_profile(ctx, args.name)
    edit_config(ctx.home, lambda text: set_values(text, [(["default_profile"], args.name)]))
    _note(f"default profile is now '{args.name}'")


def profile_delete_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Delete profile NAME (and default_profile too when it pointed at it)."""
    from cloacinactl.config.edit import edit_config
    from cloacinactl.config.profiles import delete_profile

    _require_profile(ctx, args.name)
    was_default = ctx.config.default_profile == args.name
    edit_config(ctx.home, lambda text: delete_profile(text, args.name))
    _note(f"profile '{args.name}' deleted" + (" (it was the default)" if was_default else ""))


def profile_check_cmd(ctx: Ctx, args: argparse.Namespace) -> None:
    """Check that a profile's server answers: GET /health with its key.

    Uses NAME if given, else the usual precedence (--server/--api-key, --profile,
    default_profile). Exit 2 when unreachable, 4 when the key is refused.
    """
    import time

    from cloacinactl.cli.http import ApiClient
    from cloacinactl.config.target import resolve_target

    target = resolve_target(
        ctx.config,
        server=ctx.server,
        api_key=ctx.api_key,
        profile=args.name or ctx.profile,
    )
    start = time.perf_counter()
    with ApiClient(target.server, target.api_key, tenant=ctx.tenant, timeout=10) as client:
        response = client.request("GET", "/health")
    ctx.render(
        {
            "profile": target.profile,
            "server": target.server,
            "status": "reachable",
            "http_status": response.status_code,
            "latency_ms": round((time.perf_counter() - start) * 1000, 1),
        }
    )


def register(noun: Noun) -> None:
    noun.verb("list", list_cmd)
    noun.verb("get", get_cmd).add_argument("key", metavar="KEY", help="dotted key")
    p = noun.verb("set", set_cmd)
    p.add_argument("key", metavar="KEY", help="dotted key, e.g. daemon.poll_interval_ms")
    p.add_argument("value", metavar="VALUE", help="new value (arrays: comma-separated)")
    noun.verb("unset", unset_cmd).add_argument("key", metavar="KEY", help="dotted key")
    noun.verb("path", path_cmd)
    group = noun.group("profile", "Manage server-targeting profiles ([profiles.<name>]).")
    p = group.verb("set", profile_set_cmd)
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--default",
        dest="make_default",
        action="store_true",
        help="also make it the default profile",
    )
    group.verb("list", profile_list_cmd)
    group.verb("use", profile_use_cmd).add_argument("name", metavar="NAME")
    group.verb("delete", profile_delete_cmd).add_argument("name", metavar="NAME")
    group.verb("check", profile_check_cmd).add_argument("name", metavar="NAME", nargs="?")
