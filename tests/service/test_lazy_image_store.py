"""The S3 image store is built on first use, once, however many requests ask at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tradeapp.bootstrap import LazyImageStore


class Store:
    def url(self, key: str) -> str:
        return f"https://images.example/{key}"


def test_the_store_is_built_once_for_racing_first_uses() -> None:
    built: list[Store] = []

    def build() -> Store:
        time.sleep(0.02)  # as slow as making a boto3 client: every racer arrives meanwhile
        built.append(Store())
        return built[-1]

    lazy = LazyImageStore(build)  # type: ignore[arg-type]
    assert built == []  # nothing built until used
    start = threading.Barrier(8)

    def use(n: int) -> str:
        start.wait()
        return lazy.url(f"k{n}")  # type: ignore[no-any-return]

    with ThreadPoolExecutor(8) as pool:
        urls = list(pool.map(use, range(8)))

    assert len(built) == 1
    assert urls == [f"https://images.example/k{n}" for n in range(8)]
