"""complete_request in the contexts IPython's completer knows: attributes, dict keys,
magics, paths, imports, call results, unicode names. Kernels may replace more or less of
the text before the cursor (Ensemble the whole dotted name, ipykernel the last part), so
each test looks at the text a frontend ends up with. Run against ipykernel too."""

import pytest

SETUP = (
    "class CompletionFoo:\n"
    "    attr_one = 1\n"
    "    def method_two(self, a, b=2):\n"
    "        pass\n"
    "completion_foo = CompletionFoo()\n"
    "completion_keys = {'key_alpha': 1, 'key_beta': 2}\n"
)


@pytest.fixture
def ready(kernel):
    assert kernel.execute(SETUP).status == "ok"
    return kernel


def completed(kernel, code, cursor_pos=None):
    """Each text the frontend would show after taking one of the matches."""
    cursor_pos = len(code) if cursor_pos is None else cursor_pos
    reply = kernel.shell_request("complete_request", {"code": code, "cursor_pos": cursor_pos})["content"]
    assert reply["status"] == "ok", reply
    head, tail = code[:reply["cursor_start"]], code[reply["cursor_end"]:]
    return {head + match + tail for match in reply["matches"]}


def test_attributes_leave_out_private_names_unless_asked_for(ready):
    assert completed(ready, "completion_foo.") == {"completion_foo.attr_one", "completion_foo.method_two"}
    assert "completion_foo.__class__" in completed(ready, "completion_foo.__")


def test_dict_keys_complete_inside_the_brackets(ready):
    found = completed(ready, "completion_keys['key_")
    assert any(text.startswith("completion_keys['key_alpha") for text in found), found
    assert any(text.startswith("completion_keys['key_beta") for text in found), found


def test_magics_complete_after_their_percent(ready):
    assert {"%time", "%timeit"} <= completed(ready, "%tim")
    assert "%%timeit" in completed(ready, "%%timei")


def test_paths_complete_inside_a_string(ready, tmp_path):
    (tmp_path / "completion_target.txt").write_text("")
    code = "open('%s/completion_tar" % tmp_path
    assert "open('%s/completion_target.txt" % tmp_path in completed(ready, code)


def test_names_complete_in_a_from_import(ready):
    assert "from os import path" in completed(ready, "from os import pat")


def test_attributes_of_a_calls_result_complete(ready):
    assert "CompletionFoo().attr_one" in completed(ready, "CompletionFoo().attr")


def test_a_unicode_name_completes_to_its_character(ready):
    assert "\u03b1" in completed(ready, "\\alpha")


def test_a_name_in_the_middle_of_a_cell_completes_in_place(ready):
    code = "x = 1\ncompletion_fo + 2"
    assert "x = 1\ncompletion_foo + 2" in completed(ready, code, len("x = 1\ncompletion_fo"))
