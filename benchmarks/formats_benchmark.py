"""Ingest speed and peak memory of ``scan_file`` for every billing export format, against FOCUS.

For each format (transforms/staging/formats FORMATS, plus Plaid JSON) a synthetic export is
generated with the real header of its fixture (tests/fixtures/formats/) and realistic rows:

* one billing month (2024-09): hourly usage for the cloud exports (in time order, as appended
  exports are), daily for Azure, posting period 9 for the general ledger, days for statements;
* fixed pools of accounts, services, regions, projects, merchants (Zipf-like popularity for
  merchants and suppliers), the same at every file size, so that a 2x larger file has the same
  distinct daily keys and twice the rows (memory should then stay flat);
* each format's row kinds in realistic shares (AWS CUR mostly Usage with Savings Plan covered
  usage + negation, Tax, Credit, RI rows; statements mostly purchases with a few % payments,
  transfers, deposits, refunds, pending rows);
* 0.1% of rows with a bad value (an unparseable amount or date, or the format's own kind of bad
  field: broken GCP credits, an invalid GL period, Capital One rows with both Debit and Credit),
  which staging must quarantine. The FOCUS reference is benchmarks/generate_focus.py's file
  with the same 0.1% of bad amounts / dates written into it (``focus``), and as generated
  (``focus_clean``, the file of the "Ingest throughput vs DuckDB" section).

Generation is vectorised (numpy + pyarrow string kernels, written as whole buffers) and runs in
a subprocess; files are cached under --workdir (default /tmp/finops-bench/formats), keyed by
format, rows, seed and generator version. Each measurement runs ``scan_file(file, ctx,
cache_dir=None)`` in a fresh interpreter, so that its peak RSS is that format's alone (VmHWM of
the child plus RSS sampled every 10 ms; ``ru_maxrss`` would include the forked parent's pages).
Every run checks rows_read == rows_accounted == generated rows, that the header is detected as
the intended format, and that quarantined / excluded counts match what was generated.

Goals (issue): no adapter more than 2x slower per row than FOCUS; memory flat in file size (the
2M-row peak well below 2x the 1M-row peak). Formats that miss the speed goal are profiled with
cProfile (main thread only: the CSV parse thread is not seen) and the hotspots printed.

    python -m benchmarks.formats_benchmark                       # every format, 1M and 2M rows, doc
    python -m benchmarks.formats_benchmark --rows 100000 --formats focus gcp --no-doc
    python -m benchmarks.formats_benchmark --profile gcp         # cProfile of one format's scan
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.common import host_facts

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "formats"
DEFAULT_WORKDIR = Path("/tmp/finops-bench/formats")
DEFAULT_DOC = REPO / "docs" / "performance.md"
SECTION = "Ingest by export format"
AFTER_SECTION = "Ingest throughput vs DuckDB"
GENERATOR_VERSION = 2  # bump when a generator's output changes (invalidates cached files)
DEFAULT_ROWS = (1_000_000, 2_000_000)
CHUNK_ROWS = 200_000
BAD_SHARE = 0.001
GOAL_RATIO = 2.0  # time per row <= 2x FOCUS's
FLAT_LIMIT = 1.5  # peak RSS at 2x the rows <= 1.5x: "flat" (2x would be proportional)
REFERENCE = "focus"

DAYS = 30  # September 2024
HOURS = DAYS * 24


# --------------------------------------------------------------------------- text helpers
# Imported lazily: the parent process stays small (pyarrow is only needed by the children).


def _pa():
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa, pc


def csv_field(value: str | None) -> str:
    if value is None:
        return ""
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def vocab(values):
    """CSV-escaped text of each value (escaped once per distinct value, not per row)."""
    pa, _ = _pa()
    return pa.array([csv_field(v) for v in values], type=pa.string())


def pick(values, idx: np.ndarray):
    pa, _ = _pa()
    return values.take(pa.array(np.asarray(idx), type=pa.int32()))


def money(x: np.ndarray, decimals: int = 2):
    from benchmarks.generate_focus import fixed_decimals

    return fixed_decimals(np.rint(np.asarray(x, dtype="float64") * 10**decimals).astype(np.int64), decimals)


def where(mask: np.ndarray, values, otherwise=""):
    """Per row: ``values`` where mask, else ``otherwise`` (text or a text array)."""
    pa, pc = _pa()
    other = pa.scalar(otherwise) if isinstance(otherwise, str) else otherwise
    value = pa.scalar(values) if isinstance(values, str) else values
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), value, other)


def numbered(prefix: str, numbers: np.ndarray, width: int = 0):
    pa, pc = _pa()
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), text, pa.scalar(""), "")


def choose(rng: np.random.Generator, n: int, shares: dict[str, float]) -> tuple[list[str], np.ndarray]:
    names = list(shares)
    p = np.array([shares[k] for k in names], dtype="float64")
    return names, rng.choice(len(names), size=n, p=p / p.sum())


def zipf_choice(rng: np.random.Generator, n: int, size: int, s: float = 1.1) -> np.ndarray:
    """Indices 0..size-1 with popularity ~ 1/rank**s (a few merchants take most lines)."""
    p = 1.0 / np.arange(1, size + 1) ** s
    return rng.choice(size, size=n, p=p / p.sum())


def bad_rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint masks of ~BAD_SHARE/2 each: rows to get a bad amount, rows to get a bad date
    (or the format's own kind of bad value)."""
    bad = rng.random(n) < BAD_SHARE
    first = bad & (rng.random(n) < 0.5)
    return first, bad & ~first


def day_hour_text(fmt: str, extra: int = 1) -> list[str]:
    """Text of every hour of the month (plus ``extra``), in a strftime format."""
    from datetime import timedelta

    start = datetime(2024, 9, 1)
    return [(start + timedelta(hours=h)).strftime(fmt) for h in range(HOURS + extra)]


def day_text(fmt: str, extra: int = 1) -> list[str]:
    from datetime import timedelta

    start = datetime(2024, 9, 1)
    return [(start + timedelta(days=d)).strftime(fmt) for d in range(DAYS + extra)]


def hex_ids(rng: np.random.Generator, n: int, chars: int = 16) -> list[str]:
    return [f"{v:0{chars}x}"[:chars] for v in rng.integers(0, 1 << 62, size=n)]


PROJECTS = tuple(f"{a}-{b}" for a in ("atlas", "orion", "zenith", "nimbus", "pioneer", "odyssey", "sunbird", "tungsten",
                                      "vega", "lyra") for b in ("checkout", "search", "billing", "ml", "data"))
ENVS = ("prod", "staging", "dev")


@dataclass
class Chunk:
    fields: dict  # column -> text array or constant text
    excluded: int = 0  # rows the adapter must exclude (not costs)
    bad: int = 0  # rows the adapter must quarantine


# --------------------------------------------------------------------------- AWS CUR (legacy and 2.0)

AWS_SERVICES = [  # product code, product name, usage type, typical cost per line
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "BoxUsage:m5.large", 0.096),
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "EBS:VolumeUsage.gp3", 0.011),
    ("AmazonEC2", "Amazon Elastic Compute Cloud", "DataTransfer-Out-Bytes", 0.09),
    ("AmazonS3", "Amazon Simple Storage Service", "TimedStorage-ByteHrs", 0.0032),
    ("AmazonS3", "Amazon Simple Storage Service", "Requests-Tier1", 0.0005),
    ("AmazonRDS", "Amazon Relational Database Service", "InstanceUsage:db.r6g.large", 0.258),
    ("AWSLambda", "AWS Lambda", "Lambda-GB-Second", 0.0042),
    ("AmazonDynamoDB", "Amazon DynamoDB", "ReadRequestUnits", 0.0013),
    ("AmazonCloudWatch", "AmazonCloudWatch", "CW:MetricMonitorUsage", 0.0041),
    ("AmazonVPC", "Amazon Virtual Private Cloud", "NatGateway-Hours", 0.045),
    ("AWSELB", "Elastic Load Balancing", "LoadBalancerUsage", 0.0225),
    ("AmazonEKS", "Amazon Elastic Container Service for Kubernetes", "AmazonEKS-Hours:perCluster", 0.1),
    ("AmazonSQS", "Amazon Simple Queue Service", "Requests-RBP", 0.0004),
    ("AmazonElastiCache", "Amazon ElastiCache", "NodeUsage:cache.r6g.large", 0.206),
    ("AmazonCloudFront", "Amazon CloudFront", "DataTransfer-Out-Bytes", 0.085),
    ("AWSGlue", "AWS Glue", "ETL-DPU-Hour", 0.44),
]
AWS_REGIONS = [("us-east-1", "US East (N. Virginia)", "USE1"), ("us-east-2", "US East (Ohio)", "USE2"),
               ("us-west-2", "US West (Oregon)", "USW2"), ("eu-west-1", "EU (Ireland)", "EU"),
               ("eu-central-1", "EU (Frankfurt)", "EUC1"), ("ap-southeast-2", "Asia Pacific (Sydney)", "APS2")]
CUR_KINDS = {  # line item type -> share of rows
    "Usage": 0.885, "SavingsPlanCoveredUsage": 0.05, "SavingsPlanNegation": 0.05, "DiscountedUsage": 0.005,
    "Credit": 0.004, "Tax": 0.003, "SavingsPlanRecurringFee": 0.002, "RIFee": 0.001,
}
CUR_RESOURCES = 1400  # about 1M rows / 720 hours, fixed at every size
CUR_LEGACY_NAMES = {
    "line_item_id": "identity/LineItemId", "time_interval": "identity/TimeInterval", "invoice_id": "bill/InvoiceId",
    "billing_entity": "bill/BillingEntity", "bill_type": "bill/BillType", "payer": "bill/PayerAccountId",
    "bp_start": "bill/BillingPeriodStartDate", "bp_end": "bill/BillingPeriodEndDate",
    "usage_account": "lineItem/UsageAccountId", "type": "lineItem/LineItemType", "usage_start": "lineItem/UsageStartDate",
    "usage_end": "lineItem/UsageEndDate", "product_code": "lineItem/ProductCode", "usage_type": "lineItem/UsageType",
    "currency": "lineItem/CurrencyCode", "unblended": "lineItem/UnblendedCost", "blended": "lineItem/BlendedCost",
    "description": "lineItem/LineItemDescription", "net_unblended": "lineItem/NetUnblendedCost",
    "product_name": "product/ProductName", "region_name": "product/region", "region_code": "product/regionCode",
    "public_od": "pricing/publicOnDemandCost", "ri_effective": "reservation/EffectiveCost",
    "ri_arn": "reservation/ReservationARN", "ri_unused_upfront": "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "ri_unused_recurring": "reservation/UnusedRecurringFee", "tag_env": "resourceTags/user:env",
    "tag_project": "resourceTags/user:project", "sp_arn": "savingsPlan/SavingsPlanARN",
    "sp_effective": "savingsPlan/SavingsPlanEffectiveCost", "sp_total": "savingsPlan/TotalCommitmentToDate",
    "sp_used": "savingsPlan/UsedCommitment",
}
CUR2_NAMES = {
    "line_item_id": "identity_line_item_id", "time_interval": "identity_time_interval", "invoice_id": "bill_invoice_id",
    "billing_entity": "bill_billing_entity", "bill_type": "bill_bill_type", "payer": "bill_payer_account_id",
    "bp_start": "bill_billing_period_start_date", "bp_end": "bill_billing_period_end_date",
    "usage_account": "line_item_usage_account_id", "type": "line_item_line_item_type",
    "usage_start": "line_item_usage_start_date", "usage_end": "line_item_usage_end_date",
    "product_code": "line_item_product_code", "usage_type": "line_item_usage_type", "currency": "line_item_currency_code",
    "unblended": "line_item_unblended_cost", "blended": "line_item_blended_cost",
    "description": "line_item_line_item_description", "net_unblended": "line_item_net_unblended_cost",
    "product": "product", "region_code": "product_region_code", "public_od": "pricing_public_on_demand_cost",
    "ri_effective": "reservation_effective_cost", "ri_arn": "reservation_reservation_a_r_n",
    "ri_unused_upfront": "reservation_unused_amortized_upfront_fee_for_billing_period",
    "ri_unused_recurring": "reservation_unused_recurring_fee", "tags": "resource_tags",
    "sp_arn": "savings_plan_savings_plan_a_r_n", "sp_effective": "savings_plan_savings_plan_effective_cost",
    "sp_total": "savings_plan_total_commitment_to_date", "sp_used": "savings_plan_used_commitment",
}


