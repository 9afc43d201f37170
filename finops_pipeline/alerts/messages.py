"""Slack messages rendered from an alert's payload: Block Kit for the channel, and a one-line
``text`` that notifications, screen readers and clients without Block Kit show instead.

Each message answers what a reader needs to act: what happened and how bad (header), where and
whose (project / service / team / owner), by how much in money and percent, why (root cause),
and where to look next (buttons to Dagster and the read API, when their base URLs are configured).

Pure and deterministic: the same payload and links always give the same message, so an alert
re-sent from the outbox looks exactly like the first attempt. Lists are cut to stay within Slack's
limits (50 blocks, 3,000 characters a section, 150 a header), saying how many were left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import quote, urlencode

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_HEADER_CHARS = 150
MAX_BUTTON_TEXT_CHARS = 75
MAX_URL_CHARS = 3000
MAX_TEXT_CHARS = 300  # the notification line; Slack allows far more, people read far less
MAX_LIST_ITEMS = 10  # per list: the rest are counted, not shown

# Where the buttons point: Dagster's asset and run pages, and the read API's list endpoints.
ANOMALY_ASSET = "fct_cost_anomalies"
BUDGET_ASSET = "fct_budget_vs_actual"
API_ANOMALIES = "/api/v1/anomalies"
API_BUDGETS = "/api/v1/budgets"

DIMENSION_LABELS = {"service_name": "service", "sub_account_id": "account", "region": "region",
                    "provider": "provider", "project": "project", "charge_category": "charge category"}
BUDGET_STATUS_WORDS = {"over": "over budget", "projected_over": "projected over budget", "warning": "warning"}
BUDGET_HEADERS = {"over": "Budget exceeded", "projected_over": "Budget projected to be exceeded",
                  "warning": "Budget warning"}


def render(kind: str, payload: dict, links: dict) -> dict:
    """{"text": one-line summary, "blocks": [...]} for an alert of ``kind`` (anomaly, budget,
    run_failure, digest). ``links`` holds the base URLs {"dagster": ..., "api": ...}; None omits them."""
    renderers: dict[str, Callable[[dict, dict], tuple[str, list[dict]]]] = {
        "anomaly": _anomaly, "budget": _budget, "run_failure": _run_failure, "digest": _digest,
    }
    if kind not in renderers:
        raise ValueError(f"unknown alert kind {kind!r}; expected one of {', '.join(renderers)}")
    text, blocks = renderers[kind](payload, {k: (v or "").rstrip("/") or None for k, v in (links or {}).items()})
    blocks = [b for b in blocks if b is not None]
    if len(blocks) > MAX_BLOCKS:  # not reachable with the lists cut as they are; kept as the last guard
        blocks = blocks[:MAX_BLOCKS]
    return {"text": _esc(_clip(" ".join(text.split()), MAX_TEXT_CHARS)), "blocks": blocks}


# --------------------------------------------------------------------------- kinds


def _anomaly(p: dict, links: dict) -> tuple[str, list[dict]]:
    currency = p.get("currency") or ""
    severity = p.get("severity") or "unknown"
    escalated = p.get("escalated_from")
    title = f"Cost anomaly — {severity}" + (f" (escalated from {escalated})" if escalated else "")
    scope = " / ".join(x for x in (p.get("project"), p.get("service_name")) if x) or "(unknown project)"
    when = _period(p)
    days = p.get("days") or 1
    if days > 1:  # an episode: consecutive anomalous days of one series, alerted once
        when += f" (anomalous {days} {'months' if p.get('grain') == 'monthly' else 'days'} in a row so far)"
    impact = _signed(p.get("impact"), currency)
    if _number(p.get("impact_pct")) is not None:
        impact += f" ({_pct(p.get('impact_pct'), signed=True)})"
    text = (f"{title}: {scope} {when} — actual {_money(p.get('actual_cost'), currency)} vs expected "
            f"{_money(p.get('expected_cost'), currency)}, impact {impact}")

    who = [f"*{_esc(p.get('project') or '(unknown project)')}*"]
    if p.get("service_name"):
        who.append(f"service {_esc(p['service_name'])}")
    who += [f"team {_esc(p.get('team') or '(none)')}", f"owner {_esc(p.get('owner') or '(none)')}"]
    methods = p.get("methods")
    methods = ", ".join(m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods or []) if m.strip())
    score = _number(p.get("score"))
    causes = [_cause(c, currency) for c in (p.get("root_cause") or [])]
    blocks = [
        _header(title),
        _section(" · ".join(who) + f"\n{'Monthly' if p.get('grain') == 'monthly' else 'Daily'} cost {when}"),
        _fields([("Actual", _money(p.get("actual_cost"), currency)), ("Expected", _money(p.get("expected_cost"), currency)),
                 ("Impact", impact), ("Score", (f"{score:.2f}" if score is not None else "n/a")
                                      + (f" ({_esc(methods)})" if methods else ""))]),
        _section(_bulleted("*Root cause*", causes)) if causes else None,
        _actions([
            ("Open in Dagster", _url(links.get("dagster"), f"/assets/{ANOMALY_ASSET}")),
            ("Anomalies in the API", _url(links.get("api"), API_ANOMALIES, {"project": p.get("project")})),
        ]),
        _context(f"Anomaly id `{_esc(p.get('anomaly_id') or '?')}` · {p.get('grain') or '?'} · "
                 f"period starting {p.get('period_start') or '?'}"),
    ]
    return text, blocks


def _budget(p: dict, links: dict) -> tuple[str, list[dict]]:
    currency = p.get("currency") or ""
    status = p.get("status") or "unknown"
    month = p.get("billing_month") or "?"
    project = p.get("project") or "(unknown project)"
    title = f"{BUDGET_HEADERS.get(status, f'Budget {status}')} — {project} {month}"
    budget, actual, projected = (_number(p.get(k)) for k in ("budget", "actual", "projected_month_end"))
    used = _pct(p.get("pct_used"))
    warning_pct = _number(p.get("warning_pct"))
    if status == "over":
        why = f"Spend has passed the budget by {_money(_diff(actual, budget), currency)}."
        summary = f"{_money(actual, currency)} of {_money(budget, currency)} ({used})"
    elif status == "projected_over":
        why = (f"At the current pace the month ends at {_money(projected, currency)}, "
               f"{_money(_diff(projected, budget), currency)} over the budget.")
        summary = f"projected {_money(projected, currency)} vs budget {_money(budget, currency)} ({used} used so far)"
    else:
        limit = f" (warning at {warning_pct:g}%)" if warning_pct is not None else ""
        why = f"Spend has reached {used} of the budget{limit}."
        summary = f"{used} of {_money(budget, currency)} used{limit}"
    text = f"{title}: {summary}"
    who = f"*{_esc(project)}* · team {_esc(p.get('team') or '(none)')} · owner {_esc(p.get('owner') or '(none)')} · month {_esc(month)}"
    blocks = [
        _header(title),
        _section(f"{who}\n{why}"),
        _fields([("Budget", _money(budget, currency)), ("Actual (month to date)", _money(actual, currency)),
                 ("Used", used), ("Projected month end", _money(projected, currency))]),
        _actions([
            ("Open in Dagster", _url(links.get("dagster"), f"/assets/{BUDGET_ASSET}")),
            ("Budgets in the API", _url(links.get("api"), API_BUDGETS, {"project": p.get("project"), "month": p.get("billing_month")})),
        ]),
    ]
    return text, blocks


def _run_failure(p: dict, links: dict) -> tuple[str, list[dict]]:
    job = p.get("job_name") or "(unknown job)"
    run_id = p.get("run_id") or ""
    steps = [str(s) for s in (p.get("failed_steps") or [])]
    error = str(p.get("error") or "").strip()
    first_line = error.splitlines()[0] if error else "no error message"
    title = f"Pipeline run failed — {job}"
    text = f"{title} (run {run_id[:8] or '?'})" + (f", steps {', '.join(steps)}" if steps else "") + f": {first_line}"
    where = f"*Job* {_esc(job)} · *Run* `{_esc(run_id or '?')}`"
    if p.get("partition_range"):
        where += f"\n*Partitions* {_esc(p['partition_range'])}"
    code = error.replace("```", "'''") or "no error message"
    blocks = [
        _header(title),
        _section(where),
        _section(_bulleted("*Failed steps*", [_esc(s) for s in steps])) if steps else None,
        _section(_code_block("*Error*", code)),
        _actions([("Open run in Dagster", _url(links.get("dagster"), f"/runs/{quote(run_id, safe='')}") if run_id else None)]),
        _context(f"Run id `{_esc(run_id or '?')}`"),
    ]
    return text, blocks


def _digest(p: dict, links: dict) -> tuple[str, list[dict]]:
    currency = p.get("currency") or ""
    week = f"{p.get('week_start') or '?'} to {p.get('week_end') or '?'}"
    title = f"Weekly cost digest — {week}"
    change = f"{_signed(p.get('change'), currency)} ({_pct(p.get('change_pct'), signed=True)})"
    anomalies = p.get("open_anomalies") or []
    budgets = p.get("budgets_at_risk") or []
    text = (f"{title}: {_money(p.get('total'), currency)}, {change} vs the week before; "
            f"{len(anomalies)} open {_plural(len(anomalies), 'anomaly', 'anomalies')}, "
            f"{len(budgets)} {_plural(len(budgets), 'budget', 'budgets')} at risk")
    movers = [f"{_esc(m.get('project') or '(none)')}: {_money(m.get('previous'), currency)} → "
              f"{_money(m.get('current'), currency)} ({_signed(m.get('change'), currency)})"
              for m in (p.get("top_movers") or [])]
    anomaly_lines = [
        f"{_esc(' / '.join(x for x in (a.get('project'), a.get('service_name')) if x) or '(unknown project)')} "
        f"on {a.get('period_start') or '?'}: {_signed(a.get('impact'), currency)} ({a.get('severity') or '?'})"
        for a in anomalies
    ]
    budget_lines = [
        f"{_esc(b.get('project') or '(none)')} {b.get('billing_month') or '?'}: "
        f"{BUDGET_STATUS_WORDS.get(b.get('status'), b.get('status') or '?')}, "
        f"{_pct(b.get('pct_used'))} used, projected {_money(b.get('projected_month_end'), currency)} "
        f"of {_money(b.get('budget'), currency)}"
        for b in budgets
    ]
    blocks = [
        _header(title),
        _fields([("Total", _money(p.get("total"), currency)), ("Week before", _money(p.get("previous_total"), currency)),
                 ("Change", change)]),
        {"type": "divider"},
        _section(_bulleted("*Top movers*", movers, empty="No project changed.")),
        _section(_bulleted("*Open anomalies*", anomaly_lines, empty="No open anomalies.")),
        _section(_bulleted("*Budgets at risk*", budget_lines, empty="No budget at risk.")),
        _actions([
            ("Open in Dagster", _url(links.get("dagster"), "/assets")),
            ("Open anomalies in the API", _url(links.get("api"), API_ANOMALIES, {"status": "open"})),
        ]),
    ]
    return text, blocks


# --------------------------------------------------------------------------- blocks


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, MAX_HEADER_CHARS), "emoji": False}}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION_CHARS)}}


def _fields(pairs: list[tuple[str, str]]) -> dict:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", MAX_FIELD_CHARS)}
                                          for label, value in pairs[:10]]}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, MAX_FIELD_CHARS)}]}


def _actions(buttons: list[tuple[str, str | None]]) -> dict | None:
    """Link buttons for the URLs that exist; no block at all when none does."""
    elements = [{"type": "button", "text": {"type": "plain_text", "text": _clip(label, MAX_BUTTON_TEXT_CHARS)},
                 "url": url, "action_id": f"link_{i}"}
                for i, (label, url) in enumerate(buttons) if url and len(url) <= MAX_URL_CHARS]
    return {"type": "actions", "elements": elements} if elements else None


def _bulleted(title: str, lines: list[str], empty: str | None = None, limit: int = MAX_SECTION_CHARS) -> str:
    """Title and "• line" rows, as many as fit in ``limit`` characters (and MAX_LIST_ITEMS), then "…and N more"."""
    if not lines:
        return f"{title}\n{empty}" if empty else title
    text = title
    for shown, line in enumerate(lines):
        row = "\n• " + _clip(line, 500)
        reserve = len(f"\n…and {len(lines)} more") if shown + 1 < len(lines) else 0
        if shown == MAX_LIST_ITEMS or len(text) + len(row) + reserve > limit:
            return f"{text}\n…and {len(lines) - shown} more"
        text += row
    return text


def _code_block(title: str, code: str) -> str:
    room = MAX_SECTION_CHARS - len(title) - 10
    if len(code) > room:
        code = code[: room - 14] + "\n… (truncated)"
    return f"{title}\n```{code}```"


# --------------------------------------------------------------------------- formatting


def _cause(cause: dict, currency: str) -> str:
    dimension = cause.get("dimension") or "?"
    label = DIMENSION_LABELS.get(dimension, dimension.replace("_", " "))
    member = cause.get("member")
    share = _number(cause.get("share"))
    line = f"{label} {_esc(member if member not in (None, '') else '(none)')}: {_signed(cause.get('impact'), currency)}"
    return line + (f" ({share * 100:.0f}%)" if share is not None else "")


def _period(p: dict) -> str:
    start = p.get("period_start") or "?"
    if p.get("grain") == "monthly":
        return f"in {start[:7]}"
    return f"on {start}"


def _number(value) -> float | None:
    """A finite float, or None for None / NaN / infinity / not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _money(value, currency: str) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:,.2f} {currency}".rstrip()


def _signed(value, currency: str) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:+,.2f} {currency}".rstrip()


def _pct(value, signed: bool = False) -> str:
    number = _number(value)
    if number is None:
        return "n/a"
    return f"{number:+,.1f}%" if signed else f"{number:,.1f}%"


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _url(base: str | None, path: str, query: dict | None = None) -> str | None:
    if not base:
        return None
    params = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return base + path + (f"?{urlencode(params)}" if params else "")


def _esc(text) -> str:
    """Slack mrkdwn needs only &, < and > escaped; names are shown as given otherwise."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
