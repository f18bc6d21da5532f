"""Modal dialogs: the review of a command, the guard panel, VAS, amounts, refill, override."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from pumpctl.clinical.guard import GuardDecision, OverrideReason, Verdict
from pumpctl.clinical.guard.words import when
from pumpctl.clinical.scores import ScoreError, parse_vas
from pumpctl.programmer import Confirmation, Confirmations, Override, Refill, Review
from pumpctl.programmer.review import TICKED
from pumpctl.tui.screens.fields import TAB_AS_TYPED, field_amount, move_focus
from pumpctl.units import (
    UnitError,
    format_concentration,
    format_volume,
    parse_amount_ng,
    parse_volume_ul,
)


class ReviewDialog(ModalScreen[Confirmations | None]):
    """A command's review before anything is sent: old and new side by side, its warnings,
    and an input for each confirmation it needs.

    The focus starts on Cancel, so Enter cancels; only ``y`` or a click on Send sends, and
    Send stays disabled until every required confirmation is given. Dismissed with the
    confirmations given, or None (cancelled).
    """

    AUTO_FOCUS = "#cancel"
    BINDINGS = [
        Binding("y", "send", "Send"),
        Binding("n,escape", "cancel", "Cancel"),
    ]

    def __init__(
        self, review: Review, *, lead: str | None = None, notes: Sequence[str] = ()
    ) -> None:
        """``lead``: a line above the review (why it is offered); ``notes``: warnings the
        face adds (an override of the guard)."""
        super().__init__()
        self.review = review
        self.lead = lead
        self.notes = tuple(notes)

    def compose(self) -> ComposeResult:
        review = self.review
        table = Table.grid(padding=(0, 1))
        table.add_column(ratio=3)
        table.add_column(ratio=2, justify="right")
        table.add_column(width=1)
        table.add_column(ratio=2)
        if review.rows:
            table.add_row("", Text("now", style="bold"), "", Text("after", style="bold"))
        for row in review.rows:
            if row.changes:
                table.add_row(row.label, row.before, "→", Text(row.after, style="bold"))
            else:
                table.add_row(row.label, Text(row.before, style="dim"), "", row.after)
        warnings = Table.grid(padding=(0, 1))
        warnings.add_column(width=1)
        warnings.add_column(ratio=1)
        for warning in (*self.notes, *review.warnings):
            warnings.add_row("!", Text(warning, style="bold yellow"))
        with Vertical(id="dialog", classes="review"):
            if self.lead:
                yield Static(Text(self.lead, style="bold"), id="review-lead")
            yield Label(review.title, id="dialog-title")
            with VerticalScroll(id="review-scroll"):
                if review.rows:
                    yield Static(table, id="review-rows")
                if self.notes or review.warnings:
                    yield Static(warnings, id="review-warnings")
            if review.required:
                with Vertical(id="review-confirm"):
                    if Confirmation.DISCREPANCY_REASON in review.required:
                        hint = "what was found (required)"
                        reason = Input(placeholder=hint, id="reason", compact=True)
                        yield Horizontal(
                            Label("Discrepancy reason", classes="field-label"),
                            reason,
                            classes="field",
                        )
                    for needed in TICKED:
                        if needed in review.required:
                            yield Checkbox(
                                needed.checkbox, id=f"confirm-{needed.value}", compact=True
                            )
            with Horizontal(classes="buttons"):
                send = Button("Send (y)", variant="primary", id="send", compact=True)
                send.disabled = bool(review.required)
                yield send
                yield Button("Cancel (n)", id="cancel", compact=True)
                yield Static("", id="error", classes="error")

    def on_mount(self) -> None:
        self._fit(self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.height)

    def _fit(self, height: int) -> None:
        """The rows and warnings scroll, the rest stays: the confirmations and the buttons
        are never pushed off a small screen (80×24)."""
        fixed = 2 + 1 + 2  # the border, the title, the buttons and the gap above them
        if self.lead:
            fixed += len(self.lead) // 70 + 1
        if self.review.required:
            fixed += 1 + len(self.review.required)
        self.query_one("#review-scroll").styles.max_height = max(4, height - fixed)

    @property
    def confirmations(self) -> Confirmations:
        ticked = frozenset(
            needed
            for needed in TICKED
            for box in self.query(f"#confirm-{needed.value}").results(Checkbox)
            if box.value
        )
        reason = self.query("#reason")
        text = self.query_one("#reason", Input).value.strip() if reason else ""
        return Confirmations.of(ticked, text)

    @property
    def missing(self) -> frozenset[Confirmation]:
        if not self.is_mounted:
            return self.review.required
        return self.review.missing(self.confirmations)

    def _update(self) -> None:
        self.query_one("#send", Button).disabled = bool(self.missing)
        if not self.missing:
            self.query_one("#error", Static).update("")

    def on_checkbox_changed(self) -> None:
        self._update()

    def on_input_changed(self) -> None:
        self._update()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the reason never sends: it moves to what is still missing, or Cancel."""
        event.stop()
        boxes = [c for c in TICKED if c in self.missing]
        if boxes:
            self.query_one(f"#confirm-{boxes[0].value}", Checkbox).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.dismiss(None)

    def action_send(self) -> None:
        missing = self.missing
        if missing:
            needed = [MISSING_TEXT[c] for c in sorted(missing, key=lambda c: c.value)]
            self.query_one("#error", Static).update(f"Not sent: needs {' and '.join(needed)}")
            self.app.bell()
            # The keyboard goes where the answer is given: the reason, else the first box.
            if Confirmation.DISCREPANCY_REASON in missing:
                self.query_one("#reason", Input).focus()
            else:
                first = next(c for c in TICKED if c in missing)
                self.query_one(f"#confirm-{first.value}", Checkbox).focus()
            return
        self.dismiss(self.confirmations)

    def action_cancel(self) -> None:
        self.dismiss(None)


