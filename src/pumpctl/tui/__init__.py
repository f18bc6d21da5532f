"""The clinician's terminal programmer (Textual)."""
