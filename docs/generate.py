"""Generate the docs pages that come from the code, then execute the notebooks (``make docs``).

* ``docs/generated/parameters.md`` and ``simulation-parameters.md`` from the parameter spec
  (:func:`thalamocortex.config.describe`), the same rows ``thalamocortex params`` prints;
* ``docs/generated/cli.md`` from the argparse parser of ``thalamocortex`` (every sub-command's
  help);
* ``docs/generated/notebooks/*.ipynb``: ``docs/notebooks/*.ipynb`` executed with nbclient (an
  error in any cell fails the build, so the notebooks cannot rot); their run time is printed.

Everything runs offline. Usage: ``python docs/generate.py [--no-notebooks]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "generated"


def _cell(v) -> str:
    text = str(v).replace("|", "\\|").replace("\n", " ")
    return text


def parameters_page(spec, title: str, intro: str) -> str:
    from thalamocortex.config import describe

    rows = describe(spec)
    lines = [f"# {title}", "", intro, ""]
    group = None
    for r in rows:
        g = r["key"].split(".")[0]
        if g != group:
            group = g
            lines += ["", f"## `{g}`", "", "| key | default | unit | range | description |"]
            lines += ["|---|---|---|---|---|"]
        lines.append(
            f"| `{r['key']}` | `{_cell(r['default'])}` | {_cell(r['unit'])} | "
            f"{_cell(r['range'])} | {_cell(r['doc'])} |"
        )
    return "\n".join(lines) + "\n"


def cli_page() -> str:
    from thalamocortex.cli import build_parser

    parser = build_parser()
    os.environ["COLUMNS"] = "100"
    lines = [
        "# Command line",
        "",
        "Generated from the `thalamocortex` argument parser (`thalamocortex <command> --help`"
        " prints the same).",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        lines += ["", f"## `thalamocortex {name}`", "", "```text", p.format_help().rstrip(), "```"]
    return "\n".join(lines) + "\n"


def execute_notebooks(timeout: int = 600) -> dict[str, float]:
    import nbformat
    from nbclient import NotebookClient

    out = OUT / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    import resource

    times = {}
    for nb_path in sorted((DOCS / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        t = time.perf_counter()
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(out)}},
        ).execute()
        times[nb_path.name] = time.perf_counter() - t
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        kernel_cpu = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
        nbformat.write(nb, out / nb_path.name)
        print(
            f"executed {nb_path.name} in {times[nb_path.name]:.1f} s "
            f"(kernel CPU {kernel_cpu:.1f} s)",
            flush=True,
        )
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-notebooks", action="store_true", help="skip notebook execution")
    args = ap.parse_args(argv)
    from thalamocortex.config import Config
    from thalamocortex.simulate.params import SimulationConfig

    OUT.mkdir(exist_ok=True)
    (OUT / "parameters.md").write_text(
        parameters_page(
            Config,
            "Analysis parameters",
            "Every parameter of `thalamocortex run` (YAML file given with `--config`), grouped "
            "by stage, generated from the spec (`thalamocortex params` prints the same). A "
            "YAML file holds only the keys you change.",
        )
    )
    (OUT / "simulation-parameters.md").write_text(
        parameters_page(
            SimulationConfig,
            "Simulation parameters",
            "Every parameter of the in-silico experiment (`thalamocortex simulate --config`), "
            "generated from its spec (`thalamocortex params --simulation`).",
        )
    )
    (OUT / "cli.md").write_text(cli_page())
    print(f"wrote {OUT}/parameters.md, simulation-parameters.md, cli.md")
    if not args.no_notebooks:
        t = time.perf_counter()
        execute_notebooks()
        print(f"notebooks: {time.perf_counter() - t:.1f} s in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
