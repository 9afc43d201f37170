#!/usr/bin/env python3
"""Generate the synthetic demo dataset under data/sample/ (company "Acme", 2025-08 .. 2026-11-20).

Everything is made up: account ids, subscription ids, resources, people and amounts. The output is
deterministic: the same seed gives byte-identical files (only ``random.random()`` is used, whose
sequence Python guarantees across versions; results of exp/log/pow are rounded before use; gzip
headers carry no time stamp or name). Only the standard library is needed. The compressed bytes
of the .gz files could differ with a different zlib build; their decompressed text cannot.

    python scripts/generate_sample_data.py            # (re)write data/sample/
    python scripts/generate_sample_data.py --check    # only re-read data/sample/ and print totals
    python scripts/generate_sample_data.py --out DIR  # write somewhere else (e.g. to compare runs)

Layout written (see data/sample/README.md, which this script also writes):

    landing/billing/aws/focus_YYYY-MM.csv           FOCUS 1.0, ProviderName "AWS", plain CSV
    landing/billing/azure/focus_YYYY-MM.csv.gz      FOCUS 1.2, "Microsoft", UTF-8 BOM, gzip, CRLF;
                                                    ServiceProviderName instead of ProviderName
                                                    from 2026-06 on (the FOCUS 1.3 rename)
    landing/billing/finance/saas_expenses_eur.csv   generic format: date,project,service,cost,currency,account
    reference/projects.csv, budgets.csv, fx_rates.csv, rules.yaml, pricing.csv

A handful of rows are broken on purpose (see BAD_AWS / BAD_FINANCE below and the README) so that the
quarantine has something to show. The totals printed at the end come from an independent reader
(``expected_totals``) that re-reads the written files with the csv module and Decimal only.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import gzip
import hashlib
import io
import json
import math
import random
import re
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

SEED = 20261121
FIRST_DAY = date(2025, 8, 1)
LAST_DAY = date(2026, 11, 20)  # the open month runs to yesterday (today is 2026-11-21)
OPEN_MONTH = "2026-11"
AZURE_RENAME_FROM = "2026-06"  # Azure files from this month on carry ServiceProviderName
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "data" / "sample"

# Calibration: Aug 2025 lands at ~84k USD all-in (AWS ~59k, Azure ~17k, SaaS ~6.7k EUR), Oct 2026
# at ~133k; 15 months of ~3% growth plus the planted anomalies.
AWS_SCALE = 0.70
AZURE_SCALE = 0.68
SAAS_SCALE = 0.68
AWS_TAX_RATE = 0.04  # US sales tax on the AWS accounts
AZURE_TAX_RATE = 0.02

# USD per 1 unit, months 2025-08 .. 2026-10. Deliberately no 2026-11 row: the open month carries
# the October rate forward.
FX = {
    "EUR": [1.1652, 1.1718, 1.1684, 1.1583, 1.1631, 1.1709, 1.1776, 1.1692, 1.1524, 1.1447, 1.1391, 1.1468, 1.1559, 1.1507, 1.1603],
    "GBP": [1.3448, 1.3382, 1.3307, 1.3221, 1.3176, 1.3269, 1.3341, 1.3118, 1.2983, 1.2871, 1.2794, 1.2912, 1.3024, 1.2963, 1.3051],
}

AWS_COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
    "ChargeCategory", "ChargePeriodEnd", "ChargePeriodStart", "EffectiveCost", "ListCost",
    "ProviderName", "RegionId", "ResourceId", "ServiceCategory", "ServiceName", "SubAccountId",
    "SubAccountName", "Tags",
]
AZURE_COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "ConsumedQuantity", "ConsumedUnit", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "ProviderName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "ServiceSubcategory", "SubAccountId", "SubAccountName", "Tags",
]
GENERIC_COLUMNS = ["date", "project", "service", "cost", "currency", "account"]


# ---------------------------------------------------------------------------------------------
# Small deterministic helpers
# ---------------------------------------------------------------------------------------------


class Rng:
    """random.Random restricted to .random(), whose sequence is stable across Python versions."""

    def __init__(self, seed: int):
        self._r = random.Random(seed)

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self._r.random()

    def normal(self) -> float:
        u1 = 1.0 - self._r.random()  # (0, 1]
        u2 = self._r.random()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def noise(self, sigma: float) -> float:
        """Multiplicative noise with mean 1, rounded to 8 decimals so that a last-bit difference of
        the platform's exp/log/cos cannot change the output files."""
        if sigma <= 0:
            return 1.0
        return round(math.exp(sigma * self.normal() - sigma * sigma / 2.0), 8)


def growth_factor(rate: float, months: float) -> float:
    """(1 + rate) ** months, rounded (same reason as Rng.noise)."""
    return round((1.0 + rate) ** months, 10)


def days(first: date, last: date):
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def all_months() -> list[date]:
    out, m = [], month_start(FIRST_DAY)
    while m <= LAST_DAY:
        out.append(m)
        m = next_month(m)
    return out


def amt(x: float, decimals: int = 10) -> str:
    """Plain decimal text with up to ``decimals`` decimals, no exponent, no trailing zeros."""
    s = f"{x:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def guid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.acme.example"))


def aws_ts(d: date) -> str:
    return f"{d.isoformat()} 00:00:00"