def cur_setup(rng: np.random.Generator, version: int) -> dict:
    accounts = [str(v) for v in rng.integers(10**11, 10**12, size=40)]
    r = CUR_RESOURCES
    pool = {
        "version": version,
        "payers": vocab(["111111111111", "444455556666"]),
        "invoices": vocab(["EUS24-1182736", "EUS24-1182737"]),
        "accounts": vocab(accounts),
        "res_account": rng.integers(0, len(accounts), size=r),
        "res_service": zipf_choice(rng, r, len(AWS_SERVICES), 0.6),
        "res_region": zipf_choice(rng, r, len(AWS_REGIONS), 1.0),
        "res_project": np.where(rng.random(r) < 0.8, rng.integers(0, len(PROJECTS), size=r), -1),
        "res_env": rng.integers(0, len(ENVS), size=r),
        "res_scale": rng.lognormal(0.0, 1.0, size=r),
        "iso_hours": vocab(day_hour_text("%Y-%m-%dT%H:00:00Z")),
        "intervals": vocab([f"{a}/{b}" for a, b in zip(day_hour_text("%Y-%m-%dT%H:00:00Z")[:-1],
                                                       day_hour_text("%Y-%m-%dT%H:00:00Z")[1:])] + [""]),
        "codes": vocab([s[0] for s in AWS_SERVICES]),
        "names": vocab([s[1] for s in AWS_SERVICES]),
        "usage_types": vocab([f"{reg[2]}-{s[2]}" for s in AWS_SERVICES for reg in AWS_REGIONS]),
        "descriptions": vocab([f"${s[3]:.4f} per {s[2]} in {reg[1]}" for s in AWS_SERVICES for reg in AWS_REGIONS]),
        "region_codes": vocab([reg[0] for reg in AWS_REGIONS]),
        "region_names": vocab([reg[1] for reg in AWS_REGIONS]),
        "products": vocab([json.dumps({"product_name": s[1], "region": reg[0], "servicecode": s[0]})
                           for s in AWS_SERVICES for reg in AWS_REGIONS]),
        "tag_project": vocab(list(PROJECTS) + [""]),
        "tag_env": vocab(list(ENVS)),
        "tags_json": vocab([json.dumps({"user_project": p, "user_env": e}) for p in PROJECTS for e in ENVS]
                           + ['{"user_env": "prod"}']),
        "sp_arns": vocab([f"arn:aws:savingsplans::111111111111:savingsplan/{h}" for h in hex_ids(rng, 3, 32)]),
        "ri_arns": vocab([f"arn:aws:ec2:us-east-1:111111111111:reserved-instances/{h}" for h in hex_ids(rng, 4, 32)]),
    }
    return pool


def cur_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    hour = (pos * HOURS) // total
    res = rng.integers(0, CUR_RESOURCES, size=n)
    svc, reg = pool["res_service"][res], pool["res_region"][res]
    kinds, k = choose(rng, n, CUR_KINDS)
    is_ = {name: k == i for i, name in enumerate(kinds)}
    usage_like = is_["Usage"] | is_["SavingsPlanCoveredUsage"] | is_["DiscountedUsage"]
    base = np.array([s[3] for s in AWS_SERVICES])[svc] * pool["res_scale"][res] * rng.lognormal(0.0, 0.8, size=n)
    unblended = np.select(
        [is_["SavingsPlanNegation"], is_["Credit"], is_["DiscountedUsage"], is_["Tax"],
         is_["SavingsPlanRecurringFee"], is_["RIFee"]],
        [-base, -base * 5, 0.0, base * 20, base * 400, base * 300], base)
    net = np.where(usage_like | is_["Tax"], unblended * 0.97, unblended)  # an EDP discount
    sp_rows = is_["SavingsPlanCoveredUsage"] | is_["SavingsPlanNegation"] | is_["SavingsPlanRecurringFee"]
    ri_rows = is_["DiscountedUsage"] | is_["RIFee"]
    bad_amount, bad_date = bad_rows(rng, n)
    svc_reg = svc * len(AWS_REGIONS) + reg
    start = pick(pool["iso_hours"], hour)
    unblended_text = where(bad_amount, '"12,5"', money(unblended, 10))
    proj = pool["res_project"][res]
    tagged = proj >= 0
    f = {
        "line_item_id": numbered("li", pos, 12), "time_interval": pick(pool["intervals"], hour),
        "invoice_id": pick(pool["invoices"], pool["res_account"][res] % 2), "billing_entity": "AWS",
        "bill_type": "Anniversary", "payer": pick(pool["payers"], pool["res_account"][res] % 2),
        "bp_start": "2024-09-01T00:00:00Z", "bp_end": "2024-10-01T00:00:00Z",
        "usage_account": pick(pool["accounts"], pool["res_account"][res]),
        "type": pick(vocab(kinds), k),
        "usage_start": where(bad_date, "2024-09-31T10:00:00Z", start),
        "usage_end": pick(pool["iso_hours"], hour + 1),
        "product_code": pick(pool["codes"], svc), "usage_type": pick(pool["usage_types"], svc_reg),
        "currency": "USD", "unblended": unblended_text, "blended": money(unblended, 10),
        "description": where(usage_like, pick(pool["descriptions"], svc_reg), pick(vocab([f"{x} line" for x in kinds]), k)),
        "net_unblended": money(net, 10),
        "product_name": pick(pool["names"], svc), "region_name": pick(pool["region_names"], reg),
        "region_code": pick(pool["region_codes"], reg), "product": pick(pool["products"], svc_reg),
        "public_od": where(usage_like, money(base, 10)),
        "ri_effective": where(is_["DiscountedUsage"], money(base * 0.62, 10)),
        "ri_arn": where(ri_rows, pick(pool["ri_arns"], res % 4)),
        "ri_unused_upfront": where(is_["RIFee"], money(base * 12, 10)),
        "ri_unused_recurring": where(is_["RIFee"], money(base * 8, 10)),
        "sp_arn": where(sp_rows, pick(pool["sp_arns"], res % 3)),
        "sp_effective": where(is_["SavingsPlanCoveredUsage"], money(base * 0.72, 10)),
        "sp_total": where(is_["SavingsPlanRecurringFee"], money(base * 400, 10)),
        "sp_used": where(is_["SavingsPlanRecurringFee"], money(base * 370, 10)),
        "tag_project": pick(pool["tag_project"], np.where(tagged, proj, len(PROJECTS))),
        "tag_env": where(tagged, pick(pool["tag_env"], pool["res_env"][res])),
        "tags": pick(pool["tags_json"], np.where(tagged, proj * len(ENVS) + pool["res_env"][res], len(PROJECTS) * len(ENVS))),
    }
    names = CUR_LEGACY_NAMES if pool["version"] == 1 else CUR2_NAMES
    return Chunk({names[role]: value for role, value in f.items() if role in names}, 0, int(bad_amount.sum() + bad_date.sum()))


# --------------------------------------------------------------------------- general ledger

GL_ACCOUNTS = [("610000", "Cloud hosting"), ("610100", "Software licences"), ("610200", "SaaS subscriptions"),
               ("611000", "Telecommunications"), ("612000", "IT hardware"), ("613000", "IT consulting"),
               ("620000", "Office rent"), ("621000", "Utilities"), ("622000", "Facilities maintenance"),
               ("630000", "Travel"), ("631000", "Accommodation"), ("632000", "Meals and entertainment"),
               ("640000", "Marketing services"), ("641000", "Advertising"), ("650000", "Legal fees"),
               ("651000", "Audit fees"), ("652000", "Recruitment"), ("653000", "Training"),
               ("660000", "Insurance"), ("670000", "Bank charges"), ("680000", "Postage and courier"),
               ("690000", "Office supplies"), ("691000", "Subscriptions and memberships"), ("692000", "Contractors")]
DIRECTORATES = ("Technology", "Finance", "Operations", "Marketing", "Sales", "People", "Legal", "Product")


def gl_setup(rng: np.random.Generator) -> dict:
    words = ["Platform", "Data", "Security", "Payments", "Mobile", "Web", "Infrastructure", "Analytics", "Support",
             "Procurement", "Treasury", "Brand", "Field Sales", "Recruiting", "Compliance", "Research"]
    n_cc = 60
    cc_names = [f"{words[i % len(words)]} {['Engineering', 'Operations', 'Services', 'Team'][i % 4]} {i // 16 + 1}"
                for i in range(n_cc)]
    suppliers = [f"{a} {b}" for a in ("Amazon Web Services", "Microsoft", "Google Cloud", "Snowflake", "Datadog",
                                      "Salesforce", "Atlassian", "Slack", "Oracle", "SAP", "Adobe", "Cisco", "Dell",
                                      "WeWork", "Regus", "British Gas", "Vodafone", "BT", "Deloitte", "KPMG",
                                      "Hays", "Travelperk", "Marriott", "Hilton", "DHL", "FedEx", "Staples",
                                      "Zurich", "Allianz", "Accenture")
                 for b in ("EMEA SARL", "Inc", "Ltd", "GmbH", "BV", "SAS", "LLC", "AB", "SRL", "Pty Ltd", "KK",
                           "Holdings", "Services Ltd")][:400]
    return {
        "n_cc": n_cc,
        "cc_ids": vocab([f"CC{100 + 10 * i}" for i in range(n_cc)]), "cc_names": vocab(cc_names),
        "pc_ids": vocab([f"PC{10 + i}" for i in range(15)]),
        "pc_names": vocab([f"{w} Services" for w in words[:15]]),
        "directorates": vocab(DIRECTORATES),
        "fa_ids": vocab([f"FA{i + 1:02d}" for i in range(10)]),
        "fa_names": vocab(["Research and Development", "Cost of Sales", "Sales and Marketing", "General and Administrative",
                           "Customer Support", "Facilities", "Information Technology", "Finance", "Human Resources",
                           "Legal"]),
        "gl_ids": vocab([a for a, _ in GL_ACCOUNTS]), "gl_names": vocab([b for _, b in GL_ACCOUNTS]),
        "suppliers": vocab(suppliers), "n_suppliers": len(suppliers),
        "supplier_gl": rng.integers(0, len(GL_ACCOUNTS), size=len(suppliers)),
        "entities": vocab(["GB01", "DE01", "US01", "FR01", "SG01"]),
        "regions": vocab(["EMEA", "EMEA", "AMER", "EMEA", "APAC"]),
        "periods": vocab(["9", "09", "009"]),
    }


