"""The notebooks here are pages for the browser tests and benchmark to open, not lessons: nbval skips them."""

collect_ignore_glob = ["*.ipynb"]
