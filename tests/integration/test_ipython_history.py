"""IPython's input and output history inside the kernel: In/Out, _i and _ names, the
history magics (%history, %rerun, %save, %macro), and which results a cell shows.
Each behaviour as ipykernel has it; the tests run against it too."""

import pytest


def count_of(res):
    assert res.status == "ok", res.content
    return res.content["execution_count"]


def plain_results(res):
    return [r["data"]["text/plain"] for r in res.results]


@pytest.fixture
def fresh(start_kernel):
    """A kernel that has run nothing yet: the first cells run before IPython is needed."""
    return start_kernel()


def test_in_and_out_keep_the_cells_from_before_ipython_was_first_needed(fresh):
    first = count_of(fresh.execute("hist_a = 20"))
    second = count_of(fresh.execute("hist_a + 1"))
    fresh.execute("get_ipython().run_line_magic('who_ls', '')")  # IPython is certainly up now
    assert fresh.eval_plain("In[%d], In[%d]" % (first, second)) == "('hist_a = 20', 'hist_a + 1')"
    assert fresh.eval_plain("Out[%d]" % second) == "21"
    assert fresh.eval_plain("_i%d" % first) == "'hist_a = 20'"


def test_underscore_i_names_hold_the_three_previous_inputs(kernel):
    kernel.execute("ui_one = 1")
    kernel.execute("ui_two = 2")
    kernel.execute("ui_three = 3")
    kernel.execute("ui_seen = (_i, _ii, _iii)")
    assert kernel.eval_plain("ui_seen") == "('ui_three = 3', 'ui_two = 2', 'ui_one = 1')"


def test_underscore_names_hold_the_previous_results_and_not_out_itself(kernel):
    kernel.execute("40 + 1")
    kernel.execute("40 + 2")
    kernel.execute("Out")  # shown, but not kept: Out would hold itself
    assert kernel.eval_plain("_, __") == "(42, 41)"


def test_history_magic_lists_this_sessions_cells_by_number(kernel):
    first = count_of(kernel.execute("hm_x = 'first cell'"))
    count_of(kernel.execute("hm_y = 'second cell'"))
    listed = kernel.execute("%history -n {}-{}".format(first, first + 1)).stdout
    assert "{}: hm_x = 'first cell'".format(first) in listed, listed
    assert "{}: hm_y = 'second cell'".format(first + 1) in listed, listed


def test_rerun_runs_a_numbered_cell_again(kernel):
    kernel.execute("rerun_hits = 0")
    cell = count_of(kernel.execute("rerun_hits += 1"))
    kernel.execute("%rerun {}".format(cell))
    assert kernel.eval_plain("rerun_hits") == "2"


def test_save_writes_numbered_cells_to_a_file(kernel, tmp_path):
    first = count_of(kernel.execute("saved_value = 6"))
    count_of(kernel.execute("saved_value *= 7"))
    target = tmp_path / "saved.py"
    kernel.execute("%save -f {} {}-{}".format(target, first, first + 1))
    text = target.read_text()
    assert "saved_value = 6\nsaved_value *= 7" in text, text


def test_a_macro_named_alone_runs_its_cells(kernel):
    first = count_of(kernel.execute("macro_total = 1"))
    count_of(kernel.execute("macro_total *= 3"))
    kernel.execute("%macro triple_it {}-{}".format(first + 1, first + 1))
    kernel.execute("triple_it")
    kernel.execute("triple_it")
    assert kernel.eval_plain("macro_total") == "27"


def test_history_search_and_tail_read_every_cell_so_far(kernel):
    kernel.execute("searched_for_7319 = 1")
    found = kernel.execute("%history -g searched_for_7319").stdout
    assert "searched_for_7319 = 1" in found, found
    kernel.execute("tail_marker_5521 = 2")
    tail = kernel.execute("%history -l 1").stdout
    assert tail.strip() == "tail_marker_5521 = 2", tail


def test_history_search_finds_an_earlier_sessions_cells(start_kernel, tmp_path):
    shared = dict(ENSEMBLE_HISTORY=str(tmp_path / "history.sqlite"), IPYTHONDIR=str(tmp_path / "ipython"))
    earlier = start_kernel(**shared)
    earlier.execute("from_the_last_session_8812 = 1")
    earlier.close()
    later = start_kernel(**shared)
    found = later.execute("%history -g from_the_last_session_8812").stdout
    # an earlier session's line is numbered session/line
    assert "/1: from_the_last_session_8812 = 1" in found, found


def test_results_still_show_after_reset(kernel):
    kernel.execute("%reset -f")
    res = kernel.execute("6 * 7")
    assert res.status == "ok", res.content
    assert plain_results(res) == ["42"]
    assert kernel.eval_plain("_") == "42"


@pytest.mark.parametrize("cell", ["semi_z = 1\nsemi_z + 4;", "1 + 4; # a comment after it",
                                  "semi_z = 1\n!true\nsemi_z + 4;", "5;\n# a comment line\n"])
def test_a_semicolon_after_the_last_expression_hides_its_result(kernel, cell):
    res = kernel.execute(cell)
    assert res.status == "ok", res.content
    assert res.results == []


@pytest.mark.parametrize("cell, shown", [("2 + 5 # not hidden;", "7"), ("%time 3 + 4;", "7")])
def test_a_semicolon_that_does_not_end_the_code_run_hides_nothing(kernel, cell, shown):
    # in a comment, or inside a magic's argument (IPython runs run_line_magic(...))
    res = kernel.execute(cell)
    assert res.status == "ok", res.content
    assert plain_results(res) == [shown]


def test_run_cell_reports_the_value_its_cell_shows(kernel):
    kernel.execute("inner = get_ipython().run_cell('6 * 7')")
    assert kernel.eval_plain("inner.result, inner.success") == "(42, True)"
