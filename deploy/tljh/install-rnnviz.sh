#!/usr/bin/env bash
# Set up an rnnviz course on a server that already runs The Littlest JupyterHub (TLJH), from a clone:
#
#     git clone https://github.com/OWNER/REPO /opt/rnnviz
#     sudo bash /opt/rnnviz/deploy/tljh/install-rnnviz.sh
#
# It installs rnnviz and its dependencies (TensorFlow, Keras 3, Voila, ipywidgets, ipympl) into TLJH's shared
# user environment, gives every learner a copy of the lessons in ~/notebooks, makes the lesson 7 dashboard the
# page learners land on, sets per-learner limits, and reloads the hub. Run it again after a `git pull` to update
# the package; lessons a learner already has are left alone (they may have edited them).
#
# Sizing: one learner's server with lesson 7 running holds about 0.65 GiB; the 2G limit below kills a kernel
# past that (the learner sees a dead kernel). TLJH has limits but no guarantees: size the server for the number
# of learners working at once (deploy/README.md).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TLJH=/opt/tljh
USER_ENV="$TLJH/user"

if [[ $EUID -ne 0 ]]; then
    echo "Run this with sudo: it writes to $TLJH and to learners' home folders." >&2
    exit 1
fi
if ! command -v tljh-config >/dev/null || [[ ! -x "$USER_ENV/bin/pip" ]]; then
    echo "The Littlest JupyterHub is not installed here (no tljh-config or $USER_ENV/bin/pip)." >&2
    exit 1
fi
if ! "$USER_ENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "rnnviz needs Python 3.11 or newer; TLJH's user environment has $("$USER_ENV/bin/python" -V)." >&2
    exit 1
fi

# 1. The package, into the environment every learner's server and kernel run in (a plain install, not editable:
#    learners cannot write to the clone, and a `git pull` should not change running kernels under them).
"$USER_ENV/bin/pip" install --upgrade "$REPO"

# 2. The lessons, into home folders: /etc/skel for learners TLJH creates from now on (useradd --create-home
#    copies it), and a copy for learners who already exist. Existing files are not overwritten.
copy_lessons() {  # copy_lessons HOME_FOLDER [OWNER]
    local dest="$1/notebooks" owner="${2:-}" lesson
    install -d -m 755 "$dest"
    for lesson in "$REPO"/notebooks/*.ipynb; do
        [[ -e "$dest/$(basename "$lesson")" ]] || install -m 644 "$lesson" "$dest/"
    done
    if [[ -n "$owner" ]]; then
        chown -R "$owner:" "$dest"
    fi
}
copy_lessons /etc/skel
for home in /home/jupyter-*; do
    [[ -d "$home" ]] || continue
    copy_lessons "$home" "$(basename "$home")"
done

# 3. The dashboard as the default URL, and TensorFlow's environment (TLJH loads jupyterhub_config.d/*.py).
install -d "$TLJH/config/jupyterhub_config.d"
install -m 644 "$REPO/deploy/tljh/jupyterhub_config.d/rnnviz.py" "$TLJH/config/jupyterhub_config.d/rnnviz.py"

# 4. Per-learner limits (same figures as deploy/z2jh/values.yaml) and culling of idle servers after 30 minutes.
tljh-config set limits.memory 2G
tljh-config set limits.cpu 1
tljh-config set services.cull.enabled true
tljh-config set services.cull.timeout 1800
tljh-config set services.cull.every 300

# 5. Restart the hub with the new settings (running servers keep going; new ones get the settings).
tljh-config reload hub

echo "Done. Learners now land on /user/NAME/voila/render/notebooks/07_playground.ipynb;"
echo "JupyterLab is at /user/NAME/lab/tree/notebooks/00_start_here.ipynb."
