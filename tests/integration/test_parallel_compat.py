"""ipyparallel 7.1 behaviours that user code relies on, found by running ipyparallel's own test
suite against ``import ensemble as ipp``: each test here pins one that Ensemble got wrong."""

import os
import subprocess
import sys
import time
import types
from collections import namedtuple

import pytest

import ensemble as ipp
from ensemble import error, serialize
from parallel_fixtures import own_cluster, rc, started  # noqa: F401

pytestmark = pytest.mark.ensemble_only


def _module_the_engines_cannot_import(tmp_path, name):
    """A module of the user's own (a file outside any installed location) that exists only in
    this process, as a test module or a script's helper module does."""
    path = tmp_path / (name + ".py")
    path.write_text("")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    return module


# -- module layout -------------------------------------------------------------


def test_util_module_offers_interactive_and_utc_as_ipyparallel_util_does(rc):
    from datetime import datetime, timezone

    from ensemble.util import interactive, utc

    assert utc is timezone.utc
    assert datetime(1984, 1, 1).replace(tzinfo=utc).tzinfo is timezone.utc
    rc[:].push({"pushed_name": 7}, block=True)

    def f():
        return pushed_name  # noqa: F821

    assert rc[0].apply_sync(interactive(f)) == 7


def test_load_balanced_view_is_importable_from_client_view_as_in_ipyparallel():
    from ensemble.client.view import LoadBalancedView

    assert LoadBalancedView is ipp.LoadBalancedView


# -- serialization -------------------------------------------------------------


def test_namedtuple_of_a_module_the_engines_lack_travels_both_ways(rc, tmp_path):
    module = _module_the_engines_cannot_import(tmp_path, "compat_user_types")
    point = namedtuple("point", "x y", module=module.__name__)
    module.point = point

    def swap(p):
        return point(p.y, p.x)

    result = rc[0].apply_sync(swap, point(1, 2))
    assert isinstance(result, point) and (result.x, result.y) == (2, 1)


def test_memoryview_round_trips_as_a_memoryview_with_its_format_and_shape():
    import array

    big = memoryview(b"asdf" * 1025)
    value, _ = serialize.deserialize_object(serialize.serialize_object(big))
    assert isinstance(value, memoryview) and value.tobytes() == big.tobytes()
    assert len(serialize.serialize_object(big)) == 2  # large ones travel out of band
    value, _ = serialize.deserialize_object(
        serialize.serialize_object(memoryview(array.array("d", [1.5, 2.5]))))
    assert value.format == "d" and value.tolist() == [1.5, 2.5]


@pytest.mark.deadline(90)
def test_use_cloudpickle_prefers_client_globals_and_use_pickle_only_the_engines(own_cluster):
    c = own_cluster(n=1)
    client = c.start_and_connect()
    view = client[:]
    main = sys.modules["__main__"]
    view["_compat_a"] = "engine"

    @ipp.interactive
    def get_a():
        return _compat_a  # noqa: F821

    try:
        main._compat_a = "client"
        assert view.apply_sync(get_a) == ["engine"]  # default: the engine's own value wins
        view.use_cloudpickle()
        assert view.apply_sync(get_a) == ["client"]
        view.execute("del _compat_a", block=True)
        assert view.apply_sync(get_a) == ["client"]
        view.use_pickle()
        with pytest.raises(error.CompositeError) as info:
            view.apply_sync(get_a)
        assert info.value.elist[0][0] == "NameError"
    finally:
        del main._compat_a
        serialize._globals_policy = "merge"


# -- execute and errors --------------------------------------------------------


def test_a_failing_execute_does_not_abort_the_requests_queued_behind_it(rc):
    view = rc[0]
    failing = [view.execute("1/0") for _ in range(3)]
    after = view.execute("compat_after_failure = 1")
    after.get(10)
    ar = rc.get_result(failing)
    with pytest.raises(error.RemoteError) as info:
        ar.get(10)
    assert isinstance(info.value, error.CompositeError)
    assert [e[0] for e in info.value.elist] == ["ZeroDivisionError"] * 3


def test_composite_error_of_many_failures_lists_them_all_and_truncates_its_rendering(rc):
    view = rc[:]
    requests = [view.execute("1/0") for _ in range(5)]
    with pytest.raises(error.CompositeError) as info:
        rc.get_result(requests).get(10)
    assert len(info.value.elist) == 5 * len(view)
    assert "more exceptions" in info.value.render_traceback()[-1]


def test_engine_errors_use_a_replaced_remote_error_class(monkeypatch):
    class RemoteErrorWithTB(error.RemoteError):
        pass

    monkeypatch.setattr(error, "RemoteError", RemoteErrorWithTB)
    e = error.unwrap_exception({"ename": "EngineError", "evalue": "Engine 1 died",
                                "traceback": [], "engine_info": {"engine_id": 1}})
    assert isinstance(e, RemoteErrorWithTB) and isinstance(e, error.EngineError)
    assert isinstance(error.unwrap_exception({"ename": "ValueError", "evalue": "x"}),
                      RemoteErrorWithTB)


