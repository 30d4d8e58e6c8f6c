"""The command line. Thin: parses arguments, calls the API, prints.

thalamocortex demo [--out DIR]                       simulate + analyse + report
thalamocortex simulate --preset demo --out DIR       the in-silico experiment
thalamocortex convert SHEET --out DATASET            a lab's recordings -> NWB dataset
thalamocortex inspect DATASET                        what a dataset contains
thalamocortex run DATASET --config my.yaml           every analysis stage + report
thalamocortex <stage> DATASET                        one stage (and what it needs)
thalamocortex report RESULTS                         rebuild the HTML report
thalamocortex params [--yaml | --markdown]           the parameter spec
thalamocortex validate --out DIR                     calibrate the primary tests on null cohorts
thalamocortex power --effect NAME --out DIR          power curves against effect size and mice
thalamocortex realism RECORDING [--against DATASET]  how realistic: statistics side by side
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from thalamocortex import __version__


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dataset", type=Path, help="dataset folder (sub-<mouse>/sub-<mouse>_ses-<n>.nwb)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="results folder (default: DATASET/../results)"
    )
    p.add_argument("--config", type=Path, default=None, help="YAML file of analysis parameters")
    p.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler: 'local', 'sync' or an address (overrides the config)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop with an error on any bad session (default: exclude it, list it with its "
        "reason and finish the others)",
    )


def _add_null_kind(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--null-kind",
        choices=("zero", "varied"),
        default=None,
        help="kind of null cohort (implies --null): 'zero' (default) = every mouse's change is "
        "exactly 0; 'varied' = no population change, each mouse's change drawn around zero",
    )


def build_parser() -> argparse.ArgumentParser:
    from thalamocortex.pipeline.stages import STAGES

    ap = argparse.ArgumentParser(
        prog="thalamocortex",
        description="M1 and its inputs across motor learning: analysis and in-silico experiment",
    )
    ap.add_argument("--version", action="version", version=f"thalamocortex {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="simulate an in-silico cohort (NWB + ground_truth/)")
    p.add_argument("--preset", default="demo", help="tiny | demo | paper")
    p.add_argument("--out", type=Path, required=True, help="output dataset folder")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    p.add_argument("--null", action="store_true", help="switch off every learning-related change")
    _add_null_kind(p)
    p.add_argument("--config", type=Path, default=None, help="YAML simulation config (overrides)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="sessions simulated and written in parallel processes (identical results for any "
        "value)",
    )
    p.add_argument(
        "--movies",
        action="store_true",
        help="also write raw two-photon movies (TIFF, referenced from the NWB files) of the "
        "imaging sessions",
    )
    p.add_argument(
        "--movie-frames",
        type=int,
        default=0,
        help="frames per raw movie (default 0 = the whole session; a short movie covers only "
        "the session's first frames, too few for bouton merging or photostimulation maps)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser(
        "convert",
        help="build a DANDI-layout NWB dataset from a sessions sheet (movies, suite2p "
        "folders, lever traces, trial events, light pulses)",
        description="Convert a lab's recordings into a dataset the pipeline runs on. SHEET is a "
        "CSV/TSV with one row per session (columns: thalamocortex.data.convert; paths "
        "relative to the sheet).",
    )
    p.add_argument("sheet", type=Path, help="sessions sheet (CSV or TSV)")
    p.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    p.add_argument(
        "--movies",
        choices=("external", "reference", "internal"),
        default="external",
        help="raw TIFF movies: placed in the dataset and referenced (external, default), "
        "referenced where they are (reference), or copied into the NWB files (internal)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing session files")

    p = sub.add_parser(
        "inspect",
        help="summarise a dataset per mouse and list the files a run would exclude",
        description="Summarise a dataset per mouse (sessions, experiment, frame rate, duration, "
        "ROIs, trials, raw data and ground truth present) and list every session file a run "
        "would exclude, with the reason (file and field). Exit code 2 when there is any.",
    )
    p.add_argument(
        "dataset", type=Path, help="dataset folder (sub-<mouse>/sub-<mouse>_ses-<n>.nwb)"
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML analysis parameters (its 'data' group: NWB names, sessions sheet)",
    )
    p.add_argument("--sessions", action="store_true", help="also one row per session")

    p = sub.add_parser("demo", help="simulate the default cohort, run everything, write the report")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument("--preset", default="demo", help="simulation preset (tiny | demo | paper)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    p.add_argument("--null", action="store_true", help="a null cohort (no learning effects)")
    _add_null_kind(p)
    p.add_argument("--config", type=Path, default=None, help="YAML analysis parameters")
    p.add_argument("--scheduler", default=None, help="Dask scheduler (local | sync | address)")
    p.add_argument(
        "--movies",
        action="store_true",
        help="also simulate raw movies of every imaging session, so that preprocessing starts "
        "from raw frames (suite2p) instead of the simulated F/Fneu (slower; try --preset tiny)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("run", help="run every analysis stage on a dataset and write the report")
    _add_common(p)
    p.add_argument("--stages", nargs="*", default=None, help="only these stages (and needs)")

    for name, spec in STAGES.items():
        p = sub.add_parser(name, help=spec.help or f"run the {name} stage")
        _add_common(p)

    p = sub.add_parser("report", help="rebuild the HTML report from a results folder")
    p.add_argument("results", type=Path, help="results folder of a run (holds <stage>/*.parquet)")

    p = sub.add_parser(
        "validate",
        help="calibrate every primary test: false-positive rates on null cohorts, power",
        description="Run many seeded null cohorts (kinds 'zero' and 'varied') and effect cohorts "
        "through every primary test — synthetic tables (table level) and simulated experiments "
        "through the whole pipeline — and write false-positive rates with Clopper-Pearson "
        "intervals, power and ground-truth recovery to OUT/validation.html. Resumable: cohorts "
        "already in OUT are reused.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (resumed if present)")
    p.add_argument(
        "--table-cohorts", type=int, default=200, help="synthetic cohorts per kind (default 200)"
    )
    p.add_argument(
        "--pipeline-cohorts",
        type=int,
        default=40,
        help="whole-pipeline cohorts per null kind (default 40)",
    )
    p.add_argument(
        "--effect-cohorts",
        type=int,
        default=40,
        help="whole-pipeline cohorts with the design's effects, for power (default 40)",
    )
    p.add_argument(
        "--moved-region",
        default="M2",
        help="region the input-learning effect is moved to in 'effect@REGION' cohorts (the "
        "region comparison must follow it); '' for none (default M2)",
    )
    p.add_argument(
        "--moved-cohorts",
        type=int,
        default=10,
        help="whole-pipeline cohorts with the moved effect (default 10; table level: "
        "--table-cohorts)",
    )
    p.add_argument(
        "--sim-config",
        type=Path,
        default=None,
        help="YAML overrides of the simulated design (--design)",
    )
    _add_design(p)
    p.add_argument("--config", type=Path, default=None, help="YAML analysis parameters")
    p.add_argument("--seed", type=int, default=0, help="first cohort seed (default 0)")
    p.add_argument("--scheduler", default="local", help="Dask scheduler: local | sync | address")
    p.add_argument("--workers", type=int, default=2, help="local cluster workers (default 2)")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser(
        "power",
        help="detection probability against effect size and mice per group",
        description="For one simulator effect (a switch: input_learning, m1_refinement, "
        "inactivation, behavior_learning) run seeded effect cohorts at every (size, mice per "
        "group) and report how often each of its primary tests finds the effect, as power "
        "curves (OUT/power.html).",
    )
    p.add_argument(
        "--effect",
        required=True,
        help="simulator switch whose effect is scaled (input_learning, m1_refinement, "
        "inactivation, behavior_learning), or 'all' (--level bank: every primary test of the "
        "whole design)",
    )
    p.add_argument(
        "--sizes", default="0.5,1,1.5", help="effect sizes (multiples of the default), comma list"
    )
    p.add_argument("--mice", default="3,4,6,8", help="mice per group, comma list")
    p.add_argument("--cohorts", type=int, default=100, help="cohorts per cell (default 100)")
    p.add_argument(
        "--level",
        choices=("table", "pipeline", "bank"),
        default="table",
        help="synthetic tables (fast), independent simulated experiments through every stage "
        "(exact, slow), or one simulated bank of mice per size re-tested on random subsets",
    )
    p.add_argument(
        "--bank-mice",
        type=int,
        default=None,
        help="--level bank: mice per group of each bank (default: largest --mice + 4)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (resumed if present)")
    p.add_argument(
        "--sim-config", type=Path, default=None, help="YAML overrides of the simulated design"
    )
    _add_design(p)
    p.add_argument("--config", type=Path, default=None, help="YAML analysis parameters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scheduler", default="local", help="Dask scheduler: local | sync | address")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser(
        "realism",
        help="statistics of a recording (noise, skewness, events, neuropil, photons, motion, ROI "
        "shape) side by side with another, e.g. a simulated dataset",
    )
    p.add_argument(
        "recording",
        type=Path,
        help="a TIFF movie (suite2p ROIs, cells only), a suite2p output folder, an NWB file with "
        "F/Fneu, or a dataset folder",
    )
    p.add_argument("--against", type=Path, default=None, help="a second recording (e.g. simulated)")
    p.add_argument("--out", type=Path, default=None, help="folder for realism.csv/.parquet/.png")
    p.add_argument(
        "--frame-rate", type=float, default=None, help="Hz, when the recording does not say"
    )
    p.add_argument("--config", type=Path, default=None, help="YAML of realism parameters")
    p.add_argument(
        "--sessions", type=int, default=2, help="sessions per experiment kind of a dataset"
    )
    p.add_argument(
        "--movie-frames", type=int, default=0, help="use only the first N frames of raw movies"
    )
    p.add_argument(
        "--no-register",
        action="store_true",
        help="do not register the raw movies of NWB files/datasets (no motion statistics)",
    )
    p.add_argument(
        "--fit",
        action="store_true",
        help="also fit the simulator's photon budget, soma brightness and spiking (burst size, "
        "burst rate) to the recording's somata and "
        "print them as YAML for 'thalamocortex simulate --config' (written to "
        "OUT/realism_fit.yaml with --out)",
    )
    p.add_argument("--fit-iterations", type=int, default=8, help="simulations the fit may run")

    p = sub.add_parser("params", help="list every analysis parameter (key, default, unit, range)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument(
        "--yaml",
        action="store_true",
        help="as a commented YAML file of every default, which --config reads back",
    )
    fmt.add_argument("--markdown", action="store_true", help="as a Markdown table")
    p.add_argument("--simulation", action="store_true", help="the simulation parameters instead")
    _describe(sub, STAGES)
    return ap


#: Longer descriptions shown by ``thalamocortex <command> --help`` (the one-line help of a
#: command not listed here is its description).
DESCRIPTIONS = {
    "simulate": "Simulate an in-silico cohort of the three experiments (axon imaging of the "
    "inputs, all-optical mapping, inactivation) as NWB files in the DANDI layout, with the "
    "simulator's truth in ground_truth/ beside them (never read by an analysis).",
    "demo": "Simulate the default cohort, run every analysis stage on it and write the HTML "
    "report: OUT/dataset (NWB + ground_truth/) and OUT/results (tables, figures/, report.html). "
    "A dataset already in OUT is reused. Prints the time of every step.",
    "run": "Run every analysis stage (or --stages and what they need) on a dataset and write "
    "the HTML report. Stages whose parameters and inputs did not change since the last run "
    "are skipped; a killed run resumes.",
    "report": "Rebuild results/report.html and results/figures/ (PNG and SVG) from the "
    "results tables alone.",
    "params": "Every parameter with its default, unit, valid range and meaning. --yaml writes "
    "a commented YAML file of all defaults that --config reads back.",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help, except where the help states it or there is none to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not text or "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def _describe(sub, stages) -> None:
    """Give every sub-command a description and show defaults in its help."""
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name, p in sub.choices.items():
        p.formatter_class = _HelpFormatter
        if p.description:
            continue
        one = (helps.get(name) or name).rstrip(".")
        text = DESCRIPTIONS.get(name) or one[:1].upper() + one[1:] + "."
        if name in stages:
            needs = ", ".join(stages[name].requires) or "no other stage"
            text += (
                f" Needs {needs} (run first when their results are missing or out of date); "
                f"writes RESULTS/{name}/*.parquet and rebuilds the report."
            )
        p.description = text


def _config(args):
    from pydantic import ValidationError

    from thalamocortex.config import ConfigError, load_config

    cfg = load_config(args.config)
    try:
        if getattr(args, "scheduler", None):
            cfg.pipeline.scheduler = args.scheduler
        if getattr(args, "strict", False):
            cfg.pipeline.strict = True
    except ValidationError as err:
        msg = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        raise ConfigError(f"invalid --scheduler: pipeline.scheduler: {msg}") from None
    return cfg


def _results_dir(args) -> Path:
    return args.out if args.out is not None else args.dataset.resolve().parent / "results"


def _simulation_config(preset: str, seed, null: bool, config: Path | None, null_kind=None):
    from thalamocortex.config import load_yaml
    from thalamocortex.simulate.params import SimulationConfig
    from thalamocortex.simulate.params import preset as get_preset

    cfg = get_preset(preset)
    if config is not None:
        over = load_yaml(SimulationConfig, config)
        # deep merge + validation (model_copy(update=) would put raw dicts into nested groups)
        cfg = cfg.with_overrides(over.model_dump(exclude_unset=True), str(config))
    if seed is not None:
        cfg = cfg.model_copy(update={"seed": seed})
    if null or null_kind is not None:
        cfg = cfg.null(kind=null_kind or "zero")
    return cfg


def _prepare_simulation_dir(out: Path, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder unless it is a simulated dataset to replace."""
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out} is not empty; pass --overwrite to replace it")
    if not (out / "ground_truth" / "cohort.yaml").is_file():
        raise FileExistsError(
            f"{out}: refusing to overwrite a folder that is not a simulated dataset "
            "(no ground_truth/cohort.yaml)"
        )
    shutil.rmtree(out)


