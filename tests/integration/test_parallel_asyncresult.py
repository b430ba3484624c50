"""AsyncResult end to end: waiting, values, errors, metadata, outputs, timing, iteration, and its
use as a concurrent.futures.Future and in asyncio, against a real two-engine cluster."""

import asyncio
import concurrent.futures
import gc
import subprocess
import sys
import time
import weakref
from datetime import datetime, timedelta

import pytest

import ensemble as ipp
from parallel_fixtures import dv, rc, started  # noqa: F401

pytestmark = pytest.mark.ensemble_only


def sleep_then(seconds, value):
    import time

    time.sleep(seconds)
    return value


def talk(tag):
    import sys

    from IPython.display import HTML, display

    print("out", tag)
    print("err", tag, file=sys.stderr)
    display(HTML("<b>%s</b>" % tag))
    return tag


@pytest.mark.deadline(30)
def test_get_with_a_timeout_raises_timeout_error_until_the_result_is_ready(rc):
    ar = rc[0].apply_async(sleep_then, 0.8, "late")
    started_at = time.monotonic()
    with pytest.raises(ipp.error.TimeoutError):
        ar.get(0.1)
    assert 0.05 < time.monotonic() - started_at < 0.6
    assert not ar.ready()
    with pytest.raises(AssertionError):
        ar.successful()  # not ready yet
    assert ar.wait(0.05) is False
    assert ar.wait(10) is True
    assert ar.ready() and ar.successful()
    assert ar.get(0) == "late" and ar.result() == "late" and ar.r == "late"


@pytest.mark.deadline(30)
def test_a_failed_result_is_ready_but_not_successful(rc):
    ar = rc[1].apply_async(lambda: 1 / 0)
    assert ar.wait(10)
    assert ar.ready() and not ar.successful()
    assert isinstance(ar.exception(), ipp.RemoteError)
    with pytest.raises(ipp.RemoteError):
        ar.result()
    assert isinstance(ar.get(return_exceptions=True), ipp.RemoteError)


@pytest.mark.deadline(30)
def test_msg_ids_and_metadata_describe_each_request(rc):
    before = datetime.now().astimezone()
    ar = rc[:].apply_async(talk, "meta")
    assert ar.get(10) == ["meta", "meta"]
    ar.wait_for_output(10)
    assert len(ar) == 2 and len(ar.msg_ids) == 2 and len(set(ar.msg_ids)) == 2
    assert ar.msg_ids == rc.history[-2:]
    assert [md["engine_id"] for md in ar.metadata] == [0, 1] and ar.engine_id == [0, 1]
    for md, msg_id in zip(ar.metadata, ar.msg_ids):
        assert md["msg_id"] == msg_id and md["status"] == "ok"
        assert before - timedelta(seconds=1) <= md["submitted"] <= md["started"] <= md["completed"]
        assert md["completed"] <= md["received"] <= datetime.now().astimezone()
        assert md["stdout"] == "out meta\n" and md["stderr"] == "err meta\n"
        assert [o["data"]["text/html"] for o in md["outputs"]] == ["<b>meta</b>"]
    assert ar.stdout == ["out meta\n"] * 2 and ar.stderr == ["err meta\n"] * 2
    assert ar["engine_id"] == [0, 1] and ar.get_dict() == {0: "meta", 1: "meta"}
    single = rc[1].apply_async(talk, "one")
    single.get(10)
    single.wait_for_output(10)
    assert single.engine_id == 1 and single.stdout == "out one\n"
    assert single.metadata["outputs"][0]["data"]["text/html"] == "<b>one</b>"


@pytest.mark.deadline(30)
def test_display_outputs_prints_each_engines_streams_under_its_label(rc, capsys):
    ar = rc[:].apply_async(talk, "shown")
    ar.get(10)
    capsys.readouterr()
    ar.display_outputs()
    out, err = capsys.readouterr()
    assert out == "[stdout:0] \nout shown\n[stdout:1] \nout shown\n"
    assert err == "[stderr:0] \nerr shown\n[stderr:1] \nerr shown\n"
    ar.display_outputs(groupby="engine")
    out, err = capsys.readouterr()
    assert out == "[stdout:0] \nout shown\n[stdout:1] \nout shown\n" and "[stderr:1] \nerr shown" in err
    with pytest.raises(ValueError):
        ar.display_outputs(groupby="nonsense")


def test_stream_output_shows_outputs_that_arrived_before_it_once_and_later_ones_as_they_come(rc, capsys):
    ar = rc[:].execute("print('early')", silent=False, block=False)
    ar.get(10)
    ar.wait_for_output(10)
    capsys.readouterr()
    late = rc[:].execute("import time; print('first'); time.sleep(0.3); print('second')", silent=False, block=False)
    with ar.stream_output():
        pass
    out = capsys.readouterr().out
    assert out == "[stdout:0] \nearly\n[stdout:1] \nearly\n"
    with late.stream_output():
        late.get(10)
        late.wait_for_output(10)
    out = capsys.readouterr().out
    for eid in (0, 1):
        assert out.count("first") == 2 and out.count("second") == 2, out
        assert "[stdout:%d] " % eid in out