def gl_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    cc = rng.integers(0, pool["n_cc"], size=n)
    supplier = zipf_choice(rng, n, pool["n_suppliers"], 1.0)
    gl = pool["supplier_gl"][supplier]
    entity = np.minimum(rng.geometric(0.45, size=n) - 1, 4)
    credit = rng.random(n) < 0.06  # credit notes (H)
    reversal = ~credit & (rng.random(n) < 0.005)  # S with a negative (already signed) amount
    amount = rng.lognormal(5.5, 1.6, size=n)
    amount = np.where(reversal, -amount, amount)
    bad_amount, bad_period = bad_rows(rng, n)
    period_style = np.where(rng.random(n) < 0.6, 0, 1)
    f = {
        "general_ledger_fiscal_year": "2024",
        "posting_period": where(bad_period, "17", pick(pool["periods"], period_style)),
        "company_code_currency_value": where(bad_amount, '"1.234,50"', money(amount, 2)),
        "debit_credit_ind": where(credit, "H", "S"),
        "cost_center_id": pick(pool["cc_ids"], cc), "cost_center_name": pick(pool["cc_names"], cc),
        "profit_center_id": pick(pool["pc_ids"], cc % 15), "profit_center_name": pick(pool["pc_names"], cc % 15),
        "directorate": pick(pool["directorates"], cc % len(DIRECTORATES)),
        "functional_area": pick(pool["fa_ids"], cc % 10), "functional_area_name": pick(pool["fa_names"], cc % 10),
        "general_ledger_account": pick(pool["gl_ids"], gl), "general_ledger_account_name": pick(pool["gl_names"], gl),
        "supplier": pick(pool["suppliers"], supplier), "entity": pick(pool["entities"], entity),
        "region": pick(pool["regions"], entity),
        "document_header_text": where(credit, numbered("CN-", pos, 7), numbered("INV-", pos, 7)),
    }
    return Chunk(f, 0, int(bad_amount.sum() + bad_period.sum()))


# --------------------------------------------------------------------------- Azure EA / MCA

AZURE_METERS = [  # meter category, service family, sub category, meter name, unit, price
    ("Virtual Machines", "Compute", "Dv3/DSv3 Series", "D2 v3/D2s v3", "1 Hour", 0.096),
    ("Virtual Machines", "Compute", "BS Series", "B2s", "1 Hour", 0.0416),
    ("Storage", "Storage", "Premium SSD Managed Disks", "P10 Disks", "1/Month", 0.0264),
    ("Storage", "Storage", "Tables", "LRS Data Stored", "1 GB/Month", 0.045),
    ("Bandwidth", "Networking", "Rtn Preference: MGN", "Standard Data Transfer Out", "1 GB", 0.087),
    ("Azure App Service", "Compute", "Premium v3 Plan", "P1 v3 App", "1 Hour", 0.169),
    ("SQL Database", "Databases", "General Purpose - Compute Gen5", "vCore", "1 Hour", 0.2522),
    ("Azure Cosmos DB", "Databases", "Autoscale", "100 RU/s", "100/Hour", 0.012),
    ("Azure Kubernetes Service", "Compute", "Standard", "Uptime SLA", "1 Hour", 0.10),
    ("Log Analytics", "Management and Governance", "Analytics Logs", "Data Ingestion", "1 GB", 2.30),
    ("Azure Monitor", "Management and Governance", "Metrics", "Metrics ingestion", "10M", 0.16),
    ("Virtual Network", "Networking", "Peering", "Intra-Region Ingress", "1 GB", 0.01),
    ("Load Balancer", "Networking", "Standard", "Data Processed", "1 GB", 0.005),
    ("Key Vault", "Security", "Standard", "Operations", "10K", 0.03),
    ("Event Hubs", "Internet of Things", "Standard", "Throughput Unit", "1 Hour", 0.03),
    ("Azure Functions", "Compute", "Premium", "vCPU Duration", "1 Hour", 0.173),
]
AZURE_LOCATIONS = ["EastUS", "eastus2", "WestEurope", "northeurope", "UKSouth", "westus2", "CentralUS", "southeastasia"]
AZURE_KINDS = {"Usage": 0.9935, "Purchase": 0.003, "Refund": 0.001, "Tax": 0.002, "RoundingAdjustment": 0.0005}
AZURE_RESOURCES = 33_000  # about 1M rows / 30 days: one row per resource and day, fixed at every size
EA_NAMES = {  # role -> EA column
    "billing_account": "BillingAccountId", "billing_account_name": "BillingAccountName",
    "bp_start": "BillingPeriodStartDate", "bp_end": "BillingPeriodEndDate", "profile": "BillingProfileId",
    "profile_name": "BillingProfileName", "owner": "AccountOwnerId", "account_name": "AccountName",
    "subscription": "SubscriptionId", "subscription_name": "SubscriptionName", "date": "Date", "product": "Product",
    "meter_id": "MeterId", "family": "ServiceFamily", "category": "MeterCategory", "sub_category": "MeterSubCategory",
    "meter_region": "MeterRegion", "meter_name": "MeterName", "quantity": "Quantity", "effective_price": "EffectivePrice",
    "cost": "Cost", "unit_price": "UnitPrice", "currency": "BillingCurrency", "location": "ResourceLocation",
    "consumed": "ConsumedService", "resource_id": "ResourceId", "resource_name": "ResourceName", "tags": "Tags",
    "cost_center": "CostCenter", "unit": "UnitOfMeasure", "resource_group": "ResourceGroup",
    "reservation_id": "ReservationId", "credit_eligible": "IsAzureCreditEligible", "charge_type": "ChargeType",
    "frequency": "Frequency", "publisher_type": "PublisherType", "payg_price": "PayGPrice", "pricing_model": "PricingModel",
}
MCA_NAMES = {
    "billing_account": "billingAccountId", "billing_account_name": "billingAccountName", "profile": "billingProfileId",
    "profile_name": "billingProfileName", "invoice_section": "invoiceSectionId", "invoice_section_name": "invoiceSectionName",
    "cost_center": "costCenter", "bp_end": "billingPeriodEndDate", "bp_start": "billingPeriodStartDate", "date": "date",
    "family": "serviceFamily", "consumed": "consumedService", "meter_id": "meterId", "meter_name": "meterName",
    "category": "meterCategory", "sub_category": "meterSubCategory", "meter_region": "meterRegion", "product": "ProductName",
    "subscription": "SubscriptionId", "subscription_name": "subscriptionName", "publisher_type": "publisherType",
    "resource_group": "resourceGroupName", "resource_id": "ResourceId", "location": "resourceLocation",
    "location_name": "location", "effective_price": "effectivePrice", "quantity": "quantity", "unit": "unitOfMeasure",
    "charge_type": "chargeType", "currency": "billingCurrency", "pricing_currency": "pricingCurrency",
    "cost": "costInBillingCurrency", "cost_pricing": "costInPricingCurrency", "cost_usd": "costInUsd",
    "payg_cost": "paygCostInBillingCurrency", "payg_cost_usd": "paygCostInUsd", "fx": "exchangeRatePricingToBilling",
    "fx_date": "exchangeRateDate", "credit_eligible": "isAzureCreditEligible", "tags": "tags", "payg_price": "PayGPrice",
    "frequency": "frequency", "reservation_id": "reservationId", "pricing_model": "pricingModel", "unit_price": "unitPrice",
    "provider": "provider",
}


def azure_setup(rng: np.random.Generator, mca: bool) -> dict:
    r = AZURE_RESOURCES
    subs = [f"{a:08x}-{b:04x}-4{c:03x}-8{d:03x}-{e:012x}" for a, b, c, d, e in zip(
        rng.integers(0, 1 << 32, 60), rng.integers(0, 1 << 16, 60), rng.integers(0, 1 << 12, 60),
        rng.integers(0, 1 << 12, 60), rng.integers(0, 1 << 48, 60))]
    res_sub = rng.integers(0, len(subs), size=r)
    res_meter = zipf_choice(rng, r, len(AZURE_METERS), 0.7)
    res_loc = zipf_choice(rng, r, len(AZURE_LOCATIONS), 0.8)
    res_rg = rng.integers(0, 12, size=r)
    rg_names = ["rg-web-prod", "rg-api-prod", "rg-data-prod", "rg-ml-dev", "rg-shared", "MC_aks_prod_eastus",
                "rg-monitoring", "rg-network", "rg-web-staging", "rg-batch", "rg-backup", "rg-identity"]
    providers = {"Virtual Machines": "Microsoft.Compute/virtualMachines", "Storage": "Microsoft.Storage/storageAccounts",
                 "SQL Database": "Microsoft.Sql/servers", "Azure App Service": "Microsoft.Web/sites"}
    hexes = hex_ids(rng, r, 8)
    res_ids = [f"/subscriptions/{subs[res_sub[i]]}/resourceGroups/{rg_names[res_rg[i]]}/providers/"
               f"{providers.get(AZURE_METERS[res_meter[i]][0], 'Microsoft.Resources/resources')}/"
               f"{AZURE_METERS[res_meter[i]][0].split()[0].lower()}-{hexes[i]}" for i in range(r)]
    res_project = np.where(rng.random(r) < 0.75, rng.integers(0, len(PROJECTS), size=r), -1)
    res_env = rng.integers(0, len(ENVS), size=r)
    if mca:
        tags = [json.dumps({"project": p, "env": e}) for p in PROJECTS for e in ENVS]
    else:  # EA writes the members of the object without its braces
        tags = [f'"project": "{p}","env": "{e}"' for p in PROJECTS for e in ENVS]
    return {
        "mca": mca,
        "subs": vocab(subs), "sub_names": vocab([f"sub-{i:02d}-{['prod', 'dev', 'shared'][i % 3]}" for i in range(60)]),
        "res_sub": res_sub, "res_meter": res_meter, "res_loc": res_loc, "res_rg": res_rg,
        "res_scale": rng.lognormal(0.0, 1.0, size=r),
        "res_tag": np.where(res_project >= 0, res_project * len(ENVS) + res_env, len(tags)),
        "res_cc": rng.integers(0, 20, size=r),
        "res_ids": vocab(res_ids), "res_names": vocab([rid.rsplit("/", 1)[1] for rid in res_ids]),
        "rgs": vocab(rg_names), "tags": vocab(tags + [""]),
        "ccs": vocab([f"CC{100 + 10 * i}" for i in range(20)]),
        "owners": vocab([f"owner{i}@contoso.com" for i in range(10)]),
        "accounts": vocab([f"Team {i}" for i in range(10)]),
        "locations": vocab(AZURE_LOCATIONS),
        "meter_ids": vocab([f"{h[:8]}-{h[8:12]}-4{h[12:15]}-8{h[15:18]}-{h[18:30]}" for h in hex_ids(rng, len(AZURE_METERS), 30)]),
        "categories": vocab([m[0] for m in AZURE_METERS]), "families": vocab([m[1] for m in AZURE_METERS]),
        "sub_categories": vocab([m[2] for m in AZURE_METERS]), "meter_names": vocab([m[3] for m in AZURE_METERS]),
        "units": vocab([m[4] for m in AZURE_METERS]),
        "products": vocab([f"{m[0]} {m[2]} - {m[3]}" for m in AZURE_METERS]),
        "prices": np.array([m[5] for m in AZURE_METERS]),
        "us_days": vocab(day_text("%m/%d/%Y")),
        "profiles": vocab(["AB12-CD34-EF5-GH6", "IJ78-KL9-PQR-STU", "VW12-XY34-ZA5-BC6"]),
        "currencies": vocab(["USD", "EUR", "GBP"]), "fx": np.array([1.0, 0.92, 0.79]),
    }


