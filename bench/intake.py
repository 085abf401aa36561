"""Case intake through the real HTTP stack: gunicorn (the workers and threads the product is served with,
deploy/gunicorn.conf.py, unless --workers/--threads say otherwise) on
127.0.0.1, token-authenticated POST /api/cases/ from concurrent clients, first as JSON without photos,
then as multipart with one small photo. One request in twenty repeats an earlier client_uuid, which
must return the same case.

Prints cases created per second, p50/p95/p99 latency, errors, and checks that every accepted case is
stored exactly once. Uses the benchmarks' scratch database (bench/_city.py, building its grid if needed).

--smoke: 4 communities (about 3,400 cells), 2 seconds a run, 4 clients, in the smoke database
(bench/_django.py), run by `make test`.

Usage: python bench/intake.py [--seconds 20] [--clients 8] [--workers N] [--threads N] [--smoke]
"""

import argparse
import http.client
import io
import json
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402


def small_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise((320, 240), 40).convert("RGB").save(out, "JPEG", quality=70)
    return out.getvalue()


def multipart(fields: dict, photo: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + photo + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def run(port: int, key: str, extent, seconds: float, clients: int, with_photo: bool) -> dict:
    photo = small_jpeg() if with_photo else b""
    stop = time.perf_counter() + seconds
    lock = threading.Lock()
    latencies, errors, accepted, repeats = [], {}, {}, []

    def client(seed: int):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sent: list[str] = []
        while time.perf_counter() < stop:
            repeat = bool(sent) and rnd.random() < 0.05
            client_uuid = rnd.choice(sent) if repeat else str(uuid.uuid4())
            fields = {"client_uuid": client_uuid, "lon": rnd.uniform(extent[0], extent[2]),
                      "lat": rnd.uniform(extent[1], extent[3]), "category": "SJ0102" if with_photo else "SJ0601",
                      "description": "基准测试上报"}
            if with_photo:
                body, ctype = multipart(fields, photo)
            else:
                body, ctype = json.dumps(fields).encode(), "application/json"
            t = time.perf_counter()
            try:
                conn.request("POST", "/api/cases/", body=body,
                             headers={"Authorization": f"Token {key}", "Content-Type": ctype})
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if response.status in (200, 201):
                    number = json.loads(payload)["id"]
                    if repeat:
                        repeats.append((client_uuid, number))
                    else:
                        accepted[client_uuid] = number
                else:
                    errors[str(response.status)] = errors.get(str(response.status), 0) + 1
            if not repeat and response.status == 201:
                sent.append(client_uuid)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    client_cpu = (time.process_time() - cpu0) / wall  # cores the load generator itself kept busy
    latencies.sort()
    return {"wall": wall, "client_cpu": client_cpu, "latencies": latencies, "errors": errors, "accepted": accepted,
            "repeats": repeats}


def check(result: dict) -> tuple[int, int, int]:
    """(stored, lost, duplicated) for the accepted client ids."""
    from incidents.models import Case

    ids = list(result["accepted"])
    stored = dict(Case.objects.filter(client_uuid__in=ids).values_list("client_uuid", "number"))
    stored = {str(k): v for k, v in stored.items()}
    lost = sum(1 for i in ids if i not in stored)
    wrong_repeat = sum(1 for cid, number in result["repeats"] if stored.get(cid, number) != number)
    return len(stored), lost, wrong_repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--clients", type=int)
    workers, threads = _django.shipped_workers()
    parser.add_argument("--workers", type=int, default=workers, help=f"gunicorn workers (as served: {workers})")
    parser.add_argument("--threads", type=int, default=threads,
                        help=f"gunicorn threads per worker, gthread when > 1 (as served: {threads})")
    parser.add_argument("--smoke", action="store_true", help="a small grid and short runs")
    args = parser.parse_args()
    seconds = args.seconds or (2 if args.smoke else 20)
    clients = args.clients or (4 if args.smoke else 8)
    _django.setup(smoke=args.smoke)
    from django.contrib.auth.models import Group, User

    from citygrid.models import ApiToken, StaffProfile

    _city.build_grid(args.smoke)
    # A city-level inspector with a token: tokens are not subject to the second factor of session logins.
    user, _ = User.objects.get_or_create(username="bench_inspector")
    user.groups.add(Group.objects.get_or_create(name="inspector")[0])
    StaffProfile.objects.get_or_create(user=user)
    _, key = ApiToken.issue(user, "bench", days=1)
    extent = _city.district_extent()
    from citygrid.dbroles import analyze

    analyze("incidents_case")  # earlier runs added thousands of cases
    lost_or_wrong = 0
    with _django.gunicorn(args.workers, args.threads, MEDIA_ROOT=str(_django.ROOT / "var" / "bench-media")) as server:
        for with_photo in (False, True):
            r = run(server.port, key, extent, seconds, clients, with_photo)
            lat = r["latencies"]
            stored, lost, wrong = check(r)
            lost_or_wrong += lost + wrong
            if not r["accepted"]:
                raise SystemExit(f"intake accepted no case; refused: {r['errors'] or 'none'}")
            label = "with one 320×240 photo" if with_photo else "JSON, no photo"
            ms = {q: _django.percentile(lat, q) * 1000 for q in (0.5, 0.95, 0.99)}
            print(f"intake ({label}, {clients} clients, gunicorn {args.workers} workers × {args.threads} "
                  f"threads, {seconds:g} s): "
                  f"{len(r['accepted']) / r['wall']:,.0f} cases/s; p50 {ms[0.5]:.1f} ms, p95 {ms[0.95]:.1f} ms, "
                  f"p99 {ms[0.99]:.1f} ms; {len(r['repeats'])} retries with a known client_uuid; "
                  f"refused {r['errors'] or 'none'} (400: random points outside the city); "
                  f"stored {stored}, lost {lost}, retries answered with another case {wrong}; "
                  f"the load generator used {r['client_cpu']:.2f} of the 2 cores", flush=True)
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB")
    if lost_or_wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
