"""The deployment as installed (README, Operations): the systemd units and timers `manage.py render_deploy`
writes pass `systemd-analyze verify`; the web and scheduler commands those units start, run here under the
suite's own supervision (these machines do not run systemd as PID 1) with nothing but the unit's environment
file, serve and schedule; and a real nginx on the loopback, with the rendered site and a self-signed
certificate, in front of that gunicorn: Django sees HTTPS (SECURE_PROXY_SSL_HEADER), HSTS once, HTTP/2, static
files served by nginx with cache headers, an oversize body refused by nginx unread, request ids from nginx
through gunicorn's access log, and the live feed streaming through (events arrive before the stream ends)."""

import gzip
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from citygrid import deployment
from tests import units
from tests.conftest import api_client, point_in
from tests.servers import database_url, free_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "citygrid.test"
STREAM_SECONDS = 8
# Small limits, so that an oversize body is cheap to send: 2 photos of 100 kB and 100 kB of fields.
LIMITS = {"PHOTO_MAX_BYTES": 100_000, "PHOTO_MAX_COUNT": 2, "DATA_UPLOAD_MAX_MEMORY_SIZE": 100_000}
BODY_MAX = 2 * 100_000 + 100_000


def _wait_http(port: int, path: str = "/healthz", seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path, headers={"Host": HOST})
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answers on port {port}")


def _nginx_conf(prefix: Path, site: Path) -> Path:
    """nginx's main configuration for the test: its own prefix, pid, logs and temporary folders, Debian's MIME
    types, and the rendered site included as /etc/nginx/nginx.conf includes sites-enabled/."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / name).mkdir(parents=True, exist_ok=True)
    temp = "\n".join(f"    {n}_temp_path {prefix}/tmp/{d};" for n, d in
                     (("client_body", "body"), ("proxy", "proxy"), ("fastcgi", "fastcgi"), ("uwsgi", "uwsgi"),
                      ("scgi", "scgi")))
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{'user root;' if os.geteuid() == 0 else ''}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    gzip on;
{temp}
    include {site};
}}
""", encoding="utf-8")
    return conf


