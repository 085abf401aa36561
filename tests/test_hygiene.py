"""The suite keeps its hands off what is not its own: `make run`'s Redis database and the committed
screenshots."""

import os
import uuid

import pytest
from django.conf import settings

from tests.browser import ROOT, screenshot_dir


def test_tests_clear_a_redis_database_of_their_own():
    import redis
    from django.core.cache import cache

    run_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")  # what `make run` counts in
    if run_url == "off":
        pytest.skip("REDIS_URL=off: rate limits are counted per process, no Redis database to protect")
    assert run_url != settings.REDIS_URL
    client = redis.Redis.from_url(run_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {run_url}")
    sentinel = f"citygrid-tests-sentinel-{uuid.uuid4().hex}"
    client.set(sentinel, "1", ex=60)
    try:
        cache.clear()  # what every test does first (_fresh_rate_limits)
        assert client.exists(sentinel)
    finally:
        client.delete(sentinel)


def test_screenshots_go_to_var_unless_asked_for(monkeypatch, tmp_path):
    monkeypatch.delenv("SCREENSHOTS", raising=False)
    assert screenshot_dir() == ROOT / "var" / "screenshots"
    monkeypatch.setenv("SCREENSHOTS", "docs/screenshots")  # refreshing the committed ones, on purpose
    assert screenshot_dir() == ROOT / "docs" / "screenshots"
    monkeypatch.setenv("SCREENSHOTS", str(tmp_path / "shots"))
    assert screenshot_dir() == tmp_path / "shots" and (tmp_path / "shots").is_dir()