def azure_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    day = (pos * DAYS) // total
    res = rng.integers(0, AZURE_RESOURCES, size=n)
    meter = pool["res_meter"][res]
    kinds, k = choose(rng, n, AZURE_KINDS)
    usage = k == 0
    model_names, model = choose(rng, n, {"OnDemand": 0.85, "Reservation": 0.08, "SavingsPlan": 0.04, "Spot": 0.03})
    qty = rng.lognormal(2.0, 1.2, size=n)
    price = pool["prices"][meter] * pool["res_scale"][res]
    payg = qty * price
    # reservation-covered usage costs 0 in the actual export; its purchase is a Purchase row
    cost = np.select([usage & (model == 1), usage & (model == 2), usage & (model == 3), k == 1, k == 2, k == 3, k == 4],
                     [0.0, payg * 0.7, payg * 0.3, payg * 500, -payg * 5, payg * 0.2, 0.0001], payg)
    bad_amount, bad_date = bad_rows(rng, n)
    profile = pool["res_sub"][res] % 3 if pool["mca"] else np.zeros(n, dtype=np.int64)
    fx = pool["fx"][profile]
    sub = pool["res_sub"][res]
    f = {
        "billing_account": "8611537" if not pool["mca"] else "abcd1234-0000-0000-0000-000000000000:11112222-3333-4444-5555-666677778888_2019-05-31",
        "billing_account_name": "Contoso",
        "bp_start": "09/01/2024", "bp_end": "09/30/2024",
        "profile": pick(pool["profiles"], profile), "profile_name": "Contoso",
        "invoice_section": "IJ78-KL9-PQR-STU", "invoice_section_name": "Engineering",
        "owner": pick(pool["owners"], sub % 10), "account_name": pick(pool["accounts"], sub % 10),
        "subscription": pick(pool["subs"], sub), "subscription_name": pick(pool["sub_names"], sub),
        "date": where(bad_date, "2024-13-45", pick(pool["us_days"], day)),
        "product": pick(pool["products"], meter), "meter_id": pick(pool["meter_ids"], meter),
        "family": pick(pool["families"], meter), "category": pick(pool["categories"], meter),
        "sub_category": pick(pool["sub_categories"], meter), "meter_region": "US East",
        "meter_name": pick(pool["meter_names"], meter), "quantity": money(qty, 6), "effective_price": money(price * 0.9, 8),
        "cost": where(bad_amount, "abc", money(cost * fx, 8)), "unit_price": money(price, 8),
        "currency": pick(pool["currencies"], profile), "pricing_currency": "USD",
        "cost_pricing": money(cost, 8), "cost_usd": money(cost, 8),
        "payg_cost": money(payg * fx, 8), "payg_cost_usd": money(payg, 8), "fx": money(fx, 6), "fx_date": "09/01/2024",
        "location": pick(pool["locations"], pool["res_loc"][res]), "location_name": pick(pool["locations"], pool["res_loc"][res]),
        "consumed": "Microsoft.Compute", "resource_id": pick(pool["res_ids"], res),
        "resource_name": pick(pool["res_names"], res), "tags": pick(pool["tags"], pool["res_tag"][res]),
        "cost_center": pick(pool["ccs"], pool["res_cc"][res]), "unit": pick(pool["units"], meter),
        "resource_group": pick(pool["rgs"], pool["res_rg"][res]),
        "reservation_id": where(model == 1, "49ed0e4d-8e0c-4f1f-af2c-67c865056615"),
        "credit_eligible": "True", "charge_type": pick(vocab(kinds), k),
        "frequency": where(k == 1, "Recurring", "UsageBased"), "publisher_type": "Azure",
        "payg_price": money(price, 8), "pricing_model": pick(vocab(model_names), model), "provider": "Azure",
    }
    names = MCA_NAMES if pool["mca"] else EA_NAMES
    return Chunk({names[role]: value for role, value in f.items() if role in names}, 0, int(bad_amount.sum() + bad_date.sum()))


# --------------------------------------------------------------------------- GCP

GCP_SERVICES = [("6F81-5844-456A", "Compute Engine", ["N2 Instance Core", "N2 Instance Ram", "SSD backed PD Capacity"], 0.031),
                ("95FF-2EF5-5EA1", "Cloud Storage", ["Standard Storage US Multi-region", "Class A Operations"], 0.0026),
                ("24E6-581D-38E5", "BigQuery", ["Analysis", "Active Storage"], 0.25),
                ("9662-B51E-5089", "Cloud SQL", ["DB custom CORE", "DB custom RAM"], 0.0413),
                ("CCD8-9BF1-090E", "Kubernetes Engine", ["Autopilot Pod mCPU Requests", "Regional cluster management"], 0.1),
                ("152E-C115-5142", "Cloud Run", ["CPU Allocation Time", "Memory Allocation Time"], 0.000024),
                ("E505-1604-58F8", "Networking", ["Network Internet Egress", "Cloud NAT Gateway"], 0.12),
                ("29E7-DA93-CA13", "Cloud Functions", ["CPU Time", "Invocations"], 0.0000025),
                ("58CD-E7C3-72CA", "Cloud Monitoring", ["Metric Volume"], 0.258),
                ("5490-F7B7-8DF6", "Cloud Logging", ["Log Volume"], 0.5),
                ("A1E8-BE35-7EBC", "Cloud Pub/Sub", ["Message Delivery Basic"], 0.04),
                ("F17B-412E-CB64", "Vertex AI", ["Custom Training n1-standard-4"], 0.219)]
GCP_REGIONS = [("us-central1", "US"), ("us-east1", "US"), ("europe-west1", "BE"), ("europe-west4", "NL"),
               ("asia-east1", "TW"), ("us", "US"), ("global", "")]
GCP_RESOURCES = 1400


def gcp_setup(rng: np.random.Generator) -> dict:
    skus = [(si, d) for si, s in enumerate(GCP_SERVICES) for d in s[2]]
    r = GCP_RESOURCES
    res_sku = zipf_choice(rng, r, len(skus), 0.5)
    labels = [json.dumps([{"key": "project", "value": p}, {"key": "env", "value": e}], separators=(",", ":"))
              for p in PROJECTS for e in ENVS]
    projects = [f"{p}-{['prod', 'dev'][i % 2]}-{i:02d}" for i, p in enumerate(PROJECTS * 2)][:80]
    return {
        "skus": skus, "res_sku": res_sku, "res_service": np.array([s for s, _ in skus])[res_sku],
        "res_region": zipf_choice(rng, r, len(GCP_REGIONS), 0.9),
        "res_project": rng.integers(0, len(projects), size=r),
        "res_label": np.where(rng.random(r) < 0.7, rng.integers(0, len(labels), size=r), len(labels)),
        "res_scale": rng.lognormal(0.0, 1.0, size=r),
        "service_ids": vocab([s[0] for s in GCP_SERVICES]), "services": vocab([s[1] for s in GCP_SERVICES]),
        "sku_ids": vocab([f"{h[:4]}-{h[4:8]}-{h[8:12]}".upper() for h in hex_ids(rng, len(skus), 12)]),
        "sku_names": vocab([d for _, d in skus]), "prices": np.array([GCP_SERVICES[s][3] for s, _ in skus]),
        "projects": vocab(projects), "labels": vocab(labels + ["[]"]),
        "locations": vocab([g[0] for g in GCP_REGIONS]), "countries": vocab([g[1] for g in GCP_REGIONS]),
        "regions": vocab([g[0] if g[0] not in ("us", "global") else "" for g in GCP_REGIONS]),
        "zones": vocab([f"{g[0]}-b" if g[0] not in ("us", "global") else "" for g in GCP_REGIONS]),
        "hours": vocab(day_hour_text("%Y-%m-%d %H:00:00 UTC")),
    }


def gcp_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    pa, pc = _pa()
    hour = (pos * HOURS) // total
    res = rng.integers(0, GCP_RESOURCES, size=n)
    sku, reg = pool["res_sku"][res], pool["res_region"][res]
    kinds, k = choose(rng, n, {"regular": 0.996, "tax": 0.003, "adjustment": 0.0008, "rounding_error": 0.0002})
    usage = rng.lognormal(1.0, 1.3, size=n)
    cost = usage * pool["prices"][sku] * pool["res_scale"][res]
    cost = np.where(k == 1, cost * 20, cost)
    credit_names, credit_kind = choose(rng, n, {"none": 0.80, "SUSTAINED_USAGE_DISCOUNT": 0.12,
                                                "COMMITTED_USAGE_DISCOUNT": 0.06, "FREE_TIER": 0.02})
    share = np.array([0.0, 0.2, 0.37, 1.0])[credit_kind]
    names = ["", "Sustained usage discount", "Committed use discount: CPU", "Free tier"]
    ids = ["", "12345", "67890", "24680"]
    # '[{"name":"...","amount":-0.12,"full_name":null,"id":"...","type":"..."}]', quoted as a CSV field
    has_credit = credit_kind > 0
    raw_head = pa.array([""] + [f'[{{""name"":""{names[i]}"",""amount"":' for i in (1, 2, 3)])
    raw_tail = pa.array([""] + [f',""full_name"":null,""id"":""{ids[i]}"",""type"":""{credit_names[i]}""}}]' for i in (1, 2, 3)])
    amount = pc.utf8_rtrim(pc.utf8_rtrim(money(-cost * share, 6), characters="0"), characters=".")  # JSON numbers
    body = pc.binary_join_element_wise(pick(raw_head, credit_kind), where(has_credit, amount), pick(raw_tail, credit_kind), "")
    credits = where(has_credit, pc.binary_join_element_wise(pa.scalar('"'), body, pa.scalar('"'), ""), "[]")
    bad_amount, bad_credits = bad_rows(rng, n)
    credits = where(bad_credits, '"[{broken"', credits)
    f = {
        "billing_account_id": "01A2B3-C4D5E6-F7G8H9",
        "service.id": pick(pool["service_ids"], pool["res_service"][res]),
        "service.description": pick(pool["services"], pool["res_service"][res]),
        "sku.id": pick(pool["sku_ids"], sku), "sku.description": pick(pool["sku_names"], sku),
        "usage_start_time": pick(pool["hours"], hour), "usage_end_time": pick(pool["hours"], hour + 1),
        "project.id": pick(pool["projects"], pool["res_project"][res]),
        "project.name": pick(pool["projects"], pool["res_project"][res]),
        "labels": pick(pool["labels"], pool["res_label"][res]),
        "location.location": pick(pool["locations"], reg), "location.country": pick(pool["countries"], reg),
        "location.region": pick(pool["regions"], reg), "location.zone": pick(pool["zones"], reg),
        "cost": where(bad_amount, "abc", money(cost, 6)), "currency": "USD", "currency_conversion_rate": "1",
        "usage.amount": money(usage, 6), "usage.unit": "seconds", "credits": credits, "invoice.month": "202409",
        "cost_type": pick(vocab(kinds), k), "cost_at_list": money(cost * 1.1, 6),
    }
    return Chunk(f, 0, int(bad_amount.sum() + bad_credits.sum()))


# --------------------------------------------------------------------------- bank and card statements