@pytest.mark.deadline(60)
def test_the_outputs_of_a_request_are_in_its_metadata_as_soon_as_its_result_is(rc):
    # the reply comes straight from the engine, the outputs through the controller
    for n in range(20):
        ar = rc[n % 2].apply_async(talk, n)
        assert ar.get(10) == n
        assert ar.stdout == "out %d\n" % n and ar.stderr == "err %d\n" % n
        assert len(ar.outputs) == 1
    ar = rc[:].apply_async(talk, "all")
    ar.get(10)
    assert ar["stdout"] == ["out all\n", "out all\n"]
    # before the result, metadata is what has come so far, at once
    ar = rc[0].apply_async(sleep_then, 1.0, 0)
    started = time.monotonic()
    assert ar.stdout == "" and ar.metadata["completed"] is None
    assert time.monotonic() - started < 0.5
    ar.get(10)


@pytest.mark.deadline(30)
def test_progress_counts_finished_requests(rc):
    ar = rc[:].map_async(lambda t: sleep_then(t, t), [0.0, 0.8])
    assert wait_for(lambda: ar.progress == 1, 5), ar.progress
    assert not ar.ready()
    ar.get(10)
    assert ar.progress == 2


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.deadline(30)
def test_elapsed_wall_time_and_serial_time_measure_the_work(rc):
    ar = rc[:].apply_async(sleep_then, 0.5, None)
    with pytest.raises(ipp.error.TimeoutError):
        ar.wall_time  # not ready
    time.sleep(0.2)
    assert 0.15 < ar.elapsed < 0.5, "elapsed grows while running"
    ar.get(10)
    assert 0.5 <= ar.wall_time < 2.0, "both engines slept in parallel"
    assert 1.0 <= ar.serial_time < 2.5, "serial time adds up the engines' times"
    assert ar.elapsed == ar.wall_time, "elapsed stops at completion"
    assert ar.serial_time > ar.wall_time


@pytest.mark.deadline(30)
def test_wait_interactive_shows_a_progress_bar_until_done(rc, capsys):
    ar = rc[:].map_async(lambda t: sleep_then(t, t), [0.2, 0.6])
    ar.wait_interactive(interval=0.05)
    assert ar.ready()
    out, err = capsys.readouterr()
    text = out + err
    assert "2/2" in text and "tasks" in text, text


@pytest.mark.deadline(30)
def test_wait_interactive_with_the_notebook_bar_works_with_debians_ipywidgets(rc):
    # Debian 12's ipywidgets 6 has no progress-bar style, which tqdm's notebook bar sets
    ar = rc[:].map_async(lambda t: sleep_then(t, t), [0.1, 0.2])
    ar.wait_interactive(interval=0.05, widget=True)
    assert ar.ready() and ar.get() == [0.1, 0.2]


@pytest.mark.deadline(30)
def test_iteration_yields_map_results_in_submission_order(rc):
    ar = rc[:].map_async(lambda t: sleep_then(t, t), [0.6, 0.6, 0.0, 0.0])
    seen = []
    for value in ar:
        seen.append((value, round(time.monotonic(), 2)))
    assert [v for v, _ in seen] == [0.6, 0.6, 0.0, 0.0], "in order even though engine 1 finished first"
    unordered = rc[:].map(lambda t: sleep_then(t, t), [0.6, 0.0], block=False)
    unordered.ordered = False
    assert list(unordered) == [0.0, 0.6], "ordered=False yields as they arrive"
    multi = rc[:].apply_async(lambda: "each")
    assert list(multi) == ["each", "each"]
    with pytest.raises(TypeError):
        list(rc[0].apply_async(lambda: 1))


@pytest.mark.deadline(30)
def test_an_async_result_is_a_concurrent_futures_future(rc):
    quick = rc[0].apply_async(sleep_then, 0.0, "quick")
    slow = rc[1].apply_async(sleep_then, 0.6, "slow")
    assert isinstance(quick, concurrent.futures.Future)
    called = []
    slow.add_done_callback(lambda f: called.append(f.result()))
    done, pending = concurrent.futures.wait([quick, slow], timeout=0.4)
    assert done == {quick} and pending == {slow}
    order = [f.result() for f in concurrent.futures.as_completed([slow, quick], timeout=10)]
    assert order == ["quick", "slow"]
    assert wait_for(lambda: called == ["slow"], 2)
    failing = rc[0].apply_async(lambda: 1 / 0)
    done, _ = concurrent.futures.wait([failing], timeout=10, return_when=concurrent.futures.FIRST_EXCEPTION)
    assert done == {failing} and isinstance(failing.exception(), ipp.RemoteError)


