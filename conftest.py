"""Root pytest set-up: module doctests are collected from every room (see setup.cfg)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# Running rcollapse/__main__.py would run the CLI; setup.py-like scripts are not modules.
collect_ignore = ["rcollapse/__main__.py"]
