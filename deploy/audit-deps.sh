#!/bin/sh
# Dependency audit (pip-audit against PyPI's vulnerability data), judged by deploy/audit_deps.py: fails on a
# known vulnerability and on any run that did not audit (pip-audit missing, a crash, a timeout, packages
# left out); passes with one line only where the vulnerability data provably cannot be reached from here.
set -u
py=${AUDIT_PYTHON:-.venv/bin/python}
if [ ! -x "$py" ]; then
    echo "dependency audit failed: $py is missing (make venv creates it)"
    exit 1
fi
exec "$py" "$(dirname "$0")/audit_deps.py"
