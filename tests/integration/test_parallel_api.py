"""The ipyparallel-compatible API (``import ensemble as ipp``) end to end: Clients and
DirectViews against real controllers and engines (clusters and errors: test_parallel_cluster.py)."""

import time

import numpy as np
import pytest

import ensemble as ipp
from cluster_util import wait_until
from parallel_fixtures import dv, rc, started  # noqa: F401

pytestmark = pytest.mark.ensemble_only


def getpid():
    import os

    return os.getpid()


# -- clients ------------------------------------------------------------------


@pytest.mark.deadline(30)
def test_clients_from_url_file_and_from_profile_dir_and_cluster_id_see_the_same_engines(started, rc):
    by_file = ipp.Client(url_file=started.client_file)
    by_profile = ipp.Client(profile_dir=started.profile_dir, cluster_id=started.cluster_id)
    try:
        assert by_file.ids == by_profile.ids == rc.ids == [0, 1]
        assert by_file[0].apply_sync(getpid) == by_profile[0].apply_sync(getpid) == rc[0].apply_sync(getpid)
    finally:
        by_file.close()
        by_profile.close()
    with pytest.raises(RuntimeError, match="closed"):
        by_file[0].apply_sync(getpid)


@pytest.mark.deadline(30)
def test_indexing_the_client_picks_engines(started, rc):
    engine_pids = rc[:].apply_sync(getpid)
    assert sorted(engine_pids) == sorted(started.pids[1:]) and len(set(engine_pids)) == 2
    assert rc[0].apply_sync(getpid) == engine_pids[0], "rc[0] gives a single value"
    assert rc[-1].apply_sync(getpid) == engine_pids[1]
    assert rc[:].apply_sync(getpid) == engine_pids, "rc[:] gives a list in engine order"
    assert rc[::2].targets == [0] and rc[::2].apply_sync(getpid) == [engine_pids[0]]
    assert rc[[1]].apply_sync(getpid) == [engine_pids[1]]
    assert len(rc) == 2 and [v.targets for v in rc] == [0, 1]
    with pytest.raises(IndexError):
        rc[5]
    # in a list, ipyparallel's lookup raises KeyError: either may be caught
    with pytest.raises(KeyError, match="No such engine: 9"):
        rc[[0, 9]].apply_sync(getpid)
    with pytest.raises(IndexError):
        rc.direct_view([0, 9]).apply_sync(getpid)


@pytest.mark.deadline(30)
def test_wait_for_engines_returns_when_enough_and_raises_timeout_otherwise(rc):
    rc.wait_for_engines(2, timeout=5)
    started = time.monotonic()
    with pytest.raises(ipp.error.TimeoutError):
        rc.wait_for_engines(3, timeout=0.5)
    assert time.monotonic() - started < 3


@pytest.mark.deadline(30)
def test_queue_status_counts_queued_and_completed_requests(rc):
    before = rc.queue_status()
    assert set(before) >= {0, 1, "unassigned"}
    slow = rc[0].apply_async(time.sleep, 1.0)
    queued = rc[0].apply_async(getpid)
    assert wait_until(lambda: rc.queue_status()[0]["queue"] == 2, 5), rc.queue_status()
    assert rc.queue_status(targets=0)["queue"] == 2
    verbose = rc.queue_status(targets=[0], verbose=True)
    assert set(verbose[0]["queue"]) == set(slow.msg_ids + queued.msg_ids)
    queued.get(10)
    after = rc.queue_status()
    assert after[0]["queue"] == 0 and after[0]["completed"] == before[0]["completed"] + 2
    assert after[1]["completed"] == before[1]["completed"]


@pytest.mark.deadline(30)
def test_a_second_client_gets_finished_and_pending_results_by_msg_id(started, rc):
    done = rc[0].apply_async(lambda: "finished")
    done.get(10)
    pending = rc[1].apply_async(lambda: (time.sleep(1.0), "pending")[1])
    assert wait_until(lambda: rc.queue_status()[1]["queue"] == 1, 5)
    other = ipp.Client(url_file=started.client_file)
    try:
        assert other.get_result(done.msg_ids[0]).get(10) == "finished"
        later = other.get_result(pending.msg_ids[0], block=False)
        assert not later.ready()
        assert later.get(10) == "pending"
        assert later.metadata["engine_id"] == 1
        with pytest.raises(ipp.RemoteError, match="KeyError"):
            other.get_result("no-such-msg-id")
    finally:
        other.close()


