"""The daily report: one UTC day's orders and ledger, aggregated, stored in S3, emailed."""
