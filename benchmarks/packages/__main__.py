"""Package benchmarks: pack, unpack and load a 1,000-module package; cold-load 100 packages.

Run: ``.venv/bin/python -m benchmarks.packages [--rounds N] [--packages N]``.
Prints medians and percentiles (milliseconds). Loading means what the daemon
does per archive: hash, safe unpack into the cache, import in a subprocess.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cloacinactl.packages import PackageLoader, pack_dir, unpack_archive

MODULE = '''"""Helper module {i}."""

VALUE_{i} = {i}


def helper_{i}(x):
    return x + VALUE_{i}
'''


def big_package(parent: Path, modules: int) -> Path:
    root = parent / "big-pkg"
    pkg = root / "workflow" / "big_pkg"
    (pkg / "mods").mkdir(parents=True)
    (root / "package.toml").write_text('[package]\nname = "big-pkg"\nversion = "1.0.0"\n')
    (pkg / "__init__.py").write_text("")
    (pkg / "mods" / "__init__.py").write_text("")
    for i in range(modules):
        (pkg / "mods" / f"m{i:04d}.py").write_text(MODULE.format(i=i))
    imports = "\n".join(f"from big_pkg.mods import m{i:04d}" for i in range(modules))
    tasks = [
        f"@cloaca.task(id='t{j}', dependencies={[f't{j - 1}'] if j else []})\n"
        f"def t{j}(context):\n    context.set('t{j}', m{j:04d}.helper_{j}(1))\n    return context\n"
        for j in range(10)
    ]
    (pkg / "tasks.py").write_text("import cloaca\n" + imports + "\n\n\n" + "\n\n".join(tasks))
    return root


def small_package(parent: Path, index: int) -> Path:
    name = f"pkg-{index:03d}"
    root = parent / name
    pkg = root / "workflow" / name.replace("-", "_")
    pkg.mkdir(parents=True)
    (root / "package.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\n')
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(
        "import cloaca\n\n\n@cloaca.task(id='a', dependencies=[])\ndef a(context):\n"
        "    return context\n\n\n@cloaca.task(id='b', dependencies=['a'])\ndef b(context):\n"
        "    return context\n"
    )
    return root


def timed(
    fn: Callable[[], object], rounds: int, reset: Callable[[], None] | None = None
) -> list[float]:
    samples = []
    for _ in range(rounds):
        if reset is not None:
            reset()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    print(
        f"{label:<42} n={len(samples):<4} median={statistics.median(samples):9.1f} ms"
        f"  p90={pct(0.9):9.1f} ms  max={ordered[-1]:9.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--packages", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cloacina-bench-pkg-") as tmp_name:
        tmp = Path(tmp_name)
        root = big_package(tmp / "src", args.modules)
        archive = tmp / "big.cloacina"
        pack = timed(lambda: pack_dir(root, archive), args.rounds)
        size = archive.stat().st_size
        print(f"package of {args.modules} modules: archive {size / 1024:.0f} KiB")
        report(f"pack ({args.modules} modules)", pack)

        dest = tmp / "unpacked"
        unpack = timed(
            lambda: unpack_archive(archive, dest),
            args.rounds,
            reset=lambda: shutil.rmtree(dest, ignore_errors=True),
        )
        report(f"unpack ({args.modules} modules)", unpack)

        cache = tmp / "cache"
        loader = PackageLoader(cache, import_timeout=120)
        load = timed(
            lambda: loader.load(archive),
            args.rounds,
            reset=lambda: shutil.rmtree(cache, ignore_errors=True),
        )
        report(f"load cold ({args.modules} modules, unpack+import)", load)
        warm = timed(lambda: loader.load(archive), args.rounds)
        report(f"load warm ({args.modules} modules, cache hit)", warm)

        archives = []
        for i in range(args.packages):
            archives.append(pack_dir(small_package(tmp / "many", i), tmp / f"p{i}.cloacina").path)
        loader = PackageLoader(tmp / "cache-many")
        per_package: list[float] = []
        start = time.perf_counter()
        for path in archives:
            per_package += timed(lambda p=path: loader.load(p), 1)  # type: ignore[misc]
        total = (time.perf_counter() - start) * 1000
        report(f"cold load, per package ({args.packages} packages)", per_package)
        print(
            f"{f'cold load, all {args.packages} packages (sequential)':<42} total={total:9.1f} ms"
        )


if __name__ == "__main__":
    main()
