"""Resource exhaustion: a refused caller costs nothing (photos are decoded only after the role and scope
allow the action, and never more than PHOTO_MAX_COUNT of them), and live-feed streams cannot take every
thread of the server (measured against gunicorn as `make run` serves it)."""

import http.client
import io
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from incidents import intake, lifecycle
from tests.conftest import api_client, jpeg, point_in
from tests.servers import gunicorn


def _big_png() -> bytes:
    """6300 × 6300 pixels (just under PHOTO_MAX_PIXELS) in a few kilobytes: costly to decode, cheap to send."""
    out = io.BytesIO()
    Image.new("L", (6300, 6300), 128).save(out, "PNG", optimize=True)
    return out.getvalue()


@pytest.fixture
def reported(people):
    lon, lat = point_in(people["a"])
    return intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345")).case


def test_a_refused_caller_gets_no_photo_decoded(people, reported, monkeypatch):
    decoded = []
    import incidents.views

    original = incidents.views.prepare_photo
    monkeypatch.setattr(incidents.views, "prepare_photo", lambda *a, **kw: decoded.append(1) or original(*a, **kw))
    png = _big_png()
    photos = [SimpleUploadedFile(f"p{i}.png", png, "image/png") for i in range(6)]
    started = time.monotonic()
    response = api_client(people["leader"]).post(
        reverse("incidents:case-action", args=[reported.number, "register"]), {"photos": photos}, format="multipart")
    assert response.status_code == 403  # a leader may not register: said before any photo is looked at
    assert decoded == [] and time.monotonic() - started < 2


def test_actions_take_at_most_photo_max_count_photos(people, reported, settings):
    case = lifecycle.register(reported, people["dispatcher"])
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    case = lifecycle.accept(case, people["cg_staff"])
    url = reverse("incidents:case-action", args=[case.number, "process"])
    photos = [SimpleUploadedFile(f"p{i}.jpg", jpeg(), "image/jpeg") for i in range(settings.PHOTO_MAX_COUNT + 1)]
    response = api_client(people["cg_staff"]).post(url, {"note": "已清理", "photos": photos}, format="multipart")
    assert response.status_code == 400 and "photos" in response.json()
    case.refresh_from_db()
    assert case.status == "in_progress" and not case.photos.exists()


def test_photo_limits_in_pixels_and_bytes(people, reported, settings):
    case = lifecycle.register(reported, people["dispatcher"])
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    case = lifecycle.accept(case, people["cg_staff"])
    url = reverse("incidents:case-action", args=[case.number, "process"])
    client = api_client(people["cg_staff"])
    settings.PHOTO_MAX_PIXELS = 100 * 100
    too_many_pixels = client.post(url, {"note": "已清理", "photos": [SimpleUploadedFile(
        "big.jpg", jpeg(200, 100), "image/jpeg")]}, format="multipart")
    assert too_many_pixels.status_code == 400 and "pixels" in too_many_pixels.json()["photos"][0]
    settings.PHOTO_MAX_BYTES = 100
    too_big = client.post(url, {"note": "已清理", "photos": [SimpleUploadedFile("b.jpg", jpeg(50, 50), "image/jpeg")]},
                          format="multipart")
    assert too_big.status_code == 400 and "MB" in too_big.json()["photos"][0]


def test_a_body_over_the_upload_limit_is_refused(people, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_client(people["operator"]).post(reverse("incidents:case-list"),
                                                   {"description": "长" * 20_000, "category": "SJ0601"},
                                                   format="multipart")
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_live_streams_leave_room_for_health_checks_and_requests(people, tmp_path):
    """One worker with four threads (as `make run` serves, with fewer threads): with its two stream slots
    taken, the next stream is refused at once, and /healthz and the API still answer at once. (Without the
    limits, four open streams would take all four threads and /healthz would wait for one to end.)"""
    from citygrid.models import ApiToken

    _, key = ApiToken.issue(people["dispatcher"], "streams")
    _, other = ApiToken.issue(people["leader"], "streams")
    opened: list[http.client.HTTPConnection] = []
    with gunicorn(workers=1, threads=4, FEED_STREAM_SECONDS="20", FEED_STREAMS_PER_USER="3",
                  FEED_STREAMS_PER_PROCESS="2") as port:

        def stream(token: str) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/dispatch/stream/", headers={"Authorization": f"Token {token}",
                                                                  "Accept": "text/event-stream"})
            status = conn.getresponse().status
            opened.append(conn)
            return status

        statuses = [stream(key) for _ in range(2)]
        assert statuses == [200, 200]
        # The process is full (two of its four threads stream): the next stream is refused at once.
        started = time.monotonic()
        assert stream(other) == 503 and time.monotonic() - started < 2
        for path, token in (("/healthz", None), ("/api/catalogue/", key)):
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path, headers={"Authorization": f"Token {token}"} if token else {})
            assert conn.getresponse().status == 200
            assert time.monotonic() - started < 2, path
        for conn in opened:
            conn.close()


def test_streams_per_user_are_capped(people, settings):
    settings.FEED_STREAM_SECONDS = 0.3
    settings.FEED_POLL_SECONDS = 0.1
    settings.FEED_STREAMS_PER_USER = 2
    settings.FEED_STREAMS_PER_PROCESS = 10
    client = api_client(people["dispatcher"])
    responses = [client.get(reverse("dispatch:stream")) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2]["Retry-After"] == "30"
    for r in responses[:2]:
        b"".join(r.streaming_content)  # a stream that ended gives its slot back
    again = client.get(reverse("dispatch:stream"))
    assert again.status_code == 200
    b"".join(again.streaming_content)


def test_streams_keep_their_slot_until_closed_in_threads(people, settings):
    # Slots are counted across threads of one process.
    from dispatch import streams

    settings.FEED_STREAMS_PER_PROCESS = 3
    settings.FEED_STREAMS_PER_USER = 100
    results = []

    def take():
        results.append(streams.acquire(people["dispatcher"].pk))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [None, None, None, "process", "process", "process"]
    for _ in range(3):
        streams.release(people["dispatcher"].pk)
