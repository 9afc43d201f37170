"""Assemble docs/accuracy.md from the sections the benchmarks write, so its numbers always come
from a run (never typed by hand):

    python -m benchmarks.forecast_m3            # writes docs/accuracy_forecasts.md
    python -m benchmarks.anomaly_benchmark --doc docs/accuracy_anomalies.md
    python -m benchmarks.accuracy_doc > docs/accuracy.md

`make bench` runs all three; a test fails when docs/accuracy.md is older than its sections.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
SECTIONS = ("accuracy_forecasts.md", "accuracy_anomalies.md")

HEADER = """# Accuracy: forecasts and anomalies against public benchmarks

Assembled by `python -m benchmarks.accuracy_doc > docs/accuracy.md` from the sections the
benchmarks write (`make bench`; they are not part of `make test`). Every number below comes from
a run on a machine like CI's (2 cores); the sections say which command produced it.

- **Forecasts** (`fct_cost_forecasts`): the M3 monthly benchmark (1,428 series, horizon 18),
  against Naive2 and Theta computed in the same run and the published figures.
- **Anomalies** (`fct_cost_anomalies`): a seeded labelled set of daily cost series, against the two
  seed baselines (z-score > 3 vs the trailing 30-day mean; 7-day average + 30 %), and NAB's
  `realAWSCloudwatch` series.
"""


def _shift_headings(text: str) -> str:
    """Make a section's top heading level 2, keeping the relative levels below it."""
    levels = [len(m.group(1)) for m in re.finditer(r"^(#+) ", text, flags=re.M)]
    shift = 2 - min(levels) if levels else 0
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + shift) + " ", text, flags=re.M)


def render() -> str:
    parts = [HEADER]
    for name in SECTIONS:
        parts.append(_shift_headings((DOCS / name).read_text()).strip() + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
