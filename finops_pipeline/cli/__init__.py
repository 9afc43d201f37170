"""`finops`: run the pipeline, the demo, validate inputs without running, serve the read API and manage its tokens."""

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
    from finops_pipeline.cli.runner import run_months
    from finops_pipeline.ingest.billing import landing_months

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
    from finops_pipeline.warehouse.engine import warehouse_engine

    settings = load_settings()
    engine = warehouse_engine(settings.warehouse_url)  # a run that failed early may have made no table
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
    from finops_pipeline.warehouse.engine import warehouse_engine

    settings = load_settings()
    engine = warehouse_engine(settings.warehouse_url)
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


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the read API with uvicorn (FINOPS_API_HOST / FINOPS_API_PORT, or --host / --port)."""
    import uvicorn

    from finops_pipeline.api import create_app
    from finops_pipeline.warehouse.engine import make_engine, warehouse_engine

    settings = load_settings()
    try:
        engine = warehouse_engine(settings.warehouse_url)  # api_tokens and anomaly_feedback must exist; never rewrites
    except Exception as exc:  # noqa: BLE001 - serve anyway: /health reports the warehouse as down
        print(f"warning: warehouse not reachable yet ({type(exc).__name__}); /health will say 503 until it is", file=sys.stderr)
        engine = make_engine(settings.warehouse_url)
    host, port = args.host or settings.api_host, args.port or settings.api_port
    print(f"finops api: http://{host}:{port}/docs (OpenAPI at /openapi.json); warehouse {engine.url.render_as_string()}")
    workers = args.workers or 1
    if workers > 1:
        # Several processes: the app is CPU-bound in Python (routing, validation, JSON), so one
        # process uses one core whatever the load. Each worker builds its own app and engine from
        # the FINOPS_* environment (set above from the options), since engines and their pools
        # must not be shared across fork; uvicorn needs an import string for that.
        engine.dispose()
        uvicorn.run("finops_pipeline.api.app:create_app", factory=True, workers=workers, host=host, port=port,
                    log_level=args.log_level, proxy_headers=True)
        return 0
    uvicorn.run(create_app(settings, engine), host=host, port=port, log_level=args.log_level, proxy_headers=True)
    return 0


def _token_engine():
    from finops_pipeline.warehouse.engine import warehouse_engine

    return warehouse_engine(load_settings().warehouse_url)


def _scope_text(projects: list[str], teams: list[str]) -> str:
    parts = ([f"projects {', '.join(projects)}"] if projects else []) + ([f"teams {', '.join(teams)}"] if teams else [])
    return "; ".join(parts) or "all projects"


def cmd_api_token_create(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from finops_pipeline.api.auth import create_token
    from finops_pipeline.warehouse import schema

    engine = _token_engine()
    try:
        token, row = create_token(engine, args.name, args.role, args.projects, args.teams)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with engine.connect() as conn:
        d = schema.dim_projects
        known = set(conn.execute(select(d.c.project)).scalars())
        teams = set(conn.execute(select(d.c.team)).scalars())
    for project in row.projects:
        if project not in known:
            print(f"warning: project {project!r} is not in dim_projects (reference/projects.csv) yet", file=sys.stderr)
    for team in row.teams:
        if team not in teams:
            print(f"warning: team {team!r} has no project in dim_projects yet", file=sys.stderr)
    print(f"Created token {row.token_id} for {row.name!r}: role {row.role}, {_scope_text(row.projects, row.teams)}.")
    print("Copy it now, it is not shown again (only a hash of it is stored):\n")
    print(token)
    return 0


def cmd_api_token_list(args: argparse.Namespace) -> int:
    from finops_pipeline.api.auth import list_tokens

    rows = [r for r in list_tokens(_token_engine()) if args.all or r.revoked_at is None]
    if not rows:
        print("No API tokens. Create one with: finops api-token create --name NAME --role viewer")
        return 0
    print(f"{'token_id':<12}  {'name':<20} {'role':<8} {'created':<16} {'last used':<16} {'revoked':<16} scope")
    for r in rows:
        def when(value):
            return f"{value:%Y-%m-%d %H:%M}" if value else "-"
        print(f"{r.token_id:<12}  {r.name[:20]:<20} {r.role:<8} {when(r.created_at):<16} {when(r.last_used_at):<16} "
              f"{when(r.revoked_at):<16} {_scope_text(r.projects, r.teams)}")
    return 0


def cmd_api_token_revoke(args: argparse.Namespace) -> int:
    from finops_pipeline.api.auth import revoke_token

    revoked = revoke_token(_token_engine(), args.token)
    if not revoked:
        print(f"error: no active token with id or name {args.token!r} (see `finops api-token list --all`)", file=sys.stderr)
        return 1
    for r in revoked:
        print(f"Revoked token {r.token_id} ({r.name!r}, {r.role}); requests with it now get 401.")
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

    api = sub.add_parser("api", parents=[common], help="serve the read API (FastAPI; docs at /docs)")
    api.add_argument("--host", help="interface to listen on (default: $FINOPS_API_HOST or 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default: $FINOPS_API_PORT or 8000)")
    api.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    api.add_argument("--workers", type=int, default=None,
                     help="worker processes (default 1); about one per core under concurrent load")
    api.set_defaults(func=cmd_api)

    tokens = sub.add_parser("api-token", help="create, list or revoke read API tokens")
    token_sub = tokens.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", parents=[common], help="create a token and print it once")
    create.add_argument("--name", required=True, help="who or what the token is for (unique among active tokens)")
    create.add_argument("--role", required=True, choices=["viewer", "analyst", "admin"],
                        help="viewer: read; analyst: read + acknowledge anomalies; admin: everything, never scoped")
    create.add_argument("--projects", nargs="+", metavar="PROJECT", help="only these projects (space- or comma-separated)")
    create.add_argument("--teams", nargs="+", metavar="TEAM", help="only the projects of these teams (dim_projects.team)")
    create.set_defaults(func=cmd_api_token_create)
    listing = token_sub.add_parser("list", parents=[common], help="list tokens (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.set_defaults(func=cmd_api_token_list)
    revoke = token_sub.add_parser("revoke", parents=[common], help="revoke a token by id or name")
    revoke.add_argument("token", help="token id (e.g. 3f9a0c1b2d4e), fo_<id>, or the token's name")
    revoke.set_defaults(func=cmd_api_token_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_known_warnings()
    _apply_overrides(args)
    return args.func(args)

