"""Dashboard panels: each renders one part of an interrogation."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, ProgressBar, Static

from pumpctl.battery import battery_short
from pumpctl.chart import ChartModel
from pumpctl.clinical.systemic import SystemicLoad, short_text
from pumpctl.display import pump_date, spoken
from pumpctl.programmer import Interrogation
from pumpctl.protocol.messages import Severity
from pumpctl.tui.chart import render_chart
from pumpctl.units import format_amount, format_concentration, format_flow, format_volume

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.WARNING: "bold black on yellow",
    Severity.ADVISORY: "bold black on cyan",
}


class SteadyFooter(Footer):
    """Textual's footer, its keys rebuilt only when what they show has changed.

    Textual rebuilds every key of the footer whenever a screen's bindings are refreshed:
    each dialog opened or closed, each change of focus, mostly with every key as it was. The
    rebuild is the costliest part of opening a dialog at 80×24.
    """

    _shown: tuple[object, ...] | None = None  # the keys as last drawn

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = _keys_shown(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if (
            self._bindings_ready
            and self.is_attached
            and screen is self.screen
            and _keys_shown(screen) == self._shown
        ):
            return
        super().bindings_changed(screen)


def _keys_shown(screen: Screen[Any]) -> tuple[object, ...]:
    return tuple(
        (key, b.key, b.key_display, b.description, b.action, b.show, b.group, enabled, tip)
        for key, (_, b, enabled, tip) in screen.active_bindings.items()
    )


class KeyFooter(SteadyFooter):
    """The footer on two rows, so every key of the dashboard fits at 80 columns.

    Textual's footer is one row wide: at 80×24 it cut the dashboard's keys off after
    "Stop/Resume". Here the keys sit on a grid of ``COLUMNS`` columns, the command palette's
    key in the last cell.
    """

    COLUMNS = 8

    def compose(self) -> ComposeResult:
        yield from super().compose()
        # Footer.compose sets one column per binding; wrap onto rows instead.
        self.styles.grid_size_columns = self.COLUMNS


class TherapyPanel(Static):
    NARROWEST = 36  # the panel's text width at 80 columns, before its first layout

    def show(
        self, seen: Interrogation, pain: str = "", systemic: SystemicLoad | None = None
    ) -> None:
        """``pain``: the last pain score logged, shown here where no notification covers it;
        ``systemic``: the patient's systemic opioids, beside the IT dose and never added to it
        (``None`` when none were ever recorded)."""
        identity, status, unit = seen.identity, seen.status, seen.unit
        conc = format_concentration(identity.concentration_ng_per_ml, unit)
        state = spoken(status.state)
        if status.stop_reason:
            state += f" ({spoken(status.stop_reason)})"
        text = Text()
        text.append(f"{identity.drug} {conc}\n", style="bold")
        text.append("Dose  ")
        dose = format_amount(status.dose_ng_per_day, unit)
        text.append(dose, style="bold cyan")
        if systemic is not None:
            load = short_text(systemic)
            width = self.content_size.width or self.NARROWEST
            labels = [" IT │ systemic ", " │ systemic ", " │ sys. "]
            fits = [label for label in labels if len(f"Dose  {dose}{label}{load}") <= width]
            text.append(fits[0] if fits else labels[-1])
            text.append(load, style="bold magenta")
        text.append(f"\nFlow  {format_flow(status.flow_nl_per_day)}\n")
        text.append("State ")
        text.append(state, style="bold green" if status.state.name == "RUNNING" else "bold red")
        if status.bolus_active:
            text.append("  bolus running", style="bold yellow")
        if pain:
            text.append(f"\nPain  {pain}")
        self.update(text)


class ReservoirPanel(Widget):
    def compose(self) -> ComposeResult:
        yield Static(id="reservoir-text")
        yield ProgressBar(total=100, show_eta=False, id="reservoir-gauge")
        yield Static(id="reservoir-extra")

    def show(self, seen: Interrogation, last_check: str) -> None:
        status, capacity = seen.status, seen.identity.reservoir_capacity_ul
        self.query_one("#reservoir-text", Static).update(
            f"Reservoir {format_volume(status.reservoir_ul)} of {format_volume(capacity)}"
        )
        self.query_one("#reservoir-gauge", ProgressBar).update(
            total=capacity, progress=status.reservoir_ul
        )
        if status.low_reservoir_projected_s:
            low = pump_date(status.low_reservoir_projected_s)
        else:  # no projection: at the threshold already, or nothing is being delivered
            low = "now" if seen.running else "- (stopped)"
        self.query_one("#reservoir-extra", Static).update(
            f"Low-reservoir date {low}\nBattery {battery_short(status)}\n"
            f"Catheter check {last_check}"
        )


class AlarmBar(Static):
    def show(self, seen: Interrogation | None) -> None:
        if seen is None or not seen.status.alarms:
            self.update(Text("Alarms: none", style="green"))
            return
        text = Text("Alarms: ")
        ordered = sorted(seen.status.alarms, key=lambda a: -a.severity)
        for alarm in ordered:
            label = spoken(alarm.code)
            if alarm.acknowledged:
                label += " (ack)"
            text.append(f" {label} ", style=SEVERITY_STYLE[alarm.severity])
            text.append(" ")
        self.update(text)


class DoseChart(Widget):
    data: reactive[ChartModel | None] = reactive(None)

    def render(self) -> Text:
        if self.data is None:
            return Text("Interrogating…", style="dim")
        return render_chart(self.data, self.size.width, self.size.height)
