"""The report's PNG plots, drawn with matplotlib's Agg canvas (no display, no pyplot global state).

    hit_at_k.png      hit@k for k = 1, 3, 5, 10, one line per system
    sections_hit5.png hit@5 of the main system per section (questions with evidence)
    latency.png       histogram of the main system's total_ms, p50 and p95 marked
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peerqa.eval.scoring import HIT_KS, QuestionScore

MAIN = "full"
_PNG_META = {"Software": None}  # no version stamp, so an unchanged plot is an unchanged file


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=_PNG_META)
    return path


def hit_curves(systems: dict[str, dict[str, Any]], path: Path) -> Path:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for name, figures in systems.items():
        ys = [float(figures[f"hit@{k}"]) for k in HIT_KS if figures.get(f"hit@{k}") is not None]
        if len(ys) == len(HIT_KS):
            style = "-" if name == MAIN else "--"
            ax.plot(HIT_KS, ys, style, marker="o", label=name, linewidth=2.2 if name == MAIN else 1.3)
    ax.set_xticks(HIT_KS)
    ax.set_xlabel("k (passages read)")
    ax.set_ylabel("evidence hit@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Share of questions with a gold quote in the top k passages")
    return _save(fig, path)


def section_bars(by_section: dict[str, dict[str, Any]], path: Path, system: str = MAIN) -> Path:
    rows = [(name, f["hit@5"], f["n_with_evidence"]) for name, f in by_section.items() if f.get("hit@5") is not None]
    rows.sort(key=lambda r: (r[1], r[0]), reverse=True)
    fig = Figure(figsize=(8, max(3.0, 0.24 * len(rows) + 1.2)))
    ax = fig.add_subplot()
    labels = [f"{name[:48]} (n={n})" for name, _v, n in rows]
    bars = ax.barh(range(len(rows)), [v for _name, v, _n in rows], color="#4C72B0")
    ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=2)  # a 0.00 section would otherwise show nothing
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("evidence hit@5")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"hit@5 of '{system}' by section")
    return _save(fig, path)


def latency_histogram(latencies: list[float], figures: dict[str, Any], path: Path, system: str = MAIN) -> Path:
    """One system's latencies (the others' p50/p95 are in the tables; overlaid they hide each other)."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    ax.hist(latencies, bins=30, color="#4C72B0", alpha=0.8)
    for key, style in (("latency_p50_ms", "-"), ("latency_p95_ms", ":")):
        if figures.get(key) is not None:
            ax.axvline(figures[key], color="black", linestyle=style, linewidth=1,
                       label=f"{key[8:11]} {figures[key]:.0f} ms")
    ax.set_xlabel("engine total_ms per question")
    ax.set_ylabel("questions")
    ax.legend(fontsize=8)
    ax.set_title(f"Answer latency of '{system}' ({len(latencies)} questions)")
    return _save(fig, path)


def write_plots(scores: dict[str, list[QuestionScore]], report: dict[str, Any], folder: Path) -> list[Path]:
    """All plots into `folder` (created); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    systems = report["systems"]
    out = [hit_curves(systems, folder / "hit_at_k.png")]
    main = MAIN if MAIN in systems else next(iter(systems))
    out.append(section_bars(systems[main]["by_section"], folder / "sections_hit5.png", main))
    answering = [name for name, answers in report["answers"].items() if answers]
    if answering:
        name = MAIN if MAIN in answering else answering[0]
        latencies = [s.latency_ms for s in scores[name]]
        out.append(latency_histogram(latencies, systems[name], folder / "latency.png", name))
    return out
