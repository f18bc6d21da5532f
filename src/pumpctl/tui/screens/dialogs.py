"""Modal dialogs: confirm a change, the guard panel, VAS, bolus, refill, override."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
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
        text = Text()
        text.append(
            "ESCALATION BLOCKED\n" if blocked else "ESCALATION ON HOLD\n",
            style="bold white on red" if blocked else "bold black on yellow",
        )
        text.append(decision.reason + "\n\n")
        if decision.evidence:
            text.append("Evidence\n", style="bold")
            for line in decision.evidence_lines():
                text.append(f"  {line}\n")
        if decision.checklist:
            text.append("\nOIH criteria still to check\n", style="bold")
            for item in decision.checklist:
                text.append(f"  ☐ {item}\n")
        if decision.options:
            text.append("\nOptions\n", style="bold")
            for item in decision.options:
                text.append(f"  • {item}\n")
        with Vertical(id="dialog", classes="guard"):
            yield Static(text, id="guard-text")
            with Horizontal(classes="buttons"):
                yield Button("Reduce (d)", id="reduce", variant="primary")
                yield Button("Catheter check (c)", id="catheter")
                yield Button("Log VAS (v)", id="vas")
                if blocked:
                    yield Button("Override (o)", id="override", variant="error")
                yield Button("Close", id="close")

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
    """Quick entry logs on one more key (0–9, T for 10); typed entry takes e.g. 6.5 + Enter."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, *, quick: bool = True) -> None:
        super().__init__()
        self.quick = quick

    def compose(self) -> ComposeResult:
        prompt = (
            "Pain score (VAS): press 0-9, or T for 10   (Shift+V to type a decimal)"
            if self.quick
            else "Pain score (VAS) 0-10, one decimal allowed, then Enter"
        )
        with Vertical(id="dialog"):
            yield Label(prompt)
            yield Input(id="vas-input", placeholder="0-10")
            yield Static("", id="error", classes="error")

    def on_input_changed(self, event: Input.Changed) -> None:
        if not self.quick:
            return
        value = event.value.strip().lower()
        if value == "t":
            self.dismiss(100)
        elif len(value) == 1 and value.isdigit():
            self.dismiss(int(value) * 10)
        elif value:
            self.query_one("#error", Static).update("Press 0-9 or T")
            event.input.value = ""

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
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, unit: str, concentration_ng_per_ml: int, expected_residual_ul: int) -> None:
        super().__init__()
        self.unit = unit
        self.concentration_ng_per_ml = concentration_ng_per_ml
        self.expected_residual_ul = expected_residual_ul

    def compose(self) -> ComposeResult:
        conc = format_amount(self.concentration_ng_per_ml, self.unit, per_day=False)
        with Vertical(id="dialog"):
            yield Label(
                f"Refill: the pump expects {format_volume(self.expected_residual_ul)} residual"
            )
            yield Input(placeholder="Residual withdrawn, mL", id="withdrawn")
            yield Input(placeholder="Volume added, mL", id="added")
            yield Input(placeholder=f"Concentration, {self.unit}/mL (blank: {conc})", id="conc")
            yield Input(
                placeholder=f"Bridge bolus, {self.unit} (if the concentration changes)", id="bridge"
            )
            yield Select(
                [("Give the bridge bolus", False), ("Waive it (logged)", True)],
                value=False,
                allow_blank=False,
                id="waive",
            )
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Review and send", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
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
