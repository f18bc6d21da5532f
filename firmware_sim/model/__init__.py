"""The pump's state and rules, independent of any transport."""
