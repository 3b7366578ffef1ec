"""Daily report commands against a stage (credentials and region from the usual AWS environment;
``FRESHCART_STAGE`` names the stage). Locally, `make backfill FROM=... TO=...` runs it against
the running local stack.

    python -m chalicelib.reports backfill --from 2030-01-01 --to 2030-01-31 [--email]
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from typing import TextIO

MAX_DAYS = 3660


def bar(done: int, total: int, label: str, out: TextIO, width: int = 30) -> None:
    filled = width * done // total if total else width
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}")
    if done == total:
        out.write("\n")
    out.flush()


def days_between(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if last < first:
        raise ValueError("--to is before --from")
    n = (last - first).days + 1
    if n > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days at once")
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.reports", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backfill", help="build (or rebuild) the daily report of each day in a range")
    b.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
    b.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD")
    b.add_argument("--email", action="store_true", help="also email each day's summary (default: store only)")
    args = parser.parse_args(argv)
    try:
        days = days_between(args.start, args.end)
    except ValueError as exc:
        parser.error(str(exc))
    from chalicelib import bootstrap

    service = bootstrap.reports()
    total = 0
    bar(0, len(days), "", sys.stderr)
    for i, day in enumerate(days):
        total += service.run(day, email=args.email)["orders"]
        bar(i + 1, len(days), day, sys.stderr)
    print(f"built {len(days)} daily report(s), {days[0]} to {days[-1]}: {total} order(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
