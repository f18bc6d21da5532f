"""The scenario suite's clinic: ``pumpctl`` in this process against a fresh simulator."""

from tests.clinical.clinic import clinic_for

__all__ = ["clinic_for"]
