"""The client API end to end, on the fake core (fake_core.py)."""

import asyncio
import concurrent.futures
import time

import numpy as np
import pytest

import ensemble as ipp
from ensemble.client.util import interactive


def _sleep_then(seconds, value):
    import time

    time.sleep(seconds)
    return value


def test_ids_and_view_indexing(rc):
    assert rc.ids == [0, 1, 2, 3] and len(rc) == 4
    assert rc[0].targets == 0
    assert rc[:].targets == [0, 1, 2, 3]
    assert rc[::2].targets == [0, 2]
    assert rc[-1].targets == 3
    assert len(rc.direct_view("all")) == 4
    with pytest.raises(IndexError):
        rc[9]
    with pytest.raises(TypeError):
        rc["x"]


def test_session_offers_what_ipyparallel_code_reads_of_a_jupyter_session(rc):
    assert rc.session.session == rc._conn.session and str(rc.session) == rc._conn.session
    assert rc.session.bsession == rc._conn.session.encode()
    assert rc.session.key == b"k" and rc.session.signature_scheme == "hmac-sha256"
    assert rc.session.digest_history == set() and rc.session.username


def test_spin_and_the_spin_thread_are_deprecated_no_ops_as_in_ipyparallel_7(rc):
    for spin in (rc.spin, rc.spin_thread, rc.stop_spin_thread, rc[:].spin):
        with pytest.warns(DeprecationWarning, match="spin"):
            assert spin() is None
    assert rc[0].apply_sync(lambda: 7) == 7  # replies still come in


def test_multi_target_apply_returns_list_single_returns_value(rc):
    assert rc[:].apply_sync(lambda: 7) == [7, 7, 7, 7]
    assert rc[1].apply_sync(lambda x: x + 1, 1) == 2
    assert rc[[1]].apply_sync(lambda: 1) == [1]
    assert rc[:].apply(lambda: 1).get() == [1] * 4  # block defaults to False


def test_apply_accepts_a_kwarg_named_f(rc):
    assert rc[0].apply_async(lambda **kw: kw, f=5).get(timeout=5) == {"f": 5}


def test_push_pull_getitem_setitem(rc):
    v = rc[:]
    v.push({"a": 10, "b": [1, 2]}, block=True)
    assert v.pull("a", block=True) == [10] * 4
    assert v.pull(("a", "b"), block=True) == [[10, [1, 2]]] * 4
    rc[2]["c"] = "x"
    assert rc[2]["c"] == "x"
    assert isinstance(v.pull("a"), ipp.AsyncResult)
    with pytest.raises(TypeError):
        v.pull(5)


def test_pull_of_missing_name_raises_remote_name_error(rc):
    with pytest.raises(ipp.RemoteError) as info:
        rc[0].pull("nope", block=True)
    assert info.value.ename == "NameError"
    with pytest.raises(ipp.CompositeError) as info:
        rc[:].pull("nope", block=True)
    assert len(info.value.elist) == 4


def test_scatter_gather_lists_and_arrays(rc):
    v = rc[:]
    v.scatter("a", list(range(10)))
    assert v.pull("a", block=True) == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert v.gather("a", block=True) == list(range(10))
    arr = np.arange(64.0)
    v.scatter("x", arr, block=True)
    np.testing.assert_array_equal(v.gather("x", block=True), arr)
    v.scatter("r", [0, 1, 2, 3], flatten=True, block=True)
    assert v["r"] == [0, 1, 2, 3]


def test_map_matches_builtin_map(rc):
    v = rc[:]
    assert v.map_sync(lambda x: x * x, range(11)) == [x * x for x in range(11)]
    assert v.map_sync(lambda x: x, []) == []
    assert v.map_sync(lambda x, y: x + y, [1, 2, 3], [10, 20, 30]) == [11, 22, 33]
    np.testing.assert_array_equal(v.map_sync(lambda x: x, np.arange(101)), np.arange(101))
    amr = v.map_async(lambda x: -x, range(9))
    assert isinstance(amr, ipp.AsyncMapResult)
    assert list(amr) == [-x for x in range(9)]