def cmd_simulate(args) -> int:
    from thalamocortex.simulate.cohort import simulate_cohort

    cfg = _simulation_config(args.preset, args.seed, args.null, args.config, args.null_kind)
    _prepare_simulation_dir(args.out, args.overwrite)
    t = time.perf_counter()
    out = simulate_cohort(cfg, args.out, progress=not args.quiet, n_workers=args.workers)
    print(f"simulated {args.preset} cohort in {time.perf_counter() - t:.1f} s -> {out}")
    if args.movies:
        from thalamocortex.simulate.cohort import write_cohort_movies

        t = time.perf_counter()
        paths = write_cohort_movies(cfg, out, max_frames=args.movie_frames or None)
        print(f"wrote {len(paths)} raw movies in {time.perf_counter() - t:.1f} s")
    return 0


def cmd_convert(args) -> int:
    from thalamocortex.data.convert import convert

    t = time.perf_counter()
    table = convert(args.sheet, args.out, movie_mode=args.movies, overwrite=args.overwrite)
    print(
        f"converted {len(table)} sessions of {table['mouse'].nunique()} mice in "
        f"{time.perf_counter() - t:.1f} s -> {args.out} (sessions.tsv beside the sub-* folders)"
    )
    return 0


def cmd_inspect(args) -> int:
    import pandas as pd

    from thalamocortex.config import load_config
    from thalamocortex.data.inspect import format_inspection, inspect_dataset

    ins = inspect_dataset(args.dataset, load_config(args.config).data)
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        print(format_inspection(ins, sessions=args.sessions))
    for p in ins.problems:
        print(f"thalamocortex: unusable: {p['reason']}", file=sys.stderr)
    return 2 if ins.problems else 0


