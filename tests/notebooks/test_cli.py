"""`ferrokernel run` and `ferrokernel test`, through the command line a user types.

- run writes valid nbformat 4 with execution counts, and what it writes reproduces;
- test fails, with a diff, when a stored output no longer matches;
- a failing cell fails the run unless it is tagged `raises-exception`.

The binary is $FERROKERNEL_BIN, else $CARGO_TARGET_DIR/release/ferrokernel, else
target/release/ferrokernel of this checkout.
"""

import copy
import json
import os
import pathlib
import subprocess

import nbformat
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
TIMEOUT = 600


def binary() -> str:
    if "FERROKERNEL_BIN" in os.environ:
        return os.environ["FERROKERNEL_BIN"]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "release" / "ferrokernel")


def ferrokernel(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary(), *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def without_outputs(notebook: dict) -> dict:
    stripped = copy.deepcopy(notebook)
    for cell in stripped["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return stripped


def code_cells(notebook: dict) -> list:
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def stdout_of(cell: dict) -> str:
    return "".join(
        "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
        for o in cell["outputs"]
        if o["output_type"] == "stream" and o["name"] == "stdout"
    )


def small_notebook(tmp_path: pathlib.Path, sources: list, tags=None) -> pathlib.Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "ferrokernel",
        "display_name": "Rust (ferrokernel)",
        "language": "rust",
    }
    for i, source in enumerate(sources):
        cell = nbformat.v4.new_code_cell(source)
        if tags and tags[i]:
            cell.metadata["tags"] = tags[i]
        notebook.cells.append(cell)
    path = tmp_path / "small.ipynb"
    nbformat.write(notebook, path)
    return path


def test_run_writes_valid_nbformat_that_reproduces(tmp_path):
    source = json.loads((NOTEBOOKS / "02_shared_memory.ipynb").read_text())
    blank = tmp_path / "blank.ipynb"
    blank.write_text(json.dumps(without_outputs(source)))
    written = tmp_path / "written.ipynb"

    run = ferrokernel("run", "--output", str(written), str(blank))
    assert run.returncode == 0, run.stdout + run.stderr

    notebook = nbformat.read(written, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    assert stdout_of(cells[-1]) == "30\n1\n4\n9\n16\n"
    assert json.loads(blank.read_text()) == without_outputs(source), "input was modified"

    check = ferrokernel("test", str(written))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 failed" in check.stdout


def test_test_fails_with_a_diff_when_an_output_changed(tmp_path):
    notebook = json.loads((NOTEBOOKS / "02_shared_memory.ipynb").read_text())
    last = code_cells(notebook)[-1]
    stream = next(o for o in last["outputs"] if o["output_type"] == "stream")
    text = "".join(stream["text"])
    assert "30\n" in text
    stream["text"] = text.replace("30\n", "31\n")
    changed = tmp_path / "changed.ipynb"
    changed.write_text(json.dumps(notebook))

    check = ferrokernel("test", str(changed))
    assert check.returncode != 0
    assert "-31" in check.stdout and "+30" in check.stdout, check.stdout
    assert "1 failed" in check.stdout, check.stdout


@pytest.mark.parametrize("tagged", [False, True])
def test_a_failing_cell_fails_the_run_unless_tagged_raises_exception(tmp_path, tagged):
    path = small_notebook(
        tmp_path,
        ['panic!("on purpose")', 'println!("after");'],
        tags=[["raises-exception"] if tagged else None, None],
    )
    run = ferrokernel("run", "--inplace", str(path))
    notebook = nbformat.read(path, as_version=4)
    first, second = code_cells(notebook)
    error = [o for o in first["outputs"] if o["output_type"] == "error"]
    assert error and "on purpose" in error[0]["evalue"], first["outputs"]
    if tagged:
        assert run.returncode == 0, run.stdout + run.stderr
        assert stdout_of(second) == "after\n"
    else:
        assert run.returncode != 0
        # Cells after the failure did not run: no stale outputs.
        assert second["outputs"] == [] and second["execution_count"] is None
