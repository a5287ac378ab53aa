"""The quickstart notebook runs from top to bottom (its own cells assert what they show), and
its stored copy keeps the outputs a reader on a code host sees, the chart among them."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"


def plot_cell_images(nb) -> list:
    """The image/png outputs of the cell that draws the chart (the one calling ``.plot``)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and ".plot" in c.source]
    assert len(cells) == 1, "the notebook has one plot cell"
    return [o for o in cells[0].get("outputs", []) if "image/png" in o.get("data", {})]


def test_quickstart_notebook_is_stored_with_its_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any(c.get("outputs") for c in code), "the stored notebook keeps its outputs"
    assert plot_cell_images(nb), "the stored plot cell keeps its chart"


def test_quickstart_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)
    assert "(5003, 'rest')" in text, "the first flow run read every account (5000 seeded, 3 upserted)"
    assert plot_cell_images(nb), "the plot cell displays its chart (image/png)"
    assert "was in the Delta table" in text, "an account written in the org reached the served Delta table"