@pytest.mark.deadline(30)
def test_history_and_hub_history_list_requests_in_submission_order(started, rc):
    ar = rc[:].apply_async(getpid)
    ar.get(10)
    assert rc.history[-2:] == ar.msg_ids
    # requests sent to engines directly reach the controller's history from the engines, a
    # moment after their replies reach the client (ipyparallel's own test sleeps 0.25 s here)
    assert wait_until(lambda: set(ar.msg_ids) <= set(rc.hub_history()), 5)
    assert rc.hub_history()[-2:] == ar.msg_ids
    other = ipp.Client(url_file=started.client_file)
    try:
        assert other.history == [] and other.hub_history()[-2:] == ar.msg_ids
    finally:
        other.close()


@pytest.mark.deadline(30)
def test_purge_results_forgets_them_here_and_on_the_controller(started, rc):
    ar = rc[0].apply_async(lambda: "purge me")
    ar.get(10)
    msg_id = ar.msg_ids[0]
    # the owning AsyncResult already let go of its results and metadata (as in ipyparallel)
    assert msg_id in rc.history and msg_id not in rc.metadata
    rc.purge_results(jobs=[msg_id])
    assert msg_id not in rc.metadata and msg_id not in rc.results
    other = ipp.Client(url_file=started.client_file)
    try:
        for client in (other, rc):  # rc forgot it too, so it asks the controller
            with pytest.raises(ipp.RemoteError, match="KeyError"):
                client.get_result(msg_id)
    finally:
        other.close()
    busy = rc[1].apply_async(time.sleep, 3)  # long enough to be outstanding on a loaded machine
    with pytest.raises(RuntimeError, match="outstanding"):
        rc.purge_results("all")
    busy.get(10)


@pytest.mark.deadline(30)
def test_purge_results_of_engine_0_alone_forgets_its_results_only(rc):
    # ipyparallel 7.1 takes targets=0 for no targets and raises ValueError
    ars = [rc[i].apply_async(lambda: "engine result") for i in (0, 1)]
    for ar in ars:
        ar.get(10)
    rc.purge_hub_results(targets=0)
    with pytest.raises(ipp.RemoteError, match="KeyError"):
        rc.get_result(ars[0].msg_ids[0]).get(5)
    assert rc.get_result(ars[1].msg_ids[0]).get(5) == "engine result"
    rc.purge_results(targets=0)  # here and there: nothing of engine 0's is left
    with pytest.raises(ValueError):
        rc.purge_hub_results(targets=[])


@pytest.mark.deadline(30)
def test_abort_answers_a_queued_request_aborted_and_it_never_runs(rc):
    rc[0].execute("aborted_ran = False", block=True)
    busy = rc[0].apply_async(time.sleep, 0.8)
    queued = rc[0].execute("aborted_ran = True", block=False)
    rc.abort(queued, block=True)
    busy.get(10)
    with pytest.raises(ipp.error.TaskAborted):
        queued.get(10)
    assert rc[0]["aborted_ran"] is False


@pytest.mark.deadline(30)
def test_clear_empties_the_engines_namespaces(rc):
    view = rc[:]
    view.push({"to_clear": 1}, block=True)
    assert view.pull("to_clear", block=True) == [1, 1]
    rc.clear(block=True)
    with pytest.raises(ipp.CompositeError) as info:
        view.pull("to_clear", block=True)
    assert [e[0] for e in info.value.elist] == ["NameError", "NameError"]


# -- DirectView -----------------------------------------------------------------


@pytest.mark.deadline(30)
def test_execute_runs_code_as_a_cell_with_its_outputs(dv):
    ar = dv.execute("executed = 6 * 7\nprint('printed', executed)", block=True)
    assert ar.stdout == ["printed 42\n", "printed 42\n"]
    assert dv.pull("executed", block=True) == [42, 42]
    ar = dv.execute("%time x = 1\nexecuted + 1", silent=False, block=True)
    assert [r["data"]["text/plain"] for r in ar.execute_result] == ["43", "43"], "IPython syntax works"
    ar = dv.execute("1/0", block=False)
    with pytest.raises(ipp.CompositeError) as info:
        ar.get(10)
    assert [e[0] for e in info.value.elist] == ["ZeroDivisionError"] * 2


