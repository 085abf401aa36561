"""The leaders' dashboard over 1,000,000 cases: response time of the heatmap, choropleth and KPI endpoints
through the real HTTP stack (gunicorn in production mode, session of a city-level leader), and the weight of
each page (HTML + scripts + styles as served, compressed or not).

The cases are generated in SQL on the benchmark's scratch grid (104,431 cells, bench/_city.py), a month of
reports over every cell, most of which went round the loop (dispatch.history). Target: p95 ≤ 300 ms for
heatmap and choropleth.

--smoke: 4 communities (about 3,400 cells), 3,000 cases, 3 requests per figure, in the smoke database
(bench/_django.py): a few seconds, run by `make test`.

Usage: python bench/dashboard.py [--cases 1000000] [--requests 40] [--smoke]
"""

import argparse
import http.client
import json
import re
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402


def session_cookie() -> str:
    """A logged-in leader's session, made directly in the session store (no password round trip)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore

    from citygrid.models import StaffProfile

    user, _ = User.objects.get_or_create(username="bench_leader")
    for role in ("leader", "dispatcher", "inspector"):  # every page opens for the page weights; city-level scope
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    StaffProfile.objects.get_or_create(user=user)  # no district: the whole city; no first-login password change
    session = SessionStore()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def timed(conn, path: str, cookie: str, headers: dict | None = None) -> tuple[float, int, bytes]:
    t = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}", **(headers or {})})
    response = conn.getresponse()
    body = response.read()
    return time.perf_counter() - t, response.status, body


def page_weight(conn, path: str, cookie: str) -> tuple[int, int, int]:
    """(bytes as sent with gzip, bytes uncompressed, number of files) for a page and its scripts and styles."""
    _, status, html = timed(conn, path, cookie)
    assert status == 200, (path, status)
    assets = re.findall(rb'(?:src|href)="(/static/[^"]+\.(?:js|css))"', html)
    plain, sent = len(html), len(html)
    for asset in assets:
        _, _, body = timed(conn, asset.decode(), cookie)
        plain += len(body)
        conn.request("GET", asset.decode(), headers={"Accept-Encoding": "gzip"})
        sent += len(conn.getresponse().read())
    return sent, plain, 1 + len(assets)


ENDPOINTS = (("heatmap", "/api/dispatch/dashboard/heat/"), ("choropleth", "/api/dispatch/dashboard/choropleth/"),
             ("kpis", "/api/dispatch/dashboard/kpis/"))


def measure(conn, cookie: str, extent, period: dict[str, str], requests: int) -> list[dict]:
    """Each figure of the page timed `requests` times after one warm-up: the heatmap and the choropleth at
    zooms 11, 13 and 15 (the box a 1600×900 map would show round the extent's centre), the KPIs once (the
    whole scope: the map's box does not apply to them). Returns name, zoom, p50, p95 (ms), items and bytes."""
    cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
    figures = []
    for name, path in ENDPOINTS:
        for zoom in (11,) if name == "kpis" else (11, 13, 15):
            half_w, half_h = 800 * 360 / 256 / 2 ** zoom, 450 * 360 / 256 / 2 ** zoom
            bbox = ",".join(f"{v:.5f}" for v in (cx - half_w, cy - half_h, cx + half_w, cy + half_h))
            query = urllib.parse.urlencode({**period, "zoom": zoom, **({} if name == "kpis" else {"bbox": bbox})})
            timed(conn, f"{path}?{query}", cookie)  # warm
            lat, size, items = [], 0, 0
            for _ in range(requests):
                elapsed, status, body = timed(conn, f"{path}?{query}", cookie)
                assert status == 200, (path, status, body[:200])
                lat.append(elapsed)
                size = len(body)
                data = json.loads(body)
                items = len(data.get("points", data.get("features", data.get("days", []))))
            lat.sort()
            figures.append({"name": name, "zoom": zoom, "p50": _django.percentile(lat, .5) * 1000,
                            "p95": _django.percentile(lat, .95) * 1000, "items": items, "bytes": size})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int)
    parser.add_argument("--requests", type=int, help="per endpoint and view")
    parser.add_argument("--smoke", action="store_true", help="a small grid, few cases and requests")
    args = parser.parse_args()
    cases = args.cases or (3000 if args.smoke else 1_000_000)
    requests = args.requests or (3 if args.smoke else 40)
    _django.setup(smoke=args.smoke)
    _city.build_grid(args.smoke)
    _city.ensure_history(cases)
    from incidents.models import Case

    total = Case.objects.count()
    cookie = session_cookie()
    extent = _city.district_extent()
    period = {"start": "2026-10-01", "end": "2026-11-01"}
    # The session stands for a finished login, second factor included (OTP_REQUIRED_ROLES empty).
    with _django.gunicorn(2, 1, OTP_REQUIRED_ROLES="") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        print(f"dashboard over {total:,} cases (October 2026: {cases:,}), gunicorn 2 workers, one client, "
              f"{requests} requests each:")
        for f in measure(conn, cookie, extent, period, requests):
            print(f"  {f['name']:10} zoom {f['zoom']:2}: p50 {f['p50']:6.1f} ms, p95 {f['p95']:6.1f} ms; "
                  f"{f['items']:,} items, {f['bytes'] / 1024:,.0f} KB", flush=True)
        for path in ("/inspector/", "/console/", "/dashboard/", "/map/"):
            sent, plain, files = page_weight(conn, path, cookie)
            print(f"  page {path:12} {files} files, {plain / 1024:,.0f} KB ({sent / 1024:,.0f} KB gzip)")
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
