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


REFUSALS = """
import logging
import django
django.setup()
from django.core.exceptions import PermissionDenied
log = logging.getLogger("django.request")
for status, error in ((403, PermissionDenied("not yours")), (500, ZeroDivisionError("boom"))):
    try:
        raise error
    except Exception as exc:
        log.warning("Refused or failed: %s", status, exc_info=exc, extra={"status_code": status})
"""


def test_a_refusal_logs_one_line_and_a_server_error_its_traceback():
    """Django attaches the exception to a refused request's line (a 403's PermissionDenied); the journal keeps the
    line, and tracebacks for the errors that need one."""
    environ = {**{k: v for k, v in os.environ.items() if k != "LOG_LEVEL"}, "DJANGO_SETTINGS_MODULE":
               "citygrid.settings", "DEBUG": "0", "SECRET_KEY": "x" * 50}
    text = subprocess.run([sys.executable, "-c", REFUSALS], env=environ, cwd=ROOT, capture_output=True, text=True,
                          check=True).stderr
    assert "Refused or failed: 403" in text and "Refused or failed: 500" in text
    assert "PermissionDenied" not in text and text.count("Traceback") == 1 and "ZeroDivisionError: boom" in text