@pytest.mark.deadline(30)
def test_run_executes_a_file_on_the_engines(dv, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("def f():\n    return 'from a file'\nran_value = f()\n")
    ar = dv.run(str(script), block=True)
    assert ar.successful()
    assert dv["ran_value"] == ["from a file", "from a file"]


@pytest.mark.deadline(30)
def test_apply_blocks_or_not_as_the_view_says(rc):
    view = rc[:]
    view.block = True
    assert view.apply(lambda a, b=0: a + b, 40, b=2) == [42, 42]
    view.block = False
    ar = view.apply(lambda a, b=0: a + b, 40, b=2)
    assert isinstance(ar, ipp.AsyncResult) and ar.get(10) == [42, 42]
    assert view.apply_sync(pow, 2, 10) == [1024, 1024], "a builtin travels by reference"
    assert view.apply_async(divmod, 7, 2).get(10) == [(3, 1), (3, 1)]
    single = rc[1]
    single.block = True
    assert single.apply(getpid) == single.apply_sync(getpid)


@pytest.mark.deadline(30)
def test_map_splits_sequences_across_engines_and_keeps_order(rc):
    view = rc[:]
    assert view.map_sync(lambda x, y: x * y, range(10), range(10)) == [x * x for x in range(10)]
    amr = view.map_async(lambda x: (x, getpid()), range(6))
    assert isinstance(amr, ipp.AsyncMapResult) and len(amr) == 2
    pairs = amr.get(10)
    assert [x for x, _ in pairs] == list(range(6))
    assert len({pid for _, pid in pairs}) == 2, "both engines took part"
    assert view.map(str, [1, 2, 3], block=True) == ["1", "2", "3"]
    view.block = False
    assert view.map(abs, [-1, -2]).get(10) == [1, 2]


@pytest.mark.deadline(30)
def test_push_and_pull_and_item_access_move_values_by_name(rc):
    view = rc[:]
    view.push({"pa": 1, "pb": [1, 2]}, block=True)
    assert view.pull("pa", block=True) == [1, 1]
    assert view.pull(("pa", "pb"), block=True) == [[1, [1, 2]], [1, [1, 2]]]
    view["pc"] = {"k": "v"}
    assert view["pc"] == [{"k": "v"}, {"k": "v"}]
    rc[1]["pa"] = 2
    assert rc[1]["pa"] == 2 and rc[0]["pa"] == 1 and view["pa"] == [1, 2]
    ar = view.push({"pd": 3}, block=False)
    assert isinstance(ar, ipp.AsyncResult) and ar.get(10) == [None, None]
    with pytest.raises(TypeError):
        view.push([("not", "a dict")])


@pytest.mark.deadline(30)
def test_scatter_and_gather_lists_partition_in_blocks(rc):
    view = rc[:]
    view.scatter("part", list(range(10)), block=True)
    assert rc[0]["part"] == [0, 1, 2, 3, 4] and rc[1]["part"] == [5, 6, 7, 8, 9]
    assert view.gather("part", block=True) == list(range(10))
    view.scatter("one", [7, 8], flatten=True, block=True)
    assert view["one"] == [7, 8]
    ar = view.scatter("part", list("abc"), block=False)
    ar.get(10)
    assert view.gather("part", block=False).get(10) == ["a", "b", "c"]


@pytest.mark.deadline(30)
def test_scatter_and_gather_numpy_arrays_keep_dtype_and_values(rc):
    view = rc[:]
    array = np.arange(21, dtype=np.int16).reshape(7, 3)
    view.scatter("arr", array, block=True)
    parts = view["arr"]
    assert all(isinstance(p, np.ndarray) and p.dtype == np.int16 for p in parts)
    assert [p.shape for p in parts] == [(4, 3), (3, 3)]
    gathered = view.gather("arr", block=True)
    assert isinstance(gathered, np.ndarray) and gathered.dtype == np.int16
    np.testing.assert_array_equal(gathered, array)


@pytest.mark.deadline(60)
def test_large_numpy_arrays_round_trip_both_ways_intact(rc):
    sent = np.random.default_rng(7).standard_normal((2048, 4096))  # 64 MiB of float64
    assert sent.nbytes == 64 * 1024 * 1024
    rc[0].push({"big": sent}, block=True)
    summary = rc[0].apply_sync(ipp.interactive(lambda: (big.dtype.str, big.shape, float(big.sum()))))  # noqa: F821
    assert summary == (sent.dtype.str, sent.shape, float(sent.sum()))
    back = rc[0]["big"]
    assert back.dtype == sent.dtype and back.shape == sent.shape
    assert np.array_equal(back, sent)
    made = rc[1].apply_sync(lambda: __import__("numpy").arange(16 * 1024 * 1024, dtype="<u4").reshape(4096, 4096))
    assert made.dtype == np.dtype("<u4") and made.shape == (4096, 4096)
    assert int(made[-1, -1]) == 16 * 1024 * 1024 - 1 and np.array_equal(made.ravel()[:5], [0, 1, 2, 3, 4])
    rc[:].execute("del big", block=True, targets=[0])


@pytest.mark.deadline(30)
def test_block_and_targets_flags_choose_how_and_where(rc):
    view = rc[:]
    pids = view.apply_sync(getpid)
    assert view.block is False
    with view.temp_flags(block=True, targets=1):
        assert view.apply(getpid) == pids[1]
    assert view.block is False and view.targets == [0, 1]
    view.set_flags(targets=[1, 0], block=True)
    assert view.apply(getpid) == [pids[1], pids[0]], "results follow the targets' order"
    assert rc.direct_view([0]).apply_sync(getpid) == [pids[0]]


@pytest.mark.deadline(30)
def test_a_view_of_no_engines_raises_index_error_for_every_request(rc):
    empty = rc[10:20]  # the view itself can be made, as in ipyparallel
    assert empty.targets == []
    for request in (lambda: empty.apply_sync(getpid), lambda: empty.execute("a = 1", block=True),
                    lambda: empty.push({"a": 1}), lambda: empty.pull("a"), lambda: empty.scatter("a", [1]),
                    lambda: empty.gather("a"), lambda: empty.map_sync(abs, [1, 2]),
                    lambda: rc.broadcast_view([]).apply_sync(getpid)):
        with pytest.raises(IndexError, match="no engines in targets"):
            request()
    assert rc[:].apply_sync(lambda: "still serving") == ["still serving"] * 2


@pytest.mark.deadline(30)
def test_remote_and_parallel_decorators_run_calls_on_the_view(started, rc):
    view = rc[:]

    @view.remote(block=True)
    def where():
        import os

        return os.getpid()

    assert where() == view.apply_sync(getpid)

    @view.parallel(block=True)
    def chunk_sizes(xs):
        return [len(xs)] * len(xs)

    assert chunk_sizes(range(5)) == [3, 3, 3, 2, 2], "each engine got one block"

    @view.parallel(block=True)
    def double(x):
        return 2 * x

    assert double.map(range(5)) == [0, 2, 4, 6, 8]

    @ipp.remote(rc[1], block=False)
    def later(x):
        return x + 1

    assert later(41).get(10) == 42


@pytest.mark.deadline(30)
def test_a_parallel_function_without_block_follows_the_views_block_flag_when_called(rc):
    view = rc[:]
    double = ipp.parallel(view)(lambda x: 2 * x)
    chunk_sizes = ipp.parallel(view)(lambda xs: [len(xs)] * len(xs))
    view.block = True
    assert double.map(range(4)) == [0, 2, 4, 6] and chunk_sizes(range(3)) == [2, 2, 1]
    view.block = False
    later = double.map(range(4))
    assert isinstance(later, ipp.AsyncMapResult) and later.get(10) == [0, 2, 4, 6]


@pytest.mark.deadline(30)
def test_sync_imports_imports_on_the_client_and_the_engines(rc, capsys):
    view = rc[:]
    view.execute("import sys; sys.modules.pop('colorsys', None); globals().pop('colorsys', None)", block=True)
    with view.sync_imports():
        import colorsys  # noqa: F401
    assert "importing colorsys on engine(s)" in capsys.readouterr().out
    assert view.pull("colorsys.rgb_to_hsv(1, 0, 0)", block=True) == [(0.0, 1.0, 1), (0.0, 1.0, 1)]
    with view.sync_imports(quiet=True):
        from json import dumps  # noqa: F401
    assert capsys.readouterr().out == ""
    assert view.pull("dumps([1])", block=True) == ["[1]", "[1]"]


@pytest.mark.deadline(30)
def test_reference_is_evaluated_in_each_engines_namespace(rc):
    view = rc[:]
    rc[0]["ref_value"] = 10
    rc[1]["ref_value"] = 20
    assert view.apply_sync(lambda x, y: x + y, ipp.Reference("ref_value"), 1) == [11, 21]
    assert view.apply_sync(lambda d: d["k"], {"k": ipp.Reference("ref_value * 2")}) == [20, 40]


@pytest.mark.deadline(30)
def test_view_executor_is_a_concurrent_futures_executor(rc):
    import concurrent.futures

    executor = rc[:].executor
    assert isinstance(executor, concurrent.futures.Executor)
    future = executor.submit(lambda a, b: a * b, 6, 7)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(10) == [42, 42], "a DirectView runs it on every engine"
    assert rc.executor().submit(lambda: 42).result(10) == 42, "a load-balanced executor on one"
    assert list(executor.map(lambda x: x + 1, range(5))) == [1, 2, 3, 4, 5]
    done, _ = concurrent.futures.wait([executor.submit(abs, -i) for i in range(3)], timeout=10)
    assert len(done) == 3


@pytest.mark.deadline(30)
def test_an_owned_result_leaves_rc_results_and_one_fetched_without_owning_it_stays(rc):
    # as in ipyparallel: the AsyncResult that owns a request takes its result from the client's
    # table; view.get_result() (owner=False) leaves it there for whoever asks next
    lview = rc.load_balanced_view()
    ar = lview.apply_async(abs, -5)
    assert ar.get(10) == 5
    msg_id = ar.msg_ids[0]
    assert msg_id not in rc.results
    fetched = lview.get_result(msg_id)
    assert fetched.get(10) == 5 and not fetched.owner
    assert rc.results[msg_id] == 5
