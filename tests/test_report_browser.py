"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``) renders the report
of the tiny simulated cohort; the screenshot is not blank, every image loaded, no section shows
an error, every figure has a caption and its PNG and SVG files.

Skipped when no Chromium is installed, unless ``THALAMOCORTEX_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs Debian's ``chromium`` when it is missing): then a missing browser
fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from thalamocortex.pipeline.stages import STAGES

pytestmark = pytest.mark.browser

#: Flags that let Chromium run headless as root in a container without network or GPU.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

#: Marks every image after the page has loaded (appended to a copy of the report only).
_CHECK_SCRIPT = """
<script>
window.addEventListener('load', () => {
  for (const img of document.images) {
    img.setAttribute('data-loaded', (img.complete && img.naturalWidth > 0) ? 'yes' : 'no');
  }
  document.body.setAttribute('data-checked', 'yes');
});
</script>
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    if path is None:
        if os.environ.get("THALAMOCORTEX_REQUIRE_BROWSER") == "1":
            pytest.fail("no chromium on PATH (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium on PATH")
    return path


def _run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of the tiny simulated cohort (every stage)."""
    from thalamocortex.config import Config
    from thalamocortex.pipeline.run import run_pipeline
    from thalamocortex.report.html import build_report
    from thalamocortex.simulate.cohort import simulate_cohort
    from thalamocortex.simulate.params import preset

    root = tmp_path_factory.mktemp("browser")
    dataset = simulate_cohort(preset("tiny"), root / "dataset", progress=False)
    cfg = Config()
    cfg.pipeline.scheduler = "sync"
    run_pipeline(dataset, root / "results", cfg, stages=list(STAGES), progress=False)
    return build_report(root / "results")


def test_report_renders_in_chromium(browser, report, tmp_path):
    html_text = report.read_text()
    # every figure is a file with its SVG twin and a caption
    figures = re.findall(
        r"<figure><img[^>]*src=\"([^\"]+)\"[^>]*/><figcaption>(.*?)</figcaption>", html_text, re.S
    )
    assert len(figures) >= 15
    for src, caption in figures:
        png = report.parent / src
        assert png.is_file() and png.stat().st_size > 1000, src
        assert png.with_suffix(".svg").is_file(), src
        assert len(re.sub(r"<[^>]+>", "", caption)) > 40, src

    # the page as the browser sees it after load: every image decoded, no section error
    check = report.with_name("report_browser_check.html")
    check.write_text(html_text.replace("</body>", _CHECK_SCRIPT + "</body>"))
    dom = _run_chromium(
        browser,
        tmp_path / "profile-dom",
        "--virtual-time-budget=20000",
        "--dump-dom",
        check.as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-checked="yes"' in dom.stdout, "the load handler did not run"
    loaded = re.findall(r'data-loaded="(yes|no)"', dom.stdout)
    n_img = len(re.findall(r"<img\b", dom.stdout))
    assert n_img >= 15 and len(loaded) == n_img
    assert loaded.count("no") == 0, f"{loaded.count('no')} of {n_img} images failed to load"
    assert 'class="err"' not in dom.stdout and "class='err'" not in dom.stdout
    assert "Traceback" not in dom.stdout

    # the screenshot: a real rendering, not a blank page
    shot = tmp_path / "report.png"
    res = _run_chromium(
        browser,
        tmp_path / "profile-shot",
        "--window-size=1280,3000",
        "--virtual-time-budget=20000",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    import matplotlib.image

    img = matplotlib.image.imread(shot)[..., :3]
    assert img.shape[0] >= 2000 and img.shape[1] >= 1000
    not_white = (img < 0.95).any(axis=2)
    n_colours = np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0).shape[0]
    print(
        f"\nreport in chromium: {len(figures)} captioned figures, {n_img} images "
        f"({loaded.count('yes')} decoded), screenshot {img.shape[1]} x {img.shape[0]} px, "
        f"{not_white.mean():.3f} non-white, {n_colours} colours"
    )
    assert not_white.mean() > 0.03  # text, tables and figures, not an empty page
    assert n_colours > 200
