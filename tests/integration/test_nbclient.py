"""Running a whole notebook through nbclient, as Jupyter tools do."""

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def build_notebook():
    cells = [
        new_markdown_cell("# Ensemble notebook\n\nSome *text*."),
        new_code_cell("print('hello from nbclient')"),
        new_code_cell("from IPython.display import HTML, display\ndisplay(HTML('<b>displayed</b>'))"),
        new_code_cell(
            "class Rich:\n"
            "    def _repr_html_(self):\n"
            "        return '<i>rich html</i>'\n"
            "    def __repr__(self):\n"
            "        return 'Rich()'\n"
            "Rich()"
        ),
        new_code_cell("1 / 0"),
        new_code_cell("%%time\ntotal = sum(range(10))\ntotal"),
        new_code_cell("print('after the error', total)"),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "x", "language": "python"}})


@pytest.fixture(scope="module")
def executed(kernel_target, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nbclient")
    nb = build_notebook()
    client = NotebookClient(
        nb,
        kernel_name=kernel_target.name,
        timeout=60,
        startup_timeout=60,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp)}},
    )
    env = kernel_target.kernel_env(tmp / "state")
    client.execute(env=env)
    # round-trip through the file format, as a saved notebook would be
    path = tmp / "executed.ipynb"
    nbformat.write(nb, str(path))
    nb2 = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb2)
    return nb2


def outputs(nb, index):
    return nb.cells[index].outputs


@pytest.mark.deadline(120)
def test_code_cells_are_numbered_in_order(executed):
    counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
    assert counts == [1, 2, 3, 4, 5, 6]
    assert executed.cells[0].cell_type == "markdown"
    assert "outputs" not in executed.cells[0]


def test_print_cell_has_stream_output(executed):
    [out] = outputs(executed, 1)
    assert out.output_type == "stream"
    assert out.name == "stdout"
    assert out.text == "hello from nbclient\n"


def test_display_cell_has_html_display_data(executed):
    [out] = outputs(executed, 2)
    assert out.output_type == "display_data"
    assert out.data["text/html"] == "<b>displayed</b>"
    assert "text/plain" in out.data


def test_repr_html_object_is_an_execute_result(executed):
    [out] = outputs(executed, 3)
    assert out.output_type == "execute_result"
    assert out.data == {"text/html": "<i>rich html</i>", "text/plain": "Rich()"}
    assert out.execution_count == 3


def test_error_cell_records_error_and_later_cells_still_run(executed):
    [out] = outputs(executed, 4)
    assert out.output_type == "error"
    assert out.ename == "ZeroDivisionError"
    assert out.traceback
    last = outputs(executed, 6)
    assert [o.text for o in last if o.output_type == "stream"] == ["after the error 45\n"]


def test_time_magic_cell_prints_timing_and_result(executed):
    outs = outputs(executed, 5)
    text = "".join(o.text for o in outs if o.output_type == "stream")
    assert "Wall time" in text
    results = [o for o in outs if o.output_type == "execute_result"]
    assert [r.data["text/plain"] for r in results] == ["45"]
