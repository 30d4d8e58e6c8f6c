"""The parameter spec: defaults, validation messages, YAML round trip, docs from the spec."""

from __future__ import annotations

import pytest

from thalamocortex.config import Config, ConfigError, describe, load_config, load_yaml, save_yaml


def test_defaults_validate_and_every_parameter_is_documented():
    cfg = Config()
    rows = describe(Config)
    assert len(rows) >= 10
    for r in rows:
        assert r["doc"], f"{r['key']} has no doc line"
    assert cfg.pipeline.n_workers == 2
    ranges = {r["key"]: r["range"] for r in rows}
    assert ranges["opto.identity"] == "one of 'auto', 'roi_name', 'tracking'"
    assert ranges["stats.alpha"].startswith(">")


def test_yaml_round_trip(tmp_path):
    cfg = Config()
    cfg.stats.alpha = 0.01
    path = tmp_path / "cfg.yaml"
    save_yaml(cfg, path)
    back = load_config(path)
    assert back == cfg
    assert back.stats.alpha == 0.01


def test_bad_value_names_key_and_range(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("stats:\n  alpha: 1.5\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(Config, path)
    msg = str(err.value)
    assert "bad.yaml" in msg and "stats.alpha" in msg and "< 1" in msg and "1.5" in msg


def test_unknown_key_is_an_error(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("stats:\n  alpah: 0.05\n")
    with pytest.raises(ConfigError, match=r"stats\.alpah: unknown key"):
        load_yaml(Config, path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(Config, tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(Config, bad)


def test_assignment_is_validated():
    cfg = Config()
    with pytest.raises(ValueError):
        cfg.pipeline.n_workers = 0


@pytest.mark.parametrize(
    "module",
    [
        "thalamocortex.behavior.params",
        "thalamocortex.preprocess.params",
        "thalamocortex.encoding.params",
        "thalamocortex.opto.params",
        "thalamocortex.stats.params",
        "thalamocortex.alignment.params",
        "thalamocortex.data.nwb",
    ],
)
def test_any_parameter_module_can_be_imported_first(module):
    import subprocess
    import sys

    code = (
        f"import {module}\n"
        "from thalamocortex.config import Config\n"
        "print(len(Config().model_dump()))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # data, behavior, preprocess, encoding, opto, alignment, stats, pipeline
    assert int(r.stdout) == 8
