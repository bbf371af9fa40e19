"""`make bench` (python -m bench): the ledger scenarios, then every page; `python -m bench pages` for the
pages alone."""

import sys

if sys.argv[1:] == ["pages"]:
    from bench.pages import standalone

    standalone()
else:
    from bench.ledger import run

    run()
