"""Shared helpers for the suite; the ``pump`` fixtures come from the pumpctl pytest plugin."""
