"""Tests of the benchmark harness itself: `.venv/bin/pytest bench/tests` (not part of `make test`,
which tests the product). They need no database and no server; the wrk test needs wrk."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
