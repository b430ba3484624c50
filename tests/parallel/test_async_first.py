"""ensemble._async.AsyncFirst (ipyparallel's ``ipyparallel._async``): each coroutine method
``m`` has a blocking twin ``m_sync``, usable with and without a running event loop."""

import asyncio
import threading

import pytest

from ensemble._async import AsyncFirst


class Example(AsyncFirst):
    a = 5

    def plain(self):
        return "plain"

    async def coroutine(self, value, scale=1):
        await asyncio.sleep(0)
        return value * scale, threading.current_thread()

    async def failing(self):
        raise LookupError("from the coroutine")


def test_each_coroutine_method_has_a_sync_twin_listed_by_dir_and_no_other_name_gets_one():
    example = Example()
    public = [name for name in dir(example) if not name.startswith("_")]
    assert public == ["a", "coroutine", "coroutine_sync", "failing", "failing_sync", "plain"]
    for missing in ("a_sync", "plain_sync", "nothing_sync", "nothing"):
        with pytest.raises(AttributeError):
            getattr(example, missing)


def test_without_a_running_loop_the_twin_runs_on_the_calling_thread_and_raises_what_the_coroutine_raised():
    example = Example()
    assert example.coroutine_sync(3, scale=2) == (6, threading.current_thread())
    assert example._async_thread is None
    with pytest.raises(LookupError, match="from the coroutine"):
        example.failing_sync()


def test_inside_a_running_loop_the_twin_runs_on_a_helper_thread_instead_of_deadlocking():
    example = Example()

    async def cell():  # as a notebook cell runs: inside the kernel's loop
        return example.coroutine_sync(4)

    value, ran_on = asyncio.run(cell())
    assert value == 4 and ran_on is example._async_thread and ran_on is not threading.current_thread()

    async def failing_cell():
        return Example().failing_sync()

    with pytest.raises(LookupError):
        asyncio.run(failing_cell())
