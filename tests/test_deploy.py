"""The deployment files in deploy/: they parse, say what the course relies on, agree with each other, and the image's
environment resolves.

What these tests cannot do (no Kubernetes, Helm, Docker daemon or TLJH server on the development machine) is listed in
deploy/README.md, "What was not run here". The Zero to JupyterHub chart's own schema is not available offline, so
SCHEMA below checks the keys this course sets: their types, their units, and that they are keys the chart has.
"""

import json
import math
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import keras
import pytest
import traitlets.config
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
VALUES = DEPLOY / "z2jh" / "values.yaml"
TLJH_SCRIPT = DEPLOY / "tljh" / "install-rnnviz.sh"
TLJH_SNIPPET = DEPLOY / "tljh" / "jupyterhub_config.d" / "rnnviz.py"
README = DEPLOY / "README.md"
DASHBOARD = "/voila/render/notebooks/07_playground.ipynb"

# Byte units as KubeSpawner reads them (jupyterhub.traitlets.ByteSpecification): powers of 1024, whole numbers, no "Gi".
BYTES = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
MEMORY = {"type": "string", "pattern": r"^[1-9][0-9]*[KMGT]$"}
CPU = {"type": "number", "exclusiveMinimum": 0}
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"

# Keys of the Zero to JupyterHub chart (4.x) at the levels this file writes to, so that a misspelt key fails here as
# Helm would fail on it. Levels below these are checked only where the course depends on them.
CHART_TOP_KEYS = ["cull", "custom", "debug", "enabled", "fullnameOverride", "global", "httpRoute", "hub", "imagePullSecret",
                  "imagePullSecrets", "ingress", "nameOverride", "prePuller", "proxy", "rbac", "scheduling", "singleuser"]
CHART_SINGLEUSER_KEYS = ["allowPrivilegeEscalation", "cloudMetadata", "cmd", "cpu", "defaultUrl", "events", "extraAnnotations",
                         "extraContainers", "extraEnv", "extraFiles", "extraLabels", "extraNodeAffinity", "extraPodAffinity",
                         "extraPodAntiAffinity", "extraPodConfig", "extraResource", "extraTolerations", "fsGid", "image",
                         "initContainers", "lifecycleHooks", "memory", "networkPolicy", "networkTools", "nodeSelector",
                         "podNameTemplate", "profileList", "serviceAccountName", "startTimeout", "storage", "uid"]
CHART_CULL_KEYS = ["adminUsers", "concurrency", "enabled", "every", "maxAge", "removeNamedServers", "timeout", "users"]
CHART_STORAGE_KEYS = ["capacity", "dynamic", "extraLabels", "extraVolumeMounts", "extraVolumes", "homeMountPath", "static",
                      "type"]


def _only(keys):
    return {"propertyNames": {"enum": keys}}


SCHEMA = {
    "type": "object",
    **_only(CHART_TOP_KEYS),
    "required": ["singleuser", "cull"],
    "properties": {
        "singleuser": {
            "type": "object",
            **_only(CHART_SINGLEUSER_KEYS),
            "required": ["image", "defaultUrl", "memory", "cpu", "extraEnv", "storage"],
            "properties": {
                "image": {
                    "type": "object",
                    "required": ["name", "tag"],
                    "properties": {
                        "name": {"type": "string", "pattern": r"^[a-zA-Z0-9][^\s:]*$"},
                        # a string, also when it looks like a number or a date (YAML would turn 2024.10 into a float)
                        "tag": {"type": "string", "pattern": r"^[\w][\w.-]{0,127}$"},
                    },
                },
                "defaultUrl": {"type": "string", "pattern": r"^/voila/render/\S+\.ipynb$"},
                "memory": {"type": "object", "additionalProperties": False, "required": ["guarantee", "limit"],
                           "properties": {"guarantee": MEMORY, "limit": MEMORY}},
                "cpu": {"type": "object", "additionalProperties": False, "required": ["guarantee", "limit"],
                        "properties": {"guarantee": CPU, "limit": CPU}},
                "extraEnv": {
                    "type": "object",
                    # Kubernetes wants every value as a string: an unquoted 3 or 0 would be refused at spawn time.
                    "propertyNames": {"pattern": ENV_NAME},
                    "additionalProperties": {"type": "string"},
                    "required": ["TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS"],
                    "properties": {"TF_CPP_MIN_LOG_LEVEL": {"const": "3"}, "TF_ENABLE_ONEDNN_OPTS": {"const": "0"}},
                },
                "storage": {
                    "type": "object",
                    **_only(CHART_STORAGE_KEYS),
                    "required": ["homeMountPath"],
                    # repo2docker puts the repository (the lessons, and the editable install's source) in /home/jovyan:
                    # a learner's volume mounted there would hide it.
                    "properties": {"homeMountPath": {"type": "string", "pattern": "^/home/jovyan/[^/]+"}},
                },
                "startTimeout": {"type": "integer", "minimum": 60},
            },
        },
        "cull": {
            "type": "object",
            **_only(CHART_CULL_KEYS),
            "required": ["enabled", "timeout"],
            "properties": {"enabled": {"const": True}, "timeout": {"type": "integer", "minimum": 300, "maximum": 4 * 3600},
                           "every": {"type": "integer", "minimum": 10}},
        },
    },
}