@pytest.fixture(scope="module")
def deployed(django_db_setup, django_db_blocker):
    """Render the deployment for a temporary installation of this checkout, start the web and scheduler
    commands of its units and nginx with its site; stop them afterwards."""
    for tool in ("nginx", "openssl", "systemd-analyze"):
        assert shutil.which(tool), f"{tool} is missing: `make setup` installs it (deploy/setup-system.sh)"
    base = Path(tempfile.mkdtemp(prefix="citygrid-deploy-", dir="/tmp"))
    web_port, http_port, https_port = free_port(), free_port(), free_port()
    media, status = base / "media", base / "status"
    media.mkdir()
    cert, key = base / "tls.crt", base / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    env_file, backup_env = base / "citygrid.env", base / "backup.env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in {
        "DEBUG": "0", "SECRET_KEY": "deploy-test-" + "k" * 50, "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url(), "WEB_BIND": f"127.0.0.1:{web_port}", "WORKERS": "1", "THREADS": "4",
        "MEDIA_ROOT": media, "STATIC_ROOT": settings.STATIC_ROOT, "BACKUP_STATUS_DIR": status,
        "SECURE_PROXY_SSL_HEADER": "1", "TRUSTED_PROXIES": "127.0.0.1,::1", "REDIS_URL": settings.REDIS_URL,
        "FEED_STREAM_SECONDS": STREAM_SECONDS, "FEED_POLL_SECONDS": "0.5", "LOG_LEVEL": "INFO",
        **LIMITS}.items()) + "\n", encoding="utf-8")
    backup_env.write_text(f"BACKUP_REPO1_PATH={base}/repo1\nBACKUP_REPO1_CIPHER_PASS={'p' * 32}\n"
                          f"BACKUP_REPO2_PATH={base}/repo2\nBACKUP_REPO2_CIPHER_PASS={'q' * 32}\n"
                          f"BACKUP_STATUS_DIR={status}\n", encoding="utf-8")
    with override_settings(MEDIA_ROOT=media, BACKUP_STATUS_DIR=status, FEED_STREAM_SECONDS=STREAM_SECONDS,
                           **LIMITS):
        call_command("render_deploy", out=base / "rendered", prefix=ROOT, env_file=env_file,
                     backup_env_file=backup_env, web_bind=f"127.0.0.1:{web_port}", server_name=HOST,
                     http_listen=f"127.0.0.1:{http_port}", https_listen=f"127.0.0.1:{https_port}", tls_cert=cert,
                     tls_key=key, log_dir=base)
    rendered = base / "rendered"
    processes: list[subprocess.Popen] = []
    logs = SimpleNamespace(web=base / "web.log", scheduler=base / "scheduler.log")
    try:
        for name, log in (("citygrid-web.service", logs.web), ("citygrid-scheduler.service", logs.scheduler)):
            text = (rendered / "systemd" / name).read_text()
            [start] = units.commands(text, "ExecStart")
            workdir = units.keys(text)["WorkingDirectory"][0]
            processes.append(subprocess.Popen(start, cwd=workdir, env=units.service_env(text),
                                              stdout=log.open("w"), stderr=subprocess.STDOUT))
            for post in units.commands(text, "ExecStartPost"):  # the web unit: started means ready
                done = subprocess.run(post, cwd=workdir, env=units.service_env(text), capture_output=True,
                                      text=True, timeout=150)
                assert done.returncode == 0, f"{name} ExecStartPost {post}: {done.stderr}\n{log.read_text()}"
        conf = _nginx_conf(base / "nginx", rendered / "nginx" / "citygrid.conf")
        check = subprocess.run(["nginx", "-t", "-p", str(base / "nginx"), "-c", str(conf)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen(["nginx", "-p", str(base / "nginx"), "-c", str(conf), "-g", "daemon off;"],
                                 stderr=(base / "nginx-stderr.log").open("w"))
        processes.append(nginx)
        try:
            _wait_http(http_port, "/")
        except AssertionError as exc:  # say why: a port taken meanwhile, a refused configuration…
            errors = [p.read_text()[-2000:] for p in (base / "nginx-stderr.log", base / "nginx" / "error.log")
                      if p.exists()]
            state = "running" if nginx.poll() is None else f"exited {nginx.returncode}"
            raise AssertionError(f"{exc}; nginx {state}: {' | '.join(errors)}") from exc
        yield SimpleNamespace(base=base, rendered=rendered, web_port=web_port, http_port=http_port,
                              https_port=https_port, cert=cert, logs=logs, access_log=base / "citygrid-access.log")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(base, ignore_errors=True)


def _tls(deployed, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(deployed.cert))
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def _https(deployed, method: str, path: str, *, headers: dict | None = None, body: bytes | None = None,
           timeout: float = 30) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", deployed.https_port, context=_tls(deployed), timeout=timeout)
    conn.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
    response = conn.getresponse()
    return response, response.read()


def _direct(deployed, method: str, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", deployed.web_port, timeout=30)
    conn.request(method, path, headers={"Host": HOST, **(headers or {})})
    response = conn.getresponse()
    response.read()
    return response


def _log_lines(path: Path, needle: str, seconds: float = 5) -> list[str]:
    """Lines of a log holding `needle`, waiting a moment for them to be written."""
    deadline = time.monotonic() + seconds
    while True:
        lines = [line for line in path.read_text(errors="replace").splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_the_units_pass_systemd_analyze_verify(deployed, tmp_path):
    systemd = deployed.rendered / "systemd"
    # Templates are verified as the instances the timers and OnFailure= start.
    instances = {"citygrid-backup-db@.service": ["citygrid-backup-db@full.service", "citygrid-backup-db@diff.service"],
                 "citygrid-page@.service": ["citygrid-page@citygrid-web.service.service"]}
    folder = tmp_path / "units"
    folder.mkdir()
    for name in deployment.SYSTEMD_UNITS:
        for target in instances.get(name, [name]):
            shutil.copy(systemd / name, folder / target)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in folder.iterdir())],
                          capture_output=True, text=True, cwd=folder)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    # And systemd's own rating of each service's sandbox (0 the tightest, 10 none): all "OK" or better.
    for service in sorted(p for p in folder.iterdir() if p.suffix == ".service" and "page@" not in p.name):
        rating = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(service)], capture_output=True,
                                text=True, cwd=folder)
        level = re.search(r"Overall exposure level for \S+: ([\d.]+)", rating.stdout + rating.stderr)
        assert level and float(level.group(1)) <= 2.0, (service.name, rating.stdout[-300:], rating.stderr)
    for name in ("citygrid-web.service", "citygrid-scheduler.service"):
        text = (systemd / name).read_text()
        service = units.keys(text)
        assert service["Restart"] == ["on-failure"] and service["User"] == ["citygrid"], name
        assert service["EnvironmentFile"] == [str(deployed.base / "citygrid.env")], name
        for option, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                              ("ProtectHome", "yes"), ("CapabilityBoundingSet", "")):
            assert service[option] == [value], (name, option)
        assert units.keys(text, "Install")["WantedBy"] == ["multi-user.target"], name
    # The scheduler writes the broker's files from the registry every minute: ProtectSystem=strict leaves it that
    # folder (and only what the units name) to write.
    scheduler = units.keys((systemd / "citygrid-scheduler.service").read_text())
    mqtt = units.keys((systemd / "citygrid-mqtt.service").read_text())
    assert scheduler["ReadWritePaths"] == mqtt["ReadWritePaths"] and mqtt["ReadWritePaths"][0].startswith("/")
    for timer in ("citygrid-backup-db-full.timer", "citygrid-backup-db-diff.timer", "citygrid-backup-media.timer",
                  "citygrid-health.timer"):
        assert units.keys((systemd / timer).read_text(), "Install")["WantedBy"] == ["timers.target"], timer
    for name in ("citygrid-backup-db@.service", "citygrid-backup-media.service", "citygrid-health.service"):
        assert units.keys((systemd / name).read_text(), "Unit")["OnFailure"] == ["citygrid-page@%n.service"], name