BRANDS = ["AMAZON MKTPL*", "STARBUCKS STORE", "UBER *TRIP", "LYFT *RIDE", "WHOLEFDS", "TRADER JOE S", "SHELL OIL",
          "CHEVRON", "DELTA AIR", "UNITED AIRLINES", "MARRIOTT", "HILTON HOTELS", "DOORDASH*", "GRUBHUB*", "NETFLIX.COM",
          "SPOTIFY USA", "APPLE.COM/BILL", "GOOGLE *GSUITE", "MSFT *AZURE", "GITHUB", "SLACK", "ZOOM.US", "ADOBE *ACROPRO",
          "DROPBOX", "ATLASSIAN", "DATADOG", "AWS EMEA", "OFFICE DEPOT", "STAPLES", "HOME DEPOT", "LOWES", "COSTCO WHSE",
          "TARGET", "WALMART", "CVS/PHARMACY", "WALGREENS", "CHIPOTLE", "SWEETGREEN", "PANERA BREAD", "MCDONALD'S",
          "FEDEX", "UPS STORE", "USPS PO", "COMCAST", "VERIZON WRLS", "AT&T", "PG&E", "EXXONMOBIL", "BP", "AIRBNB",
          "EXPEDIA", "HERTZ", "AVIS", "SQ *COFFEE", "TST* RESTAURANT", "PAYPAL *", "LINKEDIN", "WEWORK", "ETSY", "BEST BUY"]
CITIES = ["SEATTLE WA", "SAN FRANCISCO CA", "NEW YORK NY", "AUSTIN TX", "CHICAGO IL", "BOSTON MA", "DENVER CO",
          "ATLANTA GA", "MIAMI FL", "PORTLAND OR"]
N_MERCHANTS = 2400


def merchants(rng: np.random.Generator) -> tuple[list[str], list[str], np.ndarray]:
    """Statement descriptors ("STARBUCKS STORE 1234 SEATTLE WA"), clean names ("Starbucks"), and
    each descriptor's brand index."""
    brand = rng.integers(0, len(BRANDS), size=N_MERCHANTS)
    store = rng.integers(100, 99999, size=N_MERCHANTS)
    city = rng.integers(0, len(CITIES), size=N_MERCHANTS)
    descriptors = [f"{BRANDS[b]} {s} {CITIES[c]}" for b, s, c in zip(brand, store, city)]
    clean = [BRANDS[b].rstrip("*# ").split(" *")[0].split("*")[0].title() for b in brand]
    return descriptors, clean, brand


def chase_card_setup(rng: np.random.Generator) -> dict:
    desc, _, brand = merchants(rng)
    cats = ["Shopping", "Food & Drink", "Travel", "Gas", "Groceries", "Entertainment", "Bills & Utilities",
            "Health & Wellness", "Personal", "Professional Services", "Home", "Automotive", "Education"]
    return {"desc": vocab(desc), "cat_of": rng.integers(0, len(cats), size=len(BRANDS))[brand], "cats": vocab(cats + [""]),
            "days": vocab(day_text("%m/%d/%Y", extra=3))}


def chase_card_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    day = (pos * DAYS) // total
    m = zipf_choice(rng, n, N_MERCHANTS)
    kinds, k = choose(rng, n, {"Sale": 0.938, "Return": 0.03, "Payment": 0.02, "Fee": 0.005, "Adjustment": 0.005,
                               "Cash Advance": 0.002})
    amount = rng.lognormal(3.0, 1.1, size=n)
    is_payment = k == 2
    sign = np.select([k == 0, k == 3, k == 5], [-1.0, -1.0, -1.0], 1.0)
    amount = np.where(is_payment, amount * 40, amount) * sign
    desc = pick(pool["desc"], m)
    desc = where(is_payment, "Payment Thank You-Mobile", where(k == 3, "LATE FEE", desc))
    bad_amount, bad_date = bad_rows(rng, n)
    f = {
        "Transaction Date": where(bad_date, "13/45/2024", pick(pool["days"], day)),
        "Post Date": pick(pool["days"], day + rng.integers(0, 3, size=n)),
        "Description": desc,
        "Category": where(is_payment | (k == 5), "", where(k == 3, "Fees & Adjustments", pick(pool["cats"], pool["cat_of"][m]))),
        "Type": pick(vocab(kinds), k),
        "Amount": where(bad_amount, "$5", money(amount, 2)),
        "Memo": "",
    }
    bad = bad_amount | bad_date
    return Chunk(f, int(((is_payment | (k == 5)) & ~bad).sum()), int(bad.sum()))


def chase_checking_setup(rng: np.random.Generator) -> dict:
    desc, _, _ = merchants(rng)
    payees = ["COMCAST", "ADP PAYROLL FEES", "GUSTO", "STATE FARM", "IRS USATAXPYMT", "WASTE MANAGEMENT", "PG&E",
              "VERIZON", "CITY OF SEATTLE", "INTUIT", "ANTHEM BLUE", "STRIPE"]
    ach = [f"ORIG CO NAME:{p:<22} ORIG ID:{rng.integers(10**9, 10**10)} DESC DATE:2409{d:02d} CO ENTRY DESCR:"
           f"PAYMENT   SEC:PPD TRACE#:0210000212{rng.integers(10**6, 10**7)} EED:2409{d:02d}   IND ID:8772 "
           f"IND NAME:ACME LLC TRN: 00{rng.integers(10**8, 10**9)}TC" for p in payees for d in (3, 12, 24)]
    return {"desc": vocab([f"{d}      09/{(i % 28) + 1:02d}" for i, d in enumerate(desc)]), "ach": vocab(ach),
            "days": vocab(day_text("%m/%d/%Y"))}


def chase_checking_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    day = (pos * DAYS) // total
    kinds, k = choose(rng, n, {
        "DEBIT_CARD": 0.70, "ACH_DEBIT": 0.10, "QUICKPAY_DEBIT": 0.03, "BILLPAY": 0.02, "CHECK_PAID": 0.02,
        "ATM": 0.01, "FEE_TRANSACTION": 0.005, "MISC_DEBIT": 0.005, "LOAN_PMT": 0.015, "ACCT_XFER": 0.02,
        "ACH_CREDIT": 0.04, "DEPOSIT": 0.02, "QUICKPAY_CREDIT": 0.01, "REFUND_TRANSACTION": 0.005,
    })
    kind = np.array(kinds)[k]
    money_in = np.isin(kind, ["ACH_CREDIT", "DEPOSIT", "QUICKPAY_CREDIT", "REFUND_TRANSACTION"])
    transfer = kind == "ACCT_XFER"
    transfer_in = transfer & (rng.random(n) < 0.5)
    autopay = (kind == "ACH_DEBIT") & (rng.random(n) < 0.1)  # paying the Chase card from checking
    amount = rng.lognormal(3.5, 1.4, size=n) * np.where(money_in | transfer_in, 1.0, -1.0)
    amount = np.where(money_in & ~(kind == "REFUND_TRANSACTION"), amount * 20, amount)
    desc = pick(pool["desc"], zipf_choice(rng, n, N_MERCHANTS))
    desc = where(kind == "ACH_DEBIT", pick(pool["ach"], rng.integers(0, len(pool["ach"]), size=n)), desc)
    desc = where(autopay, "CHASE CREDIT CRD AUTOPAY                    PPD ID: 4760039224", desc)
    desc = where(kind == "LOAN_PMT", "Payment to Chase card ending in 1234 09/13", desc)
    desc = where(transfer, "Online Transfer to SAV ...9876 transaction#: 21346123411", desc)
    desc = where(kind == "DEPOSIT", "DEPOSIT  ID NUMBER 123456", desc)
    desc = where(kind == "CHECK_PAID", "CHECK 1042", desc)
    balance = 250_000 + np.cumsum(amount)  # running, within the chunk
    bad_amount, bad_date = bad_rows(rng, n)
    bad = bad_amount | bad_date
    details = np.where(kind == "CHECK_PAID", 2, np.where(money_in | transfer_in, 1, 0))
    f = {
        "Details": pick(vocab(["DEBIT", "CREDIT", "CHECK"]), details),
        "Posting Date": where(bad_date, "13/45/2024", pick(pool["days"], day)),
        "Description": desc, "Amount": where(bad_amount, "N/A", money(amount, 2)), "Type": pick(vocab(kinds), k),
        "Balance": money(balance, 2), "Check or Slip #": where(kind == "CHECK_PAID", numbered("", pos % 9000 + 1000)),
    }
    out = (amount < 0)
    excluded = transfer | (out & ((kind == "LOAN_PMT") | autopay)) | (money_in & (kind != "REFUND_TRANSACTION"))
    return Chunk(f, int((excluded & ~bad).sum()), int(bad.sum()))


def discover_setup(rng: np.random.Generator) -> dict:
    desc, _, brand = merchants(rng)
    cats = ["Supermarkets", "Restaurants", "Merchandise", "Gasoline", "Services", "Travel/ Entertainment",
            "Department Stores", "Home Improvement", "Education", "Government Services", "Medical Services", "Automotive"]
    return {"desc": vocab(desc), "cat_of": rng.integers(0, len(cats), size=len(BRANDS))[brand],
            "cats": vocab(cats), "days": vocab(day_text("%m/%d/%Y", extra=3))}


def discover_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    day = (pos * DAYS) // total
    m = zipf_choice(rng, n, N_MERCHANTS)
    kinds, k = choose(rng, n, {"purchase": 0.955, "payment": 0.02, "refund": 0.01, "award": 0.005, "fee": 0.005,
                               "balance_transfer": 0.002, "cash_advance": 0.003})
    amount = rng.lognormal(3.0, 1.1, size=n)
    amount = np.where(k == 1, -amount * 40, np.where((k == 2) | (k == 3), -amount, amount))
    desc = pick(pool["desc"], m)
    desc = where(k == 1, "INTERNET PAYMENT - THANK YOU", desc)
    desc = where(k == 3, "CASHBACK BONUS REDEMPTION PYMT/STMT CRDT", desc)
    desc = where(k == 4, "LATE FEE", desc)
    desc = where(k == 5, "BALANCE TRANSFER", desc)
    desc = where(k == 6, "CASH ADVANCE ATM", desc)
    cat = pick(pool["cats"], pool["cat_of"][m])
    cat = where((k == 1) | (k == 2), "Payments and Credits", cat)
    cat = where(k == 3, "Awards and Rebate Credits", where(k == 4, "Fees", cat))
    cat = where(k == 5, "Balance Transfers", where(k == 6, "Cash Advances", cat))
    bad_amount, bad_date = bad_rows(rng, n)
    bad = bad_amount | bad_date
    f = {
        "Trans. Date": where(bad_date, "", pick(pool["days"], day)),
        "Post Date": pick(pool["days"], day + rng.integers(0, 3, size=n)),
        "Description": desc, "Amount": where(bad_amount, '"1,234.50"', money(amount, 2)), "Category": cat,
    }
    excluded = (k == 1) | (k == 5) | (k == 6)
    return Chunk(f, int((excluded & ~bad).sum()), int(bad.sum()))


def capital_one_setup(rng: np.random.Generator) -> dict:
    desc, _, brand = merchants(rng)
    cats = ["Dining", "Merchandise", "Gas/Automotive", "Entertainment", "Grocery", "Airfare", "Lodging",
            "Health Care", "Other Services", "Phone/Cable", "Insurance", "Other Travel"]
    return {"desc": vocab(desc), "cat_of": rng.integers(0, len(cats), size=len(BRANDS))[brand], "cats": vocab(cats),
            "days": vocab(day_text("%Y-%m-%d", extra=3)), "cards": vocab(["7776", "1234", "9981"])}


