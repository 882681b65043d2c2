"""``tracekit check --html report.html``: one self-contained HTML file (no script, no network):
the summary, every finding with its evidence (the offending line, the object's history) and a
step chart (inline SVG) of the object's counters over its life.

The same input gives the same bytes: nothing in it depends on the time or the machine.
"""

from __future__ import annotations

from html import escape
from typing import Any

import polars as pl

from tracekit import __version__
from tracekit.check import CheckResult

SERIES = (
    ("refs", "#1f77b4"),
    ("handles", "#ff7f0e"),
    ("pins", "#2ca02c"),
    ("vmaps", "#d62728"),
    ("pages", "#9467bd"),
    ("jobs", "#8c564b"),
)
HISTORY_ROWS = 40

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
pre, code { font: 12px/1.4 ui-monospace, monospace; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; }
.error { color: #b00020; font-weight: 600; } .warning { color: #9a6700; font-weight: 600; }
.inconclusive { color: #555; font-weight: 600; }
tr.hit td { background: #ffe9e9; }
.legend span { margin-right: 1em; } .muted { color: #666; }
"""


def html_report(res: CheckResult) -> str:
    """The whole report as one HTML document."""
    findings = res.finding_dicts(snippets=True)
    rows = res.findings.to_dicts()
    s = res.summary()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>tracekit check report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>tracekit check report</h1>",
        "<p>"
        + escape(
            f"{s['files']} file(s), {s['lines']} lines, {s['events']} events, {s['ops']} ops, "
            f"{s['rules']} rules: {s['error']} error(s), {s['warning']} warning(s), "
            f"{s['inconclusive']} inconclusive"
        )
        + "</p>",
    ]
    if findings:
        parts.append(
            "<table><tr><th>#</th><th>rule</th><th>verdict</th><th>where</th>"
            "<th>object</th><th>message</th></tr>"
        )
        for i, f in enumerate(findings, 1):
            subject = f["object"] or f["dmabuf"] or "-"
            parts.append(
                f'<tr><td class="n"><a href="#f{i}">{i}</a></td>'
                f"<td>{escape(f['rule'])} {escape(f['name'])}</td>"
                f'<td class="{f["verdict"]}">{f["verdict"]}</td>'
                f"<td><code>{escape(f['file'])}:{f['line']}</code></td>"
                f"<td><code>{escape(subject)}</code></td><td>{escape(f['message'])}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No finding: every rule is silent on these captures.</p>")
    parts.append("<h2>Files</h2><ul>")
    parts += [f"<li><code>{escape(name)}</code></li>" for name in res.files]
    parts.append("</ul>")
    for i, (f, row) in enumerate(zip(findings, rows, strict=True), 1):
        parts += _finding_section(res, i, f, row)
    parts.append(
        f'<p class="muted">tracekit {escape(__version__)}: rules, model and formats in the '
        "project's docs (docs/rules.md, docs/model.md).</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def _finding_section(res: CheckResult, i: int, f: dict[str, Any], row: dict[str, Any]) -> list[str]:
    out = [
        f'<h2 id="f{i}">{i}. {escape(f["rule"])} {escape(f["name"])} '
        f'<span class="{f["verdict"]}">{f["verdict"]}</span></h2>',
        f"<p>{escape(f['message'])}</p>",
        f"<p><code>{escape(f['file'])}:{f['line']}</code>",
    ]
    if f["object"] is not None:
        out.append(f" object <code>{f['object']}</code> generation {f['generation']}")
    elif f["dmabuf"] is not None:
        out.append(f" dma-buf <code>{f['dmabuf']}</code>")
    out.append(f' <span class="muted">fingerprint {f["fingerprint"]}</span></p>')
    if f.get("snippet"):
        out.append(f"<pre>{f['line']:>7} | {escape(f['snippet'])}</pre>")
    if row["object"] is None:
        return out
    hist = (
        res.replayed.states.filter(
            (pl.col("source") == row["source"])
            & (pl.col("object") == row["object"])
            & (pl.col("generation") == row["generation"])
            & (pl.col("op") != "call_enter")
        )
        .with_row_index("_r")
        .sort("seq", "_r")
    )
    out.append(_chart(hist, row["seq"]))
    upto = hist.filter(pl.col("seq") <= row["seq"]).tail(HISTORY_ROWS)
    out.append(
        "<table><tr><th>line</th><th>op</th><th>function</th>"
        + "".join(f'<th class="n">{name}</th>' for name, _ in SERIES)
        + "<th>alive</th></tr>"
    )
    for r in upto.iter_rows(named=True):
        hit = ' class="hit"' if r["seq"] == row["seq"] and not r["implicit"] else ""
        op = r["op"] + (" (implicit)" if r["implicit"] else "")
        if r.get("refused"):
            op += f" refused {r['refused']}"
        out.append(
            f'<tr{hit}><td class="n">{r["line"]}</td><td>{escape(op)}</td>'
            f"<td><code>{escape(r['func'] or '')}</code></td>"
            + "".join(f'<td class="n">{_v(r[name])}</td>' for name, _ in SERIES)
            + f"<td>{r['alive']}</td></tr>"
        )
    out.append("</table>")
    return out


def _v(value: Any) -> str:
    return "-" if value is None else str(value)


def _chart(hist: pl.DataFrame, at_seq: int, width: int = 960, height: int = 200) -> str:
    """A step chart of the object's counters after each of its ops (x: the ops in order)."""
    n = hist.height
    if n == 0:
        return ""
    values = {name: [v or 0 for v in hist[name].to_list()] for name, _ in SERIES}
    lo = min(0, *(min(v) for v in values.values()))
    hi = max(1, *(max(v) for v in values.values()))
    left, right, top, bottom = 40, 10, 10, 24
    w, h = width - left - right, height - top - bottom

    def x(k: float) -> float:
        return left + w * k / max(n, 1)

    def y(v: float) -> float:
        return top + h * (hi - v) / (hi - lo)

    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="counters over the ops">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fcfcfc" stroke="#ddd"/>',
    ]
    for tick in sorted({lo, 0, hi}):
        svg.append(
            f'<line x1="{left}" x2="{left + w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#eee"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{tick}</text>'
        )
    seqs = hist["seq"].to_list()
    hit = next((k for k, q in enumerate(seqs) if q == at_seq), None)
    if hit is not None:
        xh = x(hit + 0.5)
        svg.append(
            f'<line x1="{xh:.1f}" x2="{xh:.1f}" y1="{top}" y2="{top + h}" stroke="#b00020" '
            'stroke-dasharray="4 3"><title>the finding</title></line>'
        )
    for name, color in SERIES:
        pts = []
        for k, v in enumerate(values[name]):
            pts.append(f"{x(k):.1f},{y(v):.1f}")
            pts.append(f"{x(k + 1):.1f},{y(v):.1f}")
        svg.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{" ".join(pts)}">'
            f"<title>{name}</title></polyline>"
        )
    lines = hist["line"].to_list()
    svg.append(
        f'<text x="{left}" y="{height - 6}" font-size="11">line {lines[0]}</text>'
        f'<text x="{left + w}" y="{height - 6}" font-size="11" text-anchor="end">'
        f"line {lines[-1]} ({n} ops)</text></svg>"
    )
    legend = "".join(
        f'<span><svg width="18" height="8"><line x1="0" x2="18" y1="4" y2="4" stroke="{c}" '
        f'stroke-width="3"/></svg> {name}</span>'
        for name, c in SERIES
    )
    return f'<div class="legend">{legend}</div>' + "".join(svg)
