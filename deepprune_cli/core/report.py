"""One self-contained HTML page for prune runs and model directories (``deepprune report``).

The page reads only what the runs wrote (``summary.tsv``, ``prune.json``, each stage's
``config.json``, ``metrics.json`` and ``history.tsv``) and, where given, a ``deepprune logos``
output (``motifs.meme`` with ``motifs.tsv`` and ``matches.tsv`` beside it); nothing is retrained or
re-evaluated. Figures are inline SVG drawn here and logos are inline PNG, so the file opens from
disk or as an e-mail attachment with no network access and no JavaScript. The same inputs give the
same bytes: no dates, no random ids, numbers formatted with fixed precision.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from deepprune_cli import __version__
from deepprune_cli.core import evaluation, plots, store
from deepprune_cli.core.errors import InputError, ModelDirError
from deepprune_cli.core.motifs import Motif, read_meme
from deepprune_cli.core.pruning import read_summary, stage_name

MOTIFS_FILE = "motifs.meme"
MATCHES_FILE = "matches.tsv"
MATCHES_SHOWN = 3  # database matches listed per motif
# Fixed colours per variant (and a cycle for anything else), so figures are stable across runs.
VARIANT_COLOURS = {"deepprune": "#1b6ca8", "baseline": "#d1495b", "inter": "#8e7dbe", "lottery": "#66a182",
                   "initial": "#333333", "model": "#1b6ca8"}  # fmt: skip
CYCLE = ("#1b6ca8", "#d1495b", "#66a182", "#edae49", "#8e7dbe", "#00798c", "#6c757d", "#b5651d")


@dataclass
class MotifEntry:
    """One reported motif: the MEME motif, its row of ``motifs.tsv`` and its database matches."""

    motif: Motif
    row: dict = field(default_factory=dict)
    matches: list[dict] = field(default_factory=list)


@dataclass
class RunData:
    """What one prune run or model directory holds, read from its files.

    Attributes:
        path: the directory given. name: a short label (the dataset, else the directory name).
        kind: ``"prune"`` or ``"model"``.
        record: ``prune.json`` of a prune run (``{}`` if absent); a model's ``config.json``.
        final: ``config.json`` of the final model. final_metrics: its ``metrics.json``.
        stages: summary rows (prune) each with its ``metrics`` and ``history``; one row for a model.
        motifs: the logos output's motifs (``None``: none given); kernel_rows: every row of
            ``motifs.tsv`` (dead kernels included); motif_source: where they were read.
    """

    path: Path
    name: str
    kind: str
    record: dict
    final: dict
    final_metrics: dict
    stages: list[dict]
    motifs: list[MotifEntry] | None = None
    kernel_rows: list[dict] = field(default_factory=list)
    motif_source: str | None = None

    @property
    def has_test(self) -> bool:
        return any(_finite(s.get("test_auroc")) for s in self.stages)


# --------------------------------------------------------------------------------------------
# reading runs


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object")
    return value


def _read_tsv(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t"))
    return [{k: v for k, v in r.items() if k is not None} for r in rows]


def _stage(directory: Path, row: dict) -> dict:
    metrics = _read_json(directory / store.METRICS) if (directory / store.METRICS).is_file() else {}
    stage = dict(row)
    stage.update(
        name=directory.name,
        val_auprc=metrics.get("val_auprc"),
        test_auprc=metrics.get("test_auprc"),
        history=store.read_history(directory),
    )
    if stage.get("test_auroc") is None:
        stage["test_auroc"] = metrics.get("test_auroc")
    return stage


def load_run(path: str | Path, motifs: str | Path | None = None) -> RunData:
    """Read a prune output directory or a model directory (and optionally its logos output).

    Args:
        path: a ``deepprune prune`` output (has ``summary.tsv``) or a model directory (``config.json``).
        motifs: a ``deepprune logos`` MEME file, or a directory holding ``motifs.meme``; its
            ``motifs.tsv`` and ``matches.tsv`` are read from beside it when present.

    Raises:
        InputError: the path is neither, or one of its files is unreadable.
    """
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{p}: no such directory (give a prune output or a model directory)")
    if (p / "summary.tsv").is_file():
        rows = read_summary(p)
        if not rows:
            raise InputError(f"{p}/summary.tsv: no stages listed")
        stages = []
        for row in rows:
            directory = p / stage_name(row["round"], row["variant"])
            if not store.is_model_dir(directory):
                raise InputError(f"{p}: summary.tsv lists {directory.name}, which is not a model directory")
            stages.append(_stage(directory, row))
        final_dir = p / "final" if store.is_model_dir(p / "final") else p / stages[-1]["name"]
        record = _read_json(p / "prune.json") if (p / "prune.json").is_file() else {}
        kind = "prune"
    elif store.is_model_dir(p):
        final_dir, kind = p, "model"
        record = None
        stages = None
    else:
        raise InputError(f"{p}: not a prune run or model directory (no summary.tsv or config.json)")
    try:
        final = store.read_config(final_dir)
    except ModelDirError as exc:
        raise InputError(str(exc)) from None
    final_metrics = _read_json(final_dir / store.METRICS) if (final_dir / store.METRICS).is_file() else {}
    if kind == "model":
        record = final
        row = {"round": None, "variant": "model", "kernels": int(final.get("n_kernels") or 0),
               "epochs": final_metrics.get("epochs_run"), "val_auroc": final_metrics.get("val_auroc"),
               "test_auroc": final_metrics.get("test_auroc"), "seconds": None}  # fmt: skip
        stages = [_stage(p, row)]
    data = record.get("data") or {}
    name = Path(str(data.get("input") or p.name)).name
    for ext in (".gz", ".fa", ".fasta", ".seq", ".data", ".bed", ".narrowPeak"):
        name = name.removesuffix(ext)
    run = RunData(p, name or p.name, kind, record, final, final_metrics, stages)
    if motifs is not None:
        _attach_motifs(run, Path(motifs))
    return run


def _attach_motifs(run: RunData, source: Path) -> None:
    meme = source / MOTIFS_FILE if source.is_dir() else source
    if not meme.is_file():
        raise InputError(f"{source}: no {MOTIFS_FILE} (give a 'deepprune logos' output)")
    table = meme.with_suffix(".tsv")
    run.kernel_rows = _read_tsv(table) if table.is_file() else []
    empty = run.kernel_rows and not any(r.get("status") == "ok" for r in run.kernel_rows)
    motifs = [] if empty else read_meme(meme)
    rows = {r.get("id"): r for r in run.kernel_rows}
    matches: dict[str, list[dict]] = {}
    if (meme.parent / MATCHES_FILE).is_file():
        for m in _read_tsv(meme.parent / MATCHES_FILE):
            matches.setdefault(m.get("query"), []).append(m)
    for found in matches.values():
        found.sort(key=lambda m: _float(m.get("p")))
    run.motifs = [MotifEntry(m, rows.get(m.id, {}), matches.get(m.id, [])[:MATCHES_SHOWN]) for m in motifs]
    run.motif_source = str(meme)


# --------------------------------------------------------------------------------------------
# numbers


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _finite(v) -> bool:
    return math.isfinite(_float(v))


def _fmt(v, digits: int = 4) -> str:
    x = _float(v)
    return f"{x:.{digits}f}" if math.isfinite(x) else "–"


def _fmt_p(v) -> str:
    x = _float(v)
    return f"{x:.2g}" if math.isfinite(x) else "–"


# --------------------------------------------------------------------------------------------
# inline SVG figures


def _nice_range(values: list[float], pad: float = 0.02) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _colour(name: str, i: int) -> str:
    return VARIANT_COLOURS.get(name, CYCLE[i % len(CYCLE)])


def line_chart(series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str, log2_x: bool = False,
               width: int = 460, height: int = 260, title: str = "") -> str:
    """An SVG line chart: series name -> ``[(x, y), ...]`` (points sorted by x; NaN points dropped)."""
    series = {k: sorted((x, y) for x, y in pts if _finite(x) and _finite(y)) for k, pts in series.items()}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return '<p class="gap">no values to draw</p>'
    tx = (lambda x: math.log2(x)) if log2_x else (lambda x: x)
    xs = [tx(x) for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = _nice_range(xs, 0.04)
    y0, y1 = _nice_range(ys, 0.08)
    left, right, top, bottom = 56, 112, 22, 40
    pw, ph = width - left - right, height - top - bottom

    def px(x):
        return left + (tx(x) - x0) / (x1 - x0) * pw

    def py(y):
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{html.escape(title or ylabel)}">',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>']  # fmt: skip
    for i in range(5):  # y grid and ticks
        y = y0 + (y1 - y0) * i / 4
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{py(y) + 4:.1f}" text-anchor="end" font-size="10">{y:.3f}</text>')  # fmt: skip
    xticks = sorted({x for pts in series.values() for x, _ in pts})
    if len(xticks) > 12:
        step = math.ceil(len(xticks) / 12)
        xticks = xticks[::step]
    for x in xticks:
        label = f"{x:g}"
        out.append(f'<text x="{px(x):.1f}" y="{top + ph + 14}" text-anchor="middle" font-size="10">{label}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="11">{html.escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{top + ph / 2:.1f}" text-anchor="middle" font-size="11" '
               f'transform="rotate(-90 12 {top + ph / 2:.1f})">{html.escape(ylabel)}</text>')  # fmt: skip
    for i, (name, pts) in enumerate(series.items()):
        colour = _colour(name, i)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in pts)
        out.append(f'<rect x="{left + pw + 10}" y="{top + 4 + 16 * i}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{left + pw + 24}" y="{top + 13 + 16 * i}" font-size="11">{html.escape(name)}</text>')  # fmt: skip
    if title:
        out.append(f'<text x="{left}" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>')
    out.append("</svg>")
    return "".join(out)


def scatter_chart(points: list[tuple[float, float, str]], xlabel: str, ylabel: str, title: str = "",
                  size: int = 340) -> str:
    """An SVG scatter of ``(x, y, label)`` with the diagonal y = x (points above it: y wins)."""
    points = [(x, y, s) for x, y, s in points if _finite(x) and _finite(y)]
    if not points:
        return '<p class="gap">no pairs to draw</p>'
    lo, hi = _nice_range([v for x, y, _ in points for v in (x, y)], 0.06)
    m = 50
    pw = size - 2 * m

    def p(v):
        return m + (v - lo) / (hi - lo) * pw

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
           f'role="img" aria-label="{html.escape(title or ylabel)}">',
           f'<rect x="{m}" y="{m - 20}" width="{pw}" height="{pw}" fill="#fff" stroke="#999"/>',
           f'<line x1="{m}" y1="{m - 20 + pw}" x2="{m + pw}" y2="{m - 20}" stroke="#aaa" stroke-dasharray="4 3"/>']  # fmt: skip
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        out.append(f'<text x="{p(v):.1f}" y="{m - 20 + pw + 14}" text-anchor="middle" font-size="10">{v:.3f}</text>'
                   f'<text x="{m - 4}" y="{m - 20 + pw - (p(v) - m) + 4:.1f}" text-anchor="end" font-size="10">{v:.3f}</text>')  # fmt: skip
    for x, y, label in points:
        cx, cy = p(x), m - 20 + pw - (p(y) - m)
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#1b6ca8"><title>{html.escape(label)}: '
                   f'{x:.4f} vs {y:.4f}</title></circle>')  # fmt: skip
    out.append(f'<text x="{m + pw / 2}" y="{size - 8}" text-anchor="middle" font-size="11">{html.escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{m - 20 + pw / 2}" text-anchor="middle" font-size="11" '
               f'transform="rotate(-90 12 {m - 20 + pw / 2})">{html.escape(ylabel)}</text>')  # fmt: skip
    if title:
        out.append(f'<text x="{m}" y="16" font-size="12" font-weight="bold">{html.escape(title)}</text>')
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# HTML pieces

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.gap{color:#8a5300;background:#fff6e5;padding:.4em .7em;border-left:3px solid #edae49}
.figs{display:flex;flex-wrap:wrap;gap:1em}.motif{display:flex;gap:1.2em;align-items:flex-start;margin:1em 0;
border-top:1px solid #eee;padding-top:.8em}.motif img{max-width:520px;height:auto}
code{background:#f3f5f7;padding:0 .2em}.muted{color:#666}
"""


