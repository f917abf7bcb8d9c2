"""The project's promises about itself: the two README commands, CI, and clean stored notebooks."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _readme_commands() -> list[str]:
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_has_two_commands_and_ci_runs_the_second_word_for_word():
    lessons, tests = _readme_commands()
    assert "jupyter lab" in lessons and "pip install" in lessons
    assert "pytest" in tests and "pip install" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, "the last command of .ci/run must be the README's test command, unchanged"


def test_readme_lists_every_lesson():
    readme = (ROOT / "README.md").read_text()
    missing = [nb.name for nb in NOTEBOOKS if nb.name not in readme]
    assert not missing, f"README.md does not list {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed_and_clean(path):
    doc = json.loads(path.read_text())
    assert doc["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in doc["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] is not None for c in code), "run every cell before saving"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run top to bottom in a fresh kernel"
    for i, cell in enumerate(code):
        source = "".join(cell["source"])
        assert "execution" not in cell["metadata"], f"cell {i}: execution timestamps (use scripts/execute_notebooks.py)"
        for out in cell.get("outputs", []):
            # Pictures are base64: any short word can occur in them by chance, so read only text.
            data = {k: v for k, v in out.get("data", {}).items() if not k.startswith("image/")}
            text = json.dumps([data, out.get("text", ""), out.get("traceback", []), out.get("evalue", "")])
            text = re.sub(r"data:image/\w+;base64,[A-Za-z0-9+/=]+", "", text)  # still copies' pictures, inline
            assert not re.search(r"(/root/|/tmp/|/work/|/home/\w+/)", text), f"cell {i}: a machine path in the output"
            assert "oneDNN" not in text and "absl::" not in text and "cuda" not in text.lower(), f"cell {i}: TF log"
            if out["output_type"] == "error":
                assert "NBVAL_RAISES_EXCEPTION" in source, f"cell {i}: an error output not marked as deliberate"
            if out["output_type"] == "stream" and out["name"] == "stderr":
                assert "Warning" not in "".join(out["text"]), f"cell {i}: a warning in the stored output"
        for marker in ("NBVAL_IGNORE_OUTPUT", "NBVAL_RAISES_EXCEPTION"):
            if marker in source:  # nbval only sees a marker that is the whole comment: the reason goes below it
                assert re.search(rf"^# {marker}$", source, re.M), f"cell {i}: {marker} must be a line of its own"
        if "NBVAL_IGNORE_OUTPUT" in source:
            assert "widget" in source.lower(), f"cell {i}: output ignored, but the cell does not say it is a widget"


def test_ci_tests_the_lowest_versions_that_pyproject_allows():
    """.ci/run's second environment installs exactly the lower bounds of pyproject.toml's TensorFlow and Keras."""
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lowest = {m.group(1): m.group(2) for d in dependencies if (m := re.match(r"(tensorflow|keras)>=([\d.]+)", d))}
    assert set(lowest) == {"tensorflow", "keras"}, dependencies
    low_line = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines() if ".venv-low/bin/pip install" in line)
    pinned = dict(re.findall(r'"(tensorflow|keras)==([\d.]+)"', low_line))
    assert pinned["keras"] == lowest["keras"], (pinned, lowest)
    # TensorFlow's lowest release line, at its newest patch: "2.16" allows 2.16.x, and CI pins one of them.
    assert pinned["tensorflow"].startswith(lowest["tensorflow"] + "."), (pinned, lowest)
    assert "pytest tests" in low_line and "not browser" in low_line
