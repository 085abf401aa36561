#!/usr/bin/env python3
"""Waits until a /readyz answers 200, or fails: the web unit's ExecStartPost, so that systemd counts the
service started only once it can serve (its database reached), and retries the start otherwise. It asks
with the first of ALLOWED_HOSTS as the Host, as nginx would.

    wait-ready.py http://127.0.0.1:8001/readyz 120"""

import os
import sys
import time
import urllib.error
import urllib.request


def main(url: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    last = "no answer"
    host = os.environ.get("ALLOWED_HOSTS", "").split(",")[0].strip()
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return 0
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
        except OSError as exc:
            last = str(exc)
        time.sleep(1)
    print(f"{url} not ready after {seconds:.0f} s: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 120))
