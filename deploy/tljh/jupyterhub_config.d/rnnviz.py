"""rnnviz on The Littlest JupyterHub: open the lesson 7 dashboard, and quiet TensorFlow in every kernel.

install-rnnviz.sh copies this file to /opt/tljh/config/jupyterhub_config.d/. TLJH loads the files there after
its own settings, so the default URL below wins over `tljh-config set user_environment.default_app`, which only
knows "jupyterlab" (/lab) and "classic" (/tree).

The path is relative to each learner's home folder, where install-rnnviz.sh puts the lessons (notebooks/).
Keep it and the environment in step with deploy/z2jh/values.yaml (tests/test_deploy.py checks both).
"""

c = get_config()  # noqa: F821 (JupyterHub's config loader provides get_config)

c.Spawner.default_url = "/voila/render/notebooks/07_playground.ipynb"

c.Spawner.environment.update(
    {
        # Quiet TensorFlow's C++ logging, and keep its results the same from run to run (no oneDNN custom ops).
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        # Each learner is limited to 1 CPU (limits.cpu): one thread per pool instead of one per core of the server.
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
)
