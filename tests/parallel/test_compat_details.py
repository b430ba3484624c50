"""Details of ipyparallel 7.1's client that code can see, on the fake core (fake_core.py)."""

from collections import defaultdict


def test_metadata_says_whether_a_request_was_broadcast_and_coalescing(rc):
    direct = rc[:].apply_async(lambda: 1)
    direct.get(5)
    assert [(md["is_broadcast"], md["is_coalescing"]) for md in direct.metadata] == [(False, False)] * len(rc)
    broadcast = rc.broadcast_view().apply_async(lambda: 1)
    broadcast.get(5)
    assert [(md.is_broadcast, md.is_coalescing) for md in broadcast.metadata] == [(True, False)] * len(rc)
    coalescing = rc.broadcast_view(is_coalescing=True).apply_async(lambda: 1)
    coalescing.get(5)
    # one msg_id for all the engines: its metadata is one dict, as ipyparallel's
    assert coalescing.metadata.is_broadcast and coalescing.metadata.is_coalescing


def test_results_is_a_defaultdict_of_dicts(rc):
    assert isinstance(rc.results, defaultdict)
    assert rc.results["not-a-msg-id"] == {}


def test_push_and_pull_run_under_ipyparallels_names(rc):
    # ipyparallel applies util._push and util._pull; an AsyncResult names what it ran
    pushed = rc[0].push({"a": 5}, block=False)
    pulled = rc[0].pull("a", block=False)
    assert (pushed._fname, pulled._fname) == ("_push", "_pull")
    assert pulled.get(5) == 5


def test_a_coalesced_request_resolves_when_the_engines_outputs_end_before_their_replies_come(rc):
    # iopub and shell are separate sockets: an engine's idle may arrive before its reply
    rc._conn.idle_before_reply = True
    try:
        view = rc.broadcast_view(is_coalescing=True)
        for value in range(5):
            assert view.apply_async(lambda x: x, value).get(5) == [value] * len(rc)
    finally:
        rc._conn.idle_before_reply = False
    assert not rc._futures and not rc.metadata and not rc.results
