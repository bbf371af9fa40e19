"""GET /metrics: what an operator's Prometheus scrapes (see docs/operations.md)."""
