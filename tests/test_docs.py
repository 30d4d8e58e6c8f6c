"""The documentation: README links resolve, and the bring-your-own-data worked example runs as
written (the docs site itself is built by `make docs` in CI)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_readme_links_point_at_files_that_exist():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [link for link in links if not re.match(r"^[a-z]+://", link)]
    assert local, "README has no local links"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []


def test_docs_nav_pages_exist():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    cfg = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)

    def pages(nav):
        for item in nav:
            for v in item.values():
                yield from pages(v) if isinstance(v, list) else [v]

    hand_written = [p for p in pages(cfg["nav"]) if not p.startswith("generated/")]
    assert [p for p in hand_written if not (ROOT / "docs" / p).is_file()] == []
    # generated pages come from docs/generate.py and the notebooks from docs/notebooks
    for p in pages(cfg["nav"]):
        if p.startswith("generated/notebooks/"):
            assert (ROOT / "docs" / "notebooks" / Path(p).name).is_file()


def _example_commands() -> list[str]:
    text = (ROOT / "docs" / "byod.md").read_text()
    block = text.split("## Worked example", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


def test_byod_worked_example_runs_as_written(tmp_path, capsys):
    from thalamocortex.cli import main

    commands = _example_commands()
    assert commands[0].startswith("python -c") and commands[-1].startswith("thalamocortex run")
    for cmd in commands[:-1]:  # `run` itself is tested in test_convert (pipeline on it)
        argv = shlex.split(cmd)
        if argv[0] == "python":
            subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, check=True)
        else:
            assert argv[0] == "thalamocortex"
            argv = [
                a if not a.startswith(("lab/", "my_dataset")) else str(tmp_path / a) for a in argv
            ]
            assert main(argv[1:]) == 0, cmd
    printed = capsys.readouterr().out
    assert "converted 2 sessions of 2 mice" in printed and "2 mice, 2 sessions" in printed
    # the sheet shown on the page is the one the example writes
    shown = (ROOT / "docs" / "byod.md").read_text().split("`lab/sessions.csv`:", 1)[1]
    shown = shown.split("```text", 1)[1].split("```", 1)[0].strip()
    assert shown == (tmp_path / "lab" / "sessions.csv").read_text().strip()
    assert pd.read_csv(tmp_path / "my_dataset" / "sessions.tsv", sep="\t").shape[0] == 2