# Cells holding wall-clock times carry class "time": the one part of a page that differs between
# two runs of the same pipeline (a workflow comparing results can drop them).
TIMED_FACTS = ("fitting time",)


def _table(header: list[str] | None, rows: list[list], numeric: set[int] = frozenset(),
           timed: set[int] = frozenset()) -> str:
    """An HTML table; ``header=None`` for a two-column list of facts (the first column as row headers).

    ``numeric``: column indices aligned right; ``timed``: columns of wall-clock times.
    """
    out = ["<table>"]
    if header:
        out += ["<thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in header), "</tr></thead>"]
    out.append("<tbody>")
    if header is None:
        for key, value in rows:
            cls = ' class="time"' if key in TIMED_FACTS else ""
            out.append(f"<tr><th>{html.escape(str(key))}</th><td{cls}>{html.escape(str(value))}</td></tr>")
        out.append("</tbody></table>")
        return "".join(out)
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            classes = " ".join(c for c, cols in (("num", numeric), ("time", timed)) if i in cols)
            cls = f' class="{classes}"' if classes else ""
            out.append(f"<td{cls}>{html.escape(str(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _gap(text: str) -> str:
    return f'<p class="gap">{html.escape(text)}</p>'


def _what_was_run(run: RunData) -> str:
    data = run.record.get("data") or {}
    options = run.record.get("options") or {}
    train = options.get("train") or run.final.get("training") or {}
    spec = run.record.get("spec") or run.final.get("spec") or {}
    convs = spec.get("convs") or [{}]
    seconds = [_float(s.get("seconds")) for s in run.stages]
    total = sum(s for s in seconds if math.isfinite(s))
    n_pos = data.get("n_positive")
    rows = [
        ["directory", str(run.path)],
        ["kind", "prune run" if run.kind == "prune" else "trained model"],
        ["training data", f"{data.get('input', '–')} ({data.get('n_input', '–')} records, "
                          f"{n_pos if not isinstance(n_pos, list) else ', '.join(map(str, n_pos))} positive)"],
        ["split", f"{data.get('n_train', '–')} training / {data.get('n_val', '–')} validation sequences"],
        ["test data", data.get("test") or "none given"],
        ["architecture", f"{spec.get('name', run.final.get('arch', '–'))}, kernel width {convs[0].get('width', '–')}, "
                         f"{'both strands' if spec.get('both_strands') else 'one strand'}"],
    ]  # fmt: skip
    if run.kind == "prune":
        rows += [
            ["kernels", f"{options.get('start_kernels', '–')} → {options.get('kernels', '–')} in {options.get('rounds', '–')} rounds"],
            ["criterion", options.get("criterion", "–")],
            ["compact motif model", _compact_text(run.record.get("compact"))],
            ["fine-tuning", f"lr {train.get('lr', '–')} decayed by {options.get('lr_decay', '–')} per round; "
                            f"at most {train.get('max_epochs', '–')} epochs, patience {train.get('patience', '–')}"],
        ]  # fmt: skip
    else:
        rows.append(["kernels", run.final.get("n_kernels", "–")])
    rows += [
        ["seed", train.get("seed", "–")],
        ["device", (run.final.get("training") or {}).get("device", train.get("device", "cpu"))],
        ["deepprune version", run.final.get("tool_version", "–")],
        ["fitting time", f"{total:.1f} s" if total else "–"],
    ]
    return _table(None, rows)


def _compact_text(verdict: dict | None) -> str:
    """prune.json's ``compact`` verdict (pruning.compact_verdict) in words; '–' for older runs."""
    if not verdict:
        return "–"
    if verdict.get("compact"):
        return (f"yes: {verdict['kernels']} kernels, val AUROC {_fmt(verdict['final_val_auroc'])} against the start "
                f"model's {_fmt(verdict['start_val_auroc'])}")
    return f"NO: {verdict.get('reason')}; the final kernels may be weak or partial motifs"


def _performance(run: RunData) -> str:
    parts = []
    metric, label = ("test_auroc", "test") if run.has_test else ("val_auroc", "validation")
    if not run.has_test:
        parts.append(_gap("no test set was given: figures show validation AUROC/AUPRC only"))
    records = [dict(variant=s["variant"], kernels=int(s["kernels"]), auroc=_float(s.get(metric)),
                    auprc=_float(s.get(metric.replace("auroc", "auprc")))) for s in run.stages]  # fmt: skip
    if run.kind == "prune":
        figs = [
            line_chart(evaluation.auroc_series(records), "kernels", f"{label} AUROC", log2_x=True, title=f"{label} AUROC vs kernels"),
            line_chart(evaluation.auroc_series(records, "auprc"), "kernels", f"{label} AUPRC", log2_x=True, title=f"{label} AUPRC vs kernels"),
        ]  # fmt: skip
        parts.append('<div class="figs">' + "".join(figs) + "</div>")
    rows = [[s.get("round") if s.get("round") is not None else "", s["kernels"], s["variant"], s.get("epochs", ""),
             _fmt(s.get("val_auroc")), _fmt(s.get("val_auprc")), _fmt(s.get("test_auroc")), _fmt(s.get("test_auprc")),
             _fmt(s.get("seconds"), 2)] for s in run.stages]  # fmt: skip
    parts.append(_table(["round", "kernels", "variant", "epochs", "val AUROC", "val AUPRC", "test AUROC", "test AUPRC", "seconds"],
                        rows, numeric={1, 3, 4, 5, 6, 7, 8}, timed={8}))  # fmt: skip
    return "".join(parts)


def _curves(run: RunData) -> str:
    by_variant: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for s in run.stages:
        pts = [(h.get("epoch"), h.get("val_auroc")) for h in s["history"]]
        if pts:
            key = "model" if run.kind == "model" else f"{s['kernels']} kernels"
            by_variant.setdefault(s["variant"], {})[key] = pts
    if not by_variant:
        return _gap("no training history (history.tsv) in these directories")
    figs = [line_chart(series, "epoch", "validation AUROC", title=variant) for variant, series in by_variant.items()]
    return '<div class="figs">' + "".join(figs) + "</div>"


def _groups(run: RunData) -> dict[str, list[str]]:
    """Group label -> kernel ids, from ``motifs.tsv``'s ``group`` column (when logos wrote one)."""
    groups: dict[str, list[str]] = {}
    for r in run.kernel_rows:
        if r.get("group") not in (None, "") and r.get("status") == "ok":
            groups.setdefault(r["group"], []).append(r.get("id", ""))
    return groups


def _motifs(run: RunData) -> str:
    if run.motifs is None:
        return _gap("no motifs given: run 'deepprune logos' on the final model and pass its output with --motifs")
    parts = [f'<p class="muted">from <code>{html.escape(run.motif_source or "")}</code></p>']
    dead = [r for r in run.kernel_rows if r.get("status") not in (None, "", "ok")]
    if not run.motifs:
        parts.append(_gap("no kernel gave a motif (every kernel was dead or had too few sites)"))
    groups = _groups(run)
    if groups:
        shared = {g: ids for g, ids in groups.items() if len(ids) > 1}
        parts.append(f"<p><b>{len(run.kernel_rows) - len(dead)} kernels → {len(groups)} distinct motif"
                     f"{'s' if len(groups) != 1 else ''}</b>"
                     + ("".join(f"; kernels {html.escape(', '.join(ids))} are one motif" for ids in shared.values()))
                     + "</p>")  # fmt: skip
    for entry in run.motifs:
        m, row = entry.motif, entry.row
        png = base64.b64encode(plots.logo_png(m)).decode("ascii")
        facts = [["consensus", m.consensus], ["sites", row.get("sites", m.nsites)],
                 ["information", f"{_fmt(row.get('information_bits'), 1)} bits"],
                 ["importance", _fmt(row.get("importance"), 3)]]  # fmt: skip
        if row.get("group") not in (None, ""):
            facts.append(["group", row["group"]])
        match_rows = [[x.get("target", ""), x.get("target_name", ""), _fmt_p(x.get("p")), _fmt_p(x.get("E")),
                       _fmt_p(x.get("q")), x.get("orientation", "")] for x in entry.matches]  # fmt: skip
        matches = (_table(["match", "name", "p", "E", "q", "strand"], match_rows, numeric={2, 3, 4})
                   if match_rows else '<p class="muted">no database match given</p>')  # fmt: skip
        parts.append(f'<div class="motif"><div><h4>{html.escape(m.id)}</h4>'
                     f'<img src="data:image/png;base64,{png}" alt="logo of {html.escape(m.id)}"></div>'
                     f"<div>{_table(None, facts)}{matches}</div></div>")  # fmt: skip
    if dead:
        parts.append("<p class=\"muted\">not reported: " + html.escape(
            "; ".join(f"{r.get('id')} ({r.get('status')})" for r in dead)) + "</p>")  # fmt: skip
    return "".join(parts)


def _final_row(run: RunData, variant: str) -> dict | None:
    """The smallest-kernel stage of ``variant`` (the final model's size)."""
    rows = [s for s in run.stages if s["variant"] == variant]
    return min(rows, key=lambda s: int(s["kernels"])) if rows else None


def _across(runs: list[RunData]) -> str:
    parts = ["<h2>Across experiments</h2>"]
    metric = "test_auroc" if all(r.has_test for r in runs) else "val_auroc"
    label = "test" if metric == "test_auroc" else "validation"
    if metric == "val_auroc":
        parts.append(_gap("not every run has a test set: the comparison uses validation AUROC"))
    rows, records = [], []
    for run in runs:
        dp = _final_row(run, "deepprune") or _final_row(run, "model")
        base = _final_row(run, "baseline")
        groups = _groups(run)
        n_motifs = len(groups) if groups else (len(run.motifs) if run.motifs is not None else None)
        top = run.motifs[0].matches[0] if run.motifs and run.motifs[0].matches else {}
        rows.append([run.name, dp["kernels"] if dp else "–", _fmt(dp.get(metric)) if dp else "–",
                     _fmt(base.get(metric)) if base else "–", "–" if n_motifs is None else n_motifs,
                     f"{top.get('target_name', '')} {top.get('target', '')}".strip() or "–"])  # fmt: skip
        for s in run.stages:
            records.append(dict(dataset=run.name, variant=s["variant"], kernels=int(s["kernels"]),
                                round=s.get("round"), auroc=_float(s.get(metric))))  # fmt: skip
    parts.append(_table(["experiment", "kernels", f"deepprune {label} AUROC", f"baseline {label} AUROC", "motifs", "top motif match"],
                        rows, numeric={1, 2, 3, 4}))  # fmt: skip
    comparison = [c for c in evaluation.paired_comparison(records, "baseline", "deepprune", strict=False)
                  if c["a"] == "baseline"]  # fmt: skip
    if comparison:
        last = comparison[-1]
        pv = last["p_value"]
        verdict = (f"deepprune beats the same-size baseline on {last['b_wins']} of {last['n_datasets']} experiments "
                   f"at {last['kernels']} kernels (one-sided Wilcoxon signed-rank p = {_fmt_p(pv)})")  # fmt: skip
        points = list(zip(last["auroc_a"], last["auroc_b"], last["datasets"]))
        first = evaluation.paired_comparison(records, "baseline_first", "deepprune", strict=False)
        if first:  # the baseline is the best of several seeds: the first seed's alone too
            first = first[-1]
            verdict += (f"; against the first seed's baseline alone on {first['b_wins']} of "
                        f"{first['n_datasets']} (p = {_fmt_p(first['p_value'])})")  # fmt: skip
        parts.append(f"<p>{html.escape(verdict)}</p>")
        parts.append(scatter_chart(points, f"baseline {label} AUROC", f"deepprune {label} AUROC",
                                   title=f"{last['kernels']} kernels, n = {last['n_datasets']}"))  # fmt: skip
        parts.append(_table(["kernels", "experiments", "median baseline", "median deepprune", "deepprune wins", "p"],
                            [[c["kernels"], c["n_datasets"], _fmt(c["median_a"]), _fmt(c["median_b"]),
                              f"{c['b_wins']}/{c['n_datasets']}", _fmt_p(c["p_value"])] for c in comparison],
                            numeric={0, 1, 2, 3, 5}))  # fmt: skip
    motif_rows = []
    for run in runs:
        for entry in run.motifs or []:
            best = entry.matches[0] if entry.matches else {}
            motif_rows.append([run.name, entry.motif.id, entry.row.get("group", ""), entry.motif.consensus,
                               _fmt(entry.row.get("importance"), 3), best.get("target_name", "–"), _fmt_p(best.get("p"))])  # fmt: skip
    if motif_rows:
        parts.append("<h3>Motifs</h3>")
        parts.append(_table(["experiment", "motif", "group", "consensus", "importance", "best match", "p"], motif_rows, numeric={4, 6}))
    return "".join(parts)


def _unique_names(runs: list[RunData]) -> None:
    """Runs are paired across experiments by name: a name given twice gets its directory added."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    for run in runs:
        if counts[run.name] > 1:
            run.name = f"{run.name} ({run.path})"
    seen: set[str] = set()
    for run in runs:
        if run.name in seen:
            raise InputError(f"{run.path}: given twice")
        seen.add(run.name)


def build_report(runs: list[RunData], title: str = "deepprune report") -> str:
    """The whole page as a string (UTF-8 HTML5, no scripts, no external resources)."""
    if not runs:
        raise InputError("no runs to report")
    _unique_names(runs)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>",
           f'<p class="muted">written by deepprune {html.escape(__version__)} from {len(runs)} run'
           f"{'s' if len(runs) != 1 else ''}</p>"]  # fmt: skip
    if len(runs) > 1:
        out.append("<ul>" + "".join(f'<li><a href="#run{i + 1}">{html.escape(r.name)}</a> '
                                    f"<code>{html.escape(str(r.path))}</code></li>" for i, r in enumerate(runs)) + "</ul>")  # fmt: skip
        out.append(_across(runs))
    for i, run in enumerate(runs):
        out.append(f'<h2 id="run{i + 1}">{html.escape(run.name)}</h2>')
        out.append("<h3>What was run</h3>" + _what_was_run(run))
        out.append("<h3>Performance against kernel count</h3>" + _performance(run))
        out.append("<h3>Training curves</h3>" + _curves(run))
        out.append("<h3>Motifs</h3>" + _motifs(run))
    out.append("</body></html>\n")
    return "\n".join(out)


def write_report(paths: list[str | Path], output: str | Path, motifs: list[str | Path] | None = None,
                 title: str = "deepprune report") -> list[RunData]:
    """Read every run (with its logos output, ``motifs[i]`` for ``paths[i]``) and write the page
    atomically to ``output`` (``-`` for stdout). Returns the runs read."""
    from deepprune_cli.core.atomic import atomic_output

    if motifs and len(motifs) != len(paths):
        raise InputError(f"--motifs given {len(motifs)} time(s) for {len(paths)} run(s): give one per run, in the same order")
    runs = [load_run(p, motifs[i] if motifs else None) for i, p in enumerate(paths)]
    page = build_report(runs, title)
    with atomic_output(output, "wb") as fh:
        fh.write(page.encode("utf-8"))
    return runs
