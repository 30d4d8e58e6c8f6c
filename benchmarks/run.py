"""Run every benchmark in this folder (``make bench``).

Each ``bench_*.py`` exposes ``main()``, which prints its measurements and the ratio to a
reference measured in the same run (a naive implementation, a peer library, or a single pass
over the data).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    wanted = set(argv)
    files = sorted(here.glob("bench_*.py"))
    failed = []
    for f in files:
        name = f.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"== {name} ==", flush=True)
        spec = importlib.util.spec_from_file_location(f.stem, f)
        mod = importlib.util.module_from_spec(spec)
        t = time.perf_counter()
        try:
            spec.loader.exec_module(mod)
            mod.main()
        except Exception as err:  # report and go on with the other benchmarks
            failed.append(name)
            print(f"   FAILED: {type(err).__name__}: {err}")
        print(f"   ({time.perf_counter() - t:.1f} s)\n", flush=True)
    if failed:
        print("failed benchmarks:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
