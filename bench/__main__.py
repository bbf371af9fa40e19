"""`make bench` (python -m bench): the ledger scenarios, then every page, then the household roll import,
then the outbox's cost to awards;
`python -m bench pages [--against DIR]` for the pages alone (or paired with another checkout's); `python -m bench roll` for the roll import alone;
`python -m bench access` for the award path's statements through SQLAlchemy Core and through `Sql`;
`python -m bench outbox` for what the outbox costs award throughput;
`python -m bench award-cpu` for the server's CPU per single award (docs in bench/award_cpu.py);
`python -m bench award-sql [ROUNDS] [BEFORE]` for a 10,000-award call before and after a migration, one server;
`python -m bench sale [--before DIR] [--before-sql FILE]` for counter sales, the one-call sale against the
Python path (or against the code in DIR, or the `sale_submit` the released migration FILE made), alternating;
`python -m bench inspection [--rounds N]` for a 500-household inspection, N times on one server;
`python -m bench scale [--villages N --households N --postings N]` for a generated county;
`python -m bench ceiling [ROUNDS [SECONDS]]` for what jifen's schema allows at most, next to the peer."""

import sys

if sys.argv[1:] == ["access"]:
    from bench.access import standalone as access

    access()
elif sys.argv[1:2] == ["pages"]:
    from bench.pages import standalone

    standalone(sys.argv[2:])
elif sys.argv[1:] == ["outbox"]:
    from bench.outbox import run as outbox

    outbox()
elif sys.argv[1:] == ["roll"]:
    from bench.roll import run

    run()
elif sys.argv[1:2] == ["award-cpu"]:
    from bench.award_cpu import run as award_cpu

    award_cpu(sys.argv[2:])
elif sys.argv[1:2] == ["award-sql"]:
    from bench.award_sql import run as award_sql

    award_sql(sys.argv[2:])
elif sys.argv[1:2] == ["sale"]:
    from bench.sale import run as sale

    sale(sys.argv[2:])
elif sys.argv[1:2] == ["inspection"]:
    from bench.inspection import run as inspection

    inspection(sys.argv[2:])
elif sys.argv[1:2] == ["ceiling"]:
    from bench.ceiling import run as ceiling

    ceiling(sys.argv[2:])
elif sys.argv[1:2] == ["scale"]:
    from bench.scale import run as scale

    sys.exit(scale(sys.argv[2:]))
else:
    from bench.ledger import run
    from bench.outbox import run as run_outbox
    from bench.roll import run as run_roll

    run()
    run_roll()
    run_outbox()