@pytest.mark.deadline(30)
def test_an_async_result_can_be_awaited_in_asyncio(rc):
    async def main():
        both = rc[:].apply_async(sleep_then, 0.3, "awaited")
        one = rc[0].apply_async(sleep_then, 0.0, 1)
        gathered = await asyncio.gather(both, one)
        failing = rc[1].apply_async(lambda: 1 / 0)
        try:
            await failing
        except ipp.RemoteError as exc:
            failure = exc.ename
        timed_out = False
        slow = asyncio.ensure_future(rc[0].apply_async(sleep_then, 0.5, "late"))
        try:
            await asyncio.wait_for(asyncio.shield(slow), 0.05)
        except asyncio.TimeoutError:
            timed_out = True
        # the wait timed out, not the request: awaited again, it comes (and no task is
        # left pending when the loop closes)
        return gathered, failure, timed_out, await slow

    gathered, failure, timed_out, late = asyncio.run(main())
    assert gathered == [["awaited", "awaited"], 1]
    assert failure == "ZeroDivisionError"
    assert timed_out and late == "late"


def test_a_finished_task_the_user_keeps_is_one_object_for_the_garbage_collector(rc):
    # every full collection scans them all, and a long-running client keeps thousands
    view = rc.load_balanced_view()

    def keep_finished_tasks(n):
        kept = [view.apply_async(abs, -i) for i in range(n)]
        assert [ar.get(10) for ar in kept] == list(range(n))
        gc.collect()
        return kept

    kept = [keep_finished_tasks(1000)]  # and whatever a first use makes once
    per_task = []
    for _ in range(3):  # the least of three: other threads make objects in passing too
        before = len(gc.get_objects())
        kept.append(keep_finished_tasks(1000))
        per_task.append((len(gc.get_objects()) - before - 1) / 1000)
    # the AsyncResult; its future, conditions, output signal, metadata and lists are let go of
    # by reference counting alone (15 objects per task in 2026-11, then 10)
    assert min(per_task) <= 1.05, per_task


_FIRST_BURST = """
import gc, time
import ensemble as ipp
rc = ipp.Client(url_file=%r)
rc.wait_for_engines(2, timeout=20)
view = rc.load_balanced_view()
gc.collect()
before = set(map(id, gc.get_objects()))
kept = [view.apply_async(abs, -i) for i in range(500)]  # the process's first futures
assert [ar.get(10) for ar in kept] == list(range(500))
deadline = time.monotonic() + 10
while rc._futures and time.monotonic() < deadline:  # let go of once their outputs are in
    time.sleep(0.01)
gc.collect()
# the tasks' kinds of object only: the event thread holds its last batch of events meanwhile
kinds = ("AsyncResult", "MessageFuture", "OutputSignal", "Metadata", "dict")
print(sum(type(o).__name__ in kinds for o in gc.get_objects() if id(o) not in before) / 500)
"""


@pytest.mark.deadline(60)
def test_the_tasks_of_a_processs_first_burst_are_one_object_each_once_finished(started):
    # A burst makes many futures before any resolves, and CPython 3.11 stops making room
    # for new attribute names in a class's shared table after its first instances: a name
    # first set on resolving gave each future a dict of its own, two objects per task kept.
    done = subprocess.run([sys.executable, "-c", _FIRST_BURST % started.client_file],
                          capture_output=True, text=True, timeout=45)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) <= 1.05, done.stdout


def test_an_outstanding_task_is_one_object_for_the_garbage_collector(rc):
    # thousands are outstanding when tasks are pipelined, and each full collection scans them
    # all: only the AsyncResult (11 per task in 2026-11, then 4; its future, the future's
    # output signal and metadata, the list of futures, msg_ids and targets start untracked)
    view = rc[0]
    busy = view.apply_async(time.sleep, 3)  # the requests below queue behind it on the engine
    gc.collect()
    before = len(gc.get_objects())
    queued = [view.apply_async(abs, -i) for i in range(500)]
    per_task = (len(gc.get_objects()) - before - 1) / 500
    assert not queued[-1].done(), "the count is of outstanding tasks"
    assert per_task <= 1.05, per_task
    assert not gc.is_tracked(queued[0]._children[0]) and gc.is_tracked(queued[0])
    assert busy.get(10) is None and [ar.get(10) for ar in queued] == list(range(500))
    assert not gc.is_tracked(queued[0].metadata)


