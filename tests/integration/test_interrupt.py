"""Interrupting a busy kernel (message and signal mode) and the control channel."""

import time

import pytest


@pytest.fixture(scope="module")
def message_kernel(start_kernel, kernel_target):
    h = start_kernel(kernel_target.message_name)
    yield h
    h.close()


@pytest.fixture(scope="module")
def signal_kernel(start_kernel, kernel_target):
    h = start_kernel(kernel_target.signal_name)
    yield h
    h.close()


@pytest.fixture(params=["message", "signal"])
def interruptible(request, message_kernel, signal_kernel):
    h = message_kernel if request.param == "message" else signal_kernel
    h.ensure_running()
    yield h
    if not h.responsive():
        h.hard_restart()


def start_sleeping_cell(kernel, seconds=30, code=None):
    """Start a long cell and return once the kernel has begun running it."""
    code = code or "import time\ntime.sleep(%d)\nafter_sleep = True" % seconds
    msg_id = kernel.kc.execute(code, stop_on_error=False)
    kernel.wait_iopub(
        lambda m: m["parent_header"].get("msg_id") == msg_id
        and m["header"]["msg_type"] == "execute_input",
        timeout=10,
    )
    time.sleep(0.3)  # be inside time.sleep, not before it
    return msg_id


def test_kernelspec_variants_declare_their_interrupt_mode(message_kernel, signal_kernel):
    assert message_kernel.km.kernel_spec.interrupt_mode == "message"
    assert signal_kernel.km.kernel_spec.interrupt_mode == "signal"


@pytest.mark.deadline(40)
def test_interrupt_stops_sleeping_cell_with_keyboard_interrupt(interruptible):
    k = interruptible
    msg_id = start_sleeping_cell(k)
    t0 = time.monotonic()
    k.km.interrupt_kernel()
    res = k.collect(msg_id, timeout=5)
    assert time.monotonic() - t0 < 5
    assert res.status == "error"
    assert res.content["ename"] == "KeyboardInterrupt"
    assert [e["ename"] for e in res.errors] == ["KeyboardInterrupt"]
    # the rest of the cell did not run, the kernel still works
    assert k.eval_plain("'after_sleep' in globals()") == "False"
    k.assert_healthy()


@pytest.mark.deadline(40)
def test_an_interrupted_cells_traceback_ends_in_the_users_code(interruptible):
    k = interruptible
    msg_id = start_sleeping_cell(k)
    k.km.interrupt_kernel()
    res = k.collect(msg_id, timeout=5)
    assert res.content["ename"] == "KeyboardInterrupt", res.content
    tb = res.traceback_text
    # the last frame shown is the cell's time.sleep line, not the kernel's signal handler
    assert "time.sleep(30)" in tb, tb
    frames = [line for line in tb.splitlines() if line.startswith(("Cell In", "File "))]
    assert frames and frames[-1].startswith("Cell In"), tb


@pytest.mark.deadline(40)
def test_interrupt_stops_busy_python_loop(interruptible):
    k = interruptible
    msg_id = start_sleeping_cell(k, code="spin = 0\nwhile True:\n    spin += 1\n")
    k.km.interrupt_kernel()
    res = k.collect(msg_id, timeout=5)
    assert res.status == "error"
    assert res.content["ename"] == "KeyboardInterrupt"
    assert int(k.eval_plain("spin")) > 0
    k.assert_healthy()


@pytest.mark.deadline(60)
def test_kernel_survives_repeated_interrupts(interruptible):
    k = interruptible
    for _ in range(3):
        msg_id = start_sleeping_cell(k)
        k.km.interrupt_kernel()
        assert k.collect(msg_id, timeout=5).content["ename"] == "KeyboardInterrupt"
    k.assert_healthy()


def test_interrupt_of_idle_kernel_is_harmless(interruptible):
    k = interruptible
    k.km.interrupt_kernel()
    time.sleep(0.5)
    k.assert_healthy()


@pytest.mark.deadline(40)
def test_interrupt_request_on_control_gets_interrupt_reply(message_kernel, kernel_target):
    k = message_kernel
    k.ensure_running()
    msg_id = start_sleeping_cell(k)
    reply = k.control_request("interrupt_request", {}, timeout=5)
    assert reply["header"]["msg_type"] == "interrupt_reply"
    if kernel_target.is_ensemble:
        assert reply["content"]["status"] == "ok"
    res = k.collect(msg_id, timeout=5)
    assert res.content["ename"] == "KeyboardInterrupt"
    k.assert_healthy()


@pytest.mark.deadline(30)
def test_control_channel_answers_kernel_info_while_cell_is_busy(message_kernel):
    k = message_kernel
    k.ensure_running()
    msg_id = start_sleeping_cell(k, code="import time\ntime.sleep(3)\n'slept'")
    t0 = time.monotonic()
    reply = k.control_request("kernel_info_request", {}, timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    assert reply["header"]["msg_type"] == "kernel_info_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["language_info"]["name"] == "python"
    # the busy cell was not disturbed
    res = k.collect(msg_id, timeout=10)
    assert res.status == "ok"
    assert [r["data"]["text/plain"] for r in res.results] == ["'slept'"]


@pytest.mark.deadline(30)
def test_shell_requests_queue_behind_busy_cell_and_run_in_order(message_kernel):
    k = message_kernel
    k.ensure_running()
    first = start_sleeping_cell(k, code="import time\ntime.sleep(1)\norder = ['first']")
    second = k.kc.execute("order.append('second')")
    third = k.kc.execute("order")
    assert k.collect(first).status == "ok"
    assert k.collect(second).status == "ok"
    assert [r["data"]["text/plain"] for r in k.collect(third).results] == ["['first', 'second']"]
