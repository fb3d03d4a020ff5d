"""Notebook conventions: each .ipynb is paired with a jupytext script and the two say the same thing."""

import json

import jupytext
import pytest

from vaelib.infra import paths

NOTEBOOKS = sorted((paths.PROJECT / "notebooks").glob("*.ipynb"))


def test_every_notebook_has_its_script():
    assert NOTEBOOKS and all(nb.with_suffix(".py").is_file() for nb in NOTEBOOKS)
    assert len(list((paths.PROJECT / "notebooks").glob("*.py"))) == len(NOTEBOOKS)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_pair_is_in_sync(notebook):
    """Same cells, same sources, same tags: edit the .py (or the notebook in Jupyter) and run
    `jupytext --sync notebooks/*.ipynb`."""
    ipynb = jupytext.read(notebook)
    script = jupytext.read(notebook.with_suffix(".py"))
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    assert cells(ipynb) == cells(script), f"{notebook.name} and its .py differ: run jupytext --sync"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_with_a_parameters_cell_and_the_python3_kernel(notebook):
    nb = json.loads(notebook.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert sum("parameters" in c["metadata"].get("tags", []) for c in code) == 1
    kinds = [c["cell_type"] for c in nb["cells"]]
    # prose before each code cell (the parameters cell and a cell right after it excepted)
    for i, kind in enumerate(kinds):
        if kind == "code" and i > 0 and "parameters" not in nb["cells"][i]["metadata"].get("tags", []):
            assert kinds[i - 1] == "markdown" or "parameters" in nb["cells"][i - 1]["metadata"].get("tags", []), \
                f"{notebook.name}: code cell {i} has no prose before it"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_name_of_the_parameters_cell(notebook):
    """A comment papermill cannot parse (`>= 1` did) hides its parameter from `papermill --help-notebook`,
    and every run that passes it then warns 'Passed unknown parameter'."""
    import ast

    import papermill
    cell = next(c for c in json.loads(notebook.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    assigned = {target.id for node in ast.parse("".join(cell["source"])).body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    assert set(papermill.inspect_notebook(str(notebook))) == assigned
