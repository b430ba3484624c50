"""publish_data: an engine sends data to the client while a request runs; it lands in
``ar.data`` (ipyparallel's datapub)."""

import time

import pytest

from parallel_fixtures import rc, started  # noqa: F401

pytestmark = [pytest.mark.ensemble_only, pytest.mark.deadline(60)]


def test_published_data_reaches_ar_data_while_the_request_runs(rc):
    view = rc[rc.ids[0]]
    ar = view.execute("import time\nfrom ensemble.datapub import publish_data\n"
                      "for i in range(5):\n    publish_data({'i': i, 'square': i * i})\n    time.sleep(0.1)",
                      block=False)
    seen = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and 4 not in seen:
        if ar.data:
            seen.add(ar.data["i"])
        time.sleep(0.02)
    ar.get(10)
    assert ar.wait_for_output(5)
    assert len(seen) > 1, "seen only %s: data did not arrive while the request ran" % seen
    assert ar.data == {"i": 4, "square": 16}


def test_code_written_for_ipyparallel_publishes_through_its_module_name(rc):
    pytest.importorskip("ipyparallel")
    ar = rc[:].execute("from ipyparallel.datapub import publish_data\npublish_data({'engine_says': 'hi'})",
                       block=False)
    ar.get(10)
    assert ar.wait_for_output(5)
    assert ar.data == [{"engine_says": "hi"}] * len(rc.ids)


def test_publish_data_outside_a_dict_is_a_clear_error(rc):
    ar = rc[rc.ids[0]].execute("from ensemble.datapub import publish_data\npublish_data([1, 2])", block=False)
    with pytest.raises(Exception) as raised:
        ar.get(10)
    assert "takes a dict" in str(raised.value)
