"""The one typed parameter spec.

Every parameter has a default, a unit, a valid range and a one-line doc. Parameters are grouped
by stage (``behavior``, ``preprocess``, ``encoding``, ``opto``, ``stats``, ``pipeline``); the
in-silico experiment has its own spec (:class:`thalamocortex.simulate.params.SimulationConfig`)
built on the same base class. Configs load from / save to YAML, and validation errors name
the offending key and its allowed range.

Define a parameter with :func:`param`::

    lowpass_hz: float = param(10.0, "Hz", "low-pass cut-off of the lever filter", gt=0)

Where the paper's method is unknown, the doc string says which convention the default follows.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: A Dask scheduler address: <protocol>://<host>[:port] or <host>:<port>.
_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc|ws|wss)://[^\s/]+(:\d+)?/?$|^[\w.-]+:\d+$")


class ConfigError(ValueError):
    """A configuration file or dictionary failed validation."""


def param(default: Any, unit: str, doc: str, **constraints: Any) -> Any:
    """A parameter field with a unit, a doc line and optional bounds (ge/gt/le/lt)."""
    return Field(default=default, description=doc, json_schema_extra={"unit": unit}, **constraints)


class ParamGroup(BaseModel):
    """Base class of every parameter group: unknown keys are errors, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def _range_text(info: Any) -> str:
    parts = []
    for meta in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(meta, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    if not parts:
        choices = _literal_choices(info.annotation)
        if choices:
            return "one of " + ", ".join(repr(c) for c in choices)
    return ", ".join(parts) if parts else "any"


def _literal_choices(ann: Any) -> list:
    """The allowed values of a ``Literal[...]`` annotation (also inside ``Optional``)."""
    import typing

    if typing.get_origin(ann) is typing.Literal:
        return list(typing.get_args(ann))
    out = []
    for arg in typing.get_args(ann):
        out += _literal_choices(arg)
    return out


def describe(model: type[BaseModel], prefix: str = "") -> list[dict[str, Any]]:
    """Flatten a parameter spec into rows: key, default, unit, range, doc.

    Used by ``thalamocortex params`` and by docs/parameters.md so both come from the spec.
    """
    rows: list[dict[str, Any]] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(describe(ann, key + "."))
            continue
        extra = info.json_schema_extra or {}
        default = info.default if info.default_factory is None else info.default_factory()
        if isinstance(default, BaseModel):
            default = default.model_dump()
        elif isinstance(default, dict):
            default = {
                k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in default.items()
            }
        rows.append(
            {
                "key": key,
                "default": default,
                "unit": extra.get("unit", "") if isinstance(extra, dict) else "",
                "range": _range_text(info),
                "doc": info.description or "",
            }
        )
    return rows


def format_validation_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    lines = [f"invalid parameters in {source}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        allowed = ""
        # walk the spec to report the allowed range of the offending key
        target: Any = model
        info = None
        for part in e["loc"]:
            fields = getattr(target, "model_fields", None)
            if not fields or part not in fields:
                info = None
                break
            info = fields[part]
            target = info.annotation
        if info is not None:
            unit = (info.json_schema_extra or {}).get("unit", "")
            allowed = f" (allowed: {_range_text(info)}{', unit ' + unit if unit else ''})"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        elif e["type"] == "value_error":  # a validator's message names the value itself
            lines.append(f"  {key}: {e['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"  {key}: {e['msg']}; got {e.get('input')!r}{allowed}")
    return "\n".join(lines)


def validate(model: type[BaseModel], data: dict[str, Any], source: str = "<dict>") -> Any:
    try:
        return model.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, model, source)) from None


def load_yaml(model: type[BaseModel], path: str | Path) -> Any:
    """Load and validate a YAML file against ``model``; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at top level")
    return validate(model, data, str(path))


def commented_yaml(model: type[BaseModel], header: str = "") -> str:
    """Every parameter of ``model`` at its default as YAML, each preceded by a comment with its
    doc, unit and range; nested groups become nested mappings. :func:`load_yaml` reads it back
    to the defaults (``thalamocortex params --yaml > my.yaml``, then edit, then ``--config``).
    """
    import textwrap

    lines = [f"# {line}" if line else "#" for line in header.splitlines()]

    def walk(m: type[BaseModel], depth: int) -> None:
        pad = "  " * depth
        for name, info in m.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                doc = (ann.__doc__ or "").strip().splitlines()
                lines.append("")
                if doc:
                    lines.append(f"{pad}# {doc[0]}")
                key = yaml.safe_dump(name).removesuffix("\n").removesuffix("\n...").strip()
                lines.append(f"{pad}{key}:")
                walk(ann, depth + 1)
                continue
            default = info.default if info.default_factory is None else info.default_factory()
            value = json.loads(json.dumps(_plain(default), default=str))
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            unit = extra.get("unit", "")
            about = (info.description or "").strip()
            rng = _range_text(info)
            tail = "; ".join(
                x
                for x in (f"unit: {unit}" if unit else "", f"range: {rng}" if rng != "any" else "")
                if x
            )
            text = f"{about} [{tail}]" if tail else about
            for line in textwrap.wrap(text, width=96 - len(pad)):
                lines.append(f"{pad}# {line}")
            text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6)
            text = text.removesuffix("\n").removesuffix("\n...").strip()
            key = yaml.safe_dump(name).removesuffix("\n").removesuffix("\n...").strip()
            lines.append(f"{pad}{key}: {text}")  # a key like 'null' is quoted

    walk(model, 0)
    return "\n".join(lines).lstrip("\n") + "\n"


def _plain(v: Any) -> Any:
    """A default as plain data (models dumped, tuples as lists) for YAML."""
    if isinstance(v, BaseModel):
        return v.model_dump(mode="json")
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def save_yaml(cfg: BaseModel, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


# ---------------------------------------------------------------------------------------------
# Analysis parameters, one group per stage. Later stages add their fields here.
# ---------------------------------------------------------------------------------------------


class PipelineParams(ParamGroup):
    scheduler: str = param(
        "local",
        "",
        "Dask scheduler: 'local' (LocalCluster; falls back to 'sync' with a warning when it "
        "cannot start within local_start_timeout_s), 'sync' (no parallelism), or a scheduler "
        "address (tcp://host:8786, tls://..., host:port)",
    )
    local_start_timeout_s: float = param(
        10.0,
        "s",
        "time the local Dask cluster may take to start before the run falls back to 'sync' "
        "(a node without loopback networking otherwise waits ~60 s and fails)",
        gt=0,
    )
    n_workers: int = param(2, "processes", "workers of the local Dask cluster", ge=1, le=256)
    threads_per_worker: int = param(
        1,
        "threads",
        "threads per local Dask worker; also the BLAS/OpenMP threads of the main process "
        "(all the work in sync mode)",
        ge=1,
        le=64,
    )
    resume: bool = param(True, "", "skip stages whose outputs exist with the same parameters")

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        v = v.strip()
        if v in ("local", "sync") or _ADDRESS.match(v):
            return v
        raise ValueError(
            f"{v!r} is not 'local', 'sync' or a scheduler address such as tcp://host:8786"
        )

    strict: bool = param(
        False,
        "",
        "any bad session (unreadable, inconsistent, failing a stage) stops the run with an "
        "error; default: it is excluded, listed with its reason, and the others finish",
    )


@functools.cache
def _build_config() -> type[ParamGroup]:
    # Stage modules keep their parameter group next to their code and import ParamGroup from
    # here, so the assembled Config is built on first use (PEP 562 module __getattr__), never
    # at import time: that keeps `import thalamocortex.behavior.params` free of import cycles.
    from thalamocortex.alignment.params import AlignmentParams
    from thalamocortex.behavior.params import BehaviorParams
    from thalamocortex.data.nwb import NWBNames
    from thalamocortex.encoding.params import EncodingParams
    from thalamocortex.opto.params import OptoParams
    from thalamocortex.preprocess.params import PreprocessParams
    from thalamocortex.stats.params import StatsParams

    class Config(ParamGroup):
        """All analysis parameters of ``thalamocortex run`` / ``demo``, grouped by stage."""

        data: NWBNames = Field(default_factory=NWBNames)
        behavior: BehaviorParams = Field(default_factory=BehaviorParams)
        preprocess: PreprocessParams = Field(default_factory=PreprocessParams)
        encoding: EncodingParams = Field(default_factory=EncodingParams)
        opto: OptoParams = Field(default_factory=OptoParams)
        alignment: AlignmentParams = Field(default_factory=AlignmentParams)
        stats: StatsParams = Field(default_factory=StatsParams)
        pipeline: PipelineParams = Field(default_factory=PipelineParams)

    Config.__module__ = __name__
    Config.__qualname__ = "Config"  # picklable: resolved through the module __getattr__
    return Config


def __getattr__(name: str) -> Any:
    if name == "Config":
        return _build_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_config(path: str | Path | None) -> Any:
    """The analysis ``Config`` from a YAML file, or the defaults when ``path`` is None."""
    config_cls = _build_config()
    return config_cls() if path is None else load_yaml(config_cls, path)
