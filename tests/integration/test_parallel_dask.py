"""``rc.become_dask()``: the engines as the workers of a dask.distributed cluster, its
scheduler in the client's process (client/dask.py), and ``rc.stop_dask()``. Debian's
ipyparallel 7.1 fails here: it passes ``ncores``, which distributed 2022.12 refuses."""

import socket
import threading

import distributed
import pytest

import ensemble as ipp
from ensemble import Reference
from ensemble.client.dask import _address_towards
from parallel_fixtures import own_cluster, rc, started  # noqa: F401 (fixtures)

pytestmark = pytest.mark.ensemble_only


def _worker_repr():
    """The engine's ``distributed_worker``, from its namespace (this function's own
    globals are this module's: it is pickled by reference)."""
    import sys

    return repr(sys.modules["__main__"].__dict__.get("distributed_worker"))


def _scheduler_threads():
    return [t for t in threading.enumerate() if t.name == "dask-scheduler"]


@pytest.mark.deadline(90)
def test_become_dask_runs_dask_work_on_the_engines_and_stop_dask_takes_the_workers_away(rc):
    import logging

    console = logging.StreamHandler()
    console.setLevel(logging.INFO)
    logging.getLogger("distributed").addHandler(console)
    executor = rc.become_dask()
    try:
        assert console.level == logging.WARNING, "the scheduler's routine messages stay out of the session"
        reprs = rc[:].apply_sync(repr, Reference("distributed_worker"))
        assert len(reprs) == 2 and all("Worker" in r and "running" in r for r in reprs), reprs
        assert rc[:].apply_sync(repr, Reference("dask_worker")) == reprs
        assert len(executor.scheduler_info()["workers"]) == 2
        squares = executor.map(lambda x: x * x, range(10))
        assert executor.submit(sum, squares).result(timeout=30) == 285
        # each task ran in an engine: its process is one of the engines'
        engine_pids = set(rc[:].apply_sync(__import__("os").getpid))
        ran_in = set(executor.gather(executor.map(lambda _: __import__("os").getpid(), range(8), pure=False)))
        assert ran_in <= engine_pids
    finally:
        executor.close()
        rc.stop_dask()
        logging.getLogger("distributed").removeHandler(console)
    assert console.level == logging.INFO
    with pytest.raises(ipp.error.CompositeError) as failed:
        rc[:].apply_sync(lambda x: x, Reference("distributed_worker"))
    assert "NameError" in str(failed.value)
    assert not _scheduler_threads(), "stop_dask closed the scheduler"


@pytest.mark.deadline(90)
def test_stopping_the_scheduler_under_a_progress_feed_logs_no_error_in_the_session(rc, caplog):
    import io
    import logging
    import time

    from distributed.diagnostics.progressbar import ProgressWidget

    captured = io.StringIO()
    console = logging.StreamHandler(captured)
    logging.getLogger("distributed").addHandler(console)
    executor = rc.become_dask()
    try:
        running = executor.submit(time.sleep, 6)  # the workers' stop waits for it
        # a progress bar's feed, as distributed.progress() opens in a notebook
        bar = ProgressWidget([running.key], scheduler=executor.scheduler.address)
        executor.loop.add_callback(bar.listen)
        deadline = time.monotonic() + 20
        while not bar.elapsed_time.value and time.monotonic() < deadline:  # the feed's first report
            time.sleep(0.05)
        assert bar.elapsed_time.value, "the progress bar's feed did not start"
        executor.close()
        rc.stop_dask()
        logging.getLogger("distributed.core").error("after the stop")  # the filter went with the stop
    finally:
        logging.getLogger("distributed").removeHandler(console)
    # dask did log the cancelled feed (pytest's handler shows it), but not to its console
    assert any(r.name == "distributed.core" and r.exc_info for r in caplog.records)
    assert captured.getvalue().strip() == "after the stop", captured.getvalue()


