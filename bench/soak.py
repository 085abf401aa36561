"""Soak: inspectors, public Open311 applications and dispatchers together against the running server on
127.0.0.1 for a bounded time, then the books are checked against the database.

- inspectors POST /api/cases/ (JSON, one in four with a photo) and retry with the same client_uuid after any
  failure, as the offline queue of the mobile page does, until the case is accepted;
- public applications POST /open311/v2/requests.json with their api_key and GET their requests back;
- dispatchers list the open cases, register and dispatch them (version-checked; a 409 is a lost race that
  a person would see, counted apart from errors).

Reports requests sent, cases stored, lost (accepted but not stored: must be 0), duplicated (one client id or
Open311 marker stored twice: must be 0), errors by kind, p50/p95/p99 latency per kind of request.

By default it starts gunicorn as `make run` does (3 workers × 8 threads, production mode) on the benchmark's
scratch database. --kill-worker-every N also SIGKILLs a random worker every N seconds (the fault "a worker
killed mid-request"): afterwards every stored case must have its intake log entry and every photo its file.
Every client uses an API token (not subject to the first-login password change or the second factor of
session logins).

--smoke: 4 communities (about 3,400 cells), 5 seconds, 2 inspectors, 1 application, 1 dispatcher, gunicorn
2 × 2, one worker killed, in the smoke database (bench/_django.py), run by `make test`.

Usage: python bench/soak.py [--seconds 300] [--inspectors 6] [--public 3] [--dispatchers 2]
                            [--kill-worker-every 0] [--smoke] [--url http://127.0.0.1:8000 (a server already
                            running, on the database DATABASE_URL names)]
"""

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402
from intake import multipart, small_jpeg  # noqa: E402