def _values():
    return yaml.safe_load(VALUES.read_text())


def _bytes(memory):
    return int(memory[:-1]) * BYTES[memory[-1]]


@pytest.mark.parametrize("path", sorted(p.relative_to(DEPLOY) for p in DEPLOY.rglob("*.y*ml")), ids=str)
def test_every_yaml_file_parses(path):
    assert isinstance(yaml.safe_load((DEPLOY / path).read_text()), dict), f"{path} is not a YAML mapping"


def test_the_yaml_files_are_there():
    assert VALUES.is_file() and VALUES in DEPLOY.rglob("*.y*ml")


def test_the_values_file_matches_the_schema():
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(_values()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors)


def test_the_schema_catches_what_it_should():
    """The schema is not vacuous: each of these edits of the real values file breaks it."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    edits = {
        "memory in Gi": lambda v: v["singleuser"]["memory"].update(guarantee="1Gi"),
        "cpu as a string": lambda v: v["singleuser"]["cpu"].update(limit="1"),
        "unquoted env value": lambda v: v["singleuser"]["extraEnv"].update(TF_CPP_MIN_LOG_LEVEL=3),
        "bad env name": lambda v: v["singleuser"]["extraEnv"].update({"tf-log": "3"}),
        "misspelt chart key": lambda v: v["singleuser"].update(defaultURL=DASHBOARD),
        "lab as default": lambda v: v["singleuser"].update(defaultUrl="/lab"),
        "home over the repo": lambda v: v["singleuser"]["storage"].update(homeMountPath="/home/jovyan"),
        "no culling": lambda v: v["cull"].update(enabled=False),
        "numeric tag": lambda v: v["singleuser"]["image"].update(tag=2024.1),
    }
    for name, edit in edits.items():
        values = _values()
        edit(values)
        assert not validator.is_valid(values), f"the schema lets through: {name}"


def test_the_default_url_opens_a_dashboard_that_exists():
    url = _values()["singleuser"]["defaultUrl"]
    assert url == DASHBOARD
    notebook = ROOT / url.removeprefix("/voila/render/")
    assert notebook.is_file(), f"{url} names {notebook.relative_to(ROOT)}, which is not in the repository"
    assert json.loads(notebook.read_text())["cells"], "the dashboard notebook has cells"


def test_limits_are_not_below_guarantees_and_fit_the_measured_use():
    singleuser = _values()["singleuser"]
    guarantee, limit = (_bytes(singleuser["memory"][k]) for k in ("guarantee", "limit"))
    assert limit >= guarantee
    # one learner's server + kernel on lesson 7 measured about 0.65 GiB: the guarantee must cover it
    assert guarantee >= 0.65 * 1024**3
    assert singleuser["cpu"]["limit"] >= singleuser["cpu"]["guarantee"]


def test_the_image_is_the_one_the_header_says_how_to_build():
    values, text = _values(), VALUES.read_text()
    image = values["singleuser"]["image"]
    command = re.search(r"jupyter-repo2docker\s+(.*?)\s\.\s*$", text.replace("\\\n#", " "), re.M)
    assert command, "the header documents the repo2docker build command"
    args = command.group(1).split()
    assert "--no-run" in args
    assert args[args.index("--image-name") + 1] == f"{image['name']}:{image['tag']}"
    # the chart runs user pods as singleuser.uid (1000 unless set); the image's user must be the same
    assert args[args.index("--user-id") + 1] == str(values["singleuser"].get("uid", 1000))
    assert f"docker push {image['name']}:{image['tag']}" in text


def test_the_tljh_script_is_valid_bash():
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the script"
    done = subprocess.run([bash, "-n", TLJH_SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert TLJH_SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in TLJH_SCRIPT.read_text()


def _tljh_settings():
    return dict(re.findall(r"^tljh-config set (\S+) (\S+)$", TLJH_SCRIPT.read_text(), re.M))


def test_the_tljh_script_sets_the_same_limits_and_culling():
    values, settings = _values(), _tljh_settings()
    assert settings["limits.memory"] == values["singleuser"]["memory"]["limit"]
    assert float(settings["limits.cpu"]) == values["singleuser"]["cpu"]["limit"]
    assert settings["services.cull.enabled"] == "true"
    assert int(settings["services.cull.timeout"]) == values["cull"]["timeout"]
    # the files the script installs from the clone are in the repository
    script = TLJH_SCRIPT.read_text()
    for relative in re.findall(r'"\$REPO"?/([\w./-]+)', script):
        if "*" not in relative:
            assert (ROOT / relative).exists(), f"the script uses $REPO/{relative}, which does not exist"
    assert '"$REPO"/notebooks/*.ipynb' in script and sorted((ROOT / "notebooks").glob("*.ipynb"))


def _run_snippet():
    """The TLJH config snippet, run as JupyterHub runs it: with `c` and `get_config` in its namespace."""
    config = traitlets.config.Config()
    code = compile(TLJH_SNIPPET.read_text(), str(TLJH_SNIPPET), "exec")
    exec(code, {"c": config, "get_config": lambda: config, "__file__": str(TLJH_SNIPPET)})
    return config


def test_the_tljh_snippet_sets_the_dashboard_and_the_environment():
    spawner = _run_snippet().Spawner
    values = _values()
    assert spawner.default_url == values["singleuser"]["defaultUrl"]
    # `.update(...)` on a config is applied to the spawner's own value, so it adds to what other config files set
    environment = spawner.environment.get_value({"KEEP": "1"})
    assert environment.pop("KEEP") == "1", "the snippet adds to the environment rather than replacing it"
    assert environment == values["singleuser"]["extraEnv"], "TLJH and Zero to JupyterHub kernels get the same environment"


def test_the_readme_table_follows_from_the_guarantee():
    text = README.read_text()
    guarantee_gib = _bytes(_values()["singleuser"]["memory"]["guarantee"]) / 1024**3
    course = int(re.search(r"\| Nodes for (\d+) learners \|", text).group(1))
    rows = re.findall(r"^\| (\d+) GiB \| (\d+) GiB \| (\d+(?:\.\d+)?) GiB \| (\d+) \| (\d+) \|$", text, re.M)
    assert len(rows) >= 2, "the README has the learners-per-node table"
    for node, reserved, guarantee, learners, nodes in rows:
        assert float(guarantee) == guarantee_gib, "the table uses the values file's memory guarantee"
        per_node = math.floor((int(node) - int(reserved)) / guarantee_gib)
        assert int(learners) == per_node, f"{node} GiB node: {per_node} learners, not {learners}"
        needed = math.ceil(course / per_node)
        assert int(nodes) == needed, f"{course} learners on {node} GiB nodes need {needed} nodes, not {nodes}"
    # the sentence about CPU: learners per 64 GiB node times the CPU guarantee, in cores
    cpu = _values()["singleuser"]["cpu"]["guarantee"]
    per_64 = {int(r[0]): int(r[3]) for r in rows}[64]
    assert f"{per_64} learners reserve {per_64 * cpu:g} cores" in text


def test_the_readme_links_and_sections():
    text = README.read_text()
    url = _values()["singleuser"]["defaultUrl"]
    assert f"https://mybinder.org/v2/gh/OWNER/REPO/HEAD?urlpath={url.lstrip('/')}" in text
    assert "## What was not run here" in text
    for path in (VALUES, TLJH_SCRIPT, TLJH_SNIPPET):
        assert str(path.relative_to(ROOT)) in text or str(path.relative_to(DEPLOY)) in text, f"the README mentions {path.name}"


NETWORK_ERRORS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
                  "Name or service not known", "Network is unreachable", "ConnectTimeoutError", "ReadTimeoutError",
                  "ProxyError", "Connection refused", "Could not fetch URL")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the image's environment is resolved once, in the TensorFlow pass (the image runs TensorFlow)")
def test_the_image_environment_resolves(tmp_path):
    """What repo2docker's `pip install -e .` from environment.yml would install, resolved by pip without installing.

    `--isolated`: from the package index alone, as in the image, ignoring this machine's pip configuration (local wheel
    folders, constraints). Needs the index: skipped, with pip's error, when it cannot be reached.
    """
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python="))
    pip_lines = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert pip_lines == ["-e ."], "the image installs this folder and nothing else with pip"
    if f"python={sys.version_info.major}.{sys.version_info.minor}" != python:
        pytest.skip(f"the image has {python}; this interpreter is {sys.version.split()[0]}, so it would resolve other wheels")
    report = tmp_path / "report.json"
    pip = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--retries", "1", "--timeout", "10"]
    done = subprocess.run([*pip, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", report, "-e", ROOT],
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        network = [line for line in output.splitlines() if any(e in line for e in NETWORK_ERRORS)]
        if network:
            pytest.skip(f"the package index is unreachable: {network[-1].strip()[:300]}")
    assert done.returncode == 0, output[-3000:]
    installs = json.loads(report.read_text())["install"]
    resolved = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    pyproject = (ROOT / "pyproject.toml").read_text()
    requirements = [Requirement(r) for r in tomllib.loads(pyproject)["project"]["dependencies"]]
    assert {"tensorflow", "keras", "voila"} <= {canonicalize_name(r.name) for r in requirements}
    assert "rnnviz" in resolved
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in resolved, f"{requirement} is not in the resolved environment"
        version = resolved[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name} {version} does not meet {requirement}"
