"""The report's charts as static SVG, which render offline (`dvc plots show` embeds images as
they are; its Vega plots load Vega from a CDN) and in any Markdown viewer.

Two kinds: success rates per model with their 95% intervals as whiskers, and one conflict
heatmap per task (its own features and the accepted generated ones on both axes). The text is
escaped: model slugs and task names come from params.yaml.
"""

from __future__ import annotations

from html import escape

COLOURS = {"clean": "#f4f4f4", "conflict": "#9e9e9e", "trivial": "#8ecae6", "hard": "#d62828"}
FONT = 'font-family="sans-serif" font-size="12"'


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return "\n".join([f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                      f'viewBox="0 0 {width} {height}" {FONT}>', f"<title>{escape(title)}</title>",
                      f'<rect width="{width}" height="{height}" fill="white"/>',
                      f'<text x="8" y="18" font-weight="bold">{escape(title)}</text>', *body, "</svg>"]) + "\n"


def success_bars(rows: list[tuple[str, float | None, list[float] | None]], title: str) -> str:
    """(model, success rate, [low, high]) a bar each; a model with no attempts shows no bar."""
    label_width = max([len(name) for name, _, _ in rows] + [5]) * 7 + 16
    scale, top, step = 300, 32, 26
    height = top + step * len(rows) + 28
    body = []
    for i, (name, rate, interval) in enumerate(rows):
        y = top + i * step
        body.append(f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end">{escape(name)}</text>')
        if rate is None:
            body.append(f'<text x="{label_width + 4}" y="{y + 14}">no attempts</text>')
            continue
        body.append(f'<rect x="{label_width}" y="{y + 3}" width="{rate * scale:.1f}" height="16" fill="#457b9d"/>')
        if interval:
            low, high = (label_width + v * scale for v in interval)
            body.append(f'<path d="M{low:.1f} {y + 11}H{high:.1f}M{low:.1f} {y + 6}V{y + 16}M{high:.1f} {y + 6}V{y + 16}" '
                        'stroke="black" fill="none"/>')
        body.append(f'<text x="{label_width + scale + 8}" y="{y + 14}">{rate:.0%}'
                    + (f" ({interval[0]:.0%}-{interval[1]:.0%})" if interval else "") + "</text>")
    axis = top + step * len(rows) + 4
    body.append(f'<path d="M{label_width} {axis}H{label_width + scale}" stroke="#555"/>')
    body += [f'<text x="{label_width + f * scale:.0f}" y="{axis + 16}" text-anchor="middle">{f:.0%}</text>'
             for f in (0, 0.5, 1)]
    return _svg(label_width + scale + 140, height, body, title)


def conflict_heatmap(names: list[str], short: dict[str, str], cells: dict[tuple[str, str], str], title: str) -> str:
    """One task's features on both axes (`short` labels), each cell coloured by its class."""
    size, left, top = 28, 48, 56
    body = []
    for j, col in enumerate(names):
        body.append(f'<text x="{left + j * size + size / 2}" y="{top - 8}" text-anchor="middle">{escape(short[col])}</text>')
    for i, row in enumerate(names):
        y = top + i * size
        body.append(f'<text x="{left - 8}" y="{y + size / 2 + 4}" text-anchor="end">{escape(short[row])}</text>')
        for j, col in enumerate(names):
            kind = "self" if row == col else cells[(row, col)]
            colour = "white" if kind == "self" else COLOURS[kind]
            body.append(f'<rect x="{left + j * size}" y="{y}" width="{size - 2}" height="{size - 2}" fill="{colour}">'
                        f"<title>{escape(row)} x {escape(col)}: {kind}</title></rect>")
    legend = top + len(names) * size + 16
    for k, (kind, colour) in enumerate(COLOURS.items()):
        body.append(f'<rect x="{left + k * 90}" y="{legend}" width="12" height="12" fill="{colour}" stroke="#999"/>'
                    f'<text x="{left + k * 90 + 16}" y="{legend + 11}">{kind}</text>')
    notes = [f"{short[n]}: {n}" for n in names if not n.startswith("feature")]  # the generated ones
    body += [f'<text x="{left}" y="{legend + 34 + 16 * k}">{escape(note)}</text>' for k, note in enumerate(notes)]
    width = max(left + len(names) * size + 16, left + 4 * 90, 8 + max([len(n) for n in notes] + [0]) * 7 + left)
    return _svg(width, legend + 34 + 16 * len(notes), body, title)
