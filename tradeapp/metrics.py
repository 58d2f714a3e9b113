"""Metrics in CloudWatch Embedded Metric Format: log lines CloudWatch turns into metrics.

No API calls and no per-user dimensions (cost grows with each dimension value). They go out
through the JSON log handler, so a line is both a metric and a searchable log entry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

NAMESPACE = "tradeapp"
log = logging.getLogger("tradeapp.metrics")


def record(metrics: dict[str, tuple[float, str]], **dimensions: str) -> None:
    """Emit metrics {name: (value, unit)} with the given dimensions (low-cardinality only).

    >>> record({"Requests": (1, "Count")}, route="/v1/trades", method="GET")
    """
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)] if dimensions else [[]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }
    log.info("metrics", extra=document)
