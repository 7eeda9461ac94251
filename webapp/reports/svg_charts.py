"""Small static SVG charts for printable reports (no JavaScript, no fonts but
the local DejaVu family)."""

from __future__ import annotations

from html import escape

WIDTH = 700  # px
BAR_H = 16  # px
LABEL_W = 220  # px
MAX_BARS = 15


def bars_svg(items: list[tuple[str, float]], unit: str) -> str:
    """Horizontal bars, largest first (at most MAX_BARS): [(label, value)] with
    the value and `unit` written after each bar."""
    items = sorted(items, key=lambda i: -i[1])[:MAX_BARS]
    if not items:
        return '<p class="muted">No data in this range.</p>'
    top = max(v for _, v in items) or 1.0
    plot = WIDTH - LABEL_W - 110
    height = BAR_H * len(items) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img">'
    ]
    for i, (label, value) in enumerate(items):
        y = i * BAR_H + 4
        width = max(plot * value / top, 1)
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 11}" font-size="9" text-anchor="end">'
            f"{escape(label[:40])}</text>"
            f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H - 4}" '
            'fill="#0969da"/>'
            f'<text x="{LABEL_W + width + 4:.1f}" y="{y + 11}" font-size="9">'
            f"{value:,.6g} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def columns_svg(items: list[tuple[str, float]], unit: str) -> str:
    """Vertical columns in the given order (time buckets): [(label, value)]."""
    if not items:
        return '<p class="muted">No data in this range.</p>'
    top = max(v for _, v in items) or 1.0
    plot_h, base = 140, 160
    step = min((WIDTH - 60) / len(items), 48.0)  # px; one bucket is not a wall
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {base + 50}" '
        f'width="{WIDTH}" height="{base + 50}" role="img">',
        f'<text x="4" y="14" font-size="9">{top:,.6g} {escape(unit)}</text>',
        f'<line x1="50" y1="{base}" x2="{WIDTH - 10}" y2="{base}" stroke="#57606a"/>',
    ]
    every = max(1, len(items) // 12)
    for i, (label, value) in enumerate(items):
        x = 50 + i * step
        h = plot_h * value / top
        parts.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{base - h:.1f}" width="{step * 0.8:.1f}" '
            f'height="{h:.1f}" fill="#1a7f37"><title>{escape(label)}: {value:,.6g}</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{base + 12}" font-size="8" '
                f'transform="rotate(30 {x:.1f} {base + 12})">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
