"""Root pytest set-up: offline, headless defaults for every test.

The rooms' doctests run through tests/face/test_doctests.py, by their installed names.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