@pytest.mark.deadline(90)
def test_become_dask_on_some_engines_takes_ncores_as_nthreads_and_adds_workers_when_called_again(rc):
    first, second = rc.ids
    executor = rc.become_dask(targets=[first], ncores=2)
    try:
        workers = executor.scheduler_info()["workers"]
        assert [w["nthreads"] for w in workers.values()] == [2]
        assert "Worker" in rc[first].apply_sync(_worker_repr)
        assert rc[second].apply_sync(_worker_repr) == "None"
        again = rc.become_dask()  # the same scheduler; only the engine without a worker gets one
        try:
            assert again.scheduler.address == executor.scheduler.address
            assert sorted(w["nthreads"] for w in again.scheduler_info()["workers"].values()) == [1, 2]
        finally:
            again.close()
    finally:
        executor.close()
        rc.stop_dask()
    assert rc[:].apply_sync(_worker_repr) == ["None", "None"]


@pytest.mark.deadline(120)
def test_a_nanny_runs_each_worker_in_a_process_of_its_own(rc):
    executor = rc.become_dask(targets=[rc.ids[0]], nanny=True)
    try:
        assert "Nanny" in rc[rc.ids[0]].apply_sync(_worker_repr)
        engine_pid = rc[rc.ids[0]].apply_sync(__import__("os").getpid)
        worker_pid = executor.submit(lambda: __import__("os").getpid()).result(timeout=60)
        assert worker_pid != engine_pid
    finally:
        executor.close()
        rc.stop_dask()


@pytest.mark.deadline(60)
def test_a_worker_that_cannot_start_raises_on_its_engine_and_leaves_none_behind(rc):
    # nothing listens on the port just freed: the worker gives up after death_timeout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = "tcp://127.0.0.1:%d" % s.getsockname()[1]
    with pytest.raises(ipp.error.CompositeError) as failed:
        rc[:].apply_sync(ipp.util.become_dask_worker, nowhere, death_timeout=1)
    assert "TimeoutError" in str(failed.value)
    assert rc[:].apply_sync(_worker_repr) == ["None", "None"]
    threads = rc[:].apply_sync(lambda: [t.name for t in __import__("threading").enumerate()])
    assert not any("dask-worker" in names for names in threads), threads
    with pytest.raises(ipp.error.CompositeError):
        rc[:].apply_sync(ipp.util.become_dask_worker, nowhere, no_such_option=1)
    assert rc[:].apply_sync(_worker_repr) == ["None", "None"]


@pytest.mark.deadline(90)
def test_closing_the_client_closes_its_scheduler_and_the_engines_workers_end_with_it(own_cluster):
    c = own_cluster(n=1)
    client = c.start_and_connect()
    client.wait_for_engines(1, timeout=30)
    executor = client.become_dask()
    address = executor.scheduler.address
    executor.close()
    client.close()
    assert not _scheduler_threads()
    host, port = address.rsplit("/", 1)[-1].rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()
    again = ipp.Client(profile_dir=c.profile_dir, cluster_id=c.cluster_id)
    try:
        again.wait_for_engines(1, timeout=30)
        # a worker whose scheduler went away ends (distributed closes it), and a new
        # become_dask starts a new one rather than finding the old one running
        executor = again.become_dask()
        try:
            assert executor.submit(lambda: 7).result(timeout=30) == 7
        finally:
            executor.close()
            again.stop_dask()
    finally:
        again.close()


@pytest.mark.deadline(60)
def test_a_scheduler_that_cannot_start_raises_and_leaves_no_thread_nor_quieter_logs_behind(rc):
    import logging

    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO)
    logging.getLogger("distributed").addHandler(handler)
    try:
        with pytest.raises(TypeError):
            rc.become_dask(scheduler_args={"no_such_option": 1})
        assert not _scheduler_threads() and rc._dask_scheduler is None
        assert handler.level == logging.INFO, "the console log's level is given back"
        assert rc[:].apply_sync(_worker_repr) == ["None", "None"], "no worker starts without a scheduler"
    finally:
        logging.getLogger("distributed").removeHandler(handler)


def test_the_scheduler_listens_where_the_engines_reach_the_controller_from():
    assert _address_towards("127.0.0.1") == "127.0.0.1"
    assert _address_towards("0.0.0.0") == "127.0.0.1"
    assert _address_towards("::1") == "::1"
    assert _address_towards("localhost") == "127.0.0.1"
    assert _address_towards("no-such-host.invalid") == "127.0.0.1"


def test_the_dask_calls_have_ipyparallels_names():
    assert ipp.Client.become_distributed is ipp.Client.become_dask
    assert ipp.Client.stop_distributed is ipp.Client.stop_dask
    assert distributed.__version__  # Debian's python3-distributed, which make test installs
