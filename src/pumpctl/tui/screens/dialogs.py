"""Modal dialogs: confirm a change, the guard panel, VAS, bolus, refill, override."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from pumpctl.clinical.guard import GuardDecision, OverrideReason, Verdict
from pumpctl.clinical.scores import ScoreError, parse_vas
from pumpctl.preview import ChangePreview
from pumpctl.programmer import Override
from pumpctl.tui.widgets import pump_time
from pumpctl.units import UnitError, format_amount, format_volume, parse_amount_ng, parse_volume_ul


class ConfirmChange(ModalScreen[bool]):
    """Old and new side by side before anything is sent."""

    BINDINGS = [
        Binding("y,enter", "confirm", "Send"),
        Binding("n,escape", "cancel", "Cancel"),
    ]

    def __init__(self, preview: ChangePreview, unit: str, warning: str | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.unit = unit
        self.warning = warning

    def compose(self) -> ComposeResult:
        p = self.preview
        direction = "INCREASE" if p.is_increase else "DECREASE"

        def when(seconds: int | None) -> str:
            return pump_time(seconds)[:10] if seconds else "-"

        shift = p.refill_shift_days
        moved = "" if shift is None else f" ({shift:+d} days)"
        table = Text()
        table.append(f"{'':<18}{'now':>16}{'new':>16}\n", style="bold")
        table.append(
            f"{'Daily dose':<18}{format_amount(p.old_ng_per_day, self.unit):>16}"
            f"{format_amount(p.new_ng_per_day, self.unit):>16}\n"
        )
        table.append(
            f"{'Flow':<18}{format_volume(p.old_flow_nl_per_day // 1000) + '/day':>16}"
            f"{format_volume(p.new_flow_nl_per_day // 1000) + '/day':>16}\n"
        )
        table.append(
            f"{'Low-reservoir':<18}{when(p.old_low_reservoir_s):>16}"
            f"{when(p.new_low_reservoir_s):>16}{moved}\n"
        )
        table.rstrip()
        with Vertical(id="dialog"):
            yield Label(f"Confirm dose {direction.lower()}", id="dialog-title")
            yield Static(table)
            if self.warning:
                yield Static(Text(self.warning, style="bold yellow"))
            with Horizontal(classes="buttons"):
                yield Button("Send (y)", variant="primary", id="send")
                yield Button("Cancel (n)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "send")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class GuardPanel(ModalScreen[str | None]):
    """Why the guard stopped an increase, the OIH checklist and the actions."""

    BINDINGS = [
        Binding("d", "choose('reduce')", "Reduce dose"),
        Binding("c", "choose('catheter')", "Catheter check"),
        Binding("v", "choose('vas')", "Log VAS"),
        Binding("o", "choose('override')", "Override"),
        Binding("escape", "choose('')", "Close"),
    ]

    def __init__(self, decision: GuardDecision) -> None:
        super().__init__()
        self.decision = decision

    def compose(self) -> ComposeResult:
        decision = self.decision
        blocked = decision.verdict is Verdict.BLOCK
        parts: list[RenderableType] = [
            Text(
                "ESCALATION BLOCKED" if blocked else "ESCALATION ON HOLD",
                style="bold white on red" if blocked else "bold black on yellow",
            ),
            Text(decision.reason),
        ]

        def section(title: str, mark: str, lines: Iterable[str]) -> None:
            # A grid, so a wrapped line hangs under its text, not under the mark.
            items = Table.grid(padding=(0, 1))
            items.add_column(width=2, justify="right")
            items.add_column(ratio=1)
            for line in lines:
                items.add_row(mark, line)
            parts.extend((Text(""), Text(title, style="bold"), items))

        if decision.evidence:
            section("Evidence", "", decision.evidence_lines())
        if decision.checklist:
            section("OIH criteria still to check", "☐", decision.checklist)
        if decision.options:
            section("Options", "•", decision.options)
        with Vertical(id="dialog", classes="guard"):
            # Focusable and scrollable: at 80×24 the evidence is taller than the screen.
            with VerticalScroll(id="guard-scroll"):
                yield Static(Group(*parts), id="guard-text")
            with Horizontal(classes="buttons"):
                yield Button("Reduce (d)", id="reduce", variant="primary", compact=True)
                yield Button("Cath. check (c)", id="catheter", compact=True)
                yield Button("Log VAS (v)", id="vas", compact=True)
                if blocked:
                    yield Button("Override (o)", id="override", variant="error", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "close" else event.button.id)

    def action_choose(self, choice: str) -> None:
        if choice == "override" and self.decision.verdict is not Verdict.BLOCK:
            return
        self.dismiss(choice or None)


class OverrideDialog(ModalScreen[Override | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Override the guard: the reason is kept in the audit trail")
            yield Select(
                [(r.description, r) for r in OverrideReason],
                prompt="Reason from the differential",
                id="reason",
            )
            yield Input(placeholder="What was found (required)", id="note")
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Override", variant="error", id="ok")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
        self._submit()

    def on_input_submitted(self) -> None:
        self._submit()

    def _submit(self) -> None:
        reason = self.query_one("#reason", Select).value
        note = self.query_one("#note", Input).value
        if not isinstance(reason, OverrideReason):
            self.query_one("#error", Static).update("Choose a reason")
            return
        try:
            self.dismiss(Override(reason, note))
        except ValueError as error:
            self.query_one("#error", Static).update(str(error))

    def action_cancel(self) -> None:
        self.dismiss(None)


class VasEntry(ModalScreen[int | None]):
    """Quick entry logs on one more key (0–9, T for 10); typed entry takes e.g. 6.5 + Enter.

    Quick entry has no input field: the digit is a key binding of the screen, so it counts
    even when typed before the dialog has finished drawing ("v4" at full speed).
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        *(Binding(str(d), f"score({d * 10})", show=False) for d in range(10)),
        Binding("t,T", "score(100)", show=False),
    ]

    def __init__(self, *, quick: bool = True) -> None:
        super().__init__()
        self.quick = quick

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="vas"):
            if self.quick:
                yield Label("Pain score (VAS): press 0-9, or T for 10", id="dialog-title")
                yield Static("0  1  2  3  4  5  6  7  8  9  T       Esc: cancel", id="vas-scale")
                yield Static("A decimal (e.g. 6.5): Esc, then Shift+V", classes="hint")
            else:
                yield Label("Pain score (VAS) 0-10, one decimal allowed, then Enter")
                yield Input(id="vas-input", placeholder="0-10")
                yield Static("", id="error", classes="error")

    def action_score(self, tenths: int) -> None:
        if self.quick:
            self.dismiss(tenths)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_vas(event.value))
        except ScoreError as error:
            self.query_one("#error", Static).update(str(error))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AmountDialog(ModalScreen[int | None]):
    """One amount in the drug's unit (a bolus dose)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, unit: str) -> None:
        super().__init__()
        self.title_text = title
        self.unit = unit

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"{self.title_text} ({self.unit})")
            yield Input(id="amount")
            yield Static("", id="error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_amount_ng(event.value, self.unit))
        except UnitError as error:
            self.query_one("#error", Static).update(str(error))

    def action_cancel(self) -> None:
        self.dismiss(None)


class Ask(ModalScreen[bool]):
    """A yes/no question before a consequential action."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="primary", id="yes")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


