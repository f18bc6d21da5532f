"""The clinical side: pain scores, the titration guard, the record and its audit trail."""
