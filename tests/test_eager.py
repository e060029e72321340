"""Eager coroutine start: a call that never waits is answered without a task, and one
that waits is finished by `resume` with the same outcome `await` would have given."""

from __future__ import annotations

import asyncio

import pytest

from bastion.gateway import eager


async def _no_wait() -> str:
    return "done"


async def _waits_on_executor(value: int) -> int:
    loop = asyncio.get_running_loop()
    first = await loop.run_in_executor(None, lambda: value)
    await asyncio.sleep(0)  # a bare yield in between
    second = await loop.run_in_executor(None, lambda: value + 1)
    return first + second


async def _catches_executor_error() -> str:
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, lambda: 1 / 0)
    except ZeroDivisionError:
        return "caught inside"
    return "not raised"


def test_a_coroutine_that_never_waits_finishes_in_the_first_step() -> None:
    coro = _no_wait()
    assert eager.start(coro) == (True, "done")


def test_a_waiting_coroutine_is_finished_with_its_results_and_errors() -> None:
    async def main() -> tuple[int, str]:
        coro = _waits_on_executor(20)
        finished, waiting = eager.start(coro)
        assert not finished and isinstance(waiting, asyncio.Future)
        total = await eager.resume(coro, waiting)
        coro2 = _catches_executor_error()
        finished, waiting = eager.start(coro2)
        assert not finished
        return total, await eager.resume(coro2, waiting)

    assert asyncio.run(main()) == (41, "caught inside")


def test_an_error_in_the_first_step_is_raised_by_start() -> None:
    async def fails() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        eager.start(fails())


def test_cancelling_the_resuming_task_cancels_the_coroutine() -> None:
    seen: list[str] = []

    async def waits_forever() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            seen.append("cancelled inside")
            raise

    async def main() -> None:
        coro = waits_forever()
        _, waiting = eager.start(coro)
        task = asyncio.ensure_future(eager.resume(coro, waiting))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled inside"]