def test_package_error_names_stay_the_defined_classes_when_the_module_attribute_is_replaced():
    code = ("import ensemble.error as error\n"
            "original = error.RemoteError\n"
            "error.RemoteError = type('Sub', (original,), {})\n"
            "import ensemble\n"
            "assert ensemble.RemoteError is original, ensemble.RemoteError\n"
            "assert issubclass(ensemble.CompositeError, ensemble.RemoteError)\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


# -- AsyncResult metadata ------------------------------------------------------


def test_engine_id_is_none_until_the_reply_arrives(rc):
    ar = rc[:].apply_async(time.sleep, 0.5)
    assert ar.engine_id == [None] * len(ar) and ar["engine_id"] == [None] * len(ar)
    single = rc[-1].apply_async(time.sleep, 0.5)
    assert single["engine_id"] is None
    ar.get(10)
    single.get(10)
    assert ar.engine_id == rc.ids and single.engine_id == rc.ids[-1]


def test_follow_and_after_are_none_until_the_reply_and_empty_lists_after_it(rc):
    lview = rc.load_balanced_view()
    first = lview.apply_async(time.sleep, 0.2)
    ar = lview.apply_async(time.sleep, 0.2)
    assert ar.metadata["follow"] is None and ar.metadata["after"] is None
    ar.get(10)
    first.get(10)
    assert ar.metadata["follow"] == [] and ar.metadata["after"] == []
    # each request its own lists
    assert ar.metadata["after"] is not first.metadata["after"]
    direct = rc[-1].apply_async(time.sleep, 0)
    direct.get(10)
    assert direct.metadata.follow == [] and direct.metadata.after == []


def test_engines_map_ids_to_uuids_and_outstanding_requests_are_filed_by_engine_uuid(rc):
    # ipyparallel's internals, which its own test_outstanding reads
    assert sorted(rc._engines) == rc.ids
    assert all(isinstance(uuid, str) and uuid for uuid in rc._engines.values())
    uuid = rc._engines[rc.ids[-1]]
    ar = rc[-1].apply_async(time.sleep, 0.5)
    msg_id = ar.msg_ids[0]
    assert msg_id in rc.outstanding and msg_id in rc._outstanding_dict[uuid]
    task = rc.load_balanced_view().apply_async(time.sleep, 0.1)
    assert task.msg_ids[0] in rc._outstanding_dict[None]
    ar.get(10)
    task.get(10)
    assert msg_id not in rc.outstanding and msg_id not in rc._outstanding_dict[uuid]
    assert task.msg_ids[0] not in rc._outstanding_dict[None]


def test_an_owning_async_result_removes_its_results_and_metadata_from_the_client(rc):
    ar = rc[-1].apply_async(lambda: 1)
    ar.get(10)
    ar.wait_for_output(10)
    msg_id = ar.msg_ids[0]
    assert msg_id not in rc.results and msg_id not in rc.metadata
    assert ar.metadata["status"] == "ok"


def test_a_result_fetched_by_another_client_has_the_same_wall_time(started, rc):
    ar = rc[:].apply_async(time.sleep, 0.25)
    ar.get(10)
    other = ipp.Client(url_file=started.client_file)
    try:
        time.sleep(0.5)
        hr = other.get_result(ar.msg_ids)
        hr.get(10)
        assert hr.wall_time < ar.wall_time + 0.2, (hr.wall_time, ar.wall_time)
        assert hr.serial_time == ar.serial_time
    finally:
        other.close()


# -- dependencies --------------------------------------------------------------


def test_require_imports_into_the_namespace_the_function_is_bound_to():
    user_ns = {}

    @ipp.require("base64")
    @ipp.interactive
    def encode(arg):
        return base64.b64encode(arg)  # noqa: F821

    encode = serialize.uncan(serialize.can(encode), user_ns)
    assert encode(b"foo") == b"Zm9v"
    assert "base64" in user_ns


def _fails():
    raise ValueError("from the engine")


@pytest.mark.deadline(30)
def test_a_failed_applys_error_is_in_its_metadata_as_ipyparallels_engines_publish_it(rc):
    # ipyparallel's engine shows the traceback on iopub ("error"), which its client keeps as
    # metadata["error"]: ar.error is that RemoteError, for an apply as for an execute
    ar = rc[0].apply_async(_fails)
    with pytest.raises(error.RemoteError):
        ar.get(10)
    deadline = time.monotonic() + 5  # outputs come through the controller, after the reply
    while ar.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert type(ar.error) is error.RemoteError
    assert (ar.error.ename, ar.error.evalue) == ("ValueError", "from the engine")
    assert (ar.error.engine_info["engine_id"], ar.error.engine_info["method"]) == (rc.ids[0], "apply")
    assert "from the engine" in ar.error.traceback
    ok = rc[0].apply_async(abs, -1)
    assert ok.get(10) == 1 and ok.error is None


@pytest.mark.deadline(30)
def test_an_unknown_msg_id_is_ipyparallels_keyerror_and_a_status_answer_leads_with_status(rc):
    with pytest.raises(error.RemoteError) as unknown:
        rc.get_result("no-such-id").get(10)
    assert (unknown.value.ename, unknown.value.evalue) == ("KeyError", "'No such message: no-such-id'")
    assert str(unknown.value) == "KeyError('No such message: no-such-id')"
    pending = rc[0].apply_async(time.sleep, 0.3)
    assert list(rc.result_status(pending.msg_ids)) == ["status", "pending", "completed"]
    pending.get(10)