def capital_one_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    day = (pos * DAYS) // total
    m = zipf_choice(rng, n, N_MERCHANTS)
    kinds, k = choose(rng, n, {"purchase": 0.95, "refund": 0.02, "payment": 0.02, "fee": 0.01})
    amount = money(rng.lognormal(3.0, 1.1, size=n) * np.where(k == 2, 40, 1), 2)
    credit = (k == 1) | (k == 2)
    desc = pick(pool["desc"], m)
    desc = where(k == 2, pick(vocab(["CAPITAL ONE AUTOPAY PYMT", "CAPITAL ONE MOBILE PYMT"]), rng.integers(0, 2, n)), desc)
    desc = where(k == 3, "INTEREST CHARGE:PURCHASES", desc)
    cat = pick(pool["cats"], pool["cat_of"][m])
    cat = where(k == 2, "Payment/Credit", where(k == 3, "Fee/Interest Charge", cat))
    both, bad_date = bad_rows(rng, n)
    bad = both | bad_date
    f = {
        "Transaction Date": where(bad_date, "2024-09-31", pick(pool["days"], day)),
        "Posted Date": pick(pool["days"], day + rng.integers(0, 3, size=n)),
        "Card No.": pick(pool["cards"], rng.integers(0, 3, size=n)), "Description": desc, "Category": cat,
        "Debit": where(~credit | both, amount), "Credit": where(credit | both, amount),
    }
    return Chunk(f, int(((k == 2) & ~bad).sum()), int(bad.sum()))


PLAID_PFC = {  # primary -> (share, detailed, excluded?)
    "FOOD_AND_DRINK": (0.25, "FOOD_AND_DRINK_COFFEE", False), "GENERAL_MERCHANDISE": (0.22, "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", False),
    "TRANSPORTATION": (0.12, "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", False), "TRAVEL": (0.06, "TRAVEL_FLIGHTS", False),
    "ENTERTAINMENT": (0.06, "ENTERTAINMENT_TV_AND_MOVIES", False), "GENERAL_SERVICES": (0.08, "GENERAL_SERVICES_OTHER_GENERAL_SERVICES", False),
    "RENT_AND_UTILITIES": (0.05, "RENT_AND_UTILITIES_INTERNET_AND_CABLE", False), "MEDICAL": (0.03, "MEDICAL_PHARMACIES_AND_SUPPLEMENTS", False),
    "PERSONAL_CARE": (0.02, "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", False), "HOME_IMPROVEMENT": (0.02, "HOME_IMPROVEMENT_HARDWARE", False),
    "BANK_FEES": (0.01, "BANK_FEES_OVERDRAFT_FEES", False), "TRANSFER_OUT": (0.015, "TRANSFER_OUT_ACCOUNT_TRANSFER", True),
    "TRANSFER_IN": (0.01, "TRANSFER_IN_ACCOUNT_TRANSFER", True), "LOAN_PAYMENTS": (0.015, "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT", True),
    "INCOME": (0.01, "INCOME_WAGES", True), "OTHER": (0.02, "OTHER_OTHER", False),
}


def plaid_setup(rng: np.random.Generator) -> dict:
    desc, clean, _ = merchants(rng)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
    accounts = ["".join(alphabet[rng.integers(0, len(alphabet), 37)]) for _ in range(6)]
    return {"names": desc, "merchants": clean, "accounts": accounts, "days": day_text("%Y-%m-%d", extra=1),
            "pfc": list(PLAID_PFC)}


def _plaid_rows(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> dict:
    day = (pos * DAYS) // total
    pfcs = pool["pfc"]
    p = np.array([PLAID_PFC[c][0] for c in pfcs])
    c = rng.choice(len(pfcs), size=n, p=p / p.sum())
    pfc = np.array(pfcs)[c]
    money_in = np.isin(pfc, ["TRANSFER_IN", "INCOME"])
    refund = ~money_in & (rng.random(n) < 0.01)
    amount = rng.lognormal(3.0, 1.2, size=n) * np.where(money_in | refund, -1.0, 1.0)
    amount = np.where(np.isin(pfc, ["INCOME", "LOAN_PAYMENTS", "TRANSFER_IN", "TRANSFER_OUT"]), amount * 30, amount)
    pending = rng.random(n) < 0.03
    bad_amount, bad_date = bad_rows(rng, n)
    bad = bad_amount | bad_date
    excluded = (pending | np.array([PLAID_PFC[x][2] for x in pfcs])[c]) & ~bad
    return {"day": day, "m": zipf_choice(rng, n, N_MERCHANTS), "has_merchant": rng.random(n) < 0.85,
            "c": c, "amount": amount, "pending": pending, "bad_amount": bad_amount, "bad_date": bad_date,
            "account": rng.integers(0, len(pool["accounts"]), size=n), "conf": rng.integers(0, 4, size=n),
            "channel": rng.integers(0, 3, size=n), "excluded": int(excluded.sum()), "bad": int(bad.sum())}


CONFIDENCE = ["VERY_HIGH", "HIGH", "MEDIUM", "LOW"]
CHANNELS = ["in store", "online", "other"]


def plaid_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    r = _plaid_rows(pool, n, pos, total, rng)
    days = vocab(pool["days"])
    pfcs = pool["pfc"]
    date = pick(days, r["day"])
    f = {
        "account_id": pick(vocab(pool["accounts"]), r["account"]), "transaction_id": numbered("tx", pos, 35),
        "date": where(r["bad_date"], "2024-09-31", date), "authorized_date": date,
        "name": pick(vocab(pool["names"]), r["m"]),
        "merchant_name": where(r["has_merchant"], pick(vocab(pool["merchants"]), r["m"])),
        "amount": where(r["bad_amount"], "x", money(r["amount"], 2)), "iso_currency_code": "USD",
        "unofficial_currency_code": "", "pending": where(r["pending"], "true", "false"),
        "personal_finance_category_primary": pick(vocab(pfcs), r["c"]),
        "personal_finance_category_detailed": pick(vocab([PLAID_PFC[x][1] for x in pfcs]), r["c"]),
        "personal_finance_category_confidence_level": pick(vocab(CONFIDENCE), r["conf"]),
        "payment_channel": pick(vocab(CHANNELS), r["channel"]),
    }
    return Chunk(f, r["excluded"], r["bad"])


def plaid_json_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    """Transactions of a /transactions/get response, one JSON object per row (the ``fields``
    hold the object texts under the key "")."""
    pa, pc = _pa()
    r = _plaid_rows(pool, n, pos, total, rng)
    js = lambda values: pa.array([json.dumps(v) for v in values])  # noqa: E731
    pfcs = pool["pfc"]
    date = pick(js(pool["days"]), r["day"])
    amount_text = pc.utf8_rtrim(pc.utf8_rtrim(money(r["amount"], 2), characters="0"), characters=".")
    parts = [
        '{"account_id": ', pick(js(pool["accounts"]), r["account"]),
        ', "amount": ', where(r["bad_amount"], '"x"', amount_text),
        ', "authorized_date": ', date,
        ', "date": ', where(r["bad_date"], '"not-a-date"', date),
        ', "iso_currency_code": "USD", "merchant_name": ',
        where(r["has_merchant"], pick(js(pool["merchants"]), r["m"]), "null"),
        ', "name": ', pick(js(pool["names"]), r["m"]),
        ', "payment_channel": ', pick(js(CHANNELS), r["channel"]),
        ', "pending": ', where(r["pending"], "true", "false"),
        ', "personal_finance_category": {"primary": ', pick(js(pfcs), r["c"]),
        ', "detailed": ', pick(js([PLAID_PFC[x][1] for x in pfcs]), r["c"]),
        ', "confidence_level": ', pick(js(CONFIDENCE), r["conf"]),
        '}, "transaction_id": "', numbered("tx", pos, 35), '", "unofficial_currency_code": null}',
    ]
    objects = pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p for p in parts], pa.scalar(""))
    return Chunk({"": objects}, r["excluded"], r["bad"])


GENERIC_SERVICES = ["Datadog", "Snowflake", "GitHub", "Atlassian", "Slack", "Zoom", "Okta", "PagerDuty", "Sentry",
                    "Figma", "Notion", "Salesforce", "HubSpot", "Twilio", "SendGrid", "Cloudflare", "Fastly", "Vercel",
                    "Heroku", "MongoDB Atlas", "Confluent", "Elastic Cloud", "New Relic", "Segment", "Mixpanel",
                    "Auth0", "DocuSign", "Dropbox", "Box", "Miro", "Linear", "CircleCI", "JetBrains", "1Password",
                    "Loom", "Intercom", "Zendesk", "Stripe", "OpenAI", "Anthropic"]


def generic_chunk(pool: dict, n: int, pos: np.ndarray, total: int, rng: np.random.Generator) -> Chunk:
    day = (pos * DAYS) // total
    project = np.where(rng.random(n) < 0.95, rng.integers(0, len(PROJECTS), size=n), len(PROJECTS))
    service = zipf_choice(rng, n, len(GENERIC_SERVICES), 0.8)
    cost = rng.lognormal(2.0, 1.5, size=n) * np.where(rng.random(n) < 0.01, -1.0, 1.0)  # a few credits
    bad_amount, bad_date = bad_rows(rng, n)
    f = {
        "date": where(bad_date, "2024-09-31", pick(vocab(day_text("%Y-%m-%d")), day)),
        "project": pick(vocab(list(PROJECTS) + [""]), project),
        "service": pick(vocab(GENERIC_SERVICES), service),
        "cost": where(bad_amount, "thirty", money(cost, 2)),
    }
    return Chunk(f, 0, int(bad_amount.sum() + bad_date.sum()))


# --------------------------------------------------------------------------- the formats


@dataclass(frozen=True)
class Spec:
    label: str  # row of the table
    format: str  # name the header must be detected as
    filename: str  # under the file's landing folder
    header_of: str | None  # fixture whose header line is used
    setup: Callable | None = None
    chunk: Callable | None = None
    header: tuple[str, ...] = ()  # when there is no fixture
    trailing_comma: bool = False
    note: str = ""


SPECS = [
    Spec("focus", "focus", "focus.csv", None, note="generate_focus.py (44 columns) + 0.1% bad amounts/dates"),
    Spec("focus_clean", "focus", "focus.csv", None, note="generate_focus.py as generated (no bad rows)"),
    Spec("aws_cur", "aws_cur", "cur-00001.csv", "aws_cur_legacy.csv", lambda rng: cur_setup(rng, 1), cur_chunk),
    Spec("aws_cur2", "aws_cur2", "part-00000.csv", "aws_cur2.csv", lambda rng: cur_setup(rng, 2), cur_chunk),
    Spec("general_ledger", "general_ledger", "gl_2024.csv", "general_ledger.csv", gl_setup, gl_chunk),
    Spec("azure_ea", "azure_ea", "actual.csv", "azure_ea_actual.csv", lambda rng: azure_setup(rng, False), azure_chunk),
    Spec("azure_mca", "azure_mca", "costs.csv", "azure_mca_actual.csv", lambda rng: azure_setup(rng, True), azure_chunk),
    Spec("gcp", "gcp", "export.csv", "gcp_billing_export.csv", gcp_setup, gcp_chunk),
    Spec("chase_card", "chase_card", "Chase1234_Activity20240901_20240930_20241001.CSV", "chase_card.csv",
         chase_card_setup, chase_card_chunk),
    Spec("chase_checking", "chase_checking", "Chase5678_Activity_20241001.CSV", "chase_checking.csv",
         chase_checking_setup, chase_checking_chunk, trailing_comma=True),
    Spec("discover", "discover", "discover.csv", "discover.csv", discover_setup, discover_chunk),
    Spec("capital_one", "capital_one", "capital_one.csv", "capital_one.csv", capital_one_setup, capital_one_chunk),
    Spec("plaid", "plaid", "transactions.csv", "plaid.csv", plaid_setup, plaid_chunk),
    Spec("generic", "generic", "saas.csv", None, lambda rng: {}, generic_chunk, header=("date", "project", "service", "cost")),
    Spec("plaid_json", "plaid", "transactions_get.json", None, plaid_setup, plaid_json_chunk),
]
SPECS_BY_LABEL = {s.label: s for s in SPECS}


