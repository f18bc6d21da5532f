"""Training mode: the simulator's own controls, clearly marked, for rehearsing a course."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

ACTIONS = {
    "advance-1h": ("h", "+1 hour"),
    "advance-1d": ("d", "+1 day"),
    "advance-3d": ("3", "+3 days"),
    "advance-7d": ("w", "+7 days"),
    "fault-occluded": ("o", "Occlusion"),
    "fault-partial": ("p", "Partial occlusion"),
    "fault-leak": ("l", "Catheter leak"),
    "fault-battery": ("b", "Low battery"),
    "fault-stall": ("m", "Motor stall"),
    "fault-clear": ("c", "Clear faults"),
    "reset": ("R", "Reset pump"),
}


class TrainingPanel(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "dismiss_none", "Close"),
        *(Binding(key, f"choose('{action}')", label) for action, (key, label) in ACTIONS.items()),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="training"):
            yield Label("TRAINING SIMULATOR - not a patient's pump", id="training-title")
            with Grid(id="training-grid"):
                for action, (key, label) in ACTIONS.items():
                    text = f"{label} ({key})"
                    yield Button(
                        text,
                        id=action,
                        variant="error" if action == "reset" else "default",
                        compact=True,
                    )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, action: str) -> None:
        self.dismiss(action)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
