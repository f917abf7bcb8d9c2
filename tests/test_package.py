"""The package as a learner installs it: the wheel and sdist build and pass twine's checks, and the wheel alone,
installed into a new virtual environment, runs lesson 0 under nbval.

Both tests build from this checkout into a temporary folder (the build's own isolated environment fetches
hatchling from the package index, or pip's cache). The second one costs about two minutes: a new environment
installs the wheel's dependencies (from pip's cache after the first time).
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).parent.parent
# The lessons run on TensorFlow (a new environment installs it, not jax), and nothing here depends on the backend:
# these tests run once, in the TensorFlow pass of the README's test command.
pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="packaging is checked once, in the TensorFlow pass (the lessons run on TensorFlow)")
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(args, cwd=None, timeout=900):
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=QUIET, capture_output=True, text=True, timeout=timeout)
    command = " ".join(map(str, args))
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The built wheel and sdist: ``{"wheel": Path, "sdist": Path}``."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, ROOT])
    wheels, sdists = sorted(out.glob("rnnviz-*.whl")), sorted(out.glob("rnnviz-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_wheel_and_sdist_pass_twine_check(dist):
    out = _run([sys.executable, "-m", "twine", "check", "--strict", dist["wheel"], dist["sdist"]])
    assert out.count("PASSED") == 2, out
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    modules = sorted(p.name for p in (ROOT / "rnnviz").glob("*.py"))
    assert sorted(Path(n).name for n in names if n.startswith("rnnviz/")) == modules, "the wheel holds every module"
    assert not [n for n in names if n.startswith(("tests/", "notebooks/"))], "the wheel holds the package only"


def test_the_wheel_alone_runs_lesson_0_in_a_new_environment(dist, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", dist["wheel"], "nbval>=0.11", "pytest>=8"])
    lesson = tmp_path / "lesson" / "00_start_here.ipynb"  # away from this checkout: only the installed wheel is importable
    lesson.parent.mkdir()
    shutil.copy(ROOT / "notebooks" / lesson.name, lesson)
    where = _run([python, "-c", "import rnnviz; print(rnnviz.__file__)"], cwd=lesson.parent).strip()
    assert where.startswith(str(venv)), f"rnnviz came from {where}, not from the new environment"
    out = _run([python, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env", "-q",
                "--nbval-sanitize-with", ROOT / "tests" / "nbval_sanitize.cfg", lesson.name], cwd=lesson.parent)
    assert " passed" in out and "failed" not in out, out


def test_binder_builds_the_environment_from_environment_yml_after_copying_the_repository(tmp_path):
    """repo2docker's own rules (``--no-build --debug`` prints the Dockerfile it would build, without Docker):
    Python 3.11 from environment.yml, applied after the repository is copied in, since its ``-e .`` needs it."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".hypothesis", "dist", "build"))
    done = subprocess.run([sys.executable, "-m", "repo2docker", "--no-build", "--no-run", "--debug", repo],
                          env=QUIET, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    dockerfile = done.stdout + done.stderr
    assert "Building conda environment for python=3.11" in dockerfile
    copied = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    assert dockerfile.index('env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"') > copied, (
        "environment.yml installs rnnviz from the repository (-e .), so it must be applied after the copy")