def test_get_timeout_raises_ipp_timeout_error(rc):
    ar = rc[0].apply_async(_sleep_then, 0.5, 1)
    with pytest.raises(ipp.error.TimeoutError):
        ar.get(0.01)
    assert not ar.ready()
    assert ar.get(5) == 1 and ar.ready() and ar.successful()


def test_async_result_is_future_and_awaitable(rc):
    ar = rc[0].apply_async(lambda: 3)
    assert isinstance(ar, concurrent.futures.Future)

    async def main():
        return await ar

    assert asyncio.run(main()) == 3
    assert ar.result() == 3


def test_metadata_timestamps_and_output(rc):
    ar = rc[:2].apply_async(lambda: print("hello") or 5)
    assert ar.get(5) == [5, 5]
    ar.wait_for_output(5)
    assert ar.stdout == ["hello\n", "hello\n"]
    assert ar.engine_id == [0, 1]
    md = ar.metadata[0]
    assert md["submitted"] <= md["started"] <= md["completed"] <= md["received"]
    assert ar.wall_time >= 0 and ar.serial_time >= 0 and ar.elapsed >= 0
    assert ar.progress == 2 and len(ar.msg_ids) == 2
    single = rc[1].apply_async(lambda: 1)
    single.get(5)
    assert single.engine_id == 1 and isinstance(single.metadata, dict)


def test_single_error_raises_remote_error_with_engine_info(rc):
    with pytest.raises(ipp.RemoteError) as info:
        rc[2].apply_sync(lambda: 1 / 0)
    e = info.value
    assert e.ename == "ZeroDivisionError" and e.engine_info["engine_id"] == 2
    assert "ZeroDivisionError" in e.traceback


def test_return_exceptions_gives_errors_as_values(rc):
    ar = rc[:2].apply_async(lambda: 1 / 0)
    out = ar.get(5, return_exceptions=True)
    assert all(isinstance(x, ipp.RemoteError) for x in out)
    assert ar.successful() is False


def test_reference_resolves_on_each_engine(rc):
    v = rc[:]
    v.scatter("n", rc.ids, flatten=True, block=True)
    assert v.apply_sync(lambda x: x * 2, ipp.Reference("n")) == [0, 2, 4, 6]
    v.execute("f = lambda x: n * x", block=True)
    assert v.apply_sync(ipp.Reference("f"), 5) == [0, 5, 10, 15]


def test_interactive_function_sees_engine_globals(rc):
    @interactive
    def geta():
        return a  # noqa: F821

    v = rc[0]
    v.block = True
    v["f"] = geta
    with pytest.raises(ipp.RemoteError):
        v.execute("b = f()")
    v.execute("a = 5")
    v.execute("b = f()")
    assert v["b"] == 5


def test_execute_reply_and_results(rc):
    ar = rc[:].execute("5", silent=False, block=True)
    assert [r["data"]["text/plain"] for r in ar.execute_result] == ["5"] * 4
    er = rc[0].execute("6", silent=False, block=True).get()
    assert str(er) == "<ExecuteReply[%i]: 6>" % er.execution_count
    assert rc[:].execute("5", block=True).execute_result == [None] * 4
    with pytest.raises(ipp.RemoteError):
        rc[0].execute("1/0").get(5)


def test_dead_engine_fails_its_tasks_with_engine_error(rc):
    ar = rc[3].apply_async(_sleep_then, 0.5, 1)
    time.sleep(0.1)
    rc.fake.kill_engine(3)
    with pytest.raises(ipp.EngineError) as info:
        ar.get(5)
    assert info.value.ename == "EngineError" and isinstance(info.value, ipp.RemoteError)
    deadline = time.time() + 5
    while 3 in rc.ids and time.time() < deadline:
        time.sleep(0.02)
    assert rc.ids == [0, 1, 2]


