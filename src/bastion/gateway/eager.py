"""Run a coroutine eagerly: its first step now, a task only if it has to wait.

Most API calls (a cached credential, a cache-served read) finish without ever waiting on
the event loop, yet wrapping each in a task costs a task object, a scheduled callback
and an extra loop turn before the response is written. Python 3.12's eager task factory
removes that cost; this is the same idea for 3.11: step the coroutine in the caller,
and only when it suspends on a future hand the rest to a task (`resume`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def start(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run `coro` up to its first suspension.

    Returns ``(True, result)`` when it finished without suspending, else
    ``(False, what it waits on)``; raises whatever the coroutine raised in that step.
    """
    try:
        return False, coro.send(None)
    except StopIteration as done:
        return True, done.value


async def resume(coro: Coroutine[Any, Any, T], waiting: Any) -> T:
    """Drive a coroutine that `start` left suspended on `waiting` to its end.

    The coroutine was suspended inside `await future`, which reads the future's outcome
    (result, exception or cancellation) itself once resumed; so this only has to wait
    for the same future and then resume it. Cancelling the task running `resume`
    cancels `waiting`, which the coroutine then sees as its own cancellation.
    """
    while True:
        if waiting is None:  # a bare yield (asyncio.sleep(0)): give the loop one turn
            await asyncio.sleep(0)
        else:
            waiting._asyncio_future_blocking = False  # taken over, as a task's step does
            try:
                await waiting
            except BaseException:
                if not waiting.done():  # not the future's outcome: ours to raise
                    raise
        try:
            waiting = coro.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
