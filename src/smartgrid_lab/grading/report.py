"""The Markdown report with plots that ``grade`` writes: why a run passed or failed, visibly."""

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from smartgrid_lab.grading.physics import per_unit
from smartgrid_lab.grading.replication import Row
from smartgrid_lab.grading.spec import CATEGORIES
from smartgrid_lab.grading.verdict import ERROR, Grade


def _figure(title: str, ylabel: str, rows: int = 1):
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    fig = Figure(figsize=(10, 3.6 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    axes[0].set_title(title)
    for ax in axes:
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.set_xlim(0, 24)
        ax.set_xticks(range(0, 25, 3))
    axes[-1].set_xlabel("time of day [h]")
    return fig, axes


def plot_voltages(path: Path, grade: Grade) -> None:
    """Every bus of the run in p.u., the reference's envelope, and the band."""
    fig, (ax,) = _figure("Node voltages over the day (run; grey: reference range)", "Vm [p.u.]")
    ref_pu = list(per_unit(grade.ref.series).values())
    if ref_pu:
        hours = grade.clock.hours(ref_pu[0].size)
        ax.fill_between(hours, np.min(ref_pu, axis=0), np.max(ref_pu, axis=0), color="0.8",
                        label="reference min–max")
    for _, pu in sorted(per_unit(grade.plots["clean"]).items()):
        ax.plot(grade.clock.hours(pu.size), pu, lw=0.8, alpha=0.8)
    for limit in grade.spec.band:
        ax.axhline(limit, color="red", ls="--", lw=1)
    low, high = grade.spec.band
    ax.plot([], [], color="red", ls="--", label=f"band {low}–{high}")
    ax.legend(loc="upper left")
    fig.savefig(path)


def plot_loading(path: Path, grade: Grade) -> None:
    """Loading of every branch; the five most loaded get a legend entry."""
    fig, (ax,) = _figure("Line and transformer loading over the day (run)", "loading [%]")
    loading = grade.plots["loading"]
    top = sorted(loading, key=lambda e: loading[e].max(), reverse=True)[:5]
    for entity in sorted(set(loading) - set(top)):
        ax.plot(grade.clock.hours(loading[entity].size), 100 * loading[entity],
                lw=0.6, color="0.7")
    for entity, colour in zip(top, ("tab:red", "tab:blue", "tab:orange", "tab:green",
                                    "tab:purple"), strict=False):
        ax.plot(grade.clock.hours(loading[entity].size), 100 * loading[entity], lw=1.2,
                color=colour, label=entity.rsplit("-", 1)[-1])
    ax.plot([], [], lw=0.6, color="0.7", label="others")
    ax.axhline(100 * grade.spec.max_loading, color="red", ls="--", lw=1, label="limit")
    if not loading:
        ax.text(12, 0.5, "no loading data", ha="center")
    ax.legend(loc="upper left")
    fig.savefig(path)


def plot_balance(path: Path, grade: Grade) -> None:
    """Summed household load and PV feed-in (and the slack bus), run against reference."""
    fig, (ax,) = _figure("PV feed-in vs household load (sums; dashed: reference)", "P [kW]")
    balances = grade.plots["balances"]
    colours = {"loads": "tab:blue", "feed_in": "tab:orange", "slack": "tab:green"}
    names = {"loads": "household load", "feed_in": "PV feed-in", "slack": "slack bus"}
    for key, colour in colours.items():
        for which, style in (("ref", "--"), ("run", "-")):
            if which in balances:
                values = balances[which][key] / 1000
                ax.plot(grade.clock.hours(values.size), values, style, color=colour,
                        lw=1, label=f"{names[key]} ({which})")
    if not balances:
        ax.text(12, 0, "energy balance not available (data missing)", ha="center")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(loc="lower left", ncols=3, fontsize="small")
    fig.savefig(path)


def max_difference(run: dict, ref: dict, attrs: tuple[str, ...]) -> np.ndarray | None:
    """Per step, the largest |run - ref| over every usable dataset of ``attrs``."""
    diffs = [np.abs(values - ref[e][a]) for e, group in run.items()
             for a, values in group.items() if a in attrs]
    return np.max(diffs, axis=0) if diffs else None


def plot_difference(path: Path, grade: Grade) -> None:
    """Largest voltage and power difference to the reference at each step."""
    fig, axes = _figure("Difference to the reference (largest over all entities)", "", rows=2)
    clean, ref = grade.plots["clean"], grade.ref.series
    panels = [(("Vm",), "V"), (("P", "P_out", "P_from", "P_to"), "W")]
    for ax, (attrs, unit_) in zip(axes, panels, strict=True):
        ax.set_ylabel(f"max |Δ{attrs[0]}| [{unit_}]")
        diff = max_difference(clean, ref, attrs)
        if diff is None:
            ax.text(12, 0.5, "no usable data", ha="center")
            continue
        tolerance = grade.spec.tolerance_for("", attrs[0]).abs
        # symlog: linear near zero, logarithmic above, so 1e-3 and 100 both show
        ax.set_yscale("symlog", linthresh=tolerance / 10 if tolerance else 1e-6)
        ax.plot(grade.clock.hours(diff.size), diff, lw=1.5, color="tab:purple",
                label="run − ref", clip_on=False, zorder=3)  # visible on the axis when zero
        ax.axhline(tolerance, color="red", ls="--", lw=1,
                   label=f"absolute tolerance {tolerance:g} {unit_}")
        ax.set_ylim(0, max(10 * tolerance, 3 * diff.max(), 1e-6))
        ax.legend(loc="center left")
        if not diff.any():
            ax.text(12, 0, "identical to the reference", ha="center", va="bottom")
    fig.savefig(path)


PLOTS = {
    "voltages.png": ("Node voltages", plot_voltages),
    "loading.png": ("Line loading", plot_loading),
    "balance.png": ("PV vs household load", plot_balance),
    "difference.png": ("Difference to the reference", plot_difference),
}


def _cell(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3g}"


def error_table(rows: list[Row]) -> list[str]:
    """Rows that differ from the reference, worst first; identical ones only counted."""
    shown = [r for r in rows if r.status != "ok" or r.max_abs > 0]
    shown.sort(key=lambda r: (r.status == "ok", -r.steps_out, -np.nan_to_num(r.max_rel)))
    lines = ["| Dataset | Tolerance | max \\|Δ\\| | mean \\|Δ\\| | max rel. | steps beyond "
             "| Status |", "|---|---|---|---|---|---|---|"]
    lines += [f"| `{r.name}` | {r.tolerance} | {_cell(r.max_abs)} | {_cell(r.mean_abs)} | "
              f"{_cell(r.max_rel)} | {r.steps_out} | {r.status} |" for r in shown]
    identical = len(rows) - len(shown)
    lines.append("")
    lines.append(f"{identical} of {len(rows)} datasets are identical to the reference "
                 "(not listed). Relative error ignores steps where |ref| ≤ the absolute "
                 "tolerance.")
    return lines


def report_markdown(grade: Grade, title: str, plots: list[str]) -> str:
    lines = [f"# Grading report: {title}", "",
             f"**Verdict: {grade.verdict}** — score {grade.score:.1f}/100", "",
             "| | |", "|---|---|"]
    if grade.run:
        lines += [f"| Run | `{grade.run.hdf5_file}` |", f"| Reference | `{grade.ref.hdf5_file}` |",
                  f"| Spec | `{grade.spec.file or 'built-in defaults'}` |"]
    lines += [f"| Graded | {datetime.now(UTC):%Y-%m-%d %H:%M} UTC |", "", "## Problems", ""]
    lines += [f"1. `{p.where}`: {p.message}" for p in grade.problems] or ["None."]
    if grade.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in grade.notes]
    if grade.shares:
        lines += ["", "## Score", "", "| Category | Weight | Share passed |", "|---|---|---|"]
        lines += [f"| {c} | {grade.spec.weights[c]:g} | {grade.shares[c]:.1%} |"
                  for c in CATEGORIES]
    for name in plots:
        lines += ["", f"## {PLOTS[name][0]}", "", f"![{PLOTS[name][0]}]({name})"]
    if grade.rows:
        lines += ["", "## Per-dataset errors", ""] + error_table(grade.rows)
    return "\n".join(lines) + "\n"


def write_report(grade: Grade, directory: Path, title: str) -> Path:
    """``report.md`` and its PNGs; an ERROR grade gets the verdict alone."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = []
    if grade.verdict != ERROR:
        for name, (_, draw) in PLOTS.items():
            draw(directory / name, grade)
            plots.append(name)
    path = directory / "report.md"
    path.write_text(report_markdown(grade, title, plots))
    return path

