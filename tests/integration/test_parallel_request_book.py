"""The core files each request in the client's tables in C (request_book.cpp), as
sending.py's Python reference (Client._file_request) does: the two must agree."""

import gc
import time
from datetime import datetime, timezone

import pytest

import ensemble as ipp
from ensemble.client.futures import MessageFuture
from ensemble.client.metadata import Metadata
from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


def noop():
    return None


def tables_of(rc):
    return (list(rc.history), set(rc.outstanding), dict(rc._futures), dict(rc.metadata),
            {k: set(v) for k, v in rc._outstanding_dict.items() if v})


def test_a_request_filed_by_the_core_is_filed_as_the_python_reference_files_it(rc):
    rc.wait_for_engines(2, timeout=20)
    start, clock = datetime.now(timezone.utc), time.monotonic()
    ar = rc[0].apply_async(noop)  # the core's path
    future = ar._children[0]
    msg_id, reference = rc._file_request(0)  # the Python path, filed but never sent
    try:
        assert type(future) is type(reference) is MessageFuture
        assert type(future.metadata) is type(reference.metadata) is Metadata
        assert future.metadata.keys() == reference.metadata.keys()
        for key, value in future.metadata.items():
            if key not in ("msg_id", "submitted"):
                assert reference.metadata[key] == value, key
        for name in ("engine_id", "engine_uuid", "from_hub"):
            assert getattr(reference, name) == getattr(future, name), name
        assert future.engine_uuid == rc._engines[0] and future.engine_id == 0
        submitted = future.metadata["submitted"]
        assert submitted.tzinfo is timezone.utc and start <= submitted <= reference.metadata["submitted"]
        assert clock <= rc._last_submit <= time.monotonic()
        # msg_ids from the one counter, in order, each filed everywhere the Python files it
        assert future.msg_id.rsplit("_", 1)[0] == msg_id.rsplit("_", 1)[0]
        assert int(future.msg_id.rsplit("_", 1)[1]) + 1 == int(msg_id.rsplit("_", 1)[1])
        assert rc.history[-2:] == [future.msg_id, msg_id]
        assert rc.metadata[future.msg_id] is future.metadata
        # out of the collector's view, both (futures.py, MessageFuture)
        for f in (future, reference):
            assert not any(gc.is_tracked(part) for part in (f, f.output, f.metadata, f.metadata["outputs"]))
        assert ar.get(10) is None
    finally:
        rc._unregister([msg_id])


def test_a_task_is_filed_with_no_engine_until_the_scheduler_picks_one(rc):
    ar = rc.load_balanced_view().apply_async(noop)
    future = ar._children[0]
    assert future.engine_id is None and future.metadata["engine_uuid"] is None
    assert ar.get(10) is None
    assert ar.metadata["engine_id"] in rc.ids


def test_a_request_the_core_cannot_send_is_taken_out_of_the_clients_tables_again(rc):
    before = tables_of(rc)
    with pytest.raises(ValueError, match="channel"):
        rc._conn.send_request(rc, "apply_request", "{}", "{}", [], None, "no such channel")
    with pytest.raises(TypeError):
        rc._conn.send_request(rc, "apply_request", "{}", "{}", [object()], 0, "shell")  # not a buffer
    assert tables_of(rc) == before
    assert rc[0].apply_sync(noop) is None  # and the client carries on


def test_a_closed_client_files_nothing_and_says_why(started):
    other = ipp.Client(url_file=started.client_file)
    other.close()
    before = tables_of(other)
    with pytest.raises(RuntimeError, match="closed"):
        other.load_balanced_view().apply_async(noop)
    assert tables_of(other) == before