def azure_ts(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


def tags_text(tags: dict | None, compact: bool) -> str:
    if tags is None:
        return "NULL"
    return json.dumps(tags, separators=(",", ":") if compact else (", ", ": "))


# ---------------------------------------------------------------------------------------------
# The company: projects, accounts, resources
# ---------------------------------------------------------------------------------------------

PROJECTS = [
    # project, code, owner, team, AWS sub-account, growth per month
    ("checkout", "CHK", "maria.lopez@acme.example", "payments", "512093847261", 0.030),
    ("search", "SRC", "jonas.berg@acme.example", "discovery", "623104958372", 0.025),
    ("data-platform", "DAT", "priya.nair@acme.example", "data", "734215069483", 0.035),
    ("ml-training", "MLT", "chen.wei@acme.example", "ml", "845326170594", 0.040),
    ("mobile-api", "MOB", "sam.okafor@acme.example", "mobile", "956437281605", 0.030),
    ("analytics", "ANA", "lea.fischer@acme.example", "data", "167548392716", 0.020),
    ("internal-tools", "INT", "tom.hughes@acme.example", "platform", "278659403827", 0.015),
    ("shared-platform", "PLT", "ana.silva@acme.example", "platform", "389760514938", 0.025),
]
GROWTH = {p[0]: p[5] for p in PROJECTS}
AWS_ACCOUNT = {p[0]: p[4] for p in PROJECTS}
AWS_ACCOUNT_NAME = {p[0]: f"acme-{p[0]}" for p in PROJECTS}
AWS_PAYER = "401837265190"  # management account: BillingAccountId of every AWS row, not a project
AWS_PAYER_NAME = "acme-management"

AZURE_BILLING_ACCOUNT = "8611537"
AZURE_BILLING_ACCOUNT_NAME = "Acme Corp EA"
# subscription key -> (name, project it belongs to in projects.csv or None = not mapped)
AZURE_SUBS = {
    "ml": ("acme-ml-azure", "ml-training"),
    "mobile": ("acme-mobile-prod", "mobile-api"),
    "analytics": ("acme-analytics-bi", "analytics"),
    "it": ("acme-internal-it", "internal-tools"),
    "hub": ("acme-hub-network", "shared-platform"),
    "sandbox": ("acme-sandbox", None),
}
AZURE_SUB_ID = {k: guid(v[0]) for k, v in AZURE_SUBS.items()}
AZURE_REGIONS = {"westeurope": "West Europe", "northeurope": "North Europe", "eastus": "East US"}

GPU_SPIKE_DAYS = (date(2026, 3, 10), date(2026, 3, 12))
LOAD_TEST_START = date(2026, 11, 16)  # mobile-api's forgotten load-test fleet, still running at the data's end
STORAGE_STEP_DAY = date(2026, 7, 1)
STORAGE_STEP_FACTOR = 2.6
RI_START = date(2026, 1, 1)  # checkout's RDS instance is covered by a reserved instance from here
LEGACY_SEARCH_END = date(2026, 1, 31)

# kind -> (weekend factor, noise sigma)
KINDS = {
    "compute": (0.70, 0.05),  # weekends ~30% lower
    "batch": (0.45, 0.10),  # scheduled jobs, mostly weekdays
    "usage": (0.80, 0.09),  # requests, queries, egress
    "db": (0.95, 0.025),
    "storage": (1.00, 0.006),
    "fixed": (1.00, 0.0),  # reserved capacity billed per hour, the same every day
}


@dataclass
class Resource:
    provider: str  # "aws" | "azure"
    project: str | None  # the project the generator means it for (bookkeeping only)
    account: str  # SubAccountId
    account_name: str
    service: str
    category: str
    region: str | None
    resource_id: str
    tags: dict | None
    base: float  # USD per day on FIRST_DAY (before the provider scale)
    kind: str
    growth: float
    discount: float = 0.0  # list price discount: EffectiveCost = ListCost * (1 - discount)
    start: date = FIRST_DAY
    end: date = LAST_DAY
    step: tuple[date, float] | None = None
    reserved_from: date | None = None
    # Azure-only descriptive columns
    subcategory: str = ""
    resource_name: str = ""
    resource_type: str = ""
    unit: str = ""
    unit_price: float = 0.0
    extra: dict = field(default_factory=dict)


def aws_resources() -> list[Resource]:
    def r(project, service, category, region, rid, tags, base, kind, **kw):
        acct = AWS_ACCOUNT[project]
        rid = rid.replace("{acct}", acct)
        return Resource("aws", project, acct, AWS_ACCOUNT_NAME[project], service, category, region, rid,
                        tags, base, kind, kw.pop("growth", GROWTH[project]), discount=kw.pop("discount", 0.06), **kw)

    ec2, rds, s3 = "Amazon Elastic Compute Cloud", "Amazon Relational Database Service", "Amazon Simple Storage Service"
    out = [
        r("checkout", ec2, "Compute", "us-east-1", "i-0c4e1a7b9d2f30581", {"project": "checkout", "env": "prod"}, 240, "compute"),
        r("checkout", rds, "Databases", "us-east-1", "arn:aws:rds:us-east-1:{acct}:db:checkout-prod", {"project": "checkout"}, 260, "db",
          reserved_from=RI_START),
        r("checkout", "Amazon ElastiCache", "Databases", "us-east-1", "arn:aws:elasticache:us-east-1:{acct}:cluster:checkout-sessions",
          None, 70, "db"),
        r("search", "Amazon OpenSearch Service", "Analytics", "us-east-1", "arn:aws:es:us-east-1:{acct}:domain/search-prod",
          {"project": "search", "env": "prod"}, 330, "db"),
        r("search", ec2, "Compute", "us-east-1", "i-05d8f2c61a9e47b30", {}, 150, "compute"),
        r("data-platform", s3, "Storage", "us-east-1", "acme-datalake-raw", {"project": "data-platform"}, 120, "storage",
          step=(STORAGE_STEP_DAY, STORAGE_STEP_FACTOR)),
        r("data-platform", "Amazon EMR", "Analytics", "us-east-1", "arn:aws:elasticmapreduce:us-east-1:{acct}:cluster/j-2AXXXZ5JQNN7",
          {"project": "data-platform"}, 300, "batch"),
        r("data-platform", "Amazon Redshift", "Databases", "us-east-1", "arn:aws:redshift:us-east-1:{acct}:namespace:dwh-prod",
          {"project": "data-platform"}, 170, "db", start=date(2026, 2, 1)),
        r("ml-training", "Amazon SageMaker", "AI and Machine Learning", "us-west-2",
          "arn:aws:sagemaker:us-west-2:{acct}:endpoint/recsys-prod", {"project": "ml-training"}, 170, "usage"),
        r("ml-training", ec2, "Compute", "us-west-2", "i-0a7713e4c2b9f8d16", {"project": "ml-training", "env": "dev"}, 300, "compute"),
        r("mobile-api", "Amazon DynamoDB", "Databases", "eu-west-1", "arn:aws:dynamodb:eu-west-1:{acct}:table/mobile-sessions",
          {"project": "mobile-api"}, 150, "usage"),
        r("analytics", "Amazon Athena", "Analytics", "eu-west-1", "arn:aws:athena:eu-west-1:{acct}:workgroup/bi", None, 75, "batch"),
        r("internal-tools", ec2, "Compute", "eu-west-1", "i-0e2b5c8d7f1a93460", {"project": "internal-tools"}, 80, "compute"),
        r("shared-platform", ec2, "Compute", "us-east-1", "i-09c3a1f6e8d2b7a45", {"project": "shared-platform"}, 380, "compute"),
    ]
    # ml-training's GPU spike: eight p4d instances for three days
    for i in range(8):
        out.append(r("ml-training", ec2, "Compute", "us-west-2", f"i-0f4d{i:02d}7b2c91e5a38{i}", {"project": "ml-training", "env": "dev"},
                     1150, "fixed", start=GPU_SPIKE_DAYS[0], end=GPU_SPIKE_DAYS[1], growth=0.0))
    # mobile-api's load-test fleet, started on 2026-11-16 and never stopped: an open anomaly and a
    # projected budget overrun in the open month, so the demo has something current to alert on
    for i in range(8):
        out.append(r("mobile-api", ec2, "Compute", "us-east-1", f"i-0b1e{i:02d}c4d8a7f3e29{i}", {"project": "mobile-api", "env": "loadtest"},
                     130, "fixed", start=LOAD_TEST_START, growth=0.0))
    return out


def azure_resources() -> list[Resource]:
    out: list[Resource] = []

    def r(sub, rg, name, ns_type, service, category, subcategory, rtype, unit, unit_price, kind, base, tags,
          region="westeurope", project=None, **kw):
        sub_id = AZURE_SUB_ID[sub]
        sub_name, sub_project = AZURE_SUBS[sub]
        rid = f"/subscriptions/{sub_id}/resourcegroups/{rg}/providers/{ns_type}/{name}".lower()
        proj = project or sub_project
        out.append(Resource("azure", proj, sub_id, sub_name, service, category, region, rid, tags, base, kind,
                            GROWTH.get(proj or "", 0.01), discount=kw.pop("discount", 0.10), subcategory=subcategory,
                            resource_name=name, resource_type=rtype, unit=unit, unit_price=unit_price, **kw))

    VM = ("Microsoft.Compute/virtualMachines", "Virtual Machines", "Compute", "Virtual Machines", "Virtual machine", "Hours")
    DISK = ("Microsoft.Compute/disks", "Storage", "Storage", "Block Storage", "Disk", "GB/Month")
    ST = ("Microsoft.Storage/storageAccounts", "Storage", "Storage", "Object Storage", "Storage account", "GB/Month")
    KV = ("Microsoft.KeyVault/vaults", "Key Vault", "Security", "Secret Management", "Key vault", "10K Operations")
    AI = ("Microsoft.Insights/components", "Azure Monitor", "Management and Governance", "Observability", "Application Insights", "GB")
    SQL = ("Microsoft.Sql/servers/databases", "SQL Database", "Databases", "Relational Databases", "SQL database", "Hours")
    ASP = ("Microsoft.Web/serverFarms", "Azure App Service", "Web", "Web Hosting", "App Service plan", "Hours")
    PIP = ("Microsoft.Network/publicIPAddresses", "Virtual Network", "Networking", "Network Connectivity", "Public IP address", "Hours")

    def vm(sub, rg, name, base, tags, region="westeurope", vm_kind="compute", disk=1.2, **kw):
        r(sub, rg, name, *VM[:5], VM[5], 0.0, vm_kind, base, tags, region=region, **kw)
        r(sub, rg, f"{name}_osdisk", *DISK[:5], DISK[5], 0.0048, "storage", disk, tags, region=region, discount=0.0, **kw)

    # ml-training subscription (East US)
    ml = {"project": "ml-training"}
    r("ml", "rg-ml-train", "mlw-acme-train/computes/gpu-a100", "Microsoft.MachineLearningServices/workspaces",
      "Azure Machine Learning", "AI and Machine Learning", "Machine Learning", "Machine learning compute", "Hours", 3.673,
      "batch", 120, ml, region="eastus")
    r("ml", "rg-ml-train", "mlw-acme-train/computes/cpu-d16", "Microsoft.MachineLearningServices/workspaces",
      "Azure Machine Learning", "AI and Machine Learning", "Machine Learning", "Machine learning compute", "Hours", 0.768,
      "batch", 24, ml, region="eastus")
    r("ml", "rg-ml-train", "stacmemldata", *ST[:5], ST[5], 0.0184, "storage", 9, ml, region="eastus", discount=0.0)
    r("ml", "rg-ml-train", "acracmeml", "Microsoft.ContainerRegistry/registries", "Container Registry", "Compute", "Containers",
      "Container registry", "Days", 1.667, "fixed", 1.667, ml, region="eastus", discount=0.0)
    r("ml", "rg-ml-train", "kv-acme-ml", *KV[:5], KV[5], 0.03, "usage", 0.35, ml, region="eastus", discount=0.0)
    r("ml", "rg-ml-train", "appi-acme-ml", *AI[:5], AI[5], 2.30, "usage", 1.6, {}, region="eastus", discount=0.0)

    # mobile-api subscription (West Europe): tag key "app"
    mob = {"app": "mobile-api", "env": "prod"}
    for i in (1, 2, 3):
        r("mobile", "rg-mobile-api", f"asp-mobile-api-we-{i}", *ASP[:5], ASP[5], 0.2466, "fixed", 5.92, mob)
    r("mobile", "rg-mobile-api", "cosmos-mobile-prod", "Microsoft.DocumentDB/databaseAccounts", "Azure Cosmos DB", "Databases",
      "NoSQL Databases", "Azure Cosmos DB account", "100 RU/s Hours", 0.008, "usage", 46, mob)
    r("mobile", "rg-mobile-api", "fd-mobile-api", "Microsoft.Cdn/profiles", "Azure Front Door", "Networking", "Content Delivery",
      "Front Door profile", "GB", 0.0825, "usage", 14, mob)
    r("mobile", "rg-mobile-api", "ntfns-mobile/ntf-mobile-prod", "Microsoft.NotificationHubs/namespaces", "Notification Hubs",
      "Mobile", "Mobile", "Notification hub", "Days", 6.67, "fixed", 6.67, {})
    r("mobile", "rg-mobile-api", "stmobileassets", *ST[:5], ST[5], 0.0184, "storage", 3.2, mob, discount=0.0)
    r("mobile", "rg-mobile-api", "kv-mobile-prod", *KV[:5], KV[5], 0.03, "usage", 0.25, mob, discount=0.0)
    r("mobile", "rg-mobile-api", "appi-mobile-prod", *AI[:5], AI[5], 2.30, "usage", 5.5, {}, discount=0.0)
    r("mobile", "rg-mobile-api", "redis-mobile-prod", "Microsoft.Cache/Redis", "Azure Cache for Redis", "Databases", "Caching",
      "Azure Cache for Redis", "Hours", 0.4167, "fixed", 10.0, mob)

    # analytics subscription (West Europe)
    ana = {"project": "analytics"}
    r("analytics", "rg-bi", "syn-acme-analytics", "Microsoft.Synapse/workspaces", "Azure Synapse Analytics", "Analytics",
      "Analytics Platforms", "Synapse workspace", "vCore Hours", 0.1, "batch", 62, ana)
    r("analytics", "rg-bi", "adf-acme-analytics", "Microsoft.DataFactory/factories", "Azure Data Factory", "Analytics",
      "Data Processing", "Data factory", "1K Activity Runs", 1.0, "batch", 19, ana)
    r("analytics", "rg-bi", "pbie-acme", "Microsoft.PowerBIDedicated/capacities", "Power BI Embedded", "Analytics",
      "Business Intelligence", "Power BI Embedded capacity", "Hours", 1.0079, "fixed", 24.19, ana)
    r("analytics", "rg-bi", "sql-acme-bi/sqldb-reporting", *SQL[:5], SQL[5], 0.0, "db", 21, ana)
    r("analytics", "rg-bi", "sql-acme-bi/sqldb-staging", *SQL[:5], SQL[5], 0.0, "db", 7.5, {})
    r("analytics", "rg-bi", "stacmeanalyticslake", *ST[:5], ST[5], 0.0184, "storage", 12, ana, discount=0.0)
    r("analytics", "rg-bi", "stacmeanalyticstmp", *ST[:5], ST[5], 0.0184, "storage", 2.4, None, discount=0.0)
    vm("analytics", "rg-bi", "vm-bi-gateway-01", 7.1, ana)
    vm("analytics", "rg-bi", "vm-bi-gateway-02", 7.1, ana)

    # internal-tools subscription (North Europe): a mix of "app", "Project" and no tags
    it = {"app": "internal-tools"}
    it_cap = {"Project": "internal-tools", "costcenter": "IT-100"}
    for name, base, tags in [("vm-it-jenkins-01", 11.5, it), ("vm-it-wiki-01", 4.6, it), ("vm-it-ldap-01", 3.4, it_cap),
                             ("vm-it-ldap-02", 3.4, it_cap), ("vm-it-build-01", 13.8, None), ("vm-it-build-02", 13.8, None)]:
        vm("it", "rg-it-tools", name, base, tags, region="northeurope", disk=1.9)
    r("it", "rg-it-tools", "sql-acme-it/sqldb-jira", *SQL[:5], SQL[5], 0.0, "db", 5.8, it, region="northeurope")
    r("it", "rg-it-tools", "sql-acme-it/sqldb-wiki", *SQL[:5], SQL[5], 0.0, "db", 3.9, it, region="northeurope")
    for i, base in ((1, 4.4), (2, 3.1), (3, 3.1)):
        r("it", "rg-it-tools", f"asp-it-tools-{i}", *ASP[:5], ASP[5], 0.1, "fixed", base, it, region="northeurope")
    r("it", "rg-it-tools", "kv-acme-it", *KV[:5], KV[5], 0.03, "usage", 0.15, it, region="northeurope", discount=0.0)
    r("it", "rg-it-tools", "stacmeitbackup", *ST[:5], ST[5], 0.0184, "storage", 2.6, None, region="northeurope", discount=0.0)

    # shared-platform hub subscription (West Europe): AKS, network, monitoring
    plt = {"project": "shared-platform"}
    for name, base in (("aks-system-vmss", 52), ("aks-user-vmss", 96), ("aks-spot-vmss", 21)):
        r("hub", "mc_rg-aks_aks-platform-prod_westeurope", name, "Microsoft.Compute/virtualMachineScaleSets",
          "Virtual Machine Scale Sets", "Compute", "Virtual Machines", "Virtual machine scale set", "Hours", 0.0, "compute", base, plt)
    r("hub", "rg-aks", "aks-platform-prod", "Microsoft.ContainerService/managedClusters", "Azure Kubernetes Service", "Compute",
      "Containers", "Kubernetes service", "Hours", 0.10, "fixed", 2.4, plt)
    r("hub", "rg-hub-network", "afw-hub-we", "Microsoft.Network/azureFirewalls", "Azure Firewall", "Security", "Network Security",
      "Firewall", "Hours", 1.25, "usage", 33, None)
    r("hub", "rg-hub-network", "vgw-hub-we", "Microsoft.Network/virtualNetworkGateways", "VPN Gateway", "Networking",
      "Network Connectivity", "Virtual network gateway", "Hours", 0.19, "fixed", 4.56, None)
    for i in range(1, 5):
        r("hub", "rg-hub-network", f"pip-hub-we-{i:02d}", *PIP[:5], PIP[5], 0.005, "fixed", 0.12, None, discount=0.0)
    r("hub", "rg-monitoring", "log-acme-platform", "Microsoft.OperationalInsights/workspaces", "Log Analytics",
      "Management and Governance", "Observability", "Log Analytics workspace", "GB", 2.76, "usage", 36, plt, discount=0.0)
    r("hub", "rg-hub-network", "bas-hub-we", "Microsoft.Network/bastionHosts", "Azure Bastion", "Networking",
      "Network Connectivity", "Bastion", "Hours", 0.19, "fixed", 4.56, None)
    r("hub", "rg-hub-network", "dnsz-acme-internal", "Microsoft.Network/privateDnsZones", "Azure DNS", "Networking",
      "Network Connectivity", "Private DNS zone", "Zones", 0.5, "fixed", 0.0167, None, discount=0.0)
    r("hub", "rg-monitoring", "stacmeplatformlogs", *ST[:5], ST[5], 0.0184, "storage", 2.9, plt, discount=0.0)
    r("hub", "rg-hub-network", "kv-acme-hub", *KV[:5], KV[5], 0.03, "usage", 0.3, plt, discount=0.0)
    r("hub", "rg-security", "defender-for-servers", "Microsoft.Security/pricings", "Microsoft Defender for Cloud", "Security",
      "Security Posture Management", "Defender plan", "Node Hours", 0.02, "fixed", 13.2, None, discount=0.0)
    # resources of other projects living in the hub subscription: the tag wins over the account
    r("hub", "rg-checkout-edge", "fd-checkout-eu", "Microsoft.Cdn/profiles", "Azure Front Door", "Networking",
      "Content Delivery", "Front Door profile", "GB", 0.0825, "usage", 11, {"project": "checkout", "env": "prod"}, project="checkout")
    r("hub", "rg-checkout-edge", "stcheckoutstatic", *ST[:5], ST[5], 0.0184, "storage", 1.8, {"project": "checkout"},
      project="checkout", discount=0.0)
    # the old search stack, decommissioned after January 2026 (rules.yaml renames legacy-search -> search)
    leg = {"app": "legacy-search"}
    r("hub", "rg-legacy-search", "srch-legacy-catalog", "Microsoft.Search/searchServices", "Azure AI Search", "AI and Machine Learning",
      "Other (AI and Machine Learning)", "Search service", "Hours", 1.0083, "fixed", 24.2, leg, project="legacy-search",
      end=LEGACY_SEARCH_END)
    for i in (1, 2):
        vm("hub", "rg-legacy-search", f"vm-legacy-search-0{i}", 8.8, leg, project="legacy-search", end=LEGACY_SEARCH_END)

    # sandbox subscription (East US, not in projects.csv, untagged): unallocated, with churn
    vm("sandbox", "rg-sandbox", "vm-sbx-experiment-01", 6.2, None, region="eastus", end=date(2026, 2, 14))
    vm("sandbox", "rg-sandbox", "vm-sbx-experiment-02", 9.1, None, region="eastus", start=date(2025, 12, 3))
    vm("sandbox", "rg-sandbox", "vm-sbx-llm-poc", 18.5, None, region="eastus", start=date(2026, 5, 18), end=date(2026, 9, 30))
    r("sandbox", "rg-sandbox", "stsbxscratch", *ST[:5], ST[5], 0.0184, "storage", 1.1, None, region="eastus", discount=0.0)
    return out


# ---------------------------------------------------------------------------------------------
# Cost model
# ---------------------------------------------------------------------------------------------


def daily_cost(res: Resource, d: date, rng: Rng, scale: float) -> float:
    weekend_factor, sigma = KINDS[res.kind]
    months = (d - FIRST_DAY).days / 30.44
    cost = res.base * scale * growth_factor(res.growth, months)
    if d.weekday() >= 5:
        cost *= weekend_factor
    if res.step and d >= res.step[0]:
        cost *= res.step[1]
    return cost * rng.noise(sigma)


@dataclass
class Row:
    """One output row of a FOCUS file, before formatting (amounts in USD)."""

    res: Resource | None
    day: date  # ChargePeriodStart
    end: date  # ChargePeriodEnd
    category: str
    billed: float
    effective: float
    list_: float
    service: str
    service_category: str
    account: str
    account_name: str
    region: str | None
    resource_id: str | None
    tags: dict | None
    frequency: str = "Usage-Based"
    quantity: float | None = None
    unit: str | None = None
    subcategory: str | None = None


def usage_rows(resources: list[Resource], rng: Rng, scale: float) -> list[Row]:
    rows = []
    for d in days(FIRST_DAY, LAST_DAY):
        for res in resources:
            if not (res.start <= d <= res.end):
                continue
            cost = daily_cost(res, d, rng, scale)
            if res.reserved_from and d >= res.reserved_from:
                continue  # written by commitment_rows
            list_price = cost / (1.0 - res.discount) if res.discount else cost
            rows.append(_usage_row(res, d, cost, cost, list_price))
    return rows


def _usage_row(res: Resource, d: date, billed: float, effective: float, list_price: float) -> Row:
    qty = None
    if res.provider == "azure":
        if res.unit == "Hours" and res.unit_price == 0.0:
            qty = 24.0
        elif res.unit_price:
            qty = list_price / res.unit_price
    return Row(res, d, d + timedelta(days=1), "Usage", billed, effective, list_price, res.service, res.category,
               res.account, res.account_name, res.region, res.resource_id, res.tags, "Usage-Based", qty,
               res.unit or None, res.subcategory or None)


def commitment_rows(resources: list[Resource], rng: Rng, scale: float) -> list[Row]:
    """A reserved instance: a monthly Purchase (BilledCost = fee, EffectiveCost = 0) on the 1st,
    and daily usage with BilledCost 0 and EffectiveCost = the fee amortized per day."""
    rows = []
    for res in resources:
        if not res.reserved_from:
            continue
        months = (res.reserved_from - FIRST_DAY).days / 30.44
        on_demand = res.base * scale * growth_factor(res.growth, months)
        amortized = round(on_demand * 0.62, 10)  # 38% below on-demand
        for m in all_months():
            if m < month_start(res.reserved_from):
                continue
            fee = round(amortized * calendar.monthrange(m.year, m.month)[1], 10)
            rows.append(Row(res, m, next_month(m), "Purchase", fee, 0.0, fee, res.service, res.category, res.account,
                            res.account_name, res.region, res.resource_id.replace(":db:", ":ri:") + "-ri-2026", res.tags,
                            "Recurring"))
        for d in days(max(res.start, res.reserved_from), min(res.end, LAST_DAY)):
            list_price = daily_cost(res, d, rng, scale) / (1.0 - res.discount)
            rows.append(_usage_row(res, d, 0.0, amortized, max(list_price, amortized)))
    return rows


def support_rows(aws_usage: list[Row]) -> list[Row]:
    """AWS Business Support, billed on the 1st to the management account (no project: unallocated),
    tiered on the previous month's AWS usage."""
    usage = defaultdict(float)
    for row in aws_usage:
        usage[month_key(row.day)] += row.billed
    rows = []
    months = all_months()
    for i, m in enumerate(months):
        basis = usage[month_key(months[i - 1])] if i else usage[month_key(m)]
        fee = 0.10 * min(basis, 10_000) + 0.07 * max(0.0, min(basis, 80_000) - 10_000) + 0.05 * max(0.0, basis - 80_000)
        fee = round(fee, 2)
        rows.append(Row(None, m, next_month(m), "Purchase", fee, fee, fee, "AWS Support (Business)", "Other", AWS_PAYER,
                        AWS_PAYER_NAME, None, None, None, "Recurring"))
    return rows


def tax_rows(rows: list[Row], rate: float, names: dict[str, str]) -> list[Row]:
    """One Tax row per account and closed month (the open month has no tax yet)."""
    billed = defaultdict(float)
    for row in rows:
        billed[(month_key(row.day), row.account)] += row.billed
    out = []
    for m in all_months():
        if month_key(m) == OPEN_MONTH:
            continue
        for acct in sorted({a for (mk, a) in billed if mk == month_key(m)}):
            tax = round(billed[(month_key(m), acct)] * rate, 2)
            out.append(Row(None, m, next_month(m), "Tax", tax, tax, tax, "Tax", "Other", acct, names[acct], None, None, None,
                           "Recurring"))
    return out


# ---------------------------------------------------------------------------------------------
# Deliberately bad rows (the README documents each; keep this list and the README in step)
# ---------------------------------------------------------------------------------------------

# AWS: (file month, ChargePeriodStart, ResourceId) of the row to break, and how.
BAD_AWS = [
    ("2026-02", date(2026, 2, 17), "i-05d8f2c61a9e47b30", "billed_comma"),  # BilledCost "58,1234..." (decimal comma)
    ("2026-02", date(2026, 2, 18), "arn:aws:dynamodb:eu-west-1:956437281605:table/mobile-sessions", "billed_na"),  # "n/a"
    ("2025-11", date(2025, 11, 12), "i-0c4e1a7b9d2f30581", "null_date"),  # ChargePeriodStart NULL
    ("2026-05", date(2026, 5, 1), "arn:aws:rds:us-east-1:512093847261:ri:checkout-prod-ri-2026", "thousands"),  # extra field
]
# Finance (generic): extra rows inserted after the first row of the given date.
BAD_FINANCE = [
    (date(2025, 12, 31), ["31/13/2025", "data-platform", "Snowflake", "412.50", "EUR", "snowflake:ACME_EU_WEST"]),
    (date(2026, 4, 1), ["2026-04-01", "mobile-api", "GitHub", "95.00", "EURO", "github:acme-corp"]),
]


BAD_TEXTS: dict[str, str] = {}  # how the broken amounts were written, for the README


def format_aws(row: Row, bad: str | None) -> list[str] | str:
    billing_start = month_start(row.day)
    fields = {
        "BilledCost": amt(row.billed),
        "BillingAccountId": AWS_PAYER,
        "BillingCurrency": "USD",
        "BillingPeriodEnd": aws_ts(next_month(billing_start)),
        "BillingPeriodStart": aws_ts(billing_start),
        "ChargeCategory": row.category,
        "ChargePeriodEnd": aws_ts(row.end),
        "ChargePeriodStart": aws_ts(row.day),
        "EffectiveCost": amt(row.effective),
        "ListCost": amt(row.list_),
        "ProviderName": "AWS",
        "RegionId": row.region or "NULL",
        "ResourceId": row.resource_id or "NULL",
        "ServiceCategory": row.service_category,
        "ServiceName": row.service,
        "SubAccountId": row.account,
        "SubAccountName": row.account_name,
        "Tags": tags_text(row.tags, compact=True),
    }
    if bad == "billed_comma":
        fields["BilledCost"] = amt(row.billed, 4).replace(".", ",")
        BAD_TEXTS[bad] = fields["BilledCost"]
    elif bad == "billed_na":
        fields["BilledCost"] = "n/a"
    elif bad == "null_date":
        fields["ChargePeriodStart"] = "NULL"
    elif bad == "thousands":
        # written by hand below: an unquoted thousands separator splits BilledCost into two fields
        fields["BilledCost"] = f"{row.billed:,.2f}"
        BAD_TEXTS[bad] = fields["BilledCost"]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow([fields[c] for c in AWS_COLUMNS])
        return buf.getvalue().replace(f'"{fields["BilledCost"]}"', fields["BilledCost"], 1)
    return [fields[c] for c in AWS_COLUMNS]


def format_azure(row: Row) -> list[str | None]:
    billing_start = month_start(row.day)
    fields = {
        "BilledCost": amt(row.billed, 8),
        "BillingAccountId": AZURE_BILLING_ACCOUNT,
        "BillingAccountName": AZURE_BILLING_ACCOUNT_NAME,
        "BillingCurrency": "USD",
        "BillingPeriodEnd": azure_ts(next_month(billing_start)),
        "BillingPeriodStart": azure_ts(billing_start),
        "ChargeCategory": row.category,
        "ChargeFrequency": row.frequency,
        "ChargePeriodEnd": azure_ts(row.end),
        "ChargePeriodStart": azure_ts(row.day),
        "ConsumedQuantity": amt(row.quantity, 4) if row.quantity is not None else None,
        "ConsumedUnit": row.unit,
        "EffectiveCost": amt(row.effective, 8),
        "InvoiceIssuerName": "Microsoft",
        "ListCost": amt(row.list_, 8),
        "ProviderName": "Microsoft",
        "RegionId": row.region,
        "RegionName": AZURE_REGIONS.get(row.region or ""),
        "ResourceId": row.resource_id,
        "ResourceName": row.res.resource_name if row.res and row.resource_id else None,
        "ResourceType": row.res.resource_type if row.res and row.resource_id else None,
        "ServiceCategory": row.service_category,
        "ServiceName": row.service,
        "ServiceSubcategory": row.subcategory,
        "SubAccountId": row.account,
        "SubAccountName": row.account_name,
        "Tags": tags_text(row.tags, compact=False) if row.tags is not None else None,
    }
    return [fields[c] for c in AZURE_COLUMNS]


def azure_line(values: list[str | None]) -> str:
    """Every value quoted, nulls as a bare NULL, CRLF line ends (as the Azure exports here do)."""
    return ",".join("NULL" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\r\n"


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# SaaS expenses (generic format, EUR)
# ---------------------------------------------------------------------------------------------

SAAS_MONTHLY = [
    # service, project ("" = unallocated), account, EUR per month in Aug 2025
    ("Datadog", "checkout", "datadog:acme-eu1", 690.0),
    ("Datadog", "search", "datadog:acme-eu1", 410.0),
    ("Datadog", "mobile-api", "datadog:acme-eu1", 520.0),
    ("Datadog", "shared-platform", "datadog:acme-eu1", 1180.0),
    ("GitHub", "checkout", "github:acme-corp", 294.0),
    ("GitHub", "search", "github:acme-corp", 210.0),
    ("GitHub", "data-platform", "github:acme-corp", 252.0),
    ("GitHub", "ml-training", "github:acme-corp", 168.0),
    ("GitHub", "mobile-api", "github:acme-corp", 231.0),
    ("GitHub", "analytics", "github:acme-corp", 105.0),
    ("GitHub", "internal-tools", "github:acme-corp", 84.0),
    ("GitHub", "shared-platform", "github:acme-corp", 315.0),
    ("PagerDuty", "shared-platform", "pagerduty:acme", 446.0),
    ("Sentry", "mobile-api", "sentry:acme", 208.0),
    ("Slack", "", "slack:acme", 1312.5),
]
SAAS_DAILY = [
    # service, project, account, EUR per weekday in Aug 2025, weekend factor
    ("Snowflake", "data-platform", "snowflake:ACME_EU_WEST", 62.0, 0.55),
    ("Snowflake", "analytics", "snowflake:ACME_EU_WEST", 38.0, 0.25),
    ("Snowflake", "ml-training", "snowflake:ACME_EU_WEST", 14.0, 0.10),
    ("Datadog", "shared-platform", "datadog:acme-eu1", 21.0, 0.85),
]
SAAS_ONE_OFF = [(date(2026, 1, 1), "Miro", "", "miro:acme", 2160.0)]  # annual licence, nobody's project


def saas_rows(rng: Rng) -> list[list[str]]:
    rows = []
    for d in days(FIRST_DAY, LAST_DAY):
        months = (d - FIRST_DAY).days / 30.44
        if d.day == 1:
            for service, project, account, eur in SAAS_MONTHLY:
                growth = GROWTH.get(project, 0.01) * 0.5  # seat-based tools grow slower than cloud
                value = eur * SAAS_SCALE * growth_factor(growth, int(months + 0.5))
                rows.append([d.isoformat(), project, service, f"{value:.2f}", "EUR", account])
            for when, service, project, account, eur in SAAS_ONE_OFF:
                if when == d:
                    rows.append([d.isoformat(), project, service, f"{eur:.2f}", "EUR", account])
        for service, project, account, eur, weekend in SAAS_DAILY:
            value = eur * SAAS_SCALE * growth_factor(GROWTH[project], months) * (weekend if d.weekday() >= 5 else 1.0)
            value *= rng.noise(0.12)
            rows.append([d.isoformat(), project, service, f"{value:.4f}", "EUR", account])
    return rows


# ---------------------------------------------------------------------------------------------
# Reference files
# ---------------------------------------------------------------------------------------------


def projects_csv() -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["project", "code", "owner", "team", "account_id"])
    for project, code, owner, team, acct, _ in PROJECTS:
        w.writerow([project, code, owner, team, acct])
    for key, (_, project) in AZURE_SUBS.items():
        if project:
            p = next(x for x in PROJECTS if x[0] == project)
            w.writerow([project, p[1], p[2], p[3], AZURE_SUB_ID[key]])
    return buf.getvalue()


def fx_csv() -> str:
    lines = ["month,currency,rate"]
    months = [m for m in all_months() if month_key(m) != OPEN_MONTH]
    for cur in ("EUR", "GBP"):
        assert len(FX[cur]) == len(months)
        lines += [f"{month_key(m)},{cur},{rate:.4f}" for m, rate in zip(months, FX[cur])]
    return "\n".join(lines) + "\n"


def fx_rate(cur: str, month: str) -> float:
    if cur == "USD":
        return 1.0
    months = [month_key(m) for m in all_months() if month_key(m) != OPEN_MONTH]
    return FX[cur][months.index(month) if month in months else len(months) - 1]  # open month: carry October


BUDGET_CURRENCY = {"analytics": "EUR"}  # the analytics team budgets in EUR
COLLABORATION_WEIGHTS = {"checkout": 0.20, "search": 0.15, "data-platform": 0.20, "ml-training": 0.15,
                         "mobile-api": 0.15, "analytics": 0.10, "internal-tools": 0.05}
PLATFORM_TARGETS = ("checkout", "search", "data-platform", "mobile-api")


def allocate_like_rules_yaml(costs: dict[tuple[str, str, str, str], float]) -> dict[tuple[str, str], float]:
    """Cost per (project, month) after the active rules of RULES_YAML, written out independently of
    the pipeline's allocation engine (monthly grain; the sample's rule dates are month starts)."""
    sandbox = AZURE_SUB_ID["sandbox"]
    moves = [  # (from, to, predicate on (month, service, account)), in file order
        ("legacy-search", "search", lambda m, s, a: True),
        ("unallocated", "shared-platform", lambda m, s, a: s == "AWS Support (Business)"),
        ("unallocated", "ml-training", lambda m, s, a: a == sandbox and m >= "2026-03"),
        ("ml-training", "data-platform", lambda m, s, a: s == "Snowflake"),
        ("unallocated", "collaboration-tools", lambda m, s, a: s in ("Slack", "Miro")),
    ]
    rows = [[p, m, s, a, v] for (p, m, s, a), v in costs.items()]
    for source, target, applies in moves:
        for r in rows:
            if r[0] == source and applies(r[1], r[2], r[3]):
                r[0] = target
    out: dict[tuple[str, str], float] = defaultdict(float)
    for p, m, _, _, v in rows:
        out[(p, m)] += v
    for m in sorted({m for _, m in out}):
        shared = out.pop(("collaboration-tools", m), 0.0)
        for target, weight in COLLABORATION_WEIGHTS.items():
            out[(target, m)] += shared * weight
        shared = out.pop(("shared-platform", m), 0.0)
        basis = {t: max(out[(t, m)], 0.0) for t in PLATFORM_TARGETS}
        for t in PLATFORM_TARGETS:
            out[(t, m)] += shared * (basis[t] / sum(basis.values()))
    return out


def budgets_csv(actual: dict[tuple[str, str], float], baseline: dict[tuple[str, str], float]) -> tuple[str, list[str]]:
    """Budgets flat per calendar quarter, from the anomaly-free baseline plus 20% headroom, rounded up to 500.
    data-platform's budget is only raised for the storage step from 2026-10 (finance reacted late),
    so it is over budget 2026-07 .. 2026-09; ml-training's GPU spike breaks its 2026-03 budget."""
    quarters: dict[tuple[int, int], list[str]] = defaultdict(list)
    for m in all_months():
        quarters[(m.year, (m.month - 1) // 3)].append(month_key(m))
    lines = ["project,month,amount,currency"]
    over = []
    for project, *_ in PROJECTS:
        if not any(v for (p, _), v in actual.items() if p == project):
            continue  # allocated away entirely (shared-platform): nothing left to budget
        for quarter in quarters.values():
            plan_basis = baseline if not (project == "data-platform" and quarter[0] >= "2026-10") else actual
            # the open month is partial: plan it like the last full month, grown by 3%
            usd = max(plan_basis[(project, m)] if m != OPEN_MONTH else plan_basis[(project, "2026-10")] * 1.03 for m in quarter)
            usd *= 1.20
            for m in quarter:
                cur = BUDGET_CURRENCY.get(project, "USD")
                amount = math.ceil(usd / fx_rate(cur, m) / 500.0) * 500
                lines.append(f"{project},{m},{amount},{cur}")
                if actual[(project, m)] > amount * fx_rate(cur, m):
                    over.append(f"{project} {m}: actual {actual[(project, m)]:,.0f} USD > budget {amount:,} {cur}")
    return "\n".join(lines) + "\n", over


RULES_YAML = """\
# Cost allocation rules, applied in this order to the daily cost rows of every month after
# currency conversion; each rule sees the result of the rules above it. start / end are
# inclusive and compared with the charge date. `finops validate` checks this file; after an
# edit the pipeline recomputes the months the change can affect (docs/allocation.md).
rules:
  - id: rename-legacy-search
    description: The old Azure search stack was tagged app=legacy-search; it is the search team's.
    type: rename_project
    from: legacy-search
    to: search

  - id: support-to-platform
    description: AWS Business Support is billed to the management account, which has no project.
    type: transfer_cost
    from: unallocated
    match:
      service: AWS Support (Business)
    to: shared-platform

  - id: sandbox-to-ml
    description: From March 2026 the acme-sandbox subscription is the ML team's experiment space.
    type: transfer_cost
    from: unallocated
    match:
      account: e26c9bdf-b911-5fe3-9d69-fa3444dfb3fa
    to: ml-training
    start: 2026-03-01

  - id: snowflake-to-data-platform
    description: The data team owns the Snowflake account, so ml-training's Snowflake usage is theirs.
    type: move_service
    service: Snowflake
    from: ml-training
    to: data-platform

  - id: saas-to-collaboration
    description: Company-wide SaaS bought without a project.
    type: transfer_cost
    from: unallocated
    match:
      service: [Slack, Miro]
    to: collaboration-tools

  - id: split-collaboration-tools
    description: Collaboration tools are split by head count (finance's figures for FY2026).
    type: distribute_cost
    from: collaboration-tools
    to: [checkout, search, data-platform, ml-training, mobile-api, analytics, internal-tools]
    method: fixed
    weights:
      checkout: 0.20
      search: 0.15
      data-platform: 0.20
      ml-training: 0.15
      mobile-api: 0.15
      analytics: 0.10
      internal-tools: 0.05

  - id: distribute-shared-platform
    description: The shared platform serves the product teams, in proportion to their own cost.
    type: distribute_cost
    from: shared-platform
    to: [checkout, search, data-platform, mobile-api]
    method: proportional

  - id: split-platform-evenly-fy2025
    description: The even split used until 2025; kept for the record and switched off.
    active: false
    type: distribute_cost
    from: shared-platform
    to: [checkout, search, data-platform, mobile-api]
    method: even
    end: 2025-12-31
"""

# Internal rate card: chargeback_cost = effective cost x (1 + markup_pct / 100). `*` is the
# default for services without a row of their own; dates are inclusive, on the charge date.
PRICING_CSV = """\
service,markup_pct,start,end
*,5,,
AWS Support (Business),0,,
Tax,0,,
Amazon Elastic Compute Cloud,8,2026-01-01,
"""


# ---------------------------------------------------------------------------------------------
# Attribution (same rules as the pipeline: tag keys project, Project, app; then account)
# ---------------------------------------------------------------------------------------------


def project_of(row: Row, account_map: dict[str, str]) -> str:
    if row.tags:
        for key in ("project", "Project", "app"):
            if row.tags.get(key):
                return row.tags[key]
    return account_map.get(row.account, "unallocated")


def is_anomaly(row: Row) -> float:
    """Share of the row that is anomaly (for the budget baseline)."""
    res = row.res
    if res is None:
        return 0.0
    if (res.start == GPU_SPIKE_DAYS[0] and res.end == GPU_SPIKE_DAYS[1]) or res.start == LOAD_TEST_START:
        return 1.0
    if res.step and row.day >= res.step[0] and row.category == "Usage":
        return 1.0 - 1.0 / res.step[1]
    return 0.0


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def generate(out: Path, debug: bool = False) -> dict:
    rng = Rng(SEED)
    aws_res, az_res = aws_resources(), azure_resources()

    aws_use = usage_rows(aws_res, rng, AWS_SCALE)
    aws_use += commitment_rows(aws_res, rng, AWS_SCALE)
    aws_all = aws_use + support_rows([r for r in aws_use if r.category == "Usage"])
    names = {AWS_ACCOUNT[p]: AWS_ACCOUNT_NAME[p] for p in AWS_ACCOUNT} | {AWS_PAYER: AWS_PAYER_NAME}
    aws_all += tax_rows(aws_all, AWS_TAX_RATE, names)

    az_all = usage_rows(az_res, rng, AZURE_SCALE)
    for m in all_months():  # Azure support plan on the hub subscription
        az_all.append(Row(None, m, next_month(m), "Purchase", 100.0, 100.0, 100.0, "Azure Support", "Other", AZURE_SUB_ID["hub"],
                          AZURE_SUBS["hub"][0], None, None, None, "Recurring"))
    az_all += tax_rows(az_all, AZURE_TAX_RATE, {AZURE_SUB_ID[k]: v[0] for k, v in AZURE_SUBS.items()})

    saas = saas_rows(rng)

    written: dict[str, bytes] = {}

    # AWS: one plain CSV per month, rows by day then resource; Tax rows close the file
    bad_aws = {(m, d, rid): kind for m, d, rid, kind in BAD_AWS}
    used_bad = set()
    order = {"Usage": 0, "Purchase": 1, "Tax": 2}
    for m in all_months():
        mk = month_key(m)
        rows = sorted((r for r in aws_all if month_key(r.day) == mk), key=lambda r: (r.category == "Tax", r.day, order[r.category]))  # stable
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(AWS_COLUMNS)
        for row in rows:
            bad = bad_aws.get((mk, row.day, row.resource_id)) if row.category in ("Usage", "Purchase") else None
            if bad:
                used_bad.add((mk, row.day, row.resource_id))
            formatted = format_aws(row, bad)
            if isinstance(formatted, str):
                buf.write(formatted)
            else:
                w.writerow(formatted)
        written[f"landing/billing/aws/focus_{mk}.csv"] = buf.getvalue().encode("utf-8")
    assert used_bad == set(bad_aws), f"bad AWS rows not placed: {set(bad_aws) - used_bad}"

    # Azure: one gzipped CSV per month with a BOM; ServiceProviderName from 2026-06
    for m in all_months():
        mk = month_key(m)
        provider_column = "ServiceProviderName" if mk >= AZURE_RENAME_FROM else "ProviderName"
        # grouped by resource (then day), as Cost Management writes its partitions
        rows = sorted((r for r in az_all if month_key(r.day) == mk),
                      key=lambda r: (order[r.category], r.account, r.resource_id or "", r.service, r.day))
        header = [provider_column if c == "ProviderName" else c for c in AZURE_COLUMNS]
        parts = ["\ufeff", azure_line(header)]
        for row in rows:
            parts.append(azure_line(format_azure(row)))
        written[f"landing/billing/azure/focus_{mk}.csv.gz"] = gzip_bytes("".join(parts).encode("utf-8"))

    # Finance: one generic file for all months, with two bad rows
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(GENERIC_COLUMNS)
    pending = list(BAD_FINANCE)
    seen_dates = set()
    for row in saas:
        w.writerow(row)
        d = date.fromisoformat(row[0])
        if d not in seen_dates:
            seen_dates.add(d)
            for when, bad_row in [b for b in pending if b[0] == d]:
                w.writerow(bad_row)
                pending.remove((when, bad_row))
    assert not pending
    written["landing/billing/finance/saas_expenses_eur.csv"] = buf.getvalue().encode("utf-8")

    # Reference data
    account_map = {p[4]: p[0] for p in PROJECTS} | {AZURE_SUB_ID[k]: v[1] for k, v in AZURE_SUBS.items() if v[1]}
    # cost per (project, month, service, account) as ingest attributes it; budgets are set on the
    # cost after the allocation rules, i.e. what each team is actually charged
    actual, baseline = defaultdict(float), defaultdict(float)
    for row in aws_all + az_all:
        key = (project_of(row, account_map), month_key(row.day), row.service, row.account)
        actual[key] += row.effective
        baseline[key] += row.effective * (1.0 - is_anomaly(row))
    for row in saas:
        usd = float(row[3]) * fx_rate("EUR", row[0][:7])
        key = (row[1] or "unallocated", row[0][:7], row[2], row[5])
        actual[key] += usd
        baseline[key] += usd
    actual, baseline = allocate_like_rules_yaml(actual), allocate_like_rules_yaml(baseline)
    budgets, over = budgets_csv(actual, baseline)
    if debug:  # effective cost per project and month, for calibrating the constants above
        for (p, mk), v in sorted(actual.items()):
            print(f"DEBUG {p:16s} {mk} {v:12,.0f}")
    written["reference/projects.csv"] = projects_csv().encode()
    written["reference/fx_rates.csv"] = fx_csv().encode()
    written["reference/budgets.csv"] = budgets.encode()
    written["reference/rules.yaml"] = RULES_YAML.encode()
    written["reference/pricing.csv"] = PRICING_CSV.encode()

    # write only what changed (keeps mtimes, and so the pipeline's scan cache, of unchanged files)
    for rel, data in written.items():
        path = out / rel
        if not path.exists() or path.read_bytes() != data:
            write_bytes(path, data)
    # drop monthly files this script wrote before but no longer writes (e.g. after changing the dates)
    owned = list((out / "landing" / "billing" / "aws").glob("focus_*.csv"))
    owned += (out / "landing" / "billing" / "azure").glob("focus_*.csv.gz")
    for p in owned:
        if p.relative_to(out).as_posix() not in written:
            p.unlink()

    return {"over_budget": over, "actual": actual, "bad_texts": dict(BAD_TEXTS)}


# ---------------------------------------------------------------------------------------------
# Independent reader: re-read the written files with csv + Decimal and total them
# ---------------------------------------------------------------------------------------------

DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?)?$")
NUMBER_RE = re.compile(r"^-?\d+(?:\.\d+)?$")
KNOWN_CURRENCIES = {"USD", "EUR", "GBP"}


def _open_text(path: Path) -> io.TextIOBase:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return io.StringIO(raw.decode("utf-8-sig"), newline="")


def _valid_date(text: str | None) -> str | None:
    m = DATE_RE.match(text or "")
    if not m:
        return None
    try:
        date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    return f"{m[1]}-{m[2]}"


def _number(text: str | None) -> Decimal | None:
    if text is None or text in ("", "NULL") or not NUMBER_RE.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def expected_totals(out: Path) -> dict:
    groups = {"aws": "landing/billing/aws", "azure": "landing/billing/azure", "finance": "landing/billing/finance"}
    totals = defaultdict(lambda: [0, Decimal(0), Decimal(0)])  # (group, month, currency) -> rows, billed, effective
    files = defaultdict(lambda: [0, 0, 0, 0])  # group -> files, good rows, bad rows, bytes
    bad_rows = []
    for group, rel in groups.items():
        for path in sorted((out / rel).iterdir()):
            files[group][0] += 1
            files[group][3] += path.stat().st_size
            reader = csv.reader(_open_text(path))
            header = next(reader)
            col = {name: i for i, name in enumerate(header)}
            generic = "date" in col
            cols = (
                col["date"] if generic else col["ChargePeriodStart"],
                col["cost"] if generic else col["BilledCost"],
                col["cost"] if generic else col["EffectiveCost"],  # generic files have one amount
                col["currency"] if generic else col["BillingCurrency"],
                None if generic else col["BillingPeriodStart"],
            )
            rel_file = path.relative_to(out / "landing" / "billing").as_posix()
            for line_no, values in enumerate(reader, start=2):
                if len(values) != len(header):
                    reason, billed, eff, cur, month = (f"malformed_row ({len(values)} fields, header has {len(header)})",
                                                       None, None, None, None)
                else:
                    reason, billed, eff, cur, month = _check_row(values, *cols)
                if reason is None:
                    t = totals[(group, month, cur)]
                    t[0], t[1], t[2] = t[0] + 1, t[1] + billed, t[2] + eff
                    files[group][1] += 1
                else:
                    bad_rows.append({"file": rel_file, "line": line_no, "reason": reason, "billed": billed, "effective": eff,
                                     "currency": cur, "month": month, "raw": _csv_line(values)})
                    files[group][2] += 1
    eur_rates = {}
    with open(out / "reference" / "fx_rates.csv", newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            if rec["currency"] == "EUR":
                eur_rates[rec["month"]] = Decimal(rec["rate"])
    return {"totals": totals, "files": files, "bad_rows": bad_rows, "eur_rates": eur_rates}


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def _check_row(values, c_date, c_billed, c_eff, c_cur, c_period):
    """(reason or None, billed, effective, currency, month) of one well-formed row."""
    v = [None if x == "NULL" else x for x in values]
    billed, eff, cur = _number(v[c_billed]), _number(v[c_eff]), (v[c_cur] or "").upper()
    period_month = _valid_date(v[c_period]) if c_period is not None else None
    month = _valid_date(v[c_date])
    if v[c_date] is None:
        return "missing_date", billed, eff, cur, period_month
    if month is None:
        return "unparseable_date", billed, eff, cur, period_month
    if billed is None or eff is None:
        return "unparseable_amount", billed, eff, cur, month
    if cur not in KNOWN_CURRENCIES:
        return "invalid_currency", billed, eff, cur, month
    return None, billed, eff, cur, month


def render_tables(result: dict) -> str:
    totals, files, bad_rows = result["totals"], result["files"], result["bad_rows"]
    months = sorted({m for (_, m, _) in totals})
    out = []
    out.append("| file group | files | rows read | good rows | bad rows | bytes on disk |")
    out.append("|---|---:|---:|---:|---:|---:|")
    names = {"aws": "`aws/` (FOCUS 1.0, .csv)", "azure": "`azure/` (FOCUS 1.2, .csv.gz)", "finance": "`finance/` (generic, .csv)"}
    all_good = all_bad = all_bytes = 0
    for g in ("aws", "azure", "finance"):
        n, good, bad, size = files[g]
        all_good, all_bad, all_bytes = all_good + good, all_bad + bad, all_bytes + size
        out.append(f"| {names[g]} | {n} | {good + bad:,} | {good:,} | {bad} | {size:,} |")
    out.append(f"| **total** | {sum(f[0] for f in files.values())} | {all_good + all_bad:,} | {all_good:,} | {all_bad} | {all_bytes:,} |")
    out.append("")
    out.append("Expected totals of the good rows, in the billing currency (rows whose ChargePeriodStart / date falls in the month):")
    out.append("")
    out.append("| month | AWS rows | AWS BilledCost USD | AWS EffectiveCost USD | Azure rows | Azure BilledCost USD | Azure EffectiveCost USD "
               "| cloud BilledCost USD | finance rows | finance cost EUR | all-in USD |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rates = result["eur_rates"]
    grand = defaultdict(lambda: Decimal(0))
    for m in months:
        a = totals.get(("aws", m, "USD"), [0, Decimal(0), Decimal(0)])
        z = totals.get(("azure", m, "USD"), [0, Decimal(0), Decimal(0)])
        f = totals.get(("finance", m, "EUR"), [0, Decimal(0), Decimal(0)])
        label = f"{m} (open, to 11-20)" if m == OPEN_MONTH else m
        rate = rates.get(m) or rates[max(rates)]  # the open month carries the last rate forward
        all_in = a[1] + z[1] + f[1] * rate
        grand["all"] += all_in
        out.append(f"| {label} | {a[0]:,} | {a[1]:,.2f} | {a[2]:,.2f} | {z[0]:,} | {z[1]:,.2f} | {z[2]:,.2f} | {a[1] + z[1]:,.2f} "
                   f"| {f[0]:,} | {f[1]:,.2f} | {all_in:,.2f} |")
        for k, val in (("ar", a[0]), ("ab", a[1]), ("ae", a[2]), ("zr", z[0]), ("zb", z[1]), ("ze", z[2]), ("fr", f[0]), ("fb", f[1])):
            grand[k] += val
    g = grand
    out.append(f"| **all** | {g['ar']:,} | {g['ab']:,.2f} | {g['ae']:,.2f} | {g['zr']:,} | {g['zb']:,.2f} | {g['ze']:,.2f} "
               f"| {g['ab'] + g['zb']:,.2f} | {g['fr']:,} | {g['fb']:,.2f} | {g['all']:,.2f} |")
    out.append("")
    out.append("Rows the independent reader rejects (the pipeline should quarantine exactly these; line 1 is the header):")
    out.append("")
    out.append("| file | line | reason | month | BilledCost | EffectiveCost | currency | raw line (start) |")
    out.append("|---|---:|---|---|---:|---:|---|---|")
    for b in bad_rows:
        def show(x):
            return "—" if x is None else str(x)
        out.append(f"| `{b['file']}` | {b['line']} | {b['reason']} | {b['month'] or '—'} | {show(b['billed'])} "
                   f"| {show(b['effective'])} | {b['currency'] or '—'} | `{b['raw'][:40]}…` |")
    return "\n".join(out)


def checksums(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(x for x in out.rglob("*") if x.is_file() and not any(part.startswith(".") for part in x.relative_to(out).parts)):
        if p.suffix == ".db" or p.name.startswith("warehouse.db"):
            continue
        h.update(p.relative_to(out).as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def write_readme(out: Path, tables: str, info: dict) -> None:
    """README_BODY (at the end of this file) with the generated values filled in."""
    text = (README_BODY.replace("{{TABLES}}", tables)
            .replace("{{OVER_BUDGET}}", "\n".join(f"- {o}" for o in info["over_budget"]))
            .replace("{{BILLED_COMMA}}", info["bad_texts"]["billed_comma"])
            .replace("{{THOUSANDS}}", info["bad_texts"]["thousands"]))
    path = out / "README.md"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: data/sample)")
    ap.add_argument("--check", action="store_true", help="only re-read the dataset and print the expected totals")
    ap.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    out = args.out.resolve()
    over: list[str] = []
    if not args.check:
        info = generate(out, debug=args.debug)
        over = info["over_budget"]
        print(f"wrote {out}")
    result = expected_totals(out)
    tables = render_tables(result)
    if not args.check:
        write_readme(out, tables, info)
    print(tables)
    if over:
        print("\nOver budget (effective cost in USD, finance converted at fx_rates.csv):")
        print("\n".join(f"  {o}" for o in over))
    print(f"\nchecksum of {out}: {checksums(out)}")
    return 0


README_BODY = """\
# Sample data: "Acme" (synthetic)

Everything in this folder is **synthetic**: made up by `scripts/generate_sample_data.py`
(seeded, deterministic: running it again rewrites byte-identical files). Company, people,
account ids, subscription ids, resources and amounts are invented; any resemblance to a real
bill is the point, not a leak. Regenerate with

    python scripts/generate_sample_data.py           # rewrites data/sample/ (this README included)
    python scripts/generate_sample_data.py --check   # only re-reads the files and prints the totals below

Acme runs 8 projects on AWS and Azure and pays a few SaaS tools in EUR. The data covers 15
full months, **2025-08-01 .. 2026-10-31**, plus the **open month 2026-11-01 .. 2026-11-20**
("today" is 2026-11-21). All-in spend (cloud plus SaaS converted to USD) is about 84k–134k
USD per closed month, with a peak in 2026-03.

## Files

```
landing/billing/
  aws/focus_YYYY-MM.csv            FOCUS 1.0, ProviderName "AWS", plain CSV, 16 files
  azure/focus_YYYY-MM.csv.gz       FOCUS 1.2, ProviderName "Microsoft", gzip, UTF-8 BOM, CRLF,
                                   every value quoted; from 2026-06 the column is called
                                   ServiceProviderName (FOCUS 1.3 name) instead of ProviderName
  finance/saas_expenses_eur.csv    generic format, one file for all months:
                                   date,project,service,cost,currency,account
reference/
  projects.csv    project,code,owner,team,account_id (one account per row; a project repeats
                  for its Azure subscription)
  budgets.csv     project,month,amount,currency — 8 projects x 16 months; analytics budgets in EUR
  fx_rates.csv    month,currency,rate = USD per 1 EUR / GBP, 2025-08 .. 2026-10; no 2026-11 row
                  on purpose: the open month carries the October rate forward
  rules.yaml      allocation rules: every rule type, a dated rule and an inactive one
                  (walked through with numbers in docs/allocation.md)
  pricing.csv     service,markup_pct,start,end — the internal chargeback rate card
```

### Billing files

- **Grain**: one row per resource per day (ChargePeriodStart = the day at 00:00 UTC,
  ChargePeriodEnd = the next day). AWS timestamps look like `2025-08-01 00:00:00`, Azure ones
  like `2025-08-01T00:00:00Z`. Nulls are the literal `NULL`. Amounts have up to 10 decimals;
  the billing currency is USD.
- **ChargeCategory**: mostly `Usage`; per month also
  - `Purchase` on the 1st: AWS Business Support (billed to the management account
    401837265190, which is not in projects.csv: it lands in *unallocated*; rules.yaml moves it to
    shared-platform), Azure Support on the hub subscription, and from 2026-01 the monthly
    fee of checkout's RDS reserved instance;
  - `Tax`: one row per account and closed month, dated the 1st (ResourceId, RegionId, Tags NULL);
    the open month has no tax yet.
- **Costs**: EffectiveCost <= ListCost everywhere (AWS has a 6% negotiated discount, Azure 10% on
  most services). BilledCost = EffectiveCost except for the **commitment rows** of checkout's RDS
  instance from 2026-01: the monthly `Purchase` has BilledCost = fee and EffectiveCost 0, the
  daily usage has BilledCost 0 and EffectiveCost = the fee amortized per day. Over a closed month
  the two cancel out; in the open month the whole November fee is billed but only 20 days are
  amortized, so AWS BilledCost exceeds EffectiveCost there.
- **Project attribution** (what the pipeline is expected to do): a `Tags` JSON object with key
  `project` (AWS, some Azure), `app` (most Azure resources of mobile-api, internal-tools and the
  legacy search stack) or `Project` (two internal-tools VMs). Rows without a project tag
  (Tags `NULL` or `{}`: e.g. checkout's ElastiCache, search's EC2 instance, analytics' Athena,
  several Azure resources, all Tax rows) get their project from `SubAccountId` via
  `projects.csv` `account_id`. What maps to nothing is *unallocated*: the AWS management account
  (support, its tax) and the Azure subscription `acme-sandbox` (untagged experiments).
  Tags beat the account: checkout's Front Door and static-site storage live in the
  shared-platform hub subscription but are tagged `project: checkout`.
- `app: legacy-search` tags the old Azure search stack (until 2026-01-31). That project is not in
  projects.csv on purpose; rules.yaml renames it to `search`.
- Finance: monthly charges on the 1st (Datadog, GitHub, PagerDuty, Sentry per project; Slack
  with an **empty project** = unallocated; a Miro annual licence on 2026-01-01 also without
  project) and daily usage (Snowflake for data-platform, analytics and ml-training; Datadog logs
  for shared-platform). Amounts in EUR with 2 (monthly) or 4 (daily) decimals.
- Tags JSON: AWS writes it compact (`{"project":"checkout","env":"prod"}`), Azure with spaces
  (`{"app": "mobile-api", "env": "prod"}`). AWS rows are ordered by day; Azure rows are grouped
  by resource (which also keeps the gzip files small).

### Patterns planted for the demo

- Weekday seasonality: compute and batch resources cost ~30–55% less on weekends; storage is flat.
- Growth of 1.5–4% per month depending on the project (~3% overall).
- **ml-training GPU spike**: eight extra p4d instances on AWS (us-west-2) on 2026-03-10..12
  (~20k USD in three days).
- **data-platform storage step**: S3 bucket `acme-datalake-raw` costs 2.6x from 2026-07-01 on.
- **mobile-api load-test fleet**: eight c6i instances (us-east-1, tag `env: loadtest`) started on
  2026-11-16 and still running at the end of the data (~980 USD a day): an open anomaly and a
  projected budget overrun in the open month.
- New and retired resources: a Redshift namespace from 2026-02, the legacy search stack ends
  2026-01-31, sandbox VMs come and go.
- Budgets are flat per calendar quarter, 20% above the anomaly-free cost of the quarter's
  dearest month, rounded up to 500 (analytics: in EUR), on the cost **after the allocation
  rules** of rules.yaml (the generator applies them itself, independently of the pipeline), so
  shared-platform, which is distributed entirely, has no budget. data-platform's budget only
  catches up with the storage step in 2026-Q4. The open month has a full-month budget. Over
  budget (EffectiveCost of the cloud rows plus the SaaS rows converted with fx_rates.csv, after
  allocation), as generated:

{{OVER_BUDGET}}

### Deliberately bad rows

Six rows are broken on purpose so the quarantine has something to show. Each sits in exactly
one file, and each (dated) one has other, good rows of the same project on the same day, so no
day or project disappears from the results because of them. The undated finance row has no day;
data-platform has good Snowflake rows on every day.

| file | row | what is wrong | why it is there |
|---|---|---|---|
| `aws/focus_2025-11.csv` | checkout EC2 `i-0c4e1a7b9d2f30581`, 2025-11-12 | ChargePeriodStart is `NULL` | a row without a date cannot be put on a day; BillingPeriodStart still says 2025-11 |
| `aws/focus_2026-02.csv` | search EC2 `i-05d8f2c61a9e47b30`, 2026-02-17 | BilledCost `"{{BILLED_COMMA}}"` (decimal comma, quoted) | a locale-formatted amount must be rejected rather than guessed (122.8394? 1228394?) |
| `aws/focus_2026-02.csv` | mobile-api DynamoDB, 2026-02-18 | BilledCost `n/a` | a non-numeric amount |
| `aws/focus_2026-05.csv` | checkout RDS reserved-instance fee (Purchase), 2026-05-01 | BilledCost written `{{THOUSANDS}}` **unquoted**: the thousands separator splits it, the line has 19 fields for an 18-column header | a row with the wrong number of fields cannot be trusted column by column |
| `finance/saas_expenses_eur.csv` | data-platform Snowflake, 412.50 EUR | date `31/13/2025` | not ISO 8601 (and month 13 does not exist); its month is unknown |
| `finance/saas_expenses_eur.csv` | mobile-api GitHub, 2026-04-01, 95.00 | currency `EURO` | not an ISO 4217 code, so it cannot be converted |

The four AWS rows are real charges that were corrupted (their amounts are missing from the
good totals below); the two finance rows are extra rows.

## Expected results

Computed by the generator's independent reader (Python `csv` + `Decimal`, nothing shared with
the pipeline), after writing the files:

{{TABLES}}

Notes: "cloud BilledCost USD" is AWS + Azure. The finance column is in EUR; "all-in USD" adds it
converted with the month's fx_rates.csv rate (2026-11: the October rate), for orientation only.
The sums are exact (Decimal) and rounded to the cent for display; the rejected rows show their
amounts exactly as written ("—" where the text is not a number). The "month" of a rejected row is
that of its ChargePeriodStart, else of its BillingPeriodStart, else unknown ("—"): a pipeline
has to pick one for those (e.g. the month in the file name, 2026-05 for the malformed AWS row).
"""


if __name__ == "__main__":
    sys.exit(main())
