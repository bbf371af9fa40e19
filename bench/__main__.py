"""`make bench` (python -m bench)."""

from bench.ledger import run

run()
