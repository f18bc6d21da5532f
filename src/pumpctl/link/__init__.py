"""Serial transport and the transaction manager (sequence numbers, deadlines, retries)."""
