"""BroadcastView: one request from the client, sent on by the controller to every target
engine under msg_id ``<msg_id>_<engine id>`` (docs/parallel-protocol.md, "Broadcast")."""

import os

import numpy as np
import pytest

import ensemble as ipp
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


class CountingConnection:
    """The client's connection, counting what it sends."""

    def __init__(self, conn):
        self.conn, self.sent = conn, []

    def send(self, *args):
        self.sent.append(args)
        return self.conn.send(*args)

    def __getattr__(self, name):  # the rest, as the connection itself does it
        return getattr(self.conn, name)


@pytest.fixture
def counted(rc):
    real = rc._conn
    rc._conn = CountingConnection(real)
    yield rc._conn
    rc._conn = real


def test_a_broadcast_apply_is_one_request_that_every_engine_answers(rc, counted):
    bview = rc.broadcast_view()
    ar = bview.apply_async(os.getpid)
    pids = ar.get(10)
    assert len(counted.sent) == 1 and counted.sent[0][5] == "broadcast"
    assert sorted(pids) == sorted(rc[:].apply_sync(os.getpid))
    base = counted.sent[0][6]
    assert ar.msg_ids == ["%s_%d" % (base, eid) for eid in rc.ids]
    assert [md["engine_id"] for md in ar.metadata] == rc.ids
    records = rc.db_query({"msg_id": {"$in": ar.msg_ids}}, keys=["queue", "completed"])
    assert len(records) == 2 and all(r["completed"] is not None for r in records)


def test_a_broadcast_execute_runs_the_cell_on_every_engine(rc):
    bview = rc.broadcast_view()
    bview.execute("import os\nbroadcast_pid = os.getpid()\nprint('ran')", block=True)
    assert rc[:].pull("broadcast_pid", block=True) == rc[:].apply_sync(os.getpid)


def test_a_large_array_broadcast_reaches_every_engine_intact(rc):
    data = np.arange(2_000_000, dtype="float64")
    sums = rc.broadcast_view(is_coalescing=True).apply_sync(lambda a: float(a.sum()), data)
    assert sums == [float(data.sum())] * len(rc.ids)


def test_coalescing_is_is_coalescing_as_ipyparallels_notebooks_spell_it_and_flags_pass_through(rc):
    view = rc.broadcast_view(coalescing=True, block=True)
    assert view.is_coalescing is True and view.block is True
    assert view.apply(lambda: 3) == [3] * len(rc.ids)
    assert rc.broadcast_view().is_coalescing is False
    with pytest.raises(KeyError):
        rc.broadcast_view(no_such_flag=1)


def _say(x):
    print("said", x)
    return 2 * x


def test_a_coalescing_apply_is_one_msg_id_whose_result_is_every_engines_as_ipyparallel_gives_it(rc):
    filed = set(rc.results) | set(rc.metadata) | set(rc._futures) | set(rc.outstanding)
    view = rc.broadcast_view(is_coalescing=True)
    ar = view.apply_async(_say, 4)
    assert ar.get(10) == [8] * len(rc.ids)
    assert len(ar.msg_ids) == 1 and rc.history[-1] == ar.msg_ids[0]
    assert ar.msg_ids[0] not in rc.outstanding
    assert ar.engine_id == rc.ids and ar.metadata["is_coalescing"] and ar.metadata["status"] == "ok"
    assert ar.wait_for_output(10) and ar.stdout == "said 4\n" * len(rc.ids)
    # by engine, as ipyparallel's memmap example notebook asks for it (ipyparallel 7.1 fails)
    assert ar.get_dict() == {eid: 8 for eid in rc.ids}
    # push and pull coalesce too; execute, scatter and gather keep a msg_id per engine, as there
    view.push(dict(coalesced=5), block=True)
    pulled = view.pull("coalesced", block=False)
    assert pulled.get(10) == [5] * len(rc.ids) and len(pulled.msg_ids) == 1
    assert len(view.execute("pass", block=True).msg_ids) == len(rc.ids)
    # the engines' own parts leave nothing behind in the client
    assert set(rc.results) | set(rc.metadata) | set(rc._futures) | set(rc.outstanding) <= filed


def test_a_coalescing_apply_that_fails_on_an_engine_is_a_composite_error_of_the_failures(rc):
    def fails_on_the_first(first):
        import os

        if os.getpid() == first:
            raise ValueError("the first")
        return 1

    first = rc[rc.ids[0]].apply_sync(os.getpid)
    with pytest.raises(ipp.CompositeError) as raised:
        rc.broadcast_view(is_coalescing=True).apply_sync(fails_on_the_first, first)
    assert [e[0] for e in raised.value.elist] == ["ValueError"]


def test_an_error_on_the_engines_is_a_composite_error(rc):
    with pytest.raises(ipp.CompositeError) as raised:
        rc.broadcast_view().apply_sync(lambda: 1 / 0)
    assert len(raised.value.elist) == len(rc.ids)
    assert all(e[0] == "ZeroDivisionError" for e in raised.value.elist)


def test_a_target_that_is_not_registered_gets_an_engine_error_and_the_rest_run(rc):
    futures = rc.send_broadcast("execute_request",
                                {"code": "pass", "silent": True, "store_history": False,
                                 "user_expressions": {}, "allow_stdin": False,
                                 "stop_on_error": False}, [rc.ids[0], 99])
    first, unknown = futures
    assert first.wait(10) and not isinstance(first.result(), BaseException)
    assert unknown.wait(10)
    assert isinstance(unknown.result(), ipp.RemoteError)
    assert unknown.result().ename == "EngineError"


def test_a_broadcast_without_a_list_of_targets_is_dropped_and_the_controller_keeps_serving(rc):
    for metadata in ('{"targets": "all"}', '{}', '{"targets": [0.5, "x", null]}'):
        rc._conn.send("execute_request", '{"code": "pass"}', metadata, [], -1, "broadcast", "bad-%d" % len(metadata))
    assert rc.broadcast_view().apply_sync(lambda: "still serving") == ["still serving"] * len(rc.ids)
