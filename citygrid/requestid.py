"""Request ids and the client's address behind the proxy.

Every request carries an id — nginx's (X-Request-ID: $request_id), or one made here when the request did not
come through it — that the response returns, gunicorn's access log shows (`%({x-request-id}o)s`) and every
line the application logs while serving it carries (RequestIdFilter), so one case's trouble can be followed
from nginx's log through the access log to the application's lines in the journal.

A header a client can set must not write into the logs what it likes: only short ids of letters, digits and
`-._:` are honoured, anything else is replaced."""

import ipaddress
import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_current: ContextVar[str] = ContextVar("request_id", default="-")


def current() -> str:
    """The id of the request this thread serves, or "-" outside one."""
    return _current.get()


def accepted(value: str) -> str:
    """The id to use for a request that came with `value`: it, when it is a plain id, else a new one."""
    return value if _VALID.fullmatch(value or "") else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accepted(request.META.get("HTTP_X_REQUEST_ID", ""))
        request.request_id = request_id
        # Kept until the request is finished (below), not only while the middleware runs: Django logs a
        # refused or failed request ("Not Found: …") after the middleware has returned, and a stream is
        # written after that too.
        _current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished)
def _finished(sender, **kwargs) -> None:
    _current.set("-")


class RequestIdFilter(logging.Filter):
    """Gives every log record the id of the request being served (the formatter shows `%(request_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True


class RefusalFilter(logging.Filter):
    """A refused request (a 4xx: no permission, not found) logs its one line, not the traceback of the exception
    that refused it — Django attaches it (django.utils.log.log_response), and a traceback on every ordinary 403
    buried the journal's real errors. A server error (5xx) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and getattr(record, "status_code", 500) < 500:
            record.exc_info = record.exc_text = None
        return True


class TrustedProxyMiddleware:
    """From a proxy of TRUSTED_PROXIES, the client's address (X-Real-IP, which the proxy sets, overwriting
    whatever the client sent) becomes REMOTE_ADDR: the audit trail, the lockouts (django-axes) and the rate
    limits all read REMOTE_ADDR, and behind nginx they would otherwise see one address for everybody and lock
    the whole city out together. From anyone else the header is ignored. One rewrite at the door rather than
    each of the three configured to parse forwarding headers its own way."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.trusted:
            peer = _address(request.META.get("REMOTE_ADDR", ""))
            client = _address(request.META.get("HTTP_X_REAL_IP", "").strip())
            if peer is not None and client is not None and any(peer in net for net in self.trusted):
                request.META["REMOTE_ADDR"] = str(client)
        return self.get_response(request)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None