@dataclass(frozen=True)
class RefillInput:
    residual_withdrawn_ul: int
    volume_added_ul: int
    concentration_ng_per_ml: int
    bridge_bolus_ng: int
    waive_bridge_bolus: bool


class RefillWizard(ModalScreen[RefillInput | None]):
    """Enter in "residual withdrawn" moves on to "volume added"; Enter in any other field
    reviews and sends (concentration and bridge bolus are optional: Tab reaches them)."""

    # Enter is a priority binding, handled as the key arrives: were focus moved on by an
    # Input.Submitted message, digits typed right after Enter would still land in the field
    # just left ("15⏎18" read as 1518).
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "next_or_submit", show=False, priority=True),
    ]

    def __init__(self, unit: str, concentration_ng_per_ml: int, expected_residual_ul: int) -> None:
        super().__init__()
        self.unit = unit
        self.concentration_ng_per_ml = concentration_ng_per_ml
        self.expected_residual_ul = expected_residual_ul

    def compose(self) -> ComposeResult:
        conc = format_amount(self.concentration_ng_per_ml, self.unit, per_day=False)

        def field(label: str, widget: Input | Select[bool]) -> Horizontal:
            # A label beside each field: a placeholder would vanish once typed over.
            return Horizontal(Label(label, classes="field-label"), widget, classes="field")

        with Vertical(id="dialog", classes="refill"):
            yield Label(
                f"Refill: the pump expects {format_volume(self.expected_residual_ul)} residual",
                id="dialog-title",
            )
            yield field("Residual withdrawn, mL", Input(id="withdrawn", compact=True))
            yield field("Volume added, mL", Input(id="added", compact=True))
            yield field(
                f"Concentration, {self.unit}/mL",
                Input(id="conc", placeholder=f"blank: {conc}/mL", compact=True),
            )
            yield field(
                f"Bridge bolus, {self.unit}",
                Input(id="bridge", placeholder="if the concentration changes", compact=True),
            )
            yield field(
                "Give or waive the bridge",
                Select(
                    [("Give the bridge bolus", False), ("Waive it (logged)", True)],
                    value=False,
                    allow_blank=False,
                    id="waive",
                    compact=True,
                ),
            )
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Review and send", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
        self._submit()

    def action_next_or_submit(self) -> None:
        field = self.focused
        if not isinstance(field, Input):
            raise SkipAction()  # a button or the select handles its own Enter
        if field.id == "withdrawn":
            self.set_focus(self.query_one("#added", Input))
        else:
            # After the keys already sent to this field: its value may not be updated yet.
            field.call_later(self._submit)

    def _submit(self) -> None:
        value = {i.id: i.value.strip() for i in self.query(Input)}
        try:
            concentration = (
                parse_amount_ng(value["conc"], self.unit, "concentration")
                if value["conc"]
                else self.concentration_ng_per_ml
            )
            bridge = (
                parse_amount_ng(value["bridge"], self.unit, "bridge bolus")
                if value["bridge"]
                else 0
            )
            result = RefillInput(
                parse_volume_ul(value["withdrawn"] or "x", "residual withdrawn"),
                parse_volume_ul(value["added"] or "x", "volume added"),
                concentration,
                bridge,
                bool(self.query_one("#waive", Select).value),
            )
        except UnitError as error:
            self.query_one("#error", Static).update(str(error))
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)
