"""Several web hosts behind nginx (README "Several web hosts"): nothing a request needs lives in one process.

Two gunicorn servers stand for two web hosts: separate processes on their own ports, sharing what the hosts of
a deployment share — the database, Redis, the SECRET_KEY of the environment file, and one MEDIA_ROOT (the shared
mount; here a scratch folder). A photo reported through host A's API is served by host B, image and thumbnail,
byte for byte as stored: to the reporter's token, and to a dispatcher whose login session was made on host A.
Host B refuses it to a dispatcher whose district the case is not in, and to no one at all. Nothing is stubbed."""

import http.client
import io
import json
import os
import re
import subprocess
import sys
import uuid
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.files.storage import default_storage
from PIL import Image

from citygrid.models import ApiToken
from incidents.models import Photo
from incidents.photos import THUMB_SIDE
from tests.conftest import jpeg, point_in
from tests.servers import ROOT, gunicorn

PASSWORD = "Correct-horse-42"


def _multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                  f"Content-Type: image/jpeg\r\n\r\n".encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _request(port: int, method: str, path: str, *, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        cookies = SimpleCookie()
        for value in response.headers.get_all("Set-Cookie") or []:
            cookies.load(value)
        return response.status, {"content-type": response.headers.get("Content-Type", ""),
                                  **{k: m.value for k, m in cookies.items()}}, response.read()
    finally:
        conn.close()


def _token(user) -> dict[str, str]:
    return {"Authorization": f"Token {ApiToken.issue(user, 'shared-media')[1]}"}


def _log_in(port: int, username: str) -> str:
    """A session made by the login page of this host (as a browser does it): its session id."""
    status, cookies, page = _request(port, "GET", "/accounts/login/")
    assert status == 200
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    body = f"csrfmiddlewaretoken={csrf}&username={username}&password={PASSWORD}".encode()
    status, cookies, _ = _request(port, "POST", "/accounts/login/", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookies['csrftoken']}"})
    assert status == 302 and cookies.get("sessionid"), (status, cookies)
    return cookies["sessionid"]


@pytest.mark.django_db(transaction=True)
def test_a_photo_reported_on_one_host_is_served_by_another_to_its_scope_only(people, settings, tmp_path):
    shared = Path(settings.MEDIA_ROOT)  # the shared mount; the test reads it through the same storage
    shared.mkdir(parents=True, exist_ok=True)
    # The servers do not know the tests' fast hasher (conftest): the dispatcher's password as production hashes it.
    dispatcher = people["dispatcher"]
    dispatcher.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    dispatcher.save(update_fields=["password"])
    reporter, stranger = _token(people["inspector"]), _token(people["east_dispatcher"])
    # What every host's environment file holds alike; the servers' own scratch (none here) is theirs.
    host_env = {"MEDIA_ROOT": str(shared), "REDIS_URL": settings.REDIS_URL,
                "SECRET_KEY": f"one-key-for-every-web-host-{uuid.uuid4().hex}"}

    with gunicorn(workers=1, threads=2, **host_env) as host_a, gunicorn(workers=1, threads=2, **host_env) as host_b:
        assert host_a != host_b
        original = jpeg(800, 600)
        lon, lat = point_in(people["a"])
        body, content_type = _multipart(
            {"client_uuid": str(uuid.uuid4()), "lon": str(lon), "lat": str(lat), "category": "SJ0102",
             "description": "路边暴露垃圾"}, [("photos", "p.jpg", original)])
        status, _, answer = _request(host_a, "POST", "/api/cases/", body=body,
                                     headers={**reporter, "Content-Type": content_type})
        assert status == 201, answer
        number = json.loads(answer)["properties"]["number"]

        # Host A wrote both files into the shared folder, through the storage.
        photo = Photo.objects.get(case__number=number)
        for field in (photo.image, photo.thumbnail):
            assert (shared / field.name).is_file(), field.name

        # Host B lists the photo on the case and serves both files as stored, to the reporter's token.
        status, _, answer = _request(host_b, "GET", f"/api/cases/{number}/", headers=reporter)
        assert status == 200, answer
        [listed] = json.loads(answer)["properties"]["photos"]
        urls = {"image": listed["url"], "thumbnail": listed["thumbnail_url"]}
        for variant, field in (("image", photo.image), ("thumbnail", photo.thumbnail)):
            status, headers, data = _request(host_b, "GET", urls[variant], headers=reporter)
            assert status == 200 and headers["content-type"] == "image/jpeg", (variant, status)
            with default_storage.open(field.name, "rb") as stored:
                assert data == stored.read(), variant
        with Image.open(io.BytesIO(_request(host_b, "GET", urls["thumbnail"], headers=reporter)[2])) as thumb:
            assert max(thumb.size) == THUMB_SIDE  # made on host A from the 800 × 600 upload
        with Image.open(io.BytesIO(_request(host_b, "GET", urls["image"], headers=reporter)[2])) as image:
            assert image.size == (photo.width, photo.height) == (800, 600)

        # A session made on host A is good on host B (the session table and the one SECRET_KEY).
        session = {"Cookie": f"sessionid={_log_in(host_a, dispatcher.username)}"}
        for url in urls.values():
            assert _request(host_b, "GET", url, headers=session)[0] == 200, url

        # Out of scope (the case is in the west district, this dispatcher's is the east): refused on host B as on
        # A, with the 404 that does not say the photo exists; and no one without credentials.
        for url in (*urls.values(), f"/api/cases/{number}/"):
            for port in (host_b, host_a):
                assert _request(port, "GET", url, headers=stranger)[0] == 404, (port, url)
            assert _request(host_b, "GET", url)[0] in (401, 403), url


def _storage_in_a_fresh_process(**env: str) -> subprocess.CompletedProcess:
    code = ("import django; django.setup(); from django.core.files.storage import storages; s = storages['default']; "
            "print(type(s).__module__ + '.' + type(s).__name__, s.location)")
    media = ("MEDIA_ROOT", "MEDIA_STORAGE", "MEDIA_STORAGE_OPTIONS")
    inherited = {k: v for k, v in os.environ.items() if k not in media}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**inherited, "DJANGO_SETTINGS_MODULE": "citygrid.settings", **env})


def test_the_photo_storage_is_set_by_the_environment(tmp_path):
    """MEDIA_ROOT alone: the file system there. MEDIA_STORAGE and MEDIA_STORAGE_OPTIONS name another backend and
    its options (here the file system again, elsewhere: no other backend is tested against a real server)."""
    done = _storage_in_a_fresh_process(MEDIA_ROOT=str(tmp_path / "mount"))
    assert done.stdout.split() == ["django.core.files.storage.filesystem.FileSystemStorage",
                                   str(tmp_path / "mount")], done.stderr
    done = _storage_in_a_fresh_process(MEDIA_STORAGE="django.core.files.storage.FileSystemStorage",
                                       MEDIA_STORAGE_OPTIONS=json.dumps({"location": str(tmp_path / "other")}))
    assert done.stdout.split()[1] == str(tmp_path / "other"), done.stderr
    done = _storage_in_a_fresh_process(MEDIA_STORAGE_OPTIONS="{location: nowhere")
    assert done.returncode != 0 and "MEDIA_STORAGE_OPTIONS is not JSON" in done.stderr
