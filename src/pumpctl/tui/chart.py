"""Dose and pain on one time axis, drawn in text: the picture that shows OIH at a glance.

The dose is a step line (left scale), each VAS a dot (right scale, 0–10), and each dose
change is marked on the top row: ▲ an increase, ▼ a decrease (the model: ``pumpctl.chart``).
"""

from __future__ import annotations

from rich.text import Text

from pumpctl.chart import ChartModel
from pumpctl.clinical.scores import format_vas
from pumpctl.units import format_amount

DOSE_STYLE = "bold cyan"
VAS_STYLE = "bold magenta"
MARK_STYLE = "bold yellow"


def render_chart(model: ChartModel, width: int, height: int) -> Text:
    label_width = 10
    plot_width = max(10, width - 2 * label_width - 2)
    plot_height = max(4, height - 2)
    if model.empty:
        return Text("No dose changes or pain scores logged yet.", style="dim")
    start, span = model.start_s, model.span_s

    def column(time_s: int) -> int:
        return min(plot_width - 1, (time_s - start) * (plot_width - 1) // span)

    top_dose, bottom_dose = model.dose_high_ng_per_day, model.dose_low_ng_per_day
    grid = [[(" ", "")] * plot_width for _ in range(plot_height)]

    def dose_row(ng: int) -> int:
        # Row 0 is kept for the ▲ ▼ marks, so a mark never hides the dose line under it.
        span_rows = plot_height - 2
        return plot_height - 1 - ((ng - bottom_dose) * span_rows // (top_dose - bottom_dose))

    level = model.steps[0].ng_per_day
    changes = {column(m.time_s): m for m in model.marks}
    for x in range(plot_width):
        change = changes.get(x)
        if change is not None:
            level = change.after_ng_per_day
            grid[0][x] = ("▲" if change.increase else "▼", MARK_STYLE)
        y = dose_row(level)
        if grid[y][x][0] == " ":
            grid[y][x] = ("─", DOSE_STYLE)
    for reading in model.vas:
        y = plot_height - 1 - reading.tenths * (plot_height - 1) // 100
        grid[y][column(reading.time_s)] = ("●", VAS_STYLE)

    text = Text()
    for y, line in enumerate(grid):
        left = ""
        if y == 1:
            left = format_amount(top_dose, model.unit).replace("/day", "")
        elif y == plot_height - 1:
            left = (
                format_amount(bottom_dose, model.unit).replace("/day", "") if bottom_dose else "0"
            )
        right = "VAS 10" if y == 0 else ("VAS 0" if y == plot_height - 1 else "")
        text.append(f"{left:>{label_width}}│", style=DOSE_STYLE)
        for char, style in line:
            text.append(char, style=style)
        text.append(f"│{right:<{label_width}}\n", style=VAS_STYLE)
    text.append(" " * label_width + "└" + "─" * plot_width + "┘\n", style="dim")
    last_vas = f"last VAS {format_vas(model.vas[-1].tenths)}" if model.vas else "no VAS yet"
    legend = Text(" " * label_width)
    legend.append("─ dose", style=DOSE_STYLE)
    legend.append("   ● VAS", style=VAS_STYLE)
    legend.append("   ▲▼ change", style=MARK_STYLE)
    legend.append(f"   ({last_vas})", style="dim")
    text.append_text(legend)
    return text
