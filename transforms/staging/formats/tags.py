"""Reading resource tags as each provider writes them, into a {key: value} mapping."""

from __future__ import annotations

import json


def json_object(text: str) -> dict | None:
    """FOCUS ``Tags``: a JSON object. Malformed text gives None (the row then falls back to the
    account mapping: malformed tags never lose money)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def azure_tags(text: str) -> dict | None:
    """Azure ``Tags``: usually the members of a JSON object without the braces
    (``"env": "prod","org": "x"``); newer exports write the braces. Both are read."""
    stripped = text.strip()
    return json_object(stripped if stripped.startswith("{") else "{" + stripped + "}")


def key_value_list(text: str) -> dict | None:
    """GCP ``labels``: a JSON list of {"key": ..., "value": ...} (a plain object is accepted too)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        return parsed
    if not isinstance(parsed, list):
        return None
    return {item["key"]: item.get("value") for item in parsed if isinstance(item, dict) and "key" in item}


def prefixed_keys(prefix: str):
    """CUR 2.0 ``resource_tags``: a JSON object whose user tags are named ``user_<key>``; the
    prefix is removed so that FINOPS_PROJECT_TAG_KEYS names the key as the user wrote it."""

    def parse(text: str) -> dict | None:
        found = json_object(text)
        if found is None:
            return None
        return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in found.items()}

    return parse