def _print_timings(timings: dict[str, float | None]) -> None:
    """The time table: one line per step (None = skipped, up to date)."""
    print("time per step:")
    for name, sec in timings.items():
        print(f"  {name:<14s} {'skipped (up to date)' if sec is None else f'{sec:6.1f} s'}")
    total = sum(v for v in timings.values() if v is not None)
    print(f"  {'total':<14s} {total:6.1f} s")


def _run(dataset: Path, results: Path, cfg, stages, quiet: bool, before=None) -> Path:
    from thalamocortex.pipeline.run import run_pipeline
    from thalamocortex.report.html import build_report

    timings: dict[str, float | None] = dict(before or {})
    ran = run_pipeline(dataset, results, cfg, stages=stages, progress=not quiet)
    timings.update({k: (None if v == 0 else v) for k, v in ran.items()})
    t = time.perf_counter()
    report = build_report(results)
    timings["report"] = time.perf_counter() - t
    _print_timings(timings)
    print(f"report: {report.resolve()}")
    return report


def cmd_run(args, stages=None) -> int:
    _run(args.dataset, _results_dir(args), _config(args), stages, args.quiet)
    return 0


def cmd_demo(args) -> int:
    from thalamocortex.simulate.cohort import simulate_cohort

    t0 = time.perf_counter()
    out = args.out
    dataset = out / "dataset"
    cfg = _simulation_config(args.preset, args.seed, args.null, None, args.null_kind)
    analysis = _config(args)
    # the simulation uses the analysis' worker count (sessions are independent and seeded)
    workers = 1 if analysis.pipeline.scheduler == "sync" else analysis.pipeline.n_workers
    before: dict[str, float | None] = {}
    if not (dataset / "ground_truth" / "cohort.yaml").is_file():
        _prepare_simulation_dir(dataset, overwrite=True)
        t = time.perf_counter()
        simulate_cohort(cfg, dataset, progress=not args.quiet, n_workers=workers)
        before["simulation"] = time.perf_counter() - t
    else:
        print(f"using the existing simulated dataset in {dataset}")
        before["simulation"] = None
    if args.movies and not (dataset / "ground_truth" / "movies").is_dir():
        from thalamocortex.simulate.cohort import write_cohort_movies

        t = time.perf_counter()
        paths = write_cohort_movies(cfg, dataset)
        before["movies"] = time.perf_counter() - t
        print(f"wrote {len(paths)} raw movies")
    _run(dataset, out / "results", analysis, None, args.quiet, before=before)
    print(f"demo finished in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_report(args) -> int:
    from thalamocortex.pipeline.stages import STAGES
    from thalamocortex.report.html import build_report

    if not args.results.is_dir():
        raise FileNotFoundError(f"{args.results}: results folder not found")
    if not any((args.results / name).is_dir() for name in STAGES):
        raise FileNotFoundError(
            f"{args.results}: no results (none of the stage folders {list(STAGES)}); run "
            "`thalamocortex run DATASET --out RESULTS` first"
        )
    print(f"report: {build_report(args.results).resolve()}")
    return 0


def _add_design(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--design",
        choices=("reduced", "demo"),
        default="reduced",
        help="simulated design of the whole-pipeline cohorts, before --sim-config: 'reduced' "
        "(the demo's groups at 3 mice each, sessions 1 and 14, 30 trials, 20 axons, 80 M1 "
        "neurons; default) or 'demo' (the demo preset itself: its power at its own size)",
    )


def _calibration_sim(path: Path | None, design: str = "reduced"):
    from thalamocortex.config import load_yaml
    from thalamocortex.simulate.params import SimulationConfig, preset
    from thalamocortex.validate.run import calibration_design

    cfg = preset("demo") if design == "demo" else calibration_design()
    if path is not None:
        over = load_yaml(SimulationConfig, path)
        cfg = cfg.with_overrides(over.model_dump(exclude_unset=True), str(path))
    return cfg


def cmd_validate(args) -> int:
    from thalamocortex.config import load_config
    from thalamocortex.validate.run import ValidationPlan, run_validation

    plan = ValidationPlan(
        table_cohorts=args.table_cohorts,
        pipeline_cohorts=args.pipeline_cohorts,
        effect_cohorts=args.effect_cohorts,
        moved_region=args.moved_region,
        moved_cohorts=args.moved_cohorts,
        seed=args.seed,
    )
    t = time.perf_counter()
    page = run_validation(
        args.out,
        plan,
        sim=_calibration_sim(args.sim_config, args.design),
        config=load_config(args.config),
        scheduler=args.scheduler,
        n_workers=args.workers,
        progress=not args.quiet,
    )
    print(f"calibration in {time.perf_counter() - t:.0f} s: {page.resolve()}")
    cal = page.parent / "calibration.md"
    if cal.is_file():
        print(cal.read_text())
    return 0


def cmd_power(args) -> int:
    from thalamocortex.config import ConfigError, load_config
    from thalamocortex.validate.power import EFFECT_TESTS, power_curves

    if args.effect not in EFFECT_TESTS and not (args.effect == "all" and args.level == "bank"):
        raise ConfigError(
            f"--effect {args.effect!r}: expected one of {sorted(EFFECT_TESTS)} (the simulator "
            "switches with a primary test), or 'all' with --level bank"
        )
    try:
        sizes = [float(x) for x in args.sizes.split(",") if x.strip()]
        mice = [int(x) for x in args.mice.split(",") if x.strip()]
    except ValueError as err:
        raise ConfigError(f"--sizes / --mice: comma-separated numbers expected ({err})") from None
    if not sizes or not mice or min(mice) < 2 or min(sizes) < 0:
        raise ConfigError("--sizes: sizes >= 0; --mice: at least 2 mice per group")
    table = power_curves(
        args.effect,
        sizes,
        mice,
        args.cohorts,
        args.out,
        level=args.level,
        sim=_calibration_sim(args.sim_config, args.design),
        config=load_config(args.config),
        scheduler=args.scheduler,
        n_workers=args.workers,
        seed=args.seed,
        progress=not args.quiet,
        bank_mice=args.bank_mice,
    )
    import pandas as pd

    with pd.option_context("display.width", 160):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(f"power curves: {(args.out / 'power.html').resolve()}")
    return 0


def cmd_realism(args) -> int:
    from thalamocortex.config import load_yaml
    from thalamocortex.realism import RealismParams
    from thalamocortex.realism.load import realism_report

    params = RealismParams() if args.config is None else load_yaml(RealismParams, args.config)
    text, _, measurements, paths = realism_report(
        args.recording,
        args.against,
        args.out,
        frame_rate=args.frame_rate,
        params=params,
        per_type=args.sessions,
        register=not args.no_register,
        max_movie_frames=args.movie_frames or None,
    )
    print(text.to_string())
    if args.fit:
        from thalamocortex.realism.load import fit_recording

        fitted, path = fit_recording(measurements, args.out, args.fit_iterations, params)
        print(fitted.to_yaml())
        if path is not None:
            paths["fit"] = path
    for path in paths.values():
        print(f"wrote {path}")
    return 0


def cmd_params(args) -> int:
    from thalamocortex.config import Config, commented_yaml, describe

    if args.simulation:
        from thalamocortex.simulate.params import SimulationConfig as spec

        what, flag = "simulation", "simulate --config"
    else:
        spec = Config
        what, flag = "analysis", "--config"
    if args.yaml:
        header = (
            f"thalamocortex {__version__}: every {what} parameter at its default.\n"
            f"Keep only what you change and pass the file with `thalamocortex ... {flag} FILE`."
        )
        sys.stdout.write(commented_yaml(spec, header))
        return 0
    rows = describe(spec)
    if args.markdown:
        print("| key | default | unit | range | description |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| `{r['key']}` | `{r['default']}` | {r['unit']} | {r['range']} | {r['doc']} |")
        return 0
    width = max(len(r["key"]) for r in rows)
    for r in rows:
        print(f"{r['key']:<{width}s}  {r['default']!s}  [{r['unit'] or '-'}; {r['range']}]")
        print(f"{'':<{width}s}  {r['doc']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from thalamocortex.config import ConfigError
    from thalamocortex.data.errors import DataError
    from thalamocortex.pipeline.run import StageError
    from thalamocortex.pipeline.stages import STAGES

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)  # the console: warnings; results/pipeline.log: all
    commands = {
        "simulate": cmd_simulate,
        "convert": cmd_convert,
        "inspect": cmd_inspect,
        "demo": cmd_demo,
        "run": lambda a: cmd_run(a, a.stages),
        "report": cmd_report,
        "params": cmd_params,
        "validate": cmd_validate,
        "power": cmd_power,
        "realism": cmd_realism,
    }
    try:
        if args.command in commands:
            return commands[args.command](args)
        if args.command in STAGES:
            return cmd_run(args, [args.command])
        raise AssertionError(args.command)
    except (DataError, ConfigError, FileNotFoundError, FileExistsError) as err:
        print(f"thalamocortex: error: {err}", file=sys.stderr)
        return 2
    except StageError as err:
        print(f"thalamocortex: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`thalamocortex params | head`): not an error worth a traceback;
        # stdout is pointed at devnull so the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by the pipe


if __name__ == "__main__":
    sys.exit(main())