def test_the_chunks_of_a_finished_map_are_out_of_the_garbage_collectors_view(rc):
    # its AsyncMapResult keeps them, and every full collection would scan each chunk's parts again
    ar = rc.load_balanced_view().map_async(abs, range(-200, 0))
    assert ar.get(10) == list(range(200, 0, -1))
    chunks = ar._children
    assert len(chunks) == 200
    assert not any(gc.is_tracked(c) or gc.is_tracked(c.metadata) for c in chunks)


def test_the_untracked_parts_of_a_finished_task_go_with_it_and_a_failed_one_stays_tracked(rc):
    ar = rc.load_balanced_view().apply_async(abs, -3)
    assert ar.get(10) == 3
    child = ar._children[0]
    # the event thread lets go of it just after resolving the AsyncResult that get() waits on
    deadline = time.monotonic() + 10
    while gc.is_tracked(child) and time.monotonic() < deadline:
        time.sleep(0.001)
    parts = [weakref.ref(child), weakref.ref(child.metadata), weakref.ref(ar)]
    assert not gc.is_tracked(child) and not gc.is_tracked(child.metadata) and gc.is_tracked(ar)
    gc.disable()
    try:
        del ar, child
        assert [part() for part in parts] == [None, None, None]
    finally:
        gc.enable()
    failed = rc.load_balanced_view().apply_async(divmod, 1, 0)
    with pytest.raises(ipp.RemoteError):
        failed.get(10)
    assert gc.is_tracked(failed._children[0])  # its traceback may lead back to it


def _collected(refs):
    gc.collect()
    return [ref() is None for ref in refs]


@pytest.mark.deadline(30)
def test_a_cycle_through_a_tasks_iopub_callback_is_still_collected(rc):
    # the task's future goes out untracked; a callback that holds the AsyncResult makes a
    # cycle that only the collector frees, so the future comes back into its view
    ar = rc[0].apply_async(sleep_then, 0.3, "x")
    ar._children[0].add_iopub_callback(lambda msg, ar=ar: None)
    assert ar.get(10) == "x"
    msg_id = ar.msg_ids[0]
    wait_for(lambda: msg_id not in rc._futures, 10)  # the client lets go once its outputs are in
    refs = [weakref.ref(ar), weakref.ref(ar._children[0])]
    del ar
    assert _collected(refs) == [True, True]


@pytest.mark.deadline(30)
def test_a_failed_tasks_parts_come_back_into_the_collectors_view(rc):
    ar = rc.load_balanced_view().apply_async(divmod, 1, 0)
    with pytest.raises(ipp.RemoteError):
        ar.get(10)  # its traceback holds get's frame, and so the AsyncResult
    child = ar._children[0]
    assert gc.is_tracked(child) and gc.is_tracked(ar._children) and gc.is_tracked(child.output)
    # its outputs (the error, on iopub) come after the reply; the client lets go then
    wait_for(lambda: child.msg_id not in rc._futures, 10)
    refs = [weakref.ref(ar), weakref.ref(child)]
    del ar, child
    assert _collected(refs) == [True, True]


@pytest.mark.deadline(60)
def test_closing_a_client_lets_the_collector_free_its_unresolved_tasks(started):
    # an unresolved task's future and AsyncResult hold each other until it resolves, which
    # cannot happen once the client is closed: they must be in the collector's view then
    other = ipp.Client(url_file=started.client_file)
    ar = other[0].apply_async(sleep_then, 2, "late")
    assert not gc.is_tracked(ar._children[0])
    refs = [weakref.ref(ar), weakref.ref(ar._children[0])]
    other.close()
    assert gc.is_tracked(ar._children[0]) and gc.is_tracked(ar._children)
    del ar, other
    assert _collected(refs) == [True, True]


_INTERRUPTED_WAIT = """
import os, signal, threading
import ensemble as ipp
rc = ipp.Client(url_file=%r)
rc.wait_for_engines(2, timeout=20)
def sleep_then(seconds, value):
    import time
    time.sleep(seconds)
    return value
rc[0].apply_sync(sleep_then, 0, 'warm')  # the main thread has led once: the event thread lingers aside
ar = rc[0].apply_async(sleep_then, 1.5, 'slow')
threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    ar.get(10)
    print('not interrupted')
except KeyboardInterrupt:
    print('interrupted')
print(rc[1].apply_sync(sleep_then, 0, 42), ar.get(10), flush=True)
rc.close()
"""


@pytest.mark.deadline(60)
def test_ctrl_c_while_the_main_thread_reads_for_its_result_leaves_the_client_working(started):
    # the main thread reads the events itself while it waits (client/turns.py): the signal
    # interrupts it there, and the event thread must take over again
    done = subprocess.run([sys.executable, "-c", _INTERRUPTED_WAIT % started.client_file],
                          capture_output=True, text=True, timeout=45)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["interrupted", "42", "slow"], done.stdout + done.stderr
