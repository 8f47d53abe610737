"""Waiting in tests: on a condition or for a queue item, with a deadline and a clear failure.

Never sleep-and-hope: a test waits for the thing it needs, as briefly as that takes, and a
timeout says what did not happen.
"""
from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_until(pred: Callable[[], T], timeout: float = 10.0, what: str = "condition", *,
               interval: float = 0.01) -> T:
    """Poll `pred` until it returns something truthy, and return that; after `timeout` seconds
    fail the test naming `what`. `pred` is tried once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def next_item(q: queue.Queue[Any], pred: Callable[[Any], object] = lambda item: True, timeout: float = 10.0,
              what: str = "a matching item") -> Any:
    """Take items from `q` until one satisfies `pred` and return it (the others are dropped);
    after `timeout` seconds fail the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        try:
            item = q.get(timeout=left)
        except queue.Empty:
            continue
        if pred(item):
            return item
