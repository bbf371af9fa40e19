"""The outbox: events people should hear about, written in the transaction of the change (issue 16)."""
