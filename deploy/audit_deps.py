"""Dependency audit: pip-audit against PyPI's vulnerability data, judged strictly.

Fails (exit 1) on a known vulnerability and on anything that keeps the audit from being made: pip-audit
missing, a crash, a timeout, some packages audited and others not. Passes with one line saying so only
where the vulnerability data provably cannot be reached from this machine: no package could be audited
(each "not found on PyPI", or pip-audit could not connect) and a probe of the service for a release that is
certainly published (PyPI's JSON for the installed Django, which carries its vulnerabilities) fails to
connect or answers without the data.

Environment: PIP_AUDIT (the pip-audit program), AUDIT_TIMEOUT (seconds, 180), AUDIT_PROBE_URL (the probe's
URL, for tests).
"""

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "https://pypi.org/pypi/{name}/{version}/json"  # what pip-audit's default service reads
EDITABLE = "distribution marked as editable"
NOT_FOUND = "Dependency not found on PyPI and could not be audited"
# What pip-audit (through requests) prints when it cannot reach the service at all.
CONNECTION_FAILURES = ("Could not connect to PyPI's vulnerability feed", "PyPI is not redirecting properly",
                       "ConnectionError", "ConnectTimeout", "NameResolutionError", "Max retries exceeded",
                       "Failed to establish a new connection")


@dataclass
class Report:
    audited: list[dict] = field(default_factory=list)
    unaudited: list[dict] = field(default_factory=list)

    @property
    def vulnerable(self) -> list[dict]:
        return [d for d in self.audited if d["vulns"]]


def read_report(path: Path) -> Report | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    report = Report()
    for dep in data.get("dependencies", []):
        if "vulns" in dep:
            report.audited.append(dep)
        elif dep.get("skip_reason", "") != EDITABLE:
            report.unaudited.append(dep)
    return report


def probe(url: str) -> str | None:
    """Why the vulnerability data at `url` cannot be had, or None when the service answers with it."""
    import requests

    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        return f"{url} cannot be reached ({type(exc).__name__})"
    if response.status_code != 200:
        return f"{url} answers HTTP {response.status_code} for a published release"
    try:
        has_data = "vulnerabilities" in response.json()
    except ValueError:
        has_data = False
    return None if has_data else f"{url} answers without vulnerability data"


def probe_url() -> str:
    if os.environ.get("AUDIT_PROBE_URL"):
        return os.environ["AUDIT_PROBE_URL"]
    from importlib.metadata import version

    return SERVICE.format(name="django", version=version("django"))


def verdict(rc: int, report: Report | None, log: str) -> tuple[int, str]:
    """(exit status, what to print) for a pip-audit run that ended with `rc`."""
    if report is not None and report.vulnerable:
        lines = [f"  {d['name']} {d['version']}: " + ", ".join(
            f"{v['id']} (fixed in {', '.join(v.get('fix_versions') or ['no release yet'])})" for v in d["vulns"])
            for d in report.vulnerable]
        return 1, "dependency audit failed: known vulnerabilities\n" + "\n".join(lines)
    if report is not None and report.audited:
        if report.unaudited:
            names = ", ".join(f"{d['name']} ({d.get('skip_reason', '')})" for d in report.unaudited)
            return 1, f"dependency audit failed: {len(report.unaudited)} packages could not be audited: {names}"
        if rc != 0:
            return 1, f"dependency audit failed: pip-audit exited {rc}\n{log}"
        return 0, f"dependency audit: no known vulnerabilities in {len(report.audited)} packages"
    # Nothing audited: skipped only if the service provably cannot be reached from here.
    if report is not None and report.unaudited and all(
            d.get("skip_reason", "").startswith(NOT_FOUND) for d in report.unaudited):
        told = f"none of {len(report.unaudited)} packages could be audited"
    elif report is None and rc != 0 and any(sign in log for sign in CONNECTION_FAILURES):
        told = "pip-audit could not connect"
    else:
        return 1, f"dependency audit failed: pip-audit exited {rc} and audited nothing\n{log}"
    unreachable = probe(probe_url())
    if unreachable is None:
        return 1, (f"dependency audit failed: {told}, yet the vulnerability service answers with its data\n{log}")
    return 0, f"dependency audit skipped: the vulnerability data cannot be reached from here ({unreachable}; {told})"


def main() -> int:
    pip_audit = os.environ.get("PIP_AUDIT") or str(ROOT / ".venv" / "bin" / "pip-audit")
    timeout = float(os.environ.get("AUDIT_TIMEOUT", "180"))
    if not os.access(pip_audit, os.X_OK):
        print(f"dependency audit failed: {pip_audit} is not installed (`make venv` installs it)")
        return 1
    with tempfile.TemporaryDirectory() as work:
        output = Path(work) / "report.json"
        try:
            run = subprocess.run([pip_audit, "--progress-spinner", "off", "--skip-editable", "--format", "json",
                                  "--output", str(output)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"dependency audit failed: pip-audit did not finish in {timeout:g} s")
            return 1
        status, message = verdict(run.returncode, read_report(output), (run.stdout + run.stderr).strip())
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main())
