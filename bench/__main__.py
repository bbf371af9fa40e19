"""`make bench` (python -m bench): the ledger scenarios, then every page; `python -m bench pages` for the
pages alone;
`python -m bench access` for the award path's statements through SQLAlchemy Core and through `Sql`."""

import sys

if sys.argv[1:] == ["access"]:
    from bench.access import standalone as access

    access()
elif sys.argv[1:] == ["pages"]:
    from bench.pages import standalone

    standalone()
else:
    from bench.ledger import run

    run()
