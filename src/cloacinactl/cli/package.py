"""``cloacinactl package``: create, build, pack, sign, validate and run packages locally."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.cli.framework import Noun
from cloacinactl.cli.package_show import show_package

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx

DEFAULT_IMPORT_TIMEOUT = 30.0


def _import_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import-timeout",
        type=float,
        default=DEFAULT_IMPORT_TIMEOUT,
        metavar="SECONDS",
        help="Give up importing the entry module after this long (default 30).",
    )


def new(ctx: Ctx, args: argparse.Namespace) -> int:
    """Scaffold a Python workflow package in ./<NAME>/.

    Writes package.toml, workflow/<name>/tasks.py with two dependent tasks and
    an hourly cron trigger, and a README. Then: package build, package run,
    package pack.
    """
    from cloacinactl.packages.scaffold import scaffold

    target = scaffold(Path(args.dir), args.name)
    ctx.render({"name": args.name, "path": str(target)})
    return 0


def build(ctx: Ctx, args: argparse.Namespace) -> int:
    """Build a package folder: validate, byte-compile, vendor requirements, import-check.

    A Python package (workflow/ folder): validate package.toml, byte-compile every
    module, install requirements.txt (if present) into vendor/ with pip --target,
    and import the entry module in a subprocess, printing the tasks and triggers
    it declares. A folder with Cargo.toml and package.toml: runs cargo build
    (--release for the release profile). Exits 1 on missing files or failure.
    """
    from cloacinactl.packages.build import build as run_build

    result = run_build(Path(args.dir), release=args.release, import_timeout=args.import_timeout)
    summary: dict[str, Any] = {"path": str(Path(args.dir)), "language": result.language}
    if result.manifest is not None:
        summary.update(name=result.manifest.name, version=result.manifest.version)
    if result.language == "python":
        summary.update(compiled_modules=result.compiled, vendored=result.vendored)
        show_package(ctx, summary, result.description)
    else:
        show_package(ctx, summary, None)
    return 0


def pack(ctx: Ctx, args: argparse.Namespace) -> int:
    """Pack a package folder into a deterministic .cloacina archive.

    The archive is a bzip2 tar with one top folder <name>-<version>/; build
    output, caches, .git, virtual environments and archives are left out. Same
    input, same bytes. With --sign KEYFILE (a PEM Ed25519 private key from
    package keygen) the detached signature <archive>.sig is written beside it.
    Default output: ./<name>-<version>.cloacina.
    """
    from cloacinactl.packages.identity import sha256_file
    from cloacinactl.packages.pack import pack_dir

    key = None
    if args.sign:
        from cloacinactl.packages.signing import load_private_key

        key = load_private_key(Path(args.sign))  # fail before writing anything
    result = pack_dir(Path(args.dir), Path(args.out) if args.out else None)
    summary: dict[str, Any] = {
        "name": result.manifest.name,
        "version": result.manifest.version,
        "path": str(result.path),
        "sha256": sha256_file(result.path),
        "size": result.size,
        "entries": result.entries,
        "signature": None,
    }
    if key is not None:
        from cloacinactl.packages.signing import sign_archive

        info = sign_archive(result.path, key)
        summary["signature"] = str(info.path)
        summary["key_fingerprint"] = info.key_fingerprint
    if ctx.output == "id":
        print(result.path)
        return 0
    ctx.render(summary)
    return 0


def keygen(ctx: Ctx, args: argparse.Namespace) -> int:
    """Create an Ed25519 signing key pair: PATH (private, 0600) and PATH.pub.

    Both are PEM: the private key PKCS#8, the public key SubjectPublicKeyInfo.
    Sign with package pack --sign PATH; verify with --trusted-key PATH.pub.
    """
    from cloacinactl.packages.signing import keygen as make_keys

    private, public, fp = make_keys(Path(args.path))
    ctx.render({"private_key": str(private), "public_key": str(public), "fingerprint": fp})
    return 0


def _archive_for(target: Path, workdir: Path) -> Path:
    """``target`` itself when it is a file, else the folder packed into ``workdir``."""
    if target.is_dir():
        from cloacinactl.packages.pack import pack_dir

        return pack_dir(target, workdir / "package.cloacina").path
    if not target.exists():
        from cloacinactl.packages.errors import PackageError

        raise PackageError(f"no such archive or folder: {target}")
    return target


def load_target(target: Path, workdir: Path, trusted: list[str], import_timeout: float) -> Any:
    """Load an archive or folder as the daemon would (LoadedPackage) under ``workdir``."""
    from cloacinactl.packages.errors import PackageError
    from cloacinactl.packages.loader import PackageLoader
    from cloacinactl.packages.signing import load_public_key

    if trusted and target.is_dir():
        raise PackageError("--trusted-key needs an archive: signatures cover .cloacina files")
    keys = [load_public_key(Path(path)) for path in trusted]
    archive = _archive_for(target, workdir)
    loader = PackageLoader(workdir / "cache", import_timeout=import_timeout, trusted_keys=keys)
    return loader.load(archive)


def validate(ctx: Ctx, args: argparse.Namespace) -> int:
    """Check an archive (or a package folder) exactly as the loader would.

    Safe unpacking, manifest, importing the entry module in a subprocess with a
    timeout, and — with one or more --trusted-key PUB — the Ed25519 signature in
    <archive>.sig. Prints the manifest, workflows, tasks and triggers.
    """
    target = Path(args.target)
    with tempfile.TemporaryDirectory(prefix="cloacina-validate-") as tmp:
        loaded = load_target(target, Path(tmp), args.trusted_key, args.import_timeout)
        try:
            manifest = loaded.manifest
            summary: dict[str, Any] = {
                "id": loaded.id,
                "name": manifest.name,
                "version": manifest.version,
                "sha256": loaded.identity.sha256,
                "language": manifest.language,
                "workflow": manifest.workflow_name,
                "entry_module": manifest.entry_module,
                "signature": (
                    "not checked"
                    if loaded.signature is None
                    else f"verified ({loaded.signature.key_fingerprint[:16]}…)"
                ),
            }
            if ctx.output == "id":
                print(loaded.id)
                return 0
            show_package(ctx, summary, loaded.description)
        finally:
            loaded.unload()
    return 0


def run(ctx: Ctx, args: argparse.Namespace) -> int:
    """Run a workflow of an archive or package folder once, on a throw-away SQLite database.

    The package loads as the daemon would load it; task code runs in worker
    processes. Prints the outcome and a per-task table (-o json: one document;
    task output goes to stderr in table mode). --context takes a JSON file or -
    for stdin (default {}); the workflow's declared params are checked (and
    defaults filled) before anything runs. --workflow picks the workflow when the
    package declares several. --secrets-file FILE (JSON or .toml, mode 0600)
    holds {name: {field: value}} for the workflow's secret slots. Exit 0 when the
    execution completes, 1 when it fails or the input is refused.
    """
    from cloacinactl.cli.packagerun import read_context, run_loaded
    from cloacinactl.config.secretsfile import secrets_file_from

    context = read_context(args.context)
    secrets_file = secrets_file_from(args.secrets_file, os.environ)
    with tempfile.TemporaryDirectory(prefix="cloacina-run-") as tmp:
        loaded = load_target(Path(args.target), Path(tmp), [], args.import_timeout)
        try:
            result, captured = run_loaded(
                loaded, args.workflow, context, args.timeout, secrets_file
            )
        finally:
            loaded.unload()
    order = {
        task["id"]: index
        for wf in loaded.description.get("workflows", [])
        if wf["name"] == result.workflow
        for index, task in enumerate(wf["tasks"])
    }
    tasks = sorted(result.tasks.values(), key=lambda t: order.get(t.name, len(order)))
    rows = [
        {"task": t.name, "state": t.state, "attempts": t.attempt, "error": t.error} for t in tasks
    ]
    if ctx.output == "table":
        for task_id, texts in captured.items():
            for text in texts:
                for line in text.splitlines():
                    print(f"[{task_id}] {line}", file=sys.stderr)
        ctx.render(
            {
                "execution_id": result.execution_id,
                "package": loaded.id,
                "workflow": result.workflow,
                "status": result.status,
                "output": result.output,
            }
        )
        print()
        ctx.render(rows)
    else:
        document = result.to_dict()
        document["package"] = loaded.id
        document["tasks"] = rows
        document["captured"] = captured
        ctx.render(document)
    return 0 if result.ok else 1


def register(noun: Noun) -> None:
    p = noun.verb("new", new)
    p.add_argument("name", metavar="NAME", help="Package name (lower-case, - and _ allowed).")
    p.add_argument("--dir", default=".", help="Parent folder to create it in (default .).")

    p = noun.verb("build", build)
    p.add_argument("dir", metavar="DIR", help="The package folder.")
    p.add_argument("--release", action="store_true", help="Rust: build the release profile.")
    _import_timeout(p)

    p = noun.verb("pack", pack)
    p.add_argument("dir", metavar="DIR", help="The package folder.")
    # `-o FILE` names the archive here (as upstream); the format stays on --output.
    p.conflict_handler = "resolve"
    p.add_argument_group("archive").add_argument(
        "-o", "--out", dest="out", metavar="FILE", help="Archive to write."
    )
    p.add_argument("--sign", metavar="KEYFILE", help="Ed25519 private key (PEM) to sign with.")

    p = noun.verb("keygen", keygen)
    p.add_argument(
        "path", metavar="PATH", help="Private key file; the public key goes to PATH.pub."
    )

    p = noun.verb("validate", validate)
    p.add_argument("target", metavar="ARCHIVE|DIR", help="A .cloacina archive or package folder.")
    p.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        metavar="PUB",
        help="Trusted Ed25519 public key (PEM); repeatable. Requires a valid signature.",
    )
    _import_timeout(p)

    p = noun.verb("run", run)
    p.add_argument("target", metavar="ARCHIVE|DIR", help="A .cloacina archive or package folder.")
    p.add_argument("--workflow", metavar="NAME", help="Workflow to run (default: the only one).")
    p.add_argument("--context", metavar="FILE|-", help="Input context: a JSON file or - (stdin).")
    p.add_argument(
        "--secrets-file",
        metavar="FILE",
        help="Secrets for the workflow's slots: {name: {field: value}} as JSON or .toml, "
        "mode 0600 (default $CLOACINA_SECRETS_FILE).",
    )
    p.add_argument(
        "--timeout", type=float, default=300.0, metavar="SECONDS",
        help="Give up waiting for the execution after this long (default 300).",
    )  # fmt: skip
    _import_timeout(p)

    register_remote(noun)


def register_remote(noun: Noun) -> None:
    """The server verbs (``cli/package_remote.py``)."""
    from cloacinactl.cli import package_remote as remote
    from cloacinactl.cli.remote import add_force

    p = noun.verb("upload", remote.upload)
    p.add_argument("archive", metavar="ARCHIVE", help="The .cloacina archive to upload.")
    _upload_timeout(p)

    p = noun.verb("publish", remote.publish)
    p.add_argument("dir", metavar="DIR", help="The package folder.")
    p.add_argument("--sign", metavar="KEYFILE", help="Ed25519 private key (PEM) to sign with.")
    p.add_argument("--release", action="store_true", help="Rust: build the release profile.")
    _import_timeout(p)
    _upload_timeout(p)

    p = noun.verb("list", remote.list_cmd)
    p.add_argument("--filter", metavar="TEXT", help="Only packages whose name contains TEXT.")

    noun.verb("inspect", remote.inspect).add_argument("id", metavar="ID", help="Package id.")

    p = noun.verb("delete", remote.delete)
    p.add_argument("id", metavar="ID", help="Package id.")
    add_force(p, "delete the package")


def _upload_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="Give up on the upload after this long without progress (default 300).",
    )
