"""Seeded generator of large synthetic FOCUS 1.0 billing exports, for benchmarks.

The file has the full 44-column header of the FOCUS 1.0 sample export (so the CSV parse cost
is realistic) and its text style: strings quoted, amounts as fixed 11-decimal numbers,
nulls as the bare literal NULL, timestamps "YYYY-MM-DD HH:00:00".

Shape of the data, chosen to look like an hourly export:

* a pool of resources (default: one per ``rows / hours`` so that each resource bills about
  once per hour), each with a fixed provider (3), billing account, sub-account, service (20
  in all), region, SKU and tags; about 80% of resources carry a JSON ``Tags`` object with a
  ``project`` key (50 projects), the rest have NULL tags;
* each row is one resource-hour: ``ChargePeriodStart`` runs from the first to the last hour
  of ``--months`` consecutive months, in time order (as appended hourly exports are), and the
  resource is drawn at random;
* ChargeCategory is mostly Usage, with some Credit (negative), Purchase, Adjustment and Tax.

Rows are formatted with vectorised pyarrow string kernels (numbers in fixed notation; Arrow's
own CSV writer would print small decimals as 8.7957E-7 and zero as 0E-11) and written as whole
buffers; the only Python loop is over the resource pool. 10M rows (7.4 GiB) took 38 s on 2 cores.

    python -m benchmarks.generate_focus --rows 1000000 --out /tmp/finops-bench/focus.csv
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.months import first_day, month_range, shift_month

GENERATOR_VERSION = 1  # bump when the output changes, to invalidate cached benchmark files

# The FOCUS 1.0 sample's header, in its order.
FOCUS_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
    "Id", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
)
assert len(FOCUS_COLUMNS) == 44

MONEY_DECIMALS = 11  # "0.00001605990", as in the sample
QUANTITY_DECIMALS = 15  # "2.000000000000000"
CHUNK_ROWS = 250_000

# provider -> (share of resources, invoice issuer, billing accounts [(id, name, currency)],
#              regions [(id, name)], services [(name, category, unit, typical unit price)])
PROVIDERS = {
    "AWS": (
        0.55,
        "Amazon Web Services, Inc.",
        [("1234567890123", "SunBird", "USD"), ("2345678901234", "SunBird EMEA", "EUR")],
        [("us-east-1", "US East (N. Virginia)"), ("us-east-2", "US East (Ohio)"),
         ("us-west-2", "US West (Oregon)"), ("eu-central-1", "EU (Frankfurt)"),
         ("eu-west-1", "EU (Ireland)"), ("ap-southeast-2", "Asia Pacific (Sydney)")],
        [("Amazon Elastic Compute Cloud", "Compute", "Hours", 0.0832),
         ("Amazon Simple Storage Service", "Storage", "GB-Months", 0.023),
         ("Amazon Relational Database Service", "Databases", "Hours", 0.171),
         ("AWS Lambda", "Compute", "Requests", 0.0000002),
         ("Elastic Load Balancing", "Networking", "LCU-Hours", 0.008),
         ("Amazon Simple Queue Service", "Integration", "Requests", 0.0000004),
         ("AmazonCloudWatch", "Management and Governance", "Metrics", 0.30),
         ("Amazon Virtual Private Cloud", "Networking", "Hours", 0.045),
         ("Amazon DynamoDB", "Databases", "ReadRequestUnits", 0.00000025)],
    ),
    "Microsoft": (
        0.33,
        "Microsoft",
        [("/providers/Microsoft.Billing/billingAccounts/8611537", "Contoso", "USD")],
        [("eastus", "East US"), ("westeurope", "West Europe"), ("northeurope", "North Europe"),
         ("westus2", "West US 2"), ("southeastasia", "Southeast Asia")],
        [("Virtual Machines", "Compute", "Hours", 0.096),
         ("Storage", "Storage", "GB-Months", 0.0184),
         ("Azure SQL Database", "Databases", "Hours", 0.5043),
         ("Azure App Service", "Compute", "Hours", 0.075),
         ("Bandwidth", "Networking", "GB", 0.087),
         ("Azure Monitor", "Management and Governance", "GB", 2.30),
         ("Azure Kubernetes Service", "Compute", "Hours", 0.10)],
    ),
    "Oracle": (
        0.12,
        "Oracle",
        [("20209880", "SunBird OCI", "USD")],
        [("us-ashburn-1", "US East (Ashburn)"), ("eu-frankfurt-1", "Germany Central (Frankfurt)"),
         ("uk-london-1", "UK South (London)")],
        [("Compute", "Compute", "OCPU Hours", 0.025),
         ("Block Volume", "Storage", "GB-Months", 0.0255),
         ("Autonomous Database", "Databases", "OCPU Hours", 1.3441),
         ("Networking", "Networking", "GB", 0.0085)],
    ),
}
assert sum(len(p[4]) for p in PROVIDERS.values()) == 20
SUB_ACCOUNTS_PER_PROVIDER = 12
PROJECTS = tuple(
    f"{a}-{b}"
    for a, b in zip(
        ["atlas", "orion", "zenith", "nimbus", "pioneer", "odyssey", "sunbird", "tungsten", "vega", "lyra"] * 5,
        ["checkout"] * 10 + ["search"] * 10 + ["billing"] * 10 + ["ml"] * 10 + ["data"] * 10,
    )
)
assert len(set(PROJECTS)) == 50


def project_names(n: int = len(PROJECTS)) -> tuple[str, ...]:
    """``n`` project tag values: the 50 of PROJECTS first, then numbered variants of them
    ("atlas-checkout-2", ...), so that a larger project count keeps the same name style."""
    if n <= len(PROJECTS):
        return PROJECTS[:n]
    extra = (f"{PROJECTS[i % len(PROJECTS)]}-{i // len(PROJECTS) + 1}" for i in range(len(PROJECTS), n))
    return PROJECTS + tuple(extra)
ENVIRONMENTS = ("prod", "staging", "dev")
TEAMS = ("payments", "platform", "growth", "research", "infra", "mobile", "web", "analytics")
TAGGED_SHARE = 0.8

# ChargeCategory -> (share of rows, ChargeFrequency, sign of the amounts)
CHARGE_CATEGORIES = {
    "Usage": (0.955, "Usage-Based", 1.0),
    "Credit": (0.02, "One-Time", -1.0),
    "Purchase": (0.01, "One-Time", 1.0),
    "Adjustment": (0.01, "One-Time", -1.0),
    "Tax": (0.005, "One-Time", 1.0),
}


def month_starts(first_month: str, months: int) -> list[datetime]:
    """The first instant of each of ``months`` consecutive months, plus the one after."""
    return [datetime.combine(first_day(month), datetime.min.time())
            for month in month_range(first_month, shift_month(first_month, months))]


def _quoted(value: str | None) -> str:
    """A CSV field as the FOCUS sample writes it: strings quoted, null as bare NULL."""
    if value is None:
        return "NULL"
    return '"' + value.replace('"', '""') + '"'


def _text(values) -> pa.Array:
    return pa.array([_quoted(v) for v in values], type=pa.string())


def fixed_decimals(units: np.ndarray, decimals: int) -> pa.Array:
    """Integers counting 10**-decimals, as fixed-point text ("-0.00000080000")."""
    scale = 10**decimals
    mag = np.abs(units)
    whole = pc.cast(pa.array(mag // scale), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(mag % scale), pa.string()), width=decimals, padding="0")
    signed = pc.binary_join_element_wise(pc.if_else(pa.array(units < 0), "-", ""), whole, "")
    return pc.binary_join_element_wise(signed, frac, ".")


def build_resources(n: int, rng: np.random.Generator, projects: tuple[str, ...] = PROJECTS,
                    ) -> tuple[pa.Table, np.ndarray, np.ndarray, dict[str, list[str]]]:
    """One row per resource, with the CSV text of every column that is fixed per resource;
    each resource's unit price and discount factor; and the sub-account ids per provider."""
    names = list(PROVIDERS)
    shares = np.array([PROVIDERS[p][0] for p in names])
    prov = rng.choice(len(names), size=n, p=shares / shares.sum())
    cols: dict[str, list] = {c: [None] * n for c in FOCUS_COLUMNS}
    unit_price = np.empty(n)
    discount = np.empty(n)
    sub_ids = {p: [str(x) for x in rng.integers(10**10, 10**11, size=SUB_ACCOUNTS_PER_PROVIDER)] for p in names}
    words = ["Atlas", "Orion", "Zenith", "Nimbus", "Pioneer", "Odyssey", "Eclipse", "Vega"]
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))
    r_account = rng.integers(0, 1 << 30, size=n)
    r_sub = rng.integers(0, SUB_ACCOUNTS_PER_PROVIDER, size=n)
    r_region = rng.integers(0, 1 << 30, size=n)
    r_service = rng.integers(0, 1 << 30, size=n)
    r_tagged = rng.random(n) < TAGGED_SHARE
    r_project = rng.integers(0, len(projects), size=n)
    r_env = rng.integers(0, len(ENVIRONMENTS), size=n)
    r_team = rng.integers(0, len(TEAMS), size=n)
    r_commit = rng.random(n) < 0.15
    r_az = rng.integers(0, 3, size=n)
    r_price = rng.lognormal(0.0, 0.25, size=n)
    r_discount = rng.uniform(0.6, 1.0, size=n)
    r_sku = alphabet[rng.integers(0, len(alphabet), size=(n, 16))]
    r_hex = rng.integers(0, 1 << 62, size=n)
    for i in range(n):
        p = names[prov[i]]
        _, issuer, accounts, regions, services = PROVIDERS[p]
        acct_id, acct_name, currency = accounts[r_account[i] % len(accounts)]
        region_id, region_name = regions[r_region[i] % len(regions)]
        service, category, unit, price = services[r_service[i] % len(services)]
        short = service.split()[-1].lower()
        sku = "".join(r_sku[i])
        sub = r_sub[i]
        committed = bool(r_commit[i]) and category in ("Compute", "Databases")
        unit_price[i] = price * r_price[i]
        discount[i] = r_discount[i] if committed else min(1.0, r_discount[i] + 0.3)
        row = {
            "AvailabilityZone": f"{region_id}{'abc'[r_az[i]]}" if category == "Compute" else None,
            "BillingAccountId": acct_id,
            "BillingAccountName": acct_name,
            "BillingCurrency": currency,
            "ChargeDescription": f"${price:.8f}".rstrip("0").rstrip(".") + f" per {unit} - {service} in {region_name}",
            "ConsumedUnit": unit,
            "ContractedUnitPrice": f"{unit_price[i] * discount[i]:.10f}".rstrip("0").rstrip("."),
            "InvoiceIssuerName": issuer,
            "ListUnitPrice": f"{unit_price[i]:.10f}".rstrip("0").rstrip("."),
            "PricingCategory": "Committed" if committed else "Standard",
            "PricingUnit": unit,
            "ProviderName": p,
            "PublisherName": issuer,
            "RegionId": region_id,
            "RegionName": region_name,
            "ResourceId": f"arn:{p.lower()}:{short}:{region_id}:{sub_ids[p][sub]}:res/{r_hex[i]:016x}",
            "ResourceName": f"{short}-{r_hex[i] % 100000:05d}",
            "ResourceType": unit.split("-")[0].lower(),
            "ServiceCategory": category,
            "ServiceName": service,
            "SkuId": sku,
            "SkuPriceId": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
            "SubAccountId": sub_ids[p][sub],
            "SubAccountName": f"{words[sub % 8]} {words[(sub * 3 + 1) % 8]} {sub}",
        }
        if committed:
            row.update(
                CommitmentDiscountCategory="Spend",
                CommitmentDiscountId=f"arn:aws:savingsplans::{sub_ids[p][0]}:savingsplan/{r_hex[i]:016x}",
                CommitmentDiscountStatus="Used",
                CommitmentDiscountType="Savings Plan",
            )
        if r_tagged[i]:
            row["Tags"] = (
                f'{{"project": "{projects[r_project[i]]}", "environment": "{ENVIRONMENTS[r_env[i]]}", '
                f'"team": "{TEAMS[r_team[i]]}"}}'
            )
        for k, v in row.items():
            cols[k][i] = v
    per_resource = [c for c in FOCUS_COLUMNS if c not in ROW_COLUMNS]
    table = pa.table({c: _text(cols[c]) for c in per_resource})
    return table, unit_price, discount, sub_ids


