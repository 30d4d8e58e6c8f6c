"""Methods, generated from the parameters the results were made with.

The parameters come from the results' provenance records (every table carries the parameters
of its run), so the text describes what was done, not the defaults. Each paragraph states the
convention followed where the paper is silent; a table lists every parameter whose
documentation names a convention or a choice, with the value used and whether it is the
default.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from thalamocortex.report.figures import table_html
from thalamocortex.report.results import get, parameters

TITLE = "Methods (generated from the parameters used)"

#: Words in a parameter's documentation marking a convention or a choice the paper leaves open.
_CONVENTION = re.compile(
    r"\blab\b|field|convention|choice|not stated|not published|unknown|Dombeck|suite2p|"
    r"Komiyama|Peters|Chen et al|Dana et al|Zhang et al|default because|reconstruction",
    re.IGNORECASE,
)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return "–".join(_fmt(x) for x in v) if len(v) == 2 else ", ".join(_fmt(x) for x in v)
    return str(v)


def _sentence(params: dict, text: str, **keys: str) -> str:
    """``text`` with ``{name}`` filled from ``params[key]``; "" when any key is missing."""
    values = {}
    for name, key in keys.items():
        v = get(params, key)
        if v is None:
            return ""
        values[name] = html.escape(_fmt(v))
    return text.format(**values) + " "


def _paragraphs(p: dict) -> str:
    s = _sentence
    behaviour = (
        s(
            p,
            "The lever was resampled to {rs} Hz, low-pass filtered (Butterworth, order {order}, "
            "{lp} Hz, forward-backward), its velocity smoothed over {vs} samples and its speed "
            "taken as the Hilbert envelope of the velocity (Komiyama-lab conventions).",
            rs="behavior.resample_hz",
            order="behavior.filter_order",
            lp="behavior.lowpass_hz",
            vs="behavior.velocity_smooth_samples",
        )
        + s(
            p,
            "A sample was moving when the speed exceeded the threshold ({mode} mode: "
            "{k} × the resting speed scale estimated from each session, so that the threshold "
            "needs no voltage units — the lab's fixed 0.0007 V/ms is available as 'absolute'); "
            "bouts were padded by {pb}+{pa} s, gaps shorter than {gap} s merged and bouts "
            "touching the trace edges dropped.",
            mode="behavior.speed_threshold_mode",
            k="behavior.speed_threshold_k",
            pb="behavior.pad_before_s",
            pa="behavior.pad_after_s",
            gap="behavior.merge_gap_s",
        )
        + s(
            p,
            "A trial was cued when the lever did not move in the {q} s before the cue; the "
            "rewarded movement is the bout containing the reward. Stereotypy is the median "
            "Pearson correlation of rewarded lever trajectories 0–{w} s after onset in {b} s "
            "bins, self-pairs excluded (the lab code included them); the learned template is "
            "the mean rewarded trajectory of each mouse's last {n} sessions.",
            q="behavior.pre_cue_quiet_s",
            w="behavior.stereotypy_window_s",
            b="behavior.stereotypy_bin_s",
            n="behavior.template_expert_sessions",
        )
    )
    traces = (
        s(
            p,
            "dF/F = (F − r·Fneu − F0)/F0 with a {mode} neuropil coefficient r = {r} for somata "
            "({mb} for boutons) and F0 the running {pct}th percentile over {win} s "
            "(Dombeck et al. 2007), rescaled so the resting dF/F is 0 ({centre}); computed once "
            "per session.",
            mode="preprocess.neuropil_mode",
            r="preprocess.neuropil_coefficient",
            mb="preprocess.neuropil_mode_boutons",
            pct="preprocess.baseline_percentile",
            win="preprocess.baseline_window_s",
            centre="preprocess.baseline_center_on_mode",
        )
        + s(
            p,
            "Frames exposed to the stimulation light were blanked (NaN, not 0): "
            "ceil(duration × frame rate) + {extra} frames per pulse (lab convention).",
            extra="preprocess.artefact_extra_frames",
        )
        + s(
            p,
            "Boutons were merged into axons when the correlation of their dF/F (smoothed by "
            "{sm} s, fitted neuropil) over the union of their event windows (padded {pad} s) "
            "exceeded {thr} ({link}-linkage hierarchical clustering; the field uses 0.7–0.8 on "
            "unsmoothed traces); the analysis unit of axon imaging is the {unit}.",
            sm="preprocess.merge_smooth_s",
            pad="preprocess.merge_event_pad_s",
            thr="preprocess.merge_correlation_threshold",
            link="preprocess.merge_linkage",
            unit="preprocess.bouton_unit",
        )
    )
    encoding = (
        s(
            p,
            "A unit was movement-related when its movement-minus-quiescence mean dF/F exceeded "
            "a {null} null at two-sided α = {q} ({n} resamples; the lab's rule: beyond the "
            "97.5th percentile at α = 0.05) and it had "
            "at least {ev} calcium events (hysteresis {lo}×/{hi}× the noise SD of the mirrored "
            "negative dF/F).",
            q="encoding.alpha",
            null="encoding.null",
            n="encoding.n_shuffles",
            ev="encoding.min_events",
            lo="encoding.event_low_sd",
            hi="encoding.event_high_sd",
        )
        + s(
            p,
            "Peri-movement activity: −{pre} to {post} s around each rewarded movement's onset, "
            "baseline {base} s subtracted; onset latency by the {om} method after undoing the "
            "indicator's decay ({dl}), CIs from {nb} trial bootstraps.",
            pre="encoding.window_pre_s",
            post="encoding.window_post_s",
            base="encoding.baseline_s",
            om="encoding.onset_method",
            dl="encoding.deconvolve_latency",
            nb="encoding.n_bootstrap_timing",
        )
        + s(
            p,
            "The lever trajectory ({dw} s around onset) was decoded by ridge regression from "
            "lagged activity ({lags} s lags), {folds}-fold cross-validation over trials, the "
            "ridge strength chosen by GCV inside each training set, with the same number of "
            "units in every session (the smallest session's, at most {cap}; {sub} random draws "
            "averaged).",
            dw="encoding.decode_window_s",
            lags="encoding.decode_lags_s",
            folds="encoding.n_folds",
            cap="encoding.max_rois_matched",
            sub="encoding.n_subsamples",
        )
    )
    opto = s(
        p,
        "Photostimulation response = mean dF/F in a {w} s window after the blanked frames minus "
        "the {w} s before light onset; per neuron a paired signed-rank test across pulses "
        "(≥ {minp} valid pulses), Benjamini–Hochberg FDR at {fdr} within each session, and a "
        "minimum effect of {z} baseline SDs; pseudo-pulses from spontaneous periods give the "
        "no-stimulus null.",
        w="opto.window_s",
        minp="opto.min_valid_pulses",
        fdr="opto.fdr_alpha",
        z="opto.min_effect_z",
    )
    stats = s(
        p,
        "Mice are the unit of replication: every naive-vs-expert or between-region decision is "
        "a test across mice (α = {a}); resampling uses {perm} permutations and seed {seed}.",
        a="stats.alpha",
        perm="stats.n_permutations",
        seed="stats.seed",
    )
    out = []
    for title, text in (
        ("Behaviour", behaviour),
        ("Imaging traces", traces),
        ("Movement encoding", encoding),
        ("All-optical mapping", opto),
        ("Statistics", stats),
    ):
        if text.strip():
            out.append(f"<p><b>{title}.</b> {text.strip()}</p>")
    return "".join(out)


def _choices(params: dict) -> pd.DataFrame:
    """Every parameter whose doc names a convention or a choice, with the value used."""
    from thalamocortex.config import Config, describe

    rows = []
    for r in describe(Config):
        if not _CONVENTION.search(r["doc"]):
            continue
        used = get(params, r["key"])
        if used is None:
            continue
        default = r["default"]
        same = _fmt(used) == _fmt(default) or used == default
        rows.append(
            {
                "parameter": r["key"],
                "value used": _fmt(used) + ("" if same else " (changed)"),
                "unit": r["unit"],
                "convention or choice": r["doc"],
            }
        )
    return pd.DataFrame(rows)


def render(results_dir: Path, fig_dir: Path) -> str:
    params = parameters(results_dir)
    if not params:
        return "<p class='note'>No provenance records: the parameters used are unknown.</p>"
    parts = [
        "<p class='note'>Written from the parameters recorded with the results (every table's "
        "<code>.provenance.json</code>), so it describes this run. Where the paper does not "
        "state its method the text names the convention followed; every such choice is a "
        "parameter (<code>thalamocortex params</code>).</p>",
        _paragraphs(params),
    ]
    choices = _choices(params)
    if len(choices):
        parts.append(
            table_html(
                choices,
                max_rows=len(choices),
                caption="Conventions and choices where the paper is silent: the value used in "
                "this run ('changed' = not the default) and where it comes from.",
            )
        )
    return "".join(parts)
