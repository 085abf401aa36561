"""deploy/audit-deps.sh with a stand-in pip-audit: a vulnerability, a crash, a timeout, a missing pip-audit
or packages left unaudited fail; only a provably unreachable vulnerability service passes, with one line."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKE = f"""#!{sys.executable}
import os, sys, time
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
report = os.environ.get("FAKE_REPORT")
if report:
    with open(sys.argv[sys.argv.index("--output") + 1], "w") as out:
        out.write(report)
print(os.environ.get("FAKE_LOG", ""), file=sys.stderr)
sys.exit(int(os.environ.get("FAKE_RC", "0")))
"""
EDITABLE = {"name": "citygrid", "skip_reason": "distribution marked as editable"}
CLEAN = {"name": "django", "version": "5.2.19", "vulns": [], "fix_versions": []}
VULNERABLE = {"name": "django", "version": "5.2.1", "vulns": [{"id": "PYSEC-2025-1", "fix_versions": ["5.2.2"]}]}


def not_found(name: str) -> dict:
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} (1.0)"}


def report(*deps: dict) -> str:
    return json.dumps({"dependencies": [EDITABLE, *deps], "fixes": []})


@pytest.fixture
def fake_pip_audit(tmp_path) -> Path:
    path = tmp_path / "pip-audit"
    path.write_text(FAKE)
    path.chmod(0o755)
    return path


@pytest.fixture
def reachable_service():
    """A vulnerability service that answers with its data (PyPI's JSON for a release)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server calls
            body = json.dumps({"info": {}, "vulnerabilities": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/pypi/django/5.2.19/json"
    server.shutdown()


UNREACHABLE = "http://127.0.0.1:9/pypi/django/5.2.19/json"  # the discard port: nothing listens


def audit(pip_audit: Path, probe: str = UNREACHABLE, **fake: str) -> tuple[int, str]:
    env = {**os.environ, "PIP_AUDIT": str(pip_audit), "AUDIT_PROBE_URL": probe, "AUDIT_TIMEOUT": "5",
           **{f"FAKE_{k.upper()}": v for k, v in fake.items()}}
    out = subprocess.run(["sh", "deploy/audit-deps.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    return out.returncode, out.stdout + out.stderr


def test_clean_audit_passes(fake_pip_audit):
    rc, text = audit(fake_pip_audit, report=report(CLEAN))
    assert rc == 0 and "no known vulnerabilities in 1 packages" in text


def test_a_known_vulnerability_fails(fake_pip_audit):
    rc, text = audit(fake_pip_audit, report=report(VULNERABLE), rc="1", log="Found 1 known vulnerability in 1 package")
    assert rc == 1 and "PYSEC-2025-1 (fixed in 5.2.2)" in text


def test_missing_pip_audit_fails(tmp_path):
    rc, text = audit(tmp_path / "no-pip-audit")
    assert rc == 1 and "not installed" in text


def test_a_crash_fails(fake_pip_audit):
    rc, text = audit(fake_pip_audit, rc="1", log="Traceback (most recent call last):\nKeyError: 'info'")
    assert rc == 1 and "KeyError" in text and "skipped" not in text


def test_a_timeout_fails(fake_pip_audit):
    rc, text = audit(fake_pip_audit, sleep="10", report=report(CLEAN))
    assert rc == 1 and "did not finish in 5 s" in text


def test_packages_left_unaudited_fail(fake_pip_audit):
    rc, text = audit(fake_pip_audit, report=report(CLEAN, not_found("anyio")))
    assert rc == 1 and "1 packages could not be audited: anyio" in text


def test_unreachable_service_is_skipped_with_one_line(fake_pip_audit):
    rc, text = audit(fake_pip_audit, report=report(not_found("anyio"), not_found("django")))
    assert rc == 0 and text.strip().count("\n") == 0
    assert text.startswith("dependency audit skipped:") and "cannot be reached (ConnectionError)" in text


def test_connection_failure_is_skipped_when_the_probe_cannot_connect_either(fake_pip_audit):
    rc, text = audit(fake_pip_audit, rc="1", log="ERROR:pip_audit._cli:Could not connect to PyPI's vulnerability feed")
    assert rc == 0 and text.startswith("dependency audit skipped:")


def test_nothing_found_while_the_service_answers_fails(fake_pip_audit, reachable_service):
    rc, text = audit(fake_pip_audit, probe=reachable_service, report=report(not_found("anyio"), not_found("django")))
    assert rc == 1 and "the vulnerability service answers with its data" in text