def _header_line(spec: Spec) -> tuple[bytes, list[str]]:
    """The fixture's header line as written (a BOM included) and its column names."""
    if spec.header_of is None:
        return (",".join(spec.header) + "\n").encode(), list(spec.header)
    raw = (FIXTURES / spec.header_of).read_bytes().split(b"\n", 1)[0].rstrip(b"\r") + b"\n"
    return raw, next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def _line_bytes(lines):
    from benchmarks.generate_focus import _line_bytes as focus_line_bytes

    return focus_line_bytes(lines)


def generate(spec: Spec, rows: int, out: Path, seed: int) -> dict:
    """Write ``rows`` rows of ``spec``'s format to ``out``; returns what the scan must find."""
    if spec.label.startswith("focus"):
        return _generate_focus(spec, rows, out, seed)
    pa, pc = _pa()
    rng = np.random.default_rng([seed, SPECS.index(spec)])
    pool = spec.setup(rng)
    header_bytes, header = _header_line(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    excluded = bad = 0
    started = time.perf_counter()
    json_doc = spec.label == "plaid_json"
    with open(tmp, "wb") as sink:
        sink.write(b'{"accounts": [], "total_transactions": %d, "transactions": [\n' % rows if json_doc else header_bytes)
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            pos = np.arange(start, start + n, dtype=np.int64)
            chunk = spec.chunk(pool, n, pos, rows, rng)
            excluded += chunk.excluded
            bad += chunk.bad
            if json_doc:
                lines = pc.binary_join_element_wise(chunk.fields[""], pa.scalar(""), ",\n")
                data = _line_bytes(lines).to_pybytes()
                sink.write(data if start + n < rows else data[:-2] + b"\n")  # no comma after the last
                continue
            unknown = set(chunk.fields) - set(header)
            assert not unknown, f"{spec.label}: columns not in the header: {unknown}"
            fields = [chunk.fields.get(c, "") for c in header] + ([""] if spec.trailing_comma else [])
            fields = [pa.scalar(v) if isinstance(v, str) else v for v in fields]
            lines = pc.binary_join_element_wise(*fields, ",")
            lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
            sink.write(_line_bytes(lines))
        if json_doc:
            sink.write(b"]}\n")
    os.replace(tmp, out)
    return {"label": spec.label, "format": spec.format, "rows": rows, "seed": seed, "bytes": out.stat().st_size,
            "expected_excluded": excluded, "expected_quarantined": bad, "seconds": round(time.perf_counter() - started, 2),
            "generator_version": GENERATOR_VERSION}


def _generate_focus(spec: Spec, rows: int, out: Path, seed: int) -> dict:
    """generate_focus.py's file, with a fixed resource pool (the same distinct keys at every
    size); for ``focus``, 0.1% of its rows then get a bad BilledCost or ChargePeriodStart."""
    from benchmarks.generate_focus import generate as generate_focus

    started = time.perf_counter()
    resources = 1_000_000 // HOURS  # as generate_focus picks for 1M rows over one month
    if spec.label == "focus_clean":
        meta = generate_focus(rows, out, seed=seed, resources=resources)
        return {"label": spec.label, "format": "focus", "rows": rows, "seed": seed, "bytes": out.stat().st_size,
                "expected_excluded": 0, "expected_quarantined": 0, "seconds": round(time.perf_counter() - started, 2),
                "generator_version": GENERATOR_VERSION, "focus": meta["generator_version"]}
    clean = out.with_name(f".{out.name}.clean")
    meta = generate_focus(rows, clean, seed=seed, resources=resources)
    rng = np.random.default_rng([seed, 0])
    bad_amount, bad_date = bad_rows(rng, rows)
    kind = np.zeros(rows, dtype=np.int8)
    kind[bad_amount], kind[bad_date] = 1, 2
    bad = 0
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(clean, "rb") as src, open(tmp, "wb", buffering=8 << 20) as dst:
        dst.write(src.readline())
        for i, line in enumerate(src):
            if kind[i]:
                # BilledCost is field 1 and ChargePeriodStart field 12 (no comma in the fields before)
                parts = line.split(b",", 13)
                if kind[i] == 1:
                    parts[1] = b'"12,5"'
                elif parts[12].startswith(b'"2024-09-'):
                    parts[12] = b'"2024-09-31' + parts[12][len(b'"2024-09-31'):]
                else:
                    dst.write(line)
                    continue
                line = b",".join(parts)
                bad += 1
            dst.write(line)
    clean.unlink()
    os.replace(tmp, out)
    return {"label": spec.label, "format": "focus", "rows": rows, "seed": seed, "bytes": out.stat().st_size,
            "expected_excluded": 0, "expected_quarantined": bad, "seconds": round(time.perf_counter() - started, 2),
            "generator_version": GENERATOR_VERSION, "focus": meta["generator_version"]}


# --------------------------------------------------------------------------- datasets (parent side)


def dataset_path(workdir: Path, spec: Spec, rows: int, seed: int) -> Path:
    return workdir / f"{spec.label}-{rows}r-s{seed}-v{GENERATOR_VERSION}" / spec.filename


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}


def ensure_dataset(workdir: Path, spec: Spec, rows: int, seed: int) -> tuple[Path, dict]:
    path = dataset_path(workdir, spec, rows, seed)
    meta_path = path.parent.parent / f"{path.parent.name}.json"  # outside the landing folder
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size:
            return path, meta
    log(f"generating {spec.label} ({rows:,} rows) -> {path}")
    cmd = [sys.executable, "-m", "benchmarks.formats_benchmark", "--generate", spec.label, "--rows", str(rows),
           "--seed", str(seed), "--file", str(path), "--meta", str(meta_path)]
    subprocess.run(cmd, check=True, env=_child_env(), cwd=str(REPO), stdout=sys.stderr)
    meta = json.loads(meta_path.read_text())
    log(f"  {meta['bytes'] / 2**20:,.0f} MiB in {meta['seconds']}s")
    return path, meta


def warm_page_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the measured child


def _landing_and_context(path: Path):
    """The generated file as a landing file, and a staging context without project mappings."""
    from finops_pipeline.ingest.billing import staging_context
    from finops_pipeline.ingest.landing import discover_landing_files
    from finops_pipeline.settings import load_settings

    (landing,) = discover_landing_files(path.parent)
    return landing, staging_context(load_settings(data_dir=path.parent.parent / "settings-unused"), account_projects={})


def child_scan(path: Path) -> dict:
    from benchmarks.run_ingest_benchmark import RssSampler, _status_kib
    from finops_pipeline.ingest.scan import scan_file

    landing, ctx = _landing_and_context(path)
    rss_ready = _status_kib("VmRSS")
    with RssSampler() as sampler:
        t0 = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        scan = scan_file(landing, ctx, cache_dir=None)
        seconds = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu_seconds": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
        "format": scan.format,
        "rows_read": scan.rows_read,
        "rows_accounted": scan.rows_accounted,
        "staged_rows": int(scan.daily["source_rows"].sum()),
        "quarantined": len(scan.quarantine),
        "quarantine_reasons": scan.quarantine["reason"].value_counts().to_dict(),
        "excluded": len(scan.excluded),
        "groups": len(scan.daily),
        "rss_ready_kib": rss_ready,
        "sampled_peak_kib": sampler.peak_kib,
        "hwm_kib": _status_kib("VmHWM"),
        "ru_maxrss_kib": ru1.ru_maxrss,
    }


def spawn(path: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.formats_benchmark", "--child", "--file", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), cwd=str(REPO))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"scan of {path} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["peak_rss_mib"] = max(result["hwm_kib"], result["sampled_peak_kib"]) / 1024
    return result


def measure(spec: Spec, path: Path, meta: dict, repeat: int) -> dict:
    warm_page_cache(path)
    runs = [spawn(path) for _ in range(repeat)]
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    best["all_seconds"] = [round(r["seconds"], 3) for r in runs]
    best["rows"] = meta["rows"]
    best["bytes"] = meta["bytes"]
    best["rows_per_s"] = best["rows_read"] / best["seconds"]
    problems = []
    if best["format"] != spec.format:
        problems.append(f"detected as {best['format']}, not {spec.format}")
    if best["rows_read"] != best["rows_accounted"]:
        problems.append(f"rows_read {best['rows_read']:,} != rows_accounted {best['rows_accounted']:,}")
    if best["rows_read"] != meta["rows"]:
        problems.append(f"rows_read {best['rows_read']:,} != generated {meta['rows']:,}")
    notes = []
    if best["quarantined"] != meta["expected_quarantined"]:
        notes.append(f"quarantined {best['quarantined']:,}, generated {meta['expected_quarantined']:,} bad rows "
                     f"({best['quarantine_reasons']})")
    if best["excluded"] != meta["expected_excluded"]:
        notes.append(f"excluded {best['excluded']:,}, generated {meta['expected_excluded']:,} non-cost rows")
    best["problems"], best["notes"] = problems, notes
    return best


# --------------------------------------------------------------------------- profiling


def profile(spec: Spec, path: Path, top: int = 20) -> str:
    """cProfile of one scan in this process (main thread only) plus phase timers; markdown."""
    import cProfile
    import pstats

    from benchmarks.profile_scan import run_phases, table
    from finops_pipeline.ingest import scan as scan_module

    landing, ctx = _landing_and_context(path)
    wall, ledger, _ = run_phases(scan_module, landing, ctx)
    out = [f"### {spec.label}: phases ({wall:.2f} s wall)", "", "| phase | calls | seconds | share |", "|---|---:|---:|---:|"]
    for name, (calls, secs) in sorted(ledger.items(), key=lambda kv: -kv[1][1]):
        out.append(f"| {name} | {calls:,} | {secs:.2f} | {100 * secs / wall:.1f}% |")
    prof = cProfile.Profile()
    prof.enable()
    scan_module.scan_file(landing, ctx, cache_dir=None)
    prof.disable()
    stats = pstats.Stats(prof)
    out += ["", f"### {spec.label}: cProfile, by own time (total {stats.total_tt:.2f} s)", "", table(stats, "tottime", top),
            "", f"### {spec.label}: cProfile, by inclusive time", "", table(stats, "cumtime", top)]
    return "\n".join(out) + "\n"


def spawn_profile(label: str, path: Path) -> str:
    cmd = [sys.executable, "-m", "benchmarks.formats_benchmark", "--profile-child", label, "--file", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), cwd=str(REPO))
    if proc.returncode != 0:
        return f"profile of {label} failed:\n{proc.stderr[-2000:]}"
    return proc.stdout


