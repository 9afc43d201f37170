"""reference/rules.yaml: parsing and validation of the allocation rules.

A rule file is a mapping with a `rules:` list. Every problem is reported at once, each naming the
line, the rule id and the fix, so a finance analyst can correct the file in one pass. Nothing here
touches cost data: `apply_rules` (transforms.intermediate.allocation.engine) does that.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
import yaml

RULE_TYPES = ("rename_project", "transfer_cost", "move_service", "distribute_cost")
METHODS = ("even", "fixed", "proportional")
COMMON_FIELDS = ("id", "type", "start", "end", "active", "description")
TYPE_FIELDS = {  # required, optional
    "rename_project": (("from", "to"), ()),
    "transfer_cost": (("from", "to"), ("match",)),
    "move_service": (("service", "from", "to"), ()),
    "distribute_cost": (("from", "to", "method"), ("weights",)),
}
# transfer_cost `match` keys -> cost columns. The finance dimensions are matched by their own
# names (match: {cost_center: [CC-4100]}, match: {vendor: [...]}), ids rather than names.
MATCH_KEYS = {
    "service": "service_name", "account": "sub_account_id", "region": "region",
    **{d: d for d in ("cost_center", "profit_center", "directorate", "functional_area", "gl_account", "vendor",
                      "merchant_category")},
}
WEIGHT_TOLERANCE = 1e-9
STAGED_COLUMNS = [
    "rule_order", "rule_id", "rule_type", "active", "start_date", "end_date", "source_project",
    "target_projects", "method", "parameters", "description", "fingerprint", "line",
]


@dataclass(frozen=True)
class Rule:
    id: str
    type: str
    line: int
    params: dict[str, Any]  # type-specific fields: from, to, match, service, method, weights
    start: date | None = None
    end: date | None = None
    active: bool = True
    description: str | None = None

    @property
    def source(self) -> str:
        return self.params["from"]

    @property
    def targets(self) -> list[str]:
        to = self.params["to"]
        return list(to) if isinstance(to, list) else [to]

    def fingerprint(self) -> str:
        """Hash of everything that changes the rule's effect (not its line or description)."""
        body = {"type": self.type, "start": _iso(self.start), "end": _iso(self.end), "active": self.active, **self.params}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def window_text(self) -> str:
        if self.start is None and self.end is None:
            return "all dates"
        return f"{_iso(self.start) or '…'} .. {_iso(self.end) or '…'}"


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "path:line: rule 'id': message; fix"

    @property
    def active(self) -> list[Rule]:
        return [r for r in self.rules if r.active]


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


class _RulesLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: `start: 2024-02-30` must become a clear problem on
    its line, not a ValueError from the YAML library's own date conversion."""


_RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_rules(text: str, display: str = "reference/rules.yaml") -> RuleSet:
    try:
        root = yaml.compose(text, Loader=_RulesLoader)
        data = yaml.load(text, Loader=_RulesLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{display}:{mark.line + 1}" if mark else display
        problem = getattr(exc, "problem", None) or str(exc)
        return RuleSet(problems=[f"{where}: YAML syntax error ({problem}); check the indentation and quote "
                                 "values that contain ':' or '#'"])
    if data is None:
        return RuleSet()
    if not isinstance(data, dict) or "rules" not in data:
        return RuleSet(problems=[f"{display}:1: the file must be a mapping with a `rules:` list, e.g.\n"
                                 "rules:\n  - id: my-rule\n    type: rename_project\n    from: old\n    to: new"])
    rules_node = _child(root, "rules")
    items = data["rules"] or []
    if not isinstance(items, list):
        return RuleSet(problems=[f"{display}:{_line(rules_node)}: `rules:` must be a list of rules (items start with '- ')"])
    nodes = rules_node.value if isinstance(rules_node, yaml.SequenceNode) else []
    out = RuleSet()
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        node = nodes[i] if i < len(nodes) else None
        rule, problems = _parse_rule(item, node, i)
        out.problems += [f"{display}:{line}: {msg}" for line, msg in problems]
        if rule is None:
            continue
        if rule.id in seen:
            out.problems.append(f"{display}:{rule.line}: rule '{rule.id}': duplicate id (first used on line "
                                f"{seen[rule.id]}); give every rule its own id")
            continue
        seen[rule.id] = rule.line
        out.rules.append(rule)
    return out


def _child(node, key: str):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def _key_line(node, key: str, default: int) -> int:
    """Line of `key:` in a rule (its value may start on the next line)."""
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if getattr(k, "value", None) == key:
                return k.start_mark.line + 1
    return default


def _repeated_keys(node) -> list[str]:
    if not isinstance(node, yaml.MappingNode):
        return []
    keys = [getattr(k, "value", None) for k, _ in node.value]
    return sorted({k for k in keys if keys.count(k) > 1})


def _line(node, default: int = 1) -> int:
    return node.start_mark.line + 1 if node is not None else default


def _parse_rule(item: Any, node, index: int) -> tuple[Rule | None, list[tuple[int, str]]]:
    line = _line(node)
    if not isinstance(item, dict):
        return None, [(line, f"rule #{index + 1} is not a mapping; write it as '- id: ...' with one field per line")]
    rid = item.get("id")
    if rid is None or (isinstance(rid, str) and not rid.strip()):
        return None, [(line, f"rule #{index + 1} has no `id`; add a unique id such as 'id: move-support-costs'")]
    rid = str(rid).strip()
    name = f"rule '{rid}'"
    problems: list[tuple[int, str]] = []

    def at(key: str) -> int:
        return _key_line(node, key, line)

    rtype = item.get("type")
    if rtype not in RULE_TYPES:
        what = "has no `type`" if rtype is None else f"has unknown type {rtype!r}"
        return None, [(at("type"), f"{name} {what}; use one of {', '.join(RULE_TYPES)}")]
    required, optional = TYPE_FIELDS[rtype]
    for key in item:
        if key not in COMMON_FIELDS + required + optional:
            allowed = ", ".join(required + optional + COMMON_FIELDS[2:])
            problems.append((at(key), f"{name}: unknown field `{key}` for {rtype}; allowed fields: {allowed}"))
    problems += [(_key_line(node, key, line), f"{name}: `{key}` is given twice; keep one")
                 for key in _repeated_keys(node)]
    for key in required:
        if item.get(key) in (None, "", []):
            problems.append((line, f"{name}: missing field `{key}` (required for {rtype}); add `{key}: ...` "
                                   "to the rule"))
    start, p1 = _date_field(item, "start", name, at)
    end, p2 = _date_field(item, "end", name, at)
    problems += p1 + p2
    if start and end and start > end:
        problems.append((at("start"), f"{name}: start {start} is after end {end}; swap them or fix the dates "
                                      "(both are inclusive)"))
    active = item.get("active", True)
    if not isinstance(active, bool):
        problems.append((at("active"), f"{name}: active must be true or false, not {active!r}"))
    if problems:
        return None, problems
    params, problems = _params(rtype, item, name, at)
    if problems:
        return None, problems
    description = item.get("description")
    rule = Rule(rid, rtype, line, params, start, end, active, str(description) if description is not None else None)
    return rule, []


def _date_field(item: dict, key: str, name: str, at) -> tuple[date | None, list]:
    value = item.get(key)
    if value is None:
        return None, []
    if isinstance(value, date) and not isinstance(value, datetime):
        return value, []
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()), []
        except ValueError:
            pass
    return None, [(at(key), f"{name}: {key} {value!r} is not a date; write it as YYYY-MM-DD")]


def _project(value: Any, key: str, name: str, at) -> tuple[str | None, list]:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip(), []
    return None, [(at(key), f"{name}: `{key}` must be a project name, not {value!r}")]


def _params(rtype: str, item: dict, name: str, at) -> tuple[dict, list]:
    problems: list = []
    params: dict[str, Any] = {}
    src, p = _project(item["from"], "from", name, at)
    problems += p
    params["from"] = src
    if rtype == "distribute_cost":
        targets, p = _targets(item["to"], src, name, at)
        problems += p
        params["to"] = targets
        method = item["method"]
        if method not in METHODS:
            problems.append((at("method"), f"{name}: unknown method {method!r}; use one of {', '.join(METHODS)}"))
        params["method"] = method
        if method == "fixed":
            weights, p = _weights(item.get("weights"), targets, name, at)
            problems += p
            params["weights"] = weights
        elif "weights" in item:
            problems.append((at("weights"), f"{name}: weights are only used with method: fixed; remove them or "
                                            "set method: fixed"))
        return params, problems
    dst, p = _project(item["to"], "to", name, at)
    problems += p
    params["to"] = dst
    if src is not None and src == dst:
        problems.append((at("to"), f"{name}: from and to are both {src!r}; the rule would do nothing"))
    if rtype == "move_service":
        service = item["service"]
        if not isinstance(service, str):
            problems.append((at("service"), f"{name}: `service` must be a service name (ServiceName), not {service!r}"))
        params["service"] = service
    if rtype == "transfer_cost":
        match, p = _match(item.get("match"), name, at)
        problems += p
        params["match"] = match
    return params, problems


def _targets(value: Any, src: str | None, name: str, at) -> tuple[list[str], list]:
    values = value if isinstance(value, list) else [value]
    targets, problems = [], []
    for v in values:
        t, p = _project(v, "to", name, at)
        problems += p
        if t is not None:
            targets.append(t)
    if len(set(targets)) != len(targets):
        problems.append((at("to"), f"{name}: a target is listed twice in `to`; list each project once"))
    if src is not None and src in targets:
        problems.append((at("to"), f"{name}: the targets include the source {src!r}; a distribute rule cannot give "
                                   "cost back to itself, remove it from `to`"))
    return targets, problems


