"""What a client keeps of finished requests, for clients that run for days.

- Its caches (``rc.results``, ``rc.metadata``, its futures) let go of a request once the
  AsyncResult that owns it has its result and outputs; a map's AsyncMapResult owns its
  chunks. ipyparallel 7.1 lets go of every finished request.
- Its and its views' ``history`` and ``outstanding`` hold msg_ids only, and stay out of the
  cyclic garbage collector's view (client/futures.py, msg_id_list): a history grows by one
  entry per request, and each full collection read every entry, with the GIL held (100k
  entries: 3.8 -> 1.5 ms per full collection, session 18).
"""

import gc
import time

import pytest

from parallel_fixtures import rc, started  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


def _absolute(x):
    return abs(x)


def test_histories_and_outstanding_sets_stay_out_of_the_collectors_view_and_still_work(rc):
    view = rc.load_balanced_view()
    direct = rc[:]
    ars = [view.apply_async(_absolute, -i) for i in range(20)] + [direct.apply_async(_absolute, 1)]
    assert [ar.get(30) for ar in ars[:20]] == list(range(20))
    ars[-1].get(30)
    for owner in (rc, view, direct):
        assert not gc.is_tracked(owner.history), owner
        assert not gc.is_tracked(owner.outstanding), owner
    assert [m for ar in ars[:20] for m in ar.msg_ids] == view.history[-20:]
    assert set(ars[-1].msg_ids) <= set(rc.history[-2:]) | set(direct.history)
    assert not rc.outstanding and not view.outstanding and not direct.outstanding
    assert all(not gc.is_tracked(s) for s in rc._outstanding_dict.values())
    assert rc.get_result(view.history[0]).get(30) == 0  # integers index it too: see view.get_result


def test_purging_everything_leaves_an_empty_history_out_of_the_collectors_view(rc):
    rc[:].apply_sync(_absolute, -1)
    rc.purge_everything()
    assert rc.history == [] and not gc.is_tracked(rc.history)
    rc[:].apply_sync(_absolute, -1)
    assert len(rc.history) == len(rc.ids)


@pytest.mark.deadline(60)
def test_a_finished_maps_chunks_leave_the_clients_caches_and_stay_fetchable(rc):
    # as ipyparallel 7.1's client, which lets go of every finished request: a client that
    # runs maps for days kept every chunk's result, metadata and future before
    for view in (rc.load_balanced_view(), rc[:]):
        ar = view.map_async(abs, range(-6, 0))
        assert ar.get(10) == [6, 5, 4, 3, 2, 1]
        deadline = time.monotonic() + 5  # outputs complete just after the results
        while any(m in rc._futures for m in ar.msg_ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        for msg_id in ar.msg_ids:
            assert msg_id not in rc.results and msg_id not in rc.metadata and msg_id not in rc._futures
        assert [len(md["outputs"]) for md in ar.metadata] == [0] * len(ar.msg_ids)
        fetched = rc.get_result(ar.msg_ids, block=True)  # from the controller, as in ipyparallel
        assert type(fetched).__name__ == "AsyncHubResult"
        assert [abs(x) for part in fetched.get(10) for x in part] == [6, 5, 4, 3, 2, 1]


def test_get_result_of_a_request_this_client_no_longer_caches_is_an_asynchubresult(rc):
    # ipyparallel's rule: neither outstanding nor in rc.results (its owner took it) is the
    # controller's, even where the client still holds the future it reads it from
    msg_id = rc[0].apply_async(_absolute, -4).msg_ids[0]
    rc.wait([msg_id], timeout=10)
    fetched = rc.get_result(msg_id, block=True)
    assert type(fetched).__name__ == "AsyncHubResult" and fetched.get(10) == 4


def test_a_second_asyncresult_of_an_outstanding_request_leaves_the_first_one_resolving(rc):
    pending = rc[0].apply_async(time.sleep, 0.5)
    second = rc.get_result(pending.msg_ids[0])  # outstanding here: an AsyncResult, not the hub's
    assert type(second).__name__ == "AsyncResult"
    assert pending.get(10) is None and second.get(10) is None
