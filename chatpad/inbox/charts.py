"""Charts drawn as SVG on the server: no JavaScript library, nothing fetched from the internet, readable without
scripts and printable. Every chart carries a <title> and a text label on each bar, so it reads without colour too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from chatpad.models import channel_label

CHANNEL_COLORS = {
    "facebook": "#1877f2",
    "instagram": "#c13584",
    "email": "#6c757d",
    "widget": "#20c997",
    "sms": "#fd7e14",
    "whatsapp": "#25d366",
}
SEGMENT_COLORS = {"ai": "#17a2b8", "human": "#6f42c1", "unanswered": "#ced4da"}
# Presentation attributes, not a style attribute: the Content-Security-Policy refuses inline styles
# (chatpad/security.py). The maximum width comes from a class in chatpad/static/inbox.css.
FONT_ATTRIBUTES = 'font-family="-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif" font-size="12"'
WIDTH_CLASSES = (560, 640, 720)


def _trim(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    width_class = min((w for w in WIDTH_CLASSES if w >= width), default=WIDTH_CLASSES[-1])
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-w{width_class}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" {FONT_ATTRIBUTES} preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every text in body is escaped)


def hbar_chart(
    rows: Sequence[tuple[str, float, str]],
    *,
    title: str,
    color: str = "#007bff",
    colors: Sequence[str] | None = None,
    width: int = 560,
    label_width: int = 170,
) -> Markup:
    """Horizontal bars: (label, value, value as text) per row, longest bar = largest value."""
    bar_h, gap = 18, 6
    height = max(1, len(rows)) * (bar_h + gap) + gap
    top = max((v for _, v, _ in rows), default=0) or 1
    plot = width - label_width - 70
    body = []
    for i, (label, value, text) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(0.0, value) / top * plot
        fill = colors[i] if colors else color
        body.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" fill="#343a40">'
            f"<title>{escape(label)}</title>{escape(_trim(label, max(12, label_width // 7)))}</text>"
            f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{fill}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{label_width + w + 5:.1f}" y="{y + 13}" fill="#343a40">{escape(text)}</text>'
        )
    if not rows:
        body.append(f'<text x="{label_width}" y="16" fill="#6c757d">No data in this period</text>')
    return _svg(width, height, title, body)


def stacked_share_chart(
    rows: Sequence[tuple[str, dict[str, int]]],
    *,
    title: str,
    segments: Sequence[tuple[str, str]],
    width: int = 560,
    label_width: int = 170,
) -> Markup:
    """One 100% bar per row, split into segments (key, legend label); each segment shows its share in percent."""
    bar_h, gap = 20, 8
    legend_h = 22
    height = legend_h + max(1, len(rows)) * (bar_h + gap) + gap
    plot = width - label_width - 10
    body = []
    x = label_width
    for key, label in segments:
        body.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{SEGMENT_COLORS.get(key, "#999")}"></rect>'
            f'<text x="{x + 16}" y="14" fill="#343a40">{escape(label)}</text>'
        )
        x += 26 + 7 * len(label)
    for i, (label, values) in enumerate(rows):
        y = legend_h + gap + i * (bar_h + gap)
        total = sum(values.get(k, 0) for k, _ in segments)
        body.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" fill="#343a40">'
            f"{escape(_trim(label, 26))}</text>"
        )
        if not total:
            body.append(f'<text x="{label_width}" y="{y + 14}" fill="#6c757d">no conversations</text>')
            continue
        x = float(label_width)
        for key, seg_label in segments:
            share = values.get(key, 0) / total
            w = share * plot
            if w <= 0:
                continue
            pct = f"{share * 100:.0f}%"
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{SEGMENT_COLORS.get(key, "#999")}">'
                f"<title>{escape(label)} — {escape(seg_label)}: {values.get(key, 0)} ({pct})</title></rect>"
            )
            if w > 34:
                ink = "#212529" if key == "unanswered" else "#fff"
                body.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 14}" text-anchor="middle" fill="{ink}">{escape(pct)}</text>'
                )
            x += w
    if not rows:
        body.append(f'<text x="{label_width}" y="{legend_h + 16}" fill="#6c757d">No data in this period</text>')
    return _svg(width, height, title, body)


def daily_columns(
    days: Sequence[tuple[date, dict[str, int]]],
    *,
    title: str,
    channels: Sequence[str],
    width: int = 720,
    height: int = 200,
) -> Markup:
    """Stacked columns per day (messages per channel), with a y-axis maximum and first/last date labels."""
    left, bottom, top_pad = 40, 22, 10
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max((sum(v.values()) for _, v in days), default=0) or 1
    n = max(1, len(days))
    col_w = plot_w / n
    body = [
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 10}" y2="{top_pad + plot_h}" stroke="#adb5bd"></line>',
        f'<text x="{left - 4}" y="{top_pad + 8}" text-anchor="end" fill="#6c757d">{top}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" fill="#6c757d">0</text>',
    ]
    for i, (day, values) in enumerate(days):
        x = left + i * col_w
        y = top_pad + plot_h
        total = sum(values.values())
        tip = f"{day:%b %d}: {total} messages" + "".join(f", {c} {values[c]}" for c in channels if values.get(c))
        body.append(f"<g><title>{escape(tip)}</title>")
        for channel in channels:
            v = values.get(channel, 0)
            if not v:
                continue
            h = v / top * plot_h
            y -= h
            body.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, col_w - 2):.1f}" height="{h:.1f}" '
                f'fill="{CHANNEL_COLORS.get(channel, "#999")}"></rect>'
            )
        body.append("</g>")
    if days:
        body.append(
            f'<text x="{left}" y="{height - 6}" fill="#6c757d">{escape(f"{days[0][0]:%b %d}")}</text>'
            f'<text x="{width - 10}" y="{height - 6}" text-anchor="end" fill="#6c757d">'
            f"{escape(f'{days[-1][0]:%b %d}')}</text>"
        )
    legend_x = left + 70
    for channel in channels:
        body.append(
            f'<rect x="{legend_x}" y="{height - 16}" width="10" height="10" '
            f'fill="{CHANNEL_COLORS.get(channel, "#999")}"></rect>'
            f'<text x="{legend_x + 14}" y="{height - 7}" fill="#343a40">{escape(channel_label(channel))}</text>'
        )
        legend_x += 30 + 7 * len(channel)
    return _svg(width, height, title, body)
