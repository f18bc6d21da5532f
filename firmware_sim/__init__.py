"""Firmware-grade simulator of an implanted intrathecal drug pump."""
