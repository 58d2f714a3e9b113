"""Image maintenance for `zappa invoke`: orphaned objects, stale pending uploads, stale references."""

from __future__ import annotations

from typing import Any

from .stats import container, emit, entry


@entry
def cleanup_orphan_images(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Dry run by default; `{"delete": true}` removes orphans and clears stale references."""
    report = container().images.cleanup(delete=bool(event.get("delete")))
    summary = report.as_dict()
    emit("cleanup-orphan-images", **summary)
    return summary
