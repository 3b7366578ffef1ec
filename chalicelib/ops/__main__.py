"""Operator commands against a stage's resources (credentials and region from the usual AWS
environment; ``FRESHCART_STAGE`` names the stage). Locally, `make redrive` / `make verify-chain`
run them against the running local stack.

    python -m chalicelib.ops redrive freshcart-prod-failed-transactions-dlq [--limit N]
    python -m chalicelib.ops verify-chain ORDER_ID [ORDER_ID ...]
    python -m chalicelib.ops migrate-orders
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("redrive", help="move a DLQ's messages back to its queue")
    r.add_argument("dlq", help="the dead-letter queue's name, e.g. freshcart-local-failed-transactions-dlq")
    r.add_argument("--limit", type=int, default=None, help="at most this many messages")
    v = sub.add_parser("verify-chain", help="check orders' payment audit chains; exit 1 on a broken one")
    v.add_argument("orders", nargs="+", metavar="ORDER_ID")
    sub.add_parser("migrate-orders", help="move refunds out of orders' status onto their refund axis (idempotent)")
    args = parser.parse_args(argv)

    if args.command == "redrive":
        from chalicelib.ops import queues

        moved = queues.redrive(args.dlq, args.limit)
        print(f"moved {moved} message(s) from {args.dlq} back to {args.dlq.removesuffix(queues.DLQ_SUFFIX)}")
        return 0
    from chalicelib import bootstrap

    if args.command == "migrate-orders":
        print(bootstrap.order_lifecycle().migrate_refund_axis())
        return 0
    broken = 0
    payments = bootstrap.payments()
    for order_id in args.orders:
        if not payments.payments.partition(order_id).payments:
            print(f"{order_id}: no payment recorded for this order (nothing to verify)")
            broken += 1
            continue
        problems = payments.verify_chain(order_id)
        print(f"{order_id}: " + ("intact" if not problems else "BROKEN: " + "; ".join(problems)))
        broken += bool(problems)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