def test_lost_controller_fails_pending_results_instead_of_hanging(rc):
    ar = rc[0].apply_async(_sleep_then, 0.5, 1)
    rc.fake.lose()
    with pytest.raises(ipp.EngineError):
        ar.get(5)
    with pytest.raises(ipp.EngineError):
        rc[0].apply_async(lambda: 1)


def test_wait_for_engines_sees_registration_and_times_out(rc):
    with pytest.raises(ipp.error.TimeoutError):
        rc.wait_for_engines(5, timeout=0.1)
    f = rc.wait_for_engines(5, block=False)
    rc.fake.add_engine()
    f.result(5)
    assert rc.ids == [0, 1, 2, 3, 4]
    assert rc.wait_for_engines(2) is None


def test_abort_queued_task_raises_task_aborted(rc):
    v = rc[0]
    first = v.apply_async(_sleep_then, 0.3, 1)
    second = v.apply_async(lambda: 2)
    v.abort(second)
    with pytest.raises(ipp.error.TaskAborted):
        second.get(5)
    assert first.get(5) == 1


def test_get_result_fetches_unknown_msg_id_from_controller(rc):
    ar = rc[1].apply_async(lambda: 99)
    ar.get(5)
    msg_id = ar.msg_ids[0]
    rc.purge_local_results(msg_id)
    hub = rc.get_result(msg_id)
    assert isinstance(hub, ipp.AsyncHubResult)
    assert hub.get(5) == 99
    assert rc.get_result(msg_id).get(5) == 99
    with pytest.raises(ipp.RemoteError):
        rc.get_result("no-such-id")


def test_queue_status_and_hub_history(rc):
    ar = rc[:].apply_async(lambda: 1)
    ar.get(5)
    status = rc.queue_status()
    assert set(status) == {0, 1, 2, 3, "unassigned"}
    assert rc.queue_status(targets=0)["completed"] >= 1
    assert ar.msg_ids[0] in rc.hub_history()


def test_clear_empties_namespaces(rc):
    rc[:]["zz"] = 1
    rc.clear(block=True)
    with pytest.raises(ipp.CompositeError):
        rc[:].pull("zz", block=True)


def test_remote_and_parallel_decorators(rc):
    v = rc[:]

    @v.remote(block=True)
    def plus_one(x):
        return x + 1

    assert plus_one(1) == [2] * 4

    @v.parallel(block=True)
    def total(xs):
        return [sum(xs)]

    assert total(list(range(8))) == [1, 5, 9, 13]

    @ipp.parallel(v, block=True)
    def square(x):
        return x * x

    assert square.map(range(5)) == [0, 1, 4, 9, 16]


def test_load_balanced_view_spreads_tasks(rc):
    lv = rc.load_balanced_view()
    assert len(lv) == 4
    assert lv.map_sync(lambda x: x + 1, range(9)) == list(range(1, 10))
    ars = [lv.apply_async(_sleep_then, 0.05, i) for i in range(4)]
    assert sorted(ar.metadata["engine_id"] for ar in ars if ar.get(5) is not None) == [0, 1, 2, 3]
    assert list(lv.imap(lambda x: 2 * x, range(6))) == [0, 2, 4, 6, 8, 10]


def test_load_balanced_apply_async_goes_through_a_subclass_own_really_apply(rc):
    calls = []

    class Logged(type(rc.load_balanced_view())):
        def _really_apply(self, f, args=None, kwargs=None, **options):
            calls.append((args, kwargs))
            return super()._really_apply(f, args, kwargs, **options)

    lv = Logged(client=rc)
    assert lv.apply_async(_sleep_then, 0, 7).get(5) == 7
    assert calls == [((0, 7), {})]