MISSING_TEXT = {
    Confirmation.DISCREPANCY_REASON: "a discrepancy reason",
    Confirmation.LARGE_CHANGE: "the large-change box ticked",
    Confirmation.WITHDRAWAL_RISK: "the withdrawal-risk box ticked",
    Confirmation.FULL_DOSE_RESTART: "the full-dose box ticked",
}


class GuardPanel(ModalScreen[str | None]):
    """Why the guard stopped an increase, the OIH checklist and the actions."""

    BINDINGS = [
        Binding("d", "choose('reduce')", "Reduce dose"),
        Binding("c", "choose('catheter')", "Catheter check"),
        Binding("v", "choose('vas')", "Log VAS"),
        Binding("o", "choose('override')", "Override"),
        Binding("escape", "choose('')", "Close"),
    ]

    def __init__(self, decision: GuardDecision, override_refused: str | None = None) -> None:
        super().__init__()
        self.decision = decision
        self.override_refused = override_refused

    @staticmethod
    def offers_override(decision: GuardDecision) -> bool:
        """A block a documented reason may pass (a hold asks for a VAS or a catheter check)."""
        return decision.verdict is Verdict.BLOCK and decision.overridable

    @staticmethod
    def next_step(decision: GuardDecision) -> str:
        """What clears the hold, with this screen's keys."""
        return {
            "resolve-fault": "find and repair the fault, then a catheter check (c)",
            "explain-discrepancy": "acknowledge the discrepancy with what was found (esc, a)",
            "catheter-check": "a catheter check (c)",
            "resume": "resume delivery (esc, s), then reassess",
            "return-to-dose": f"return to {decision.return_dose} (d steps down), then reassess",
            "log-vas": "log a VAS (v) when the reason says",
        }.get(decision.next_action, "")

    def compose(self) -> ComposeResult:
        decision = self.decision
        blocked = decision.verdict is Verdict.BLOCK
        parts: list[RenderableType] = [
            Text(
                "ESCALATION BLOCKED" if blocked else "ESCALATION ON HOLD",
                style="bold white on red" if blocked else "bold black on yellow",
            ),
            Text(f"{decision.reason} [{decision.rule.value}]"),
        ]
        if self.override_refused:
            parts.append(Text(f"Override refused: {self.override_refused}", style="bold red"))
        step = self.next_step(decision)
        if step:
            parts.append(Text(f"Next: {step}", style="bold"))

        def section(title: str, mark: str, lines: Iterable[str]) -> None:
            # A grid, so a wrapped line hangs under its text, not under the mark.
            items = Table.grid(padding=(0, 1))
            items.add_column(width=2, justify="right")
            items.add_column(ratio=1)
            for line in lines:
                items.add_row(mark, line)
            parts.extend((Text(""), Text(title, style="bold"), items))

        if decision.evidence:
            # The time in its own column, so a wrapped fact hangs under its text.
            facts = Table.grid(padding=(0, 1))
            facts.add_column(width=16, no_wrap=True)
            facts.add_column(ratio=1)
            for item in decision.evidence:
                facts.add_row(when(item.time_s) if item.time_s is not None else "", item.text)
            parts.extend((Text(""), Text("Evidence", style="bold"), facts))
        if decision.warnings:
            section("Warnings", "!", decision.warning_lines())
        if decision.checklist:
            section(decision.checklist_title, "☐", decision.checklist)
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
                if self.offers_override(decision):
                    yield Button("Override (o)", id="override", variant="error", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "close" else event.button.id)

    def action_choose(self, choice: str) -> None:
        if choice == "override" and not self.offers_override(self.decision):
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
            yield Label("What was found (required, audited)", classes="input-label")
            yield Input(placeholder="e.g. new disc herniation on MRI", id="note")
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
    """One amount in the drug's unit (a bolus dose, or a daily dose with ``per_day``); it
    sends nothing: the review comes next."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, unit: str, *, per_day: bool = False, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.unit = unit
        self.per_day = per_day
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"{self.title_text} ({self.unit}{'/day' if self.per_day else ''})")
            if self.hint:
                yield Static(self.hint, classes="hint")
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
    """A yes/no question before a consequential action: the focus starts on No, so Enter
    answers no; only ``y`` or a click on Yes answers yes."""

    AUTO_FOCUS = "#no"
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, *, yes: str = "Yes (y)", no: str = "No (n)") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(classes="buttons"):
                yield Button(self.yes, variant="error", id="yes")
                yield Button(self.no, id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class RefillWizard(ModalScreen[Refill | None]):
    """The refill's inputs; what it would do is shown next, by the review, before sending.

    The expected residual (the pump's reservoir volume) shows before anything is typed.
    Enter in "residual withdrawn" moves on to "volume added"; Enter in any other field goes
    on to the review (concentration and bridge bolus are optional: Tab reaches them).
    """

    # Enter is a priority binding, handled as the key arrives: were focus moved on by an
    # Input.Submitted message, digits typed right after Enter would still land in the field
    # just left ("15⏎18" read as 1518).
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "next_or_submit", show=False, priority=True),
        *TAB_AS_TYPED,
    ]
    submitted = False  # one answer only: keys typed ahead after Enter must not submit twice

    def __init__(
        self,
        unit: str,
        concentration_ng_per_ml: int,
        expected_residual_ul: int,
        tolerance_ul: int = 0,
        *,
        previous: Refill | None = None,
        error: str = "",
    ) -> None:
        """``previous`` and ``error``: the inputs of a refill the programmer refused, shown
        again with its reason so that only the wrong field needs retyping."""
        super().__init__()
        self.unit = unit
        self.concentration_ng_per_ml = concentration_ng_per_ml
        self.expected_residual_ul = expected_residual_ul
        self.tolerance_ul = tolerance_ul
        self.previous = previous
        self.error = error

    def compose(self) -> ComposeResult:
        conc = format_concentration(self.concentration_ng_per_ml, self.unit)
        before = self.previous

        def field(label: str, widget: Input | Select[bool]) -> Horizontal:
            # A label beside each field: a placeholder would vanish once typed over.
            return Horizontal(Label(label, classes="field-label"), widget, classes="field")

        def volume(ul: int | None) -> str:
            return "" if ul is None else format_volume(ul).removesuffix(" mL")

        def amount(ng: int | None) -> str:
            return "" if not ng else field_amount(ng, self.unit)

        with Vertical(id="dialog", classes="refill"):
            yield Label(
                f"Refill: the pump expects {format_volume(self.expected_residual_ul)} residual",
                id="dialog-title",
            )
            tolerance = self.tolerance_ul
            tolerance_text = f" (tolerance {format_volume(tolerance)})" if tolerance else ""
            yield Static(
                f"Withdraw all of it and measure{tolerance_text}; now {conc}",
                classes="hint",
            )
            yield field(
                "Residual withdrawn, mL",
                Input(
                    volume(before.withdrawn_ul if before else None),
                    id="withdrawn",
                    placeholder=f"measured (expected {volume(self.expected_residual_ul)})",
                    compact=True,
                ),
            )
            yield field(
                "Volume added, mL",
                Input(
                    volume(before.added_ul if before else None),
                    id="added",
                    placeholder="volume put in the reservoir",
                    compact=True,
                ),
            )
            yield field(
                f"Concentration, {self.unit}/mL",
                Input(
                    amount(before.concentration_ng_per_ml if before else None),
                    id="conc",
                    placeholder=f"blank: unchanged, {conc}",
                    compact=True,
                ),
            )
            yield field(
                f"Bridge bolus, {self.unit}",
                Input(
                    amount(before.bridge_bolus_ng if before else None),
                    id="bridge",
                    placeholder="blank: from the implant record, if any",
                    compact=True,
                ),
            )
            yield field(
                "Give or waive the bridge",
                Select(
                    [("Give the bridge bolus", False), ("Waive it (logged)", True)],
                    value=bool(before and before.waive_bridge),
                    allow_blank=False,
                    id="waive",
                    compact=True,
                ),
            )
            yield Static(self.error, id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Review (Enter)", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
        self._submit()

    def action_move(self, step: int) -> None:
        """Tab as the key arrives, for the reason Enter is (type-ahead lands in the next field)."""
        move_focus(self, step)

    def action_next_or_submit(self) -> None:
        if self.submitted:
            return
        field = self.focused
        if not isinstance(field, Input):
            raise SkipAction()  # a button or the select handles its own Enter
        if field.id == "withdrawn":
            self.set_focus(self.query_one("#added", Input))
        else:
            # After the keys already sent to this field: its value may not be updated yet.
            field.call_later(self._submit)

    def _submit(self) -> None:
        if self.submitted:
            return
        value = {i.id: i.value.strip() for i in self.query(Input)}
        try:
            concentration = (
                parse_amount_ng(value["conc"], self.unit, "concentration")
                if value["conc"]
                else None
            )
            bridge = (
                parse_amount_ng(value["bridge"], self.unit, "bridge bolus")
                if value["bridge"]
                else 0
            )
            result = Refill(
                parse_volume_ul(value["withdrawn"] or "x", "residual withdrawn"),
                parse_volume_ul(value["added"] or "x", "volume added"),
                concentration,
                bridge,
                bool(self.query_one("#waive", Select).value),
            )
        except UnitError as error:
            self.query_one("#error", Static).update(str(error))
            return
        self.submitted = True
        self.dismiss(result)

    def action_cancel(self) -> None:
        if not self.submitted:
            self.submitted = True
            self.dismiss(None)