# --------------------------------------------------------------------------- report


def machine_info() -> dict:
    versions = subprocess.run([sys.executable, "-c", "import pandas, pyarrow, numpy; "
                               "print(pandas.__version__, pyarrow.__version__, numpy.__version__)"],
                              capture_output=True, text=True, check=False).stdout.split()
    return {**host_facts(REPO), "versions": versions}


def _ratio(r: dict, ref: dict | None) -> float:
    if not ref:
        return float("nan")
    return (r["seconds"] / r["rows_read"]) / (ref["seconds"] / ref["rows_read"])


def render(info: dict, sizes: list[int], results: dict[str, dict[int, dict]], seed: int) -> str:
    small, large = sizes[0], sizes[-1]
    ref = results.get(REFERENCE, {}).get(small)
    pandas_v, pyarrow_v, numpy_v = (info["versions"] + ["?"] * 3)[:3]
    lines = [
        f"_Generated by `python -m benchmarks.formats_benchmark` on {info['date']} (commit {info['commit']})._",
        "",
        (f"Machine: {info['nproc']} cores, {info['cpu']}, {info['mem_gib']:.1f} GiB RAM, {info['os']}; "
         f"Python {info['python']}, pandas {pandas_v}, pyarrow {pyarrow_v}, numpy {numpy_v}."),
        "",
        ("Input: one synthetic export per format from `benchmarks/formats_benchmark.py`, with the real header of "
         "its fixture in `tests/fixtures/formats/` (FOCUS: `benchmarks/generate_focus.py`'s 44 columns), one "
         "billing month (hourly for AWS, GCP and FOCUS; daily for Azure and statements; one posting period for the "
         "general ledger), fixed pools of accounts, services, regions, projects and merchants (the same at both "
         "sizes, so the larger file has the same distinct daily keys and twice the rows), each format's row kinds "
         "in realistic shares (AWS: 88.5% Usage, 5% SavingsPlanCoveredUsage + 5% SavingsPlanNegation, Tax, Credit, "
         "RI and Savings Plan fees; statements: purchases with 2-7% payments, transfers, deposits, refunds, "
         "pending lines), and 0.1% rows with a bad value (unparseable amount or date, broken GCP credits, "
         "invalid GL period, Capital One lines with both Debit and Credit) that must be quarantined. `focus` is "
         "the reference: the FOCUS generator's file with the same 0.1% of bad amounts/dates; `focus_clean` is "
         "the file as generated (no bad rows, as in the section above). Plain CSV (Plaid JSON: one "
         "/transactions/get document), read from a warm page cache."),
        "",
        ("Each scan is `scan_file(file, ctx, cache_dir=None)` in a fresh process. *rows/s* is rows read / "
         "seconds of the scan (imports excluded), best of the runs; *time per row vs FOCUS* is seconds per row "
         f"divided by `focus`'s at {small:,} rows (bytes per row differ widely: a statement line is ~80 bytes, a "
         "FOCUS row ~750); *peak RSS* is the process high-water mark (VmHWM and RSS sampled every 10 ms, "
         "interpreter and imports included, ~145 MiB); *excluded* are readable rows that are no cost (card "
         "payments, transfers, deposits, pending), *quarantined* rows with a bad value. Every run checked "
         "rows read = loaded + excluded + quarantined = rows generated, and that the header was detected as the "
         "intended format."),
        "",
        (f"| format | rows/s ({small // 1_000_000 if small % 1_000_000 == 0 else small / 1e6:g}M) | time per row vs FOCUS "
         f"| peak RSS {small / 1e6:g}M | peak RSS {large / 1e6:g}M | excluded % | quarantined % | MiB per {small / 1e6:g}M rows |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for spec in SPECS:
        by_size = results.get(spec.label)
        if not by_size or small not in by_size:
            continue
        r = by_size[small]
        r2 = by_size.get(large)
        ratio = _ratio(r, ref)
        flag = " **(> 2x)**" if ratio > GOAL_RATIO else ""
        big = f"{r2['peak_rss_mib']:,.0f} MiB" if r2 and large != small else "n/a"
        if r2 and large != small and r2["peak_rss_mib"] > FLAT_LIMIT * r["peak_rss_mib"]:
            big += " **(grows)**"
        lines.append(
            f"| {spec.label} | {r['rows_per_s']:,.0f} | {ratio:.2f}x{flag} | {r['peak_rss_mib']:,.0f} MiB | {big} | "
            f"{100 * r['excluded'] / r['rows_read']:.2f}% | {100 * r['quarantined'] / r['rows_read']:.2f}% | "
            f"{r['bytes'] / 2**20:,.0f} |"
        )
    lines += ["", "Goals (issue):", ""]
    lines += goal_lines(sizes, results)
    problems = [f"{label} at {rows:,} rows: {p}" for label, by_size in results.items() for rows, r in by_size.items()
                for p in r["problems"] + r["notes"]]
    if problems:
        lines += ["", "Check notes:", ""] + [f"- {p}" for p in problems]
    lines += ["", (f"Reproduce: `make bench-formats` (every format at {small:,} and {large:,} rows, writes this "
                   f"section; files cached under `/tmp/finops-bench/formats`), or for a quick look "
                   "`python -m benchmarks.formats_benchmark --rows 200000 --formats focus gcp --no-doc`; "
                   "`--profile FORMAT` prints the cProfile of one format's scan.")]
    return "\n".join(lines) + "\n"


def goal_lines(sizes: list[int], results: dict[str, dict[int, dict]]) -> list[str]:
    small, large = sizes[0], sizes[-1]
    ref = results.get(REFERENCE, {}).get(small)
    out = []
    if ref:
        slow = [(s.label, _ratio(results[s.label][small], ref)) for s in SPECS
                if s.label in results and small in results[s.label]]
        over = [(label, r) for label, r in slow if r > GOAL_RATIO]
        worst = max(slow, key=lambda x: x[1])
        out.append(f"- No format more than {GOAL_RATIO:g}x slower per row than FOCUS: "
                   f"**{'met' if not over else 'NOT met'}** (slowest: {worst[0]} {worst[1]:.2f}x"
                   + (f"; over: {', '.join(f'{lb} {r:.2f}x' for lb, r in over)}" if over else "") + ").")
    if large != small:
        grows = []
        for label, by_size in results.items():
            if small in by_size and large in by_size:
                g = by_size[large]["peak_rss_mib"] / by_size[small]["peak_rss_mib"]
                if g > FLAT_LIMIT:
                    grows.append(f"{label} {g:.2f}x")
        out.append(f"- Peak RSS flat in file size ({large:,} rows <= {FLAT_LIMIT:g}x the peak at {small:,}): "
                   f"**{'met' if not grows else 'NOT met'}**" + (f" (grows: {', '.join(grows)})" if grows else "") + ".")
    return out


def update_doc(doc: Path, body: str) -> None:
    """Replace the section, or insert it right after the AFTER_SECTION section; others unchanged."""
    heading, after = f"## {SECTION}", f"## {AFTER_SECTION}"
    lines = doc.read_text().splitlines()

    def section_end(start: int) -> int:
        return next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))

    block = [heading, "", *body.rstrip("\n").splitlines(), ""]
    if heading in (ln.strip() for ln in lines):
        start = next(i for i, ln in enumerate(lines) if ln.strip() == heading)
        end = section_end(start)
    elif after in (ln.strip() for ln in lines):
        start = end = section_end(next(i for i, ln in enumerate(lines) if ln.strip() == after))
    else:
        start = end = len(lines)
        block = ["", *block]
    if end == len(lines) and block[-1] == "":
        block = block[:-1]
    doc.write_text("\n".join(lines[:start] + block + lines[end:]) + "\n")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS),
                    help="file sizes; the first is the speed table's, the last the memory check's (default 1M 2M)")
    ap.add_argument("--formats", nargs="+", choices=[s.label for s in SPECS], default=None,
                    help=f"formats to run (default all; {REFERENCE} is always added as the reference)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=2, help="runs per format at the first size, best kept (default 2)")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="generated files (outside the repo)")
    ap.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    ap.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    ap.add_argument("--no-profile", action="store_true", help="do not profile the formats that miss the goal")
    ap.add_argument("--profile", metavar="FORMAT", choices=[s.label for s in SPECS],
                    help="only profile FORMAT's scan (cProfile + phases) at the first --rows size")
    ap.add_argument("--generate", help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--profile-child", help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--meta", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.generate:
        meta = generate(SPECS_BY_LABEL[args.generate], args.rows[0], args.file, args.seed)
        args.meta.write_text(json.dumps(meta, indent=2))
        return 0
    if args.child:
        print("RESULT " + json.dumps(child_scan(args.file)))
        return 0
    if args.profile_child:
        print(profile(SPECS_BY_LABEL[args.profile_child], args.file))
        return 0

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = list(dict.fromkeys(args.rows))
    if args.profile:
        path, _ = ensure_dataset(workdir, SPECS_BY_LABEL[args.profile], sizes[0], args.seed)
        warm_page_cache(path)
        print(spawn_profile(args.profile, path))
        return 0

    labels = args.formats or [s.label for s in SPECS]
    if REFERENCE not in labels:
        labels = [REFERENCE, *labels]
    specs = [s for s in SPECS if s.label in labels]
    info = machine_info()
    t_start = time.perf_counter()
    results: dict[str, dict[int, dict]] = {}
    paths: dict[tuple[str, int], Path] = {}
    for spec in specs:
        for i, rows in enumerate(sizes):
            path, meta = ensure_dataset(workdir, spec, rows, args.seed)
            paths[spec.label, rows] = path
            r = measure(spec, path, meta, args.repeat if i == 0 else 1)
            results.setdefault(spec.label, {})[rows] = r
            ref = results.get(REFERENCE, {}).get(sizes[0])
            log(f"{spec.label} {rows:,} rows: {r['seconds']:.2f}s {r['all_seconds']}, {r['rows_per_s']:,.0f} rows/s, "
                f"{_ratio(r, ref):.2f}x FOCUS per row, peak {r['peak_rss_mib']:,.0f} MiB, "
                f"excluded {r['excluded']:,}, quarantined {r['quarantined']:,}, {r['groups']:,} groups"
                + "".join(f"\n    PROBLEM: {p}" for p in r["problems"]) + "".join(f"\n    note: {p}" for p in r["notes"]))
    raw = workdir / f"results-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    raw.write_text(json.dumps({"machine": info, "sizes": sizes, "results": results}, indent=2, default=str))
    body = render(info, sizes, results, args.seed)
    print(f"## {SECTION}\n\n{body}")
    log(f"benchmark took {time.perf_counter() - t_start:.0f}s; raw results: {raw}")

    ref = results.get(REFERENCE, {}).get(sizes[0])
    if not args.no_profile and ref:
        for spec in specs:
            r = results[spec.label][sizes[0]]
            if _ratio(r, ref) > GOAL_RATIO:
                log(f"profiling {spec.label} ({_ratio(r, ref):.2f}x FOCUS per row) ...")
                text = spawn_profile(spec.label, paths[spec.label, sizes[0]])
                (workdir / f"profile-{spec.label}-{sizes[0]}.md").write_text(text)
                print(text)
    if not args.no_doc:
        update_doc(args.doc, body)
        log(f"updated {args.doc}")
    ok = all(not r["problems"] for by_size in results.values() for r in by_size.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
