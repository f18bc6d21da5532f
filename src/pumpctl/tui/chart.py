"""Dose and pain on one time axis, drawn in text: the picture that shows OIH at a glance.

The dose is a step line (left scale), each VAS a dot (right scale, 0–10), and each dose
increase is marked with ▲ on the top row.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from pumpctl.clinical.scores import format_vas
from pumpctl.clinical.timeline import TimelineRow
from pumpctl.units import format_amount

DOSE_STYLE = "bold cyan"
VAS_STYLE = "bold magenta"
MARK_STYLE = "bold yellow"


@dataclass(frozen=True)
class ChartData:
    rows: list[TimelineRow]
    current_ng_per_day: int
    now_s: int
    unit: str


def render_chart(data: ChartData, width: int, height: int) -> Text:
    label_width = 10
    plot_width = max(10, width - 2 * label_width - 2)
    plot_height = max(4, height - 2)
    rows = data.rows
    if not rows:
        return Text("No dose changes or pain scores logged yet.", style="dim")
    doses = [r for r in rows if r.kind == "dose"]
    readings = [r for r in rows if r.kind == "vas"]
    start = min(r.time_s for r in rows)
    end = max(data.now_s, max(r.time_s for r in rows))
    span = max(1, end - start)

    def column(time_s: int) -> int:
        return min(plot_width - 1, (time_s - start) * (plot_width - 1) // span)

    first_dose = doses[0].previous if doses and doses[0].previous is not None else None
    levels = [data.current_ng_per_day, *(d.value for d in doses)]
    if first_dose is not None:
        levels.append(first_dose)
    top_dose = max(max(levels), 1)
    # Scale from just below the lowest dose, so a 10 % step is visible, not from zero.
    bottom_dose = min(levels) * 3 // 4 if max(levels) > min(levels) else 0
    grid = [[(" ", "")] * plot_width for _ in range(plot_height)]

    def dose_row(ng: int) -> int:
        # Row 0 is kept for the ▲ marks, so a mark never hides the dose line under it.
        span_rows = plot_height - 2
        return plot_height - 1 - ((ng - bottom_dose) * span_rows // (top_dose - bottom_dose))

    level = first_dose if first_dose is not None else data.current_ng_per_day
    changes = {column(d.time_s): d for d in doses}
    for x in range(plot_width):
        change = changes.get(x)
        if change is not None:
            level = change.value
            if change.previous is not None and change.value > change.previous:
                grid[0][x] = ("▲", MARK_STYLE)
        y = dose_row(level)
        if grid[y][x][0] == " ":
            grid[y][x] = ("─", DOSE_STYLE)
    for reading in readings:
        y = plot_height - 1 - reading.value * (plot_height - 1) // 100
        grid[y][column(reading.time_s)] = ("●", VAS_STYLE)

    text = Text()
    for y, line in enumerate(grid):
        left = ""
        if y == 1:
            left = format_amount(top_dose, data.unit).replace("/day", "")
        elif y == plot_height - 1:
            left = format_amount(bottom_dose, data.unit).replace("/day", "") if bottom_dose else "0"
        right = "VAS 10" if y == 0 else ("VAS 0" if y == plot_height - 1 else "")
        text.append(f"{left:>{label_width}}│", style=DOSE_STYLE)
        for char, style in line:
            text.append(char, style=style)
        text.append(f"│{right:<{label_width}}\n", style=VAS_STYLE)
    text.append(" " * label_width + "└" + "─" * plot_width + "┘\n", style="dim")
    last_vas = f"last VAS {format_vas(readings[-1].value)}" if readings else "no VAS yet"
    legend = Text(" " * label_width)
    legend.append("─ dose", style=DOSE_STYLE)
    legend.append("   ● VAS", style=VAS_STYLE)
    legend.append("   ▲ increase", style=MARK_STYLE)
    legend.append(f"   ({last_vas})", style="dim")
    text.append_text(legend)
    return text
