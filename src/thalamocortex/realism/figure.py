"""The realism figure: example traces, histograms of the statistics, mean images, motion.

Built from :class:`~thalamocortex.realism.compare.Measurement` objects only (a matplotlib
``Figure`` without pyplot, so nothing global changes); :func:`~.load.write_results` saves it.
"""

from __future__ import annotations

import numpy as np

from thalamocortex.realism.compare import ROI_STATISTICS, STATISTIC_NAMES, Measurement

#: one histogram per statistic of the side-by-side table
HIST_STATISTICS = ROI_STATISTICS


def example_rois(m: Measurement, n: int = 3) -> tuple[str, list[int]]:
    """The plane with most ROIs and ``n`` of its ROIs at the 25th/50th/75th... percentile of
    event rate (typical cells, neither the silent nor the most active)."""
    plane = m.rois.groupby("plane").size().idxmax()
    rows = m.rois[m.rois["plane"] == plane].reset_index(drop=True)
    order = np.argsort(rows["events_per_min"].to_numpy(), kind="stable")
    qs = np.linspace(0.25, 0.75, n) if n > 1 else np.array([0.5])
    picks = sorted({int(order[int(round(q * (len(order) - 1)))]) for q in qs})
    return plane, picks


def realism_figure(measurements: list[Measurement], window_s: float = 60.0):
    """One figure comparing the measurements.

    Rows: example dF/F traces (same time span and vertical scale for every measurement),
    histograms of the per-ROI statistics (densities, all measurements overlaid), mean images
    (photons per pixel per frame where the movie was measured), and motion offsets.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    n = len(measurements)
    colors = [f"C{k}" for k in range(n)]
    fig = Figure(figsize=(4.2 * max(n, 2), 13.5), layout="constrained")
    grid = fig.add_gridspec(4, 1, height_ratios=[1.3, 2.0, 1.2, 0.9])

    # example traces: one panel per measurement, shared y scale
    traces = grid[0].subgridspec(1, n)
    step = 0.0
    examples = []
    for m in measurements:
        plane, rois = example_rois(m)
        dff = m.dff[plane]
        fr = m.frame_rates[plane]
        k = min(dff.shape[0], int(round(window_s * fr)))
        x = dff[:k, rois]
        examples.append((plane, rois, x, fr))
        if x.size:
            step = max(step, float(np.nanpercentile(x, 99.5) - np.nanpercentile(x, 0.5)))
    step = step or 1.0
    ax0 = None
    for i, (m, (plane, rois, x, fr)) in enumerate(zip(measurements, examples)):
        ax = fig.add_subplot(traces[i], sharey=ax0)
        ax0 = ax0 or ax
        t = np.arange(x.shape[0]) / fr
        for j in range(x.shape[1]):
            ax.plot(t, x[:, j] + j * step, lw=0.6, color=colors[i])
        ax.set_xlim(0, window_s)
        ax.set_title(f"{m.label}: dF/F, {len(rois)} ROIs of {plane}", fontsize=8)
        ax.set_xlabel("time (s)")
        if i == 0:
            ax.set_ylabel(f"dF/F (offset {step:.1f} per ROI)")

    # histograms
    hist = grid[1].subgridspec(2, 4)
    for k, stat in enumerate(HIST_STATISTICS):
        ax = fig.add_subplot(hist[k // 4, k % 4])
        vals = [m.rois[stat].to_numpy(np.float64) for m in measurements if stat in m.rois]
        vals = [v[np.isfinite(v)] for v in vals]
        allv = np.concatenate(vals) if vals else np.zeros(0)
        if allv.size:
            lo, hi = np.percentile(allv, [1, 99])
            hi = hi if hi > lo else lo + 1.0
            bins = np.linspace(lo, hi, 25)
            for i, v in enumerate(vals):
                if v.size:
                    ax.hist(
                        np.clip(v, lo, hi),
                        bins=bins,
                        density=True,
                        histtype="step",
                        color=colors[i],
                        label=measurements[i].label,
                    )
        ax.set_title(STATISTIC_NAMES.get(stat, stat), fontsize=7)
        if k == 0:
            ax.legend(fontsize=6)

    # mean images
    imgs = grid[2].subgridspec(1, n)
    for i, m in enumerate(measurements):
        ax = fig.add_subplot(imgs[i])
        if m.images:
            plane, img = next(iter(m.images.items()))
            vmax = np.nanpercentile(img, 99.5)
            h = ax.imshow(img, cmap="gray", vmin=0, vmax=vmax)
            unit = "photons/px/frame" if np.isfinite(m.planes["gain"]).any() else "a.u."
            fig.colorbar(h, ax=ax, shrink=0.8, label=unit)
            ax.set_title(f"{m.label}: mean image of {plane}", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no image", ha="center", va="center")
        ax.set_axis_off()

    # motion
    ax = fig.add_subplot(grid[3])
    shown = False
    for i, m in enumerate(measurements):
        for plane, s in list(m.shifts.items())[:1]:
            fr = m.frame_rates[plane]
            t = np.arange(len(s)) / fr
            ax.plot(t, s[:, 0], lw=0.6, color=colors[i], label=f"{m.label} dy ({plane})")
            ax.plot(t, s[:, 1], lw=0.6, color=colors[i], ls=":", label=f"{m.label} dx")
            shown = True
    ax.set_xlabel("time (s)")
    ax.set_ylabel("offset (px)")
    ax.set_title("registration offsets", fontsize=8)
    if shown:
        ax.legend(fontsize=6, ncols=2)
    return fig
