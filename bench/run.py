"""Run every benchmark in bench/ (`make bench`), or the ones named: `python bench/run.py store`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    names = sys.argv[1:] or sorted(p.stem for p in HERE.glob("*.py") if p.stem not in ("run",))
    print(f"# gladdesk benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    failed = []
    for name in names:
        print(f"\n## {name}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=False)
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