# Columns that vary per row (everything else is fixed per resource).
ROW_COLUMNS = frozenset({
    "BilledCost", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountName",
    "ConsumedQuantity", "ContractedCost", "EffectiveCost", "Id", "ListCost", "PricingQuantity",
})


def _line_bytes(lines: pa.Array) -> pa.Buffer:
    """The concatenated UTF-8 bytes of a string array (its data buffer, sliced)."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1 + lines.offset)
    begin, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2].slice(begin, end - begin)


def generate(rows: int, out: Path, seed: int = 42, months: int = 1, first_month: str = "2024-09",
             resources: int | None = None, progress: bool = False, projects: int = len(PROJECTS)) -> dict:
    """Write ``rows`` data rows to ``out`` (``.gz`` suffix: gzip); returns a summary, with the
    exact total of the EffectiveCost column as written and the sub-account ids per provider
    (what a projects.csv needs to map untagged resources). ``projects`` tag values are drawn
    from ``project_names(projects)``; the default 50 gives the same file as before."""
    rng = np.random.default_rng(seed)
    bounds = month_starts(first_month, months)
    hours = int((bounds[-1] - bounds[0]).total_seconds() // 3600)
    n_res = resources or max(100, rows // hours)
    res, unit_price, discount, sub_ids = build_resources(n_res, rng, project_names(projects))

    hour_text = _text(t.strftime("%Y-%m-%d %H:00:00") for t in (bounds[0] + timedelta(hours=h) for h in range(hours + 1)))
    month_text = _text(t.strftime("%Y-%m-%d %H:00:00") for t in bounds)
    month_end_hours = np.array([int((b - bounds[0]).total_seconds() // 3600) for b in bounds[1:]])
    hour_month = np.searchsorted(month_end_hours, np.arange(hours), side="right")
    cat_names = list(CHARGE_CATEGORIES)
    cat_p = np.array([CHARGE_CATEGORIES[c][0] for c in cat_names])
    cat_p /= cat_p.sum()
    cat_text = _text(cat_names)
    freq_text = _text(CHARGE_CATEGORIES[c][1] for c in cat_names)
    cat_sign = np.array([CHARGE_CATEGORIES[c][2] for c in cat_names], dtype=np.int64)
    null_text = pa.scalar("NULL")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    sink = pa.OSFile(str(tmp), "wb")
    stream = pa.CompressedOutputStream(sink, "gzip") if out.name.endswith(".gz") else sink
    effective_units = 0  # exact total, in 1e-11 units
    started = time.perf_counter()
    try:
        stream.write(",".join(_quoted(c) for c in FOCUS_COLUMNS).encode() + b"\n")
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            pos = np.arange(start, start + n, dtype=np.int64)
            hour = (pos * hours) // rows  # time order: the file runs from the first hour to the last
            ridx = rng.integers(0, n_res, size=n)
            cat = rng.choice(len(cat_names), size=n, p=cat_p)
            qty = rng.lognormal(0.0, 1.2, size=n)
            qty_units = np.rint(qty * 1e9).astype(np.int64) * 10**6  # 9 significant decimals of 15
            list_units = np.rint(qty * unit_price[ridx] * 10**MONEY_DECIMALS).astype(np.int64)
            eff_units = np.rint(list_units * discount[ridx]).astype(np.int64) * cat_sign[cat]
            list_units *= cat_sign[cat]
            effective_units += int(eff_units.sum())
            eff_text = fixed_decimals(eff_units, MONEY_DECIMALS)
            qty_text = fixed_decimals(qty_units, QUANTITY_DECIMALS)
            take = pa.array(ridx, type=pa.int32())
            base = res.take(take)
            row_cols = {
                "BilledCost": eff_text,
                "BillingPeriodEnd": _take(month_text, hour_month[hour] + 1),
                "BillingPeriodStart": _take(month_text, hour_month[hour]),
                "ChargeCategory": _take(cat_text, cat),
                "ChargeClass": null_text,
                "ChargeFrequency": _take(freq_text, cat),
                "ChargePeriodEnd": _take(hour_text, hour + 1),
                "ChargePeriodStart": _take(hour_text, hour),
                "CommitmentDiscountName": null_text,
                "ConsumedQuantity": qty_text,
                "ContractedCost": eff_text,
                "EffectiveCost": eff_text,
                "Id": pc.cast(pa.array(pos + 1), pa.string()),
                "ListCost": fixed_decimals(list_units, MONEY_DECIMALS),
                "PricingQuantity": qty_text,
            }
            fields = [row_cols[c] if c in ROW_COLUMNS else base.column(c).combine_chunks() for c in FOCUS_COLUMNS]
            lines = pc.binary_join_element_wise(*fields, ",")
            lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
            stream.write(_line_bytes(lines))
            if progress and (start // CHUNK_ROWS) % 8 == 7:
                print(f"  {start + n:,}/{rows:,} rows ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
        stream.close()
        os.replace(tmp, out)
    finally:
        if not stream.closed:
            stream.close()
        if tmp.exists():
            tmp.unlink()
    return {
        "rows": rows,
        "seed": seed,
        "months": months,
        "first_month": first_month,
        "resources": n_res,
        "projects": projects,
        "sub_accounts": sub_ids,
        "bytes": out.stat().st_size,
        "total_effective_cost": effective_units / 10**MONEY_DECIMALS,
        "seconds": round(time.perf_counter() - started, 2),
        "generator_version": GENERATOR_VERSION,
    }


def _take(vocab: pa.Array, idx: np.ndarray) -> pa.Array:
    return vocab.take(pa.array(idx, type=pa.int32()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, required=True, help="number of data rows")
    ap.add_argument("--out", type=Path, required=True, help="output CSV path (.csv or .csv.gz)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--months", type=int, default=1, help="consecutive billing months covered")
    ap.add_argument("--first-month", default="2024-09", help="first billing month, YYYY-MM")
    ap.add_argument("--resources", type=int, default=None, help="resource pool size (default rows/hours)")
    ap.add_argument("--projects", type=int, default=len(PROJECTS), help="distinct project tags (default 50)")
    ap.add_argument("--meta", type=Path, default=None, help="also write the summary as JSON here")
    args = ap.parse_args(argv)
    if args.rows < 1 or args.months < 1 or args.projects < 1:
        ap.error("--rows, --months and --projects must be positive")
    summary = generate(args.rows, args.out, args.seed, args.months, args.first_month, args.resources, progress=True,
                       projects=args.projects)
    if args.meta is not None:
        args.meta.write_text(json.dumps(summary, indent=2))
    print(
        f"wrote {summary['rows']:,} rows ({summary['bytes'] / 2**20:,.1f} MiB, {summary['resources']:,} resources) "
        f"to {args.out} in {summary['seconds']}s; total EffectiveCost {summary['total_effective_cost']:.11f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
