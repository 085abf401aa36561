"""Reading systemd units as systemd does, for the tests that run the very commands the units start (these
machines do not run systemd as PID 1): the environment file, the unit's keys, and its command lines with
specifiers and environment variables expanded."""

import re
import shlex
from pathlib import Path

from citygrid.pitr import read_env_file

# What systemd gives a service besides its EnvironmentFile (systemd.exec(5), "Environment variables in
# spawned processes"): a fixed PATH and the language; nothing of the shell that started it.
SYSTEMD_BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def keys(text: str, section: str = "Service") -> dict[str, list[str]]:
    """Every key of a section with all its values, in order."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        if current == section and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def service_env(unit_text: str, **directories: str) -> dict[str, str]:
    """The environment systemd gives the service: its Environment= settings, then its EnvironmentFile's (which
    win). `directories` stand in for paths systemd would make (CacheDirectory= and the like)."""
    env = dict(SYSTEMD_BASE_ENV)
    for assignment in keys(unit_text).get("Environment", []):
        for word in shlex.split(assignment):
            name, _, value = word.partition("=")
            env[name] = directories.get(name, value)
    for path in keys(unit_text).get("EnvironmentFile", []):
        optional = path.startswith("-")
        path = Path(path.lstrip("-"))
        if path.exists() or not optional:
            env.update(read_env_file(path))
    return env


def commands(unit_text: str, key: str, *, unit_name: str = "", instance: str = "") -> list[list[str]]:
    """The command lines of `key` (ExecStart, ExecStartPost…) as systemd would run them."""
    env = service_env(unit_text)
    out = []
    for line in keys(unit_text).get(key, []):
        line = line.replace("%%", "\0").replace("%i", instance).replace("%n", unit_name).replace("\0", "%")
        words: list[str] = []
        for word in shlex.split(line):
            if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", word):  # $VAR: split into words
                words += env.get(word[1:], "").split()
            else:  # ${VAR}: one word
                words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
        out.append(words)
    return out
