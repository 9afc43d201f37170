"""`finops`: run the pipeline, the demo, or validate inputs without running."""

from __future__ import annotations

import argparse
import os
import sys

from finops_pipeline.settings import load_settings


def _apply_overrides(args: argparse.Namespace) -> None:
    # The CLI passes its options on as the FINOPS_* variables the resources read at run time.
    for attr, var in (("data_dir", "FINOPS_DATA_DIR"), ("warehouse_url", "FINOPS_WAREHOUSE_URL")):
        value = getattr(args, attr, None)
        if value:
            os.environ[var] = str(value)


def cmd_run(args: argparse.Namespace) -> int:
    from finops_pipeline.ingest.billing import landing_months
    from finops_pipeline.pipeline_run import run_months

    settings = load_settings()
    months = landing_months(settings)
    if args.month_from:
        months = [m for m in months if m >= args.month_from]
    if args.month_to:
        months = [m for m in months if m <= args.month_to]
    if not months:
        print(f"No billing months found under {settings.landing_billing_dir}. Add CSV exports there "
              "(see docs/formats.md).", file=sys.stderr)
        return 1
    print(f"finops run: billing months {months[0]} .. {months[-1]} from {settings.landing_billing_dir}")
    print(f"warehouse: {settings.warehouse_url}")
    outcome = run_months(months, log_level="INFO" if not args.quiet else "WARNING")
    if not outcome.success:
        print(f"\nRun {outcome.run_id} FAILED:", file=sys.stderr)
        for failure in outcome.failures:
            print(f"  - {failure}", file=sys.stderr)
    else:
        print(f"Run {outcome.run_id} succeeded: {len(outcome.months)} month(s) materialized.")
    _send_alerts(outcome)
    return 0 if outcome.success else 2


def _send_alerts(outcome) -> None:
    """What the alert sensors do, once, so `finops run` alone gives the whole experience."""
    from datetime import datetime, timezone

    from finops_pipeline.alerts import delivery, outbox
    from finops_pipeline.alerts.outbox import Alert
    from finops_pipeline.warehouse.engine import make_engine

    settings = load_settings()
    engine = make_engine(settings.warehouse_url)
    new = {}
    if outcome.success:
        new = delivery.fill(engine, settings)
    else:
        outbox.write(engine, [Alert(kind="run_failure", dedup_key=f"run_failure:{outcome.run_id}", payload={
            "run_id": outcome.run_id, "job_name": "monthly_costs_job",
            "failed_steps": [f.split(":", 1)[0] for f in outcome.failures],
            "error": "; ".join(f.split(":", 1)[-1].strip() for f in outcome.failures)[:1500],
            "partition_range": f"{outcome.months[0]}..{outcome.months[-1]}",
        })], datetime.now(timezone.utc))
    report = delivery.deliver(engine, settings)
    kinds = ", ".join(f"{n} {k}" for k, n in new.items() if n) or "none new"
    print(f"Alerts: {kinds}; {report.summary()}")


def cmd_demo(args: argparse.Namespace) -> int:
    from finops_pipeline.summary import print_summary

    args.quiet = True
    args.month_from = args.month_to = None
    code = cmd_run(args)
    if code == 0:
        print_summary(load_settings())
    return code


def cmd_validate(args: argparse.Namespace) -> int:
    from finops_pipeline.validate import validate_inputs

    report = validate_inputs(load_settings())
    for line in report.warnings:
        print(f"warning: {line}")
    for line in report.errors:
        print(f"error: {line}", file=sys.stderr)
    for line in report.info:
        print(line)
    if report.errors:
        print(f"\n{len(report.errors)} error(s): fix them before running.", file=sys.stderr)
        return 1
    print("\nInputs are valid.")
    return 0


def _quiet_known_warnings() -> None:
    """The single-run backfill policy is a deliberate choice (see docs/architecture.md); Dagster
    flags the parameter as beta on every import, which is noise for a CLI user."""
    import warnings

    from dagster import BetaWarning

    warnings.filterwarnings("ignore", category=BetaWarning)


def cmd_alerts(args: argparse.Namespace) -> int:
    """The outbox as a table, and with --deliver a delivery attempt now (what the sensor does)."""
    import json

    from sqlalchemy import select

    from finops_pipeline.alerts import delivery
    from finops_pipeline.alerts.messages import render
    from finops_pipeline.warehouse import schema
    from finops_pipeline.warehouse.engine import ensure_tables, make_engine

    settings = load_settings()
    engine = make_engine(settings.warehouse_url)
    ensure_tables(engine)
    if args.deliver:
        print(f"delivery: {delivery.deliver(engine, settings).summary()}")
    t = schema.alert_outbox
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.created_at.desc()).limit(args.limit)).all()
    if not rows:
        print("The outbox is empty: no alert has been called for yet.")
    for row in rows:
        print(f"{row.created_at:%Y-%m-%d %H:%M}  {row.status:<8} {row.kind:<11} {row.dedup_key}"
              + (f"  ({row.last_error})" if row.last_error else ""))
        if args.preview:
            print("    " + render(row.kind, json.loads(row.payload), delivery.links(settings))["text"])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finops", description="FinOps pipeline: billing exports to cost tables.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (default: $FINOPS_DATA_DIR or ./data/sample)")
    common.add_argument("--warehouse-url", help="SQLAlchemy URL (default: $FINOPS_WAREHOUSE_URL or SQLite in the data dir)")

    run = sub.add_parser("run", parents=[common], help="materialize every billing month found in landing/ in one run")
    run.add_argument("--from", dest="month_from", help="first billing month YYYY-MM")
    run.add_argument("--to", dest="month_to", help="last billing month YYYY-MM")
    run.add_argument("--quiet", action="store_true", help="only warnings and the result")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", parents=[common], help="run the full pipeline on the sample data and summarise")
    demo.set_defaults(func=cmd_demo)

    validate = sub.add_parser("validate", parents=[common], help="check inputs and reference files without running")
    validate.set_defaults(func=cmd_validate)

    alerts = sub.add_parser("alerts", parents=[common], help="list the alert outbox (what was sent, failed, skipped)")
    alerts.add_argument("--preview", action="store_true", help="print each alert's one-line Slack text")
    alerts.add_argument("--deliver", action="store_true", help="deliver due alerts now, as the delivery sensor does")
    alerts.add_argument("--limit", type=int, default=20, help="newest N alerts (default 20)")
    alerts.set_defaults(func=cmd_alerts)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_known_warnings()
    _apply_overrides(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