def test_the_page_unit_hands_the_failure_to_page_command(deployed, tmp_path):
    text = (deployed.rendered / "systemd" / "citygrid-page@.service").read_text()
    [page] = units.commands(text, "ExecStart", instance="citygrid-health.service")
    sent = tmp_path / "page.txt"
    done = subprocess.run(page, env={**units.service_env(text), "PAGE_COMMAND": f"cat > {sent}"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert sent.read_text().startswith("CityGrid on ") and "citygrid-health.service failed" in sent.read_text()


def test_a_unit_systemd_would_refuse_fails_the_check(tmp_path):
    # The check above has teeth: a misspelt option and a missing program are reported.
    unit = tmp_path / "broken.service"
    unit.write_text("[Service]\nExecStart=/nonexistent/gunicorn\nNoNewPrivilege=yes\n")
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    assert "NoNewPrivilege" in done.stderr and "/nonexistent/gunicorn" in done.stderr


@pytest.mark.django_db(transaction=True)
def test_the_units_commands_serve_and_schedule_with_request_ids(deployed):
    # The scheduler's unit command beats the heart /readyz reads; the web unit's answers /readyz itself.
    deadline = time.monotonic() + 60
    while True:
        body = json.loads(_https(deployed, "GET", "/readyz")[1])
        if body["scheduler"] == "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert body["status"] == "ok" and body["database"] == "ok" and body["scheduler"] == "ok", body
    assert body["backup"]["status"] == "none" and body["backup"]["database"]["state"] == "none"
    # The health unit's check, as its timer runs it: nothing backed up yet, so it exits 2 and pages.
    health = (deployed.rendered / "systemd" / "citygrid-health.service").read_text()
    [check] = units.commands(health, "ExecStart")
    done = subprocess.run(check, cwd=ROOT, env=units.service_env(health), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "CRITICAL backup: no database backup has ever succeeded" in done.stdout
    assert "scheduler" not in done.stdout  # the scheduler unit's command is running
    # A request id given to gunicorn directly is kept, in the response, the access log and the app's log.
    response = _direct(deployed, "GET", "/no-such-page/", headers={"X-Request-ID": "drill-42.a",
                                                                   "X-Forwarded-Proto": "https"})
    assert response.status == 404 and response.headers["X-Request-ID"] == "drill-42.a"
    assert _log_lines(deployed.logs.web, 'GET /no-such-page/ HTTP/1.1" 404') == \
        _log_lines(deployed.logs.web, "request_id=drill-42.a")
    assert _log_lines(deployed.logs.web, "[drill-42.a] Not Found: /no-such-page/")
    # One that could write into the logs what it likes is replaced.
    response = _direct(deployed, "GET", "/healthz", headers={"X-Request-ID": "x y\" injected=1"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


@pytest.mark.django_db(transaction=True)
def test_nginx_terminates_tls_in_front_of_gunicorn(deployed):
    # Django sees HTTPS through nginx (SECURE_PROXY_SSL_HEADER): no redirect; the same page straight from
    # gunicorn over plain HTTP is redirected to HTTPS.
    response, _ = _https(deployed, "GET", "/accounts/login/")
    assert response.status == 200
    assert response.headers.get_all("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]
    direct = _direct(deployed, "GET", "/accounts/login/")
    assert direct.status == 301 and direct.headers["Location"] == f"https://{HOST}/accounts/login/"
    # Plain HTTP to nginx is redirected to its HTTPS port.
    conn = http.client.HTTPConnection("127.0.0.1", deployed.http_port, timeout=10)
    conn.request("GET", "/console/?x=1", headers={"Host": HOST})
    redirect = conn.getresponse()
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"https://{HOST}:{deployed.https_port}/console/?x=1"
    # HTTP/2 is offered.
    with socket.create_connection(("127.0.0.1", deployed.https_port), timeout=10) as raw, \
            _tls(deployed, ["h2", "http/1.1"]).wrap_socket(raw, server_hostname=HOST) as tls:
        assert tls.selected_alpn_protocol() == "h2"
    # nginx's request id reaches gunicorn (the client's own is not trusted at the edge) and both logs.
    response, _ = _https(deployed, "GET", "/healthz", headers={"X-Request-ID": "client-chosen"})
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert _log_lines(deployed.access_log, f"request_id={request_id}")
    assert _log_lines(deployed.logs.web, f"request_id={request_id}")


def test_nginx_serves_static_files_with_cache_headers(deployed):
    manifest = json.loads((Path(settings.STATIC_ROOT) / "staticfiles.json").read_text())["paths"]
    name, hashed = "frontend/common.js", manifest["frontend/common.js"]
    response, body = _https(deployed, "GET", f"/static/{hashed}", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Encoding"] == "gzip"  # WhiteNoise's .gz, sent as is (gzip_static)
    assert gzip.decompress(body) == (Path(settings.STATIC_ROOT) / hashed).read_bytes()
    assert response.headers.get_all("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]
    response, _ = _https(deployed, "GET", f"/static/{name}")
    assert response.status == 200 and response.headers["Cache-Control"] == "public, max-age=60"
    assert not _log_lines(deployed.logs.web, "/static/", seconds=0.5)  # gunicorn never saw them


@pytest.mark.django_db(transaction=True)
def test_nginx_refuses_a_body_larger_than_the_application_takes(deployed):
    # Rendered from the application's limits: 2 photos × 100 kB + 100 kB of fields.
    site = (deployed.rendered / "nginx" / "citygrid.conf").read_text()
    assert f"client_max_body_size {BODY_MAX};" in site
    conn = http.client.HTTPSConnection("127.0.0.1", deployed.https_port, context=_tls(deployed), timeout=30)
    conn.putrequest("POST", "/api/cases/?oversize", skip_host=True)
    for header, value in (("Host", HOST), ("Content-Type", "application/json"),
                          ("Content-Length", str(BODY_MAX + 1))):
        conn.putheader(header, value)
    conn.endheaders()  # the body is never sent: nginx answers on the length alone
    assert conn.getresponse().status == 413
    # Just under the limit, the request reaches the application (which wants a login).
    response, _ = _https(deployed, "POST", "/api/cases/?undersize", body=b" " * (BODY_MAX - 1000),
                         headers={"Content-Type": "application/json"})
    assert response.status in (401, 403)
    assert _log_lines(deployed.logs.web, "POST /api/cases/?undersize")
    assert not _log_lines(deployed.logs.web, "?oversize", seconds=0.5)


@pytest.mark.django_db(transaction=True)
def test_the_live_feed_streams_through_nginx(deployed, people):
    from citygrid.models import ApiToken

    _, key = ApiToken.issue(people["dispatcher"], "deploy test")
    conn = http.client.HTTPSConnection("127.0.0.1", deployed.https_port, context=_tls(deployed),
                                       timeout=STREAM_SECONDS + 20)
    conn.request("GET", "/api/dispatch/stream/", headers={"Host": HOST, "Authorization": f"Token {key}",
                                                          "Accept": "text/event-stream"})
    opened = time.monotonic()
    response = conn.getresponse()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert response.readline() == b"retry: 2000\n"  # the first bytes come at once, not when the stream ends
    lon, lat = point_in(people["a"])
    reported = api_client(people["inspector"]).post("/api/cases/", {"lon": lon, "lat": lat, "category": "SJ0301"},
                                                    format="json")
    assert reported.status_code == 201, reported.content
    number = reported.json()["properties"]["number"]
    while True:
        line = response.readline()
        assert line, "the stream ended before the new case's event arrived"
        if line.startswith(b"data:") and number.encode() in line:
            break
    arrived = time.monotonic() - opened
    assert arrived < STREAM_SECONDS - 2, f"the event came {arrived:.1f} s after the stream opened"
    response.read()  # the stream then ends by itself after FEED_STREAM_SECONDS, and nginx passes the end on
    assert STREAM_SECONDS - 1 < time.monotonic() - opened < STREAM_SECONDS + 10