def test_load_balanced_apply_async_checks_its_flags_and_function(rc):
    lv = rc.load_balanced_view()
    with pytest.raises(TypeError):
        lv.set_flags(retries=1.5)
    with pytest.raises(TypeError):
        lv.retries = 1.5  # set as an attribute, it is refused at once, as ipyparallel's trait does
    assert lv.retries == 0
    with pytest.raises(TypeError):
        lv.apply_async(42)
    plain = lv.apply_async(_sleep_then, 0, 2)
    with lv.temp_flags(after=[plain], retries=2, timeout=5):
        dependent = lv.apply_async(_sleep_then, 0, 3)
    assert dependent.get(5) == 3 and plain.get(5) == 2
    assert lv.history[-2:] == plain.msg_ids + dependent.msg_ids
    assert not lv.outstanding


def test_executor_submit_and_map(rc):
    ex = rc[:].executor
    assert ex.submit(lambda: 4).result(5) == [4] * 4
    with rc.executor() as ex2:
        assert list(ex2.map(lambda x: x * 3, range(5))) == [0, 3, 6, 9, 12]


def test_sync_imports_imports_locally_and_remotely(rc, capsys):
    v = rc[0]
    with v.sync_imports():
        import json  # noqa: F401
    assert "importing json on engine(s)" in capsys.readouterr().out

    @interactive
    def has_json():
        return "json" in globals()

    assert v.apply_sync(has_json)


def test_require_imports_module_on_engine(rc):
    @ipp.require("base64")
    @interactive
    def encode(arg):
        return base64.b64encode(arg)  # noqa: F821

    assert rc[0].apply_sync(encode, b"hi") == b"aGk="


def test_temp_flags_restore(rc):
    v = rc[0]
    v.block = True
    with v.temp_flags(block=False):
        assert isinstance(v.apply(lambda: 1), ipp.AsyncResult)
    assert v.block is True


def test_a_load_balanced_timeout_flag_is_a_float_as_ipyparallel_makes_it(rc):
    lv = rc.load_balanced_view()
    with lv.temp_flags(timeout=5):
        assert lv.timeout == 5.0 and type(lv.timeout) is float
    lv.set_flags(timeout=None)
    assert lv.timeout is None
    with pytest.raises(ValueError):
        lv.set_flags(timeout=-1)


def test_view_flags_of_the_wrong_type_are_refused_when_assigned(rc):
    from traitlets import TraitError

    lv = rc.load_balanced_view()
    for name, bad in (("retries", "2"), ("block", "yes"), ("timeout", "soon"), ("track", None),
                      ("after", 5)):
        with pytest.raises(TraitError):
            setattr(lv, name, bad)
    assert (lv.retries, lv.block, lv.timeout, lv.track, lv.after) == (0, False, 0.0, False, None)
    lv.timeout = 3
    lv.block = 1
    assert (lv.timeout, type(lv.timeout), lv.block) == (3.0, float, True)
    dv = rc[:]
    with pytest.raises(TypeError):
        dv.block = "no"


def test_a_load_balanced_retries_flag_that_is_not_an_int_is_refused_when_set(rc):
    lv = rc.load_balanced_view()
    for bad in (1.5, "2", None):
        with pytest.raises(TypeError):
            lv.set_flags(retries=bad)
    assert lv.retries == 0
    lv.set_flags(retries=3)
    assert lv.retries == 3


def test_closed_client_refuses_work(rc):
    rc.close()
    with pytest.raises(RuntimeError):
        rc[0].apply_async(lambda: 1)


def test_an_unknown_engine_leaving_fails_none_of_the_tasks_not_yet_assigned(rc):
    from ensemble.client.util import utcnow

    with rc._lock:
        task = rc._register("not-assigned-yet", None, utcnow())
    rc._on_notification("unregistration_notification", {"id": 99})
    assert not task.done(), "None files the tasks no engine has yet, not an engine's"
    with rc._lock:
        rc._discard("not-assigned-yet")

