"""LOG_LEVEL holds for Django's own loggers: the benchmarks' servers run with LOG_LEVEL=ERROR so that their
thousands of expected 404s and 400s stay out of the terminal, while a 500 still shows."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What Django logs for a refused request (django.request WARNING) and for a server error (ERROR), as
# production settings configure logging.
SCRIPT = """
import logging
import django
django.setup()
logging.getLogger("django.request").warning("Not Found: /api/grids/locate")
logging.getLogger("django.request").error("Internal Server Error: /api/cases/")
"""


def _stderr_with(**env: str) -> str:
    environ = {**{k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}, "DJANGO_SETTINGS_MODULE":
               "citygrid.settings", "DEBUG": "0", "SECRET_KEY": "x" * 50, **env}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=environ, cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return out.stderr


def test_log_level_error_keeps_refusals_out_and_server_errors_in():
    text = _stderr_with(LOG_LEVEL="ERROR")
    assert "Internal Server Error: /api/cases/" in text
    assert "Not Found" not in text


def test_default_level_logs_refusals():
    assert "Not Found: /api/grids/locate" in _stderr_with()