class Books:
    """What the clients saw, kept under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.sent = 0
        self.accepted_uuid: dict[str, str] = {}  # client_uuid → case number
        self.accepted_marker: dict[str, str] = {}  # Open311 description marker → service_request_id
        self.conflicts = 0
        self.transitions = 0

    def took(self, kind: str, seconds: float, status: int | None, error: str = "") -> None:
        with self.lock:
            self.sent += 1
            self.latency[kind].append(seconds)
            if error:
                self.errors[f"{kind}: {error}"] += 1
            elif status is not None and status >= 400 and status != 409:
                self.errors[f"{kind}: HTTP {status}"] += 1


class Client:
    def __init__(self, url: str, books: Books):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.books = books
        self.conn = self._new()

    def _new(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def call(self, kind: str, method: str, path: str, body: bytes | None = None,
             headers: dict | None = None) -> tuple[int | None, bytes]:
        t = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = self._new()
            self.books.took(kind, time.perf_counter() - t, None, type(exc).__name__)
            return None, b""
        self.books.took(kind, time.perf_counter() - t, response.status)
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = self._new()
        return response.status, payload


def inspector(url: str, key: str, extent, stop: float, books: Books, seed: int, photo: bytes) -> None:
    rnd, client = random.Random(seed), Client(url, books)
    auth = {"Authorization": f"Token {key}"}
    while time.perf_counter() < stop:
        fields = {"client_uuid": str(uuid.uuid4()), "lon": rnd.uniform(extent[0], extent[2]),
                  "lat": rnd.uniform(extent[1], extent[3]), "description": "巡查上报（压力测试）"}
        with_photo = rnd.random() < 0.25
        fields["category"] = "SJ0102" if with_photo else "SJ0601"
        if with_photo:
            body, ctype = multipart(fields, photo)
        else:
            body, ctype = json.dumps(fields).encode(), "application/json"
        for attempt in range(20):  # the phone's queue: same client_uuid until accepted
            status, payload = client.call("inspector POST case", "POST", "/api/cases/", body,
                                          {**auth, "Content-Type": ctype})
            if status in (200, 201):
                with books.lock:
                    books.accepted_uuid[fields["client_uuid"]] = json.loads(payload)["id"]
                break
            if status is not None and 400 <= status < 500:
                break  # refused on its merits (a point outside the city): not retried
            time.sleep(min(2.0, 0.1 * 2 ** attempt))
        time.sleep(rnd.uniform(0, 0.05))


def public(url: str, key: str, extent, stop: float, books: Books, seed: int) -> None:
    rnd, client = random.Random(seed), Client(url, books)
    mine: list[str] = []
    while time.perf_counter() < stop:
        marker = uuid.uuid4().hex
        form = urllib.parse.urlencode({
            "api_key": key, "service_code": "SJ0601", "lat": rnd.uniform(extent[1], extent[3]),
            "long": rnd.uniform(extent[0], extent[2]), "description": f"市民上报 {marker}"}).encode()
        status, payload = client.call("public POST request", "POST", "/open311/v2/requests.json", form,
                                      {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 201 or status == 200:
            number = json.loads(payload)[0]["service_request_id"]
            with books.lock:
                books.accepted_marker[marker] = number
            mine.append(number)
        if mine:
            client.call("public GET request", "GET", f"/open311/v2/requests/{rnd.choice(mine)}.json")
        time.sleep(rnd.uniform(0.5, 1.5))  # people, not robots: well inside the per-application limit


def dispatcher(url: str, key: str, bureau: str, stop: float, books: Books, seed: int) -> None:
    rnd, client = random.Random(seed), Client(url, books)
    auth = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    while time.perf_counter() < stop:
        status, payload = client.call("dispatcher GET list", "GET", "/api/cases/?status=reported&page_size=20",
                                      headers=auth)
        if status != 200:
            time.sleep(0.2)
            continue
        features = json.loads(payload).get("features", [])
        for feature in rnd.sample(features, min(3, len(features))):
            number, version = feature["id"], feature["properties"].get("version")
            status, payload = client.call("dispatcher POST action", "POST", f"/api/cases/{number}/register/",
                                          json.dumps({"version": version}).encode(), auth)
            if status == 200:
                version = json.loads(payload)["properties"]["version"]
                status, _ = client.call("dispatcher POST action", "POST", f"/api/cases/{number}/dispatch/",
                                        json.dumps({"version": version, "bureau": bureau,
                                                    "note": "压力测试派遣"}).encode(), auth)
            with books.lock:
                books.conflicts += status == 409
                books.transitions += status == 200
        time.sleep(rnd.uniform(0.2, 0.6))


def worker_killer(master_pid: int, every: float, stop: float, killed: list[int]) -> None:
    while time.perf_counter() + every < stop:
        time.sleep(every)
        children = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout.split()
        if children:
            pid = int(random.choice(children))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)


def prepare(smoke: bool) -> dict:
    from django.contrib.auth.models import Group, User

    from citygrid.models import ApiToken, StaffProfile
    from grids.models import Bureau
    from incidents.open311 import issue_client_key

    _city.build_grid(smoke)

    def user(name: str, role: str) -> str:  # city-level staff
        person, _ = User.objects.get_or_create(username=name)
        person.groups.add(Group.objects.get_or_create(name=role)[0])
        StaffProfile.objects.get_or_create(user=person)
        return ApiToken.issue(person, "soak", days=1)[1]

    bureau, _ = Bureau.objects.get_or_create(code="SOAK-CG", defaults={"name": "压力测试城管局",
                                                                       "kind": Bureau.Kind.CITY_MANAGEMENT})
    return {"inspector": user("soak_inspector", "inspector"), "dispatcher": user("soak_dispatcher", "dispatcher"),
            "open311": [issue_client_key(f"soak app {i}")[1] for i in range(8)], "bureau": bureau.code,
            "extent": _city.district_extent()}


def check(books: Books, started) -> dict:
    from django.db import connection
    from django.db.models import Count

    from incidents.models import Case

    uuids = list(books.accepted_uuid)
    stored = set(str(u) for u in Case.objects.filter(client_uuid__in=uuids).values_list("client_uuid", flat=True))
    markers = {m: 0 for m in books.accepted_marker}
    for description in Case.objects.filter(created_at__gte=started, source="open311").values_list(
            "description", flat=True):
        marker = description.rsplit(" ", 1)[-1]
        if marker in markers:
            markers[marker] += 1
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM incidents_case c WHERE c.created_at >= %s AND NOT EXISTS "
                    "(SELECT 1 FROM incidents_caselog l WHERE l.case_id = c.id AND l.action = 'report')", [started])
        without_log = cur.fetchone()[0]
    from incidents.models import Photo

    missing_files = sum(1 for p in Photo.objects.filter(case__created_at__gte=started).only("image")
                        if not p.image.storage.exists(p.image.name))
    duplicated_uuid = (Case.objects.filter(client_uuid__in=uuids).values("client_uuid")
                       .annotate(n=Count("id")).filter(n__gt=1).count())
    return {"stored": len(stored) + sum(1 for n in markers.values() if n),
            "lost": sum(1 for u in uuids if u not in stored) + sum(1 for n in markers.values() if n == 0),
            "duplicated": duplicated_uuid + sum(1 for n in markers.values() if n > 1),
            "without_intake_log": without_log, "photos_without_file": missing_files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--inspectors", type=int)
    parser.add_argument("--public", type=int)
    parser.add_argument("--dispatchers", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--kill-worker-every", type=float, help="seconds; 0: no worker is killed")
    parser.add_argument("--smoke", action="store_true", help="a small grid, a short run with a worker killed")
    parser.add_argument("--url", help="use a server already running (its database must be DATABASE_URL's)")
    args = parser.parse_args()
    smoke = args.smoke

    def pick(value, at_smoke, at_full):
        return value if value is not None else (at_smoke if smoke else at_full)

    seconds, inspectors = pick(args.seconds, 5, 300), pick(args.inspectors, 2, 6)
    publics, dispatchers = pick(args.public, 1, 3), pick(args.dispatchers, 1, 2)
    workers, threads = pick(args.workers, 2, 3), pick(args.threads, 2, 8)
    kill_every = pick(args.kill_worker_every, 2.5, 0)
    media = str(_django.ROOT / "var" / "bench-media")
    if not args.url:
        os.environ["MEDIA_ROOT"] = media  # where our server stores photos, to check they are there
    _django.setup(os.environ.get("DATABASE_URL") if args.url else None, smoke=smoke and not args.url)
    from contextlib import nullcontext

    from django.utils import timezone

    keys = prepare(smoke)
    server = nullcontext() if args.url else _django.gunicorn(workers, threads, MEDIA_ROOT=media,
                                                              OPEN311_RATE="300/m")
    books, killed, photo = Books(), [], small_jpeg()
    started = timezone.now()
    with server as served:
        url = args.url or served.url
        stop = time.perf_counter() + seconds
        threads_ = [threading.Thread(target=inspector, args=(url, keys["inspector"], keys["extent"], stop, books, i,
                                                              photo)) for i in range(inspectors)]
        threads_ += [threading.Thread(target=public, args=(url, keys["open311"][i % 8], keys["extent"], stop, books,
                                                           100 + i)) for i in range(publics)]
        threads_ += [threading.Thread(target=dispatcher, args=(url, keys["dispatcher"], keys["bureau"], stop, books,
                                                               200 + i)) for i in range(dispatchers)]
        if kill_every and served is not None:
            threads_.append(threading.Thread(target=worker_killer, args=(served.process.pid, kill_every, stop,
                                                                         killed)))
        t0 = time.perf_counter()
        for t in threads_:
            t.start()
        for t in threads_:
            t.join()
        wall = time.perf_counter() - t0
    result = check(books, started)
    print(f"soak {wall:.0f} s against {url}: {inspectors} inspectors, {publics} public applications, "
          f"{dispatchers} dispatchers" + (f"; {len(killed)} workers SIGKILLed" if killed else ""))
    print(f"requests sent {books.sent:,} ({books.sent / wall:,.0f}/s); cases stored {result['stored']:,}; "
          f"lost {result['lost']}; duplicated {result['duplicated']}; cases without their intake log entry "
          f"{result['without_intake_log']}; photos without a file {result['photos_without_file']}")
    print(f"dispatcher transitions {books.transitions:,}, lost races (409) {books.conflicts}")
    print("errors by kind: " + (", ".join(f"{k} {v}" for k, v in sorted(books.errors.items())) or "none"))
    for kind, values in sorted(books.latency.items()):
        values.sort()
        ms = {q: _django.percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99)}
        print(f"  {kind:22} {len(values):7,}  p50 {ms[0.5]:6.1f} ms  p95 {ms[0.95]:6.1f} ms  p99 {ms[0.99]:6.1f} ms")
    print(f"peak memory (soak process): {_django.peak_rss_mb():.0f} MB")
    if result["lost"] or result["duplicated"] or result["without_intake_log"] or result["photos_without_file"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