def _weights(value: Any, targets: list[str], name: str, at) -> tuple[dict[str, float], list]:
    if not isinstance(value, dict) or not value:
        return {}, [(at("weights"), f"{name}: method fixed needs `weights`, a map of target -> share, e.g. "
                                    f"{{{', '.join(f'{t}: 0.5' for t in targets[:2])}}}")]
    problems = []
    weights: dict[str, float] = {}
    for k, w in value.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            problems.append((at("weights"), f"{name}: weight of {k!r} is {w!r}; weights are numbers >= 0"))
        else:
            weights[str(k)] = float(w)
    if set(weights) != set(targets) and not problems:
        missing, extra = sorted(set(targets) - set(weights)), sorted(set(weights) - set(targets))
        problems.append((at("weights"), f"{name}: weights must name exactly the targets in `to`"
                         + (f"; missing {missing}" if missing else "") + (f"; not in `to`: {extra}" if extra else "")))
    total = math.fsum(weights.values())
    if not problems and abs(total - 1) > WEIGHT_TOLERANCE:
        problems.append((at("weights"), f"{name}: weights sum to {total:g}, not 1; adjust them so they add up to 1"))
    return weights, problems


def _match(value: Any, name: str, at) -> tuple[dict[str, list[str]], list]:
    if value is None:
        return {}, []
    if not isinstance(value, dict) or not value:
        return {}, [(at("match"), f"{name}: `match` must be a mapping with any of {', '.join(MATCH_KEYS)}")]
    match, problems = {}, []
    for key, v in value.items():
        if key not in MATCH_KEYS:
            problems.append((at("match"), f"{name}: unknown match key `{key}`; use any of {', '.join(MATCH_KEYS)}"))
            continue
        values = v if isinstance(v, list) else [v]
        if not values or any(x is None or isinstance(x, (dict, list)) for x in values):
            problems.append((at("match"), f"{name}: match `{key}` must be a value or a list of values"))
            continue
        match[key] = [str(x) for x in values]
    return match, problems


def project_warnings(rules: list[Rule], known: set[str], display: str = "reference/rules.yaml") -> list[str]:
    """Rules naming a project that neither the data, projects.csv nor an earlier rule knows.

    Warnings, not errors: a rule written ahead of a new project's first bill is legitimate, but a
    typo would otherwise silently match nothing. A target is fine if a later rule takes it as its
    source (an intermediate bucket)."""
    warnings = []
    produced: set[str] = set()
    active = [r for r in rules if r.active]
    for i, rule in enumerate(active):
        if rule.source not in known | produced:
            warnings.append(f"{display}:{rule.line}: rule '{rule.id}': project {rule.source!r} is not in the data, "
                            "projects.csv or an earlier rule's targets; check the spelling")
        later_sources = {r.source for r in active[i + 1:]}
        for target in rule.targets:
            if target not in known and target not in later_sources:
                warnings.append(f"{display}:{rule.line}: rule '{rule.id}': target {target!r} is a new project (not in "
                                "the data or projects.csv); add it to projects.csv if it is meant")
        produced |= set(rule.targets)
    return warnings


def rules_to_frame(rules: list[Rule]) -> pd.DataFrame:
    """stg_allocation_rules rows, in file order (the order the rules apply in)."""
    rows = [
        {
            "rule_order": i + 1,
            "rule_id": r.id,
            "rule_type": r.type,
            "active": r.active,
            "start_date": pd.Timestamp(r.start) if r.start else pd.NaT,
            "end_date": pd.Timestamp(r.end) if r.end else pd.NaT,
            "source_project": r.source,
            "target_projects": ",".join(r.targets),
            "method": r.params.get("method"),
            "parameters": json.dumps(r.params, sort_keys=True),
            "description": r.description,
            "fingerprint": r.fingerprint(),
            "line": r.line,
        }
        for i, r in enumerate(rules)
    ]
    return pd.DataFrame(rows, columns=STAGED_COLUMNS)


def rules_from_frame(frame: pd.DataFrame) -> list[Rule]:
    """The rules as stg_allocation_rules stored them (the inverse of rules_to_frame)."""
    rules = []
    for row in frame.sort_values("rule_order").to_dict("records"):
        rules.append(Rule(
            id=row["rule_id"],
            type=row["rule_type"],
            line=int(row["line"]) if pd.notna(row["line"]) else 0,
            params=json.loads(row["parameters"]),
            start=row["start_date"].date() if pd.notna(row["start_date"]) else None,
            end=row["end_date"].date() if pd.notna(row["end_date"]) else None,
            active=bool(row["active"]),
            description=row["description"] if isinstance(row["description"], str) else None,
        ))
    return rules
