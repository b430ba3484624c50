"""The magics a kernel has in place of the terminal's (%edit, %less, %man, %connect_info,
%qtconsole, %autosave, %clear, %store), and how a magic's failure is reported. As under
ipykernel, which these tests also run against (except where marked)."""

import json
import os
import stat

import pytest

from cluster_util import wait_until
from encrypted_kernel import make_kernel  # noqa: F401  (a fixture)


def payloads(res, source):
    assert res.status == "ok", res.content
    return [p for p in res.content["payload"] if p.get("source") == source]


def paged_text(res):
    [page] = payloads(res, "page")
    return page["data"]["text/plain"]


def test_edit_asks_the_frontend_to_open_the_file_and_does_not_wait(kernel, tmp_path):
    target = tmp_path / "to_edit.py"
    target.write_text("x = 1\n")
    [edit] = payloads(kernel.execute("%edit {}".format(target)), "edit_magic")
    assert edit["filename"] == str(target)


def test_edit_of_a_function_opens_its_file_at_its_definition(kernel, tmp_path):
    module = tmp_path / "edited_module.py"
    module.write_text("\n\ndef edited_function():\n    return 1\n")
    kernel.execute("import sys; sys.path.insert(0, {!r}); import edited_module".format(str(tmp_path)))
    [edit] = payloads(kernel.execute("%edit edited_module.edited_function"), "edit_magic")
    assert (edit["filename"], edit["line_number"]) == (str(module), 3)


def test_less_and_more_page_a_file_through_the_frontend(kernel, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("first line of the notes\n")
    assert "first line of the notes" in paged_text(kernel.execute("%less {}".format(notes)))
    assert "first line of the notes" in paged_text(kernel.execute("%more {}".format(notes)))


def test_less_without_a_file_is_a_usage_error(kernel):
    res = kernel.execute("%less", stop_on_error=False)
    assert res.status == "error" and res.content["ename"] == "UsageError", res.content
    assert "Missing filename" in res.stderr


def test_man_pages_a_manual_through_the_frontend(kernel):
    # the page is the manual, or man's own word that there is none: either way, paged
    assert paged_text(kernel.execute("%man ls")).strip()


def test_connect_info_shows_the_connection_and_how_to_attach(kernel):
    out = kernel.execute("%connect_info").stdout
    assert '"shell_port"' in out and '"key"' in out, out
    assert "--existing" in out, out


@pytest.mark.ensemble_only
def test_connect_info_of_an_encrypted_kernel_keeps_its_keys_out_of_the_output(make_kernel):  # noqa: F811
    kernel = make_kernel()
    owner = kernel.owner()
    msg_id = owner.send_execute("%connect_info")
    assert owner.reply("shell", msg_id)["content"]["status"] == "ok"
    out = "".join(m["content"].get("text", "") for m in owner.iopub_for(msg_id) if m["header"]["msg_type"] == "stream")
    assert str(kernel.path) in out and "ensemble invite" in out, out
    for secret in (kernel.conn["key"], kernel.secret):
        assert secret not in out


@pytest.mark.ensemble_only
def test_qtconsole_starts_a_qt_console_on_this_kernels_connection_file(start_kernel, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "qtconsole-argv.json"
    fake = bin_dir / "jupyter-qtconsole"
    fake.write_text("#!/usr/bin/python3\nimport json, sys\njson.dump(sys.argv[1:], open(%r, 'w'))\n" % str(record))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    kernel = start_kernel(PATH="{}:{}".format(bin_dir, os.environ["PATH"]))
    assert kernel.execute("%qtconsole --style monokai").status == "ok"
    connection_file = kernel.km.connection_file
    assert wait_until(lambda: record.exists() and record.read_text(), timeout=10), "jupyter-qtconsole did not start"
    assert json.loads(record.read_text()) == ["--existing", os.path.abspath(connection_file), "--style", "monokai"]


def test_autosave_sets_the_notebooks_autosave_interval(kernel):
    res = kernel.execute("%autosave 90")
    [shown] = res.of_type("display_data")
    assert "set_autosave_interval(90000)" in shown["content"]["data"]["application/javascript"]
    assert res.stdout == "Autosaving every 90 seconds\n"
    assert kernel.execute("%autosave 0").stdout == "Autosave disabled\n"


def test_clear_clears_a_terminal_frontend(kernel):
    res = kernel.execute("%clear")
    assert res.status == "ok", res.content
    assert "\x1b[2J" in res.stdout


def test_store_is_there_from_the_start(kernel):
    kernel.execute("stored_answer = 42")
    res = kernel.execute("%store stored_answer")
    assert res.stdout == "Stored 'stored_answer' (int)\n", (res.stdout, res.stderr)


def test_a_magics_usage_error_fails_the_cell_without_an_error_message(kernel):
    res = kernel.execute("%autosave soon", stop_on_error=False)
    assert res.status == "error" and res.content["ename"] == "UsageError", res.content
    assert "requires an integer" in res.stderr
    assert res.errors == []  # shown on stderr, as IPython shows it, and only there


def test_tb_shows_the_last_traceback_and_the_cell_succeeds(kernel):
    kernel.execute("raise KeyError('for tb')", stop_on_error=False)
    res = kernel.execute("%tb")
    assert res.status == "ok", res.content
    assert [e["ename"] for e in res.errors] == ["KeyError"]


def test_displaying_raw_data_that_is_not_a_dict_is_a_type_error(kernel):
    res = kernel.execute("from IPython.display import display; display('text', raw=True)", stop_on_error=False)
    assert res.status == "error" and res.content["ename"] == "TypeError", res.content
    assert res.of_type("display_data") == []
