"""Writing the security audit trail: logins and failures, logouts, permission denials, exports and admin
changes. One function, `record`, that every place calls. (Case actions have their own append-only trail,
the case log, with who and when.)"""

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from .models import AuditEvent

# The request being served, so that events raised deep inside (a role change saved by a form) still say who
# and from where.
_current_request: ContextVar[HttpRequest | None] = ContextVar("citygrid_audit_request", default=None)


class AuditContextMiddleware:
    """Keeps the request at hand for `record`, and records every refusal (HTTP 403) in one place, whoever
    refused: the API's policy, a page's, the admin site, the CSRF check, the second-factor or password-change
    middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], object]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = _current_request.set(request)
        try:
            response = self.get_response(request)
            if getattr(response, "status_code", None) == 403:
                record("permission_denied", request=request, target=request.get_full_path()[:200], result="denied",
                       detail=str(getattr(request, "_citygrid_denial", ""))[:500])
            return response
        finally:
            _current_request.reset(token)


def client_ip(request: HttpRequest | None) -> str | None:
    # Behind a reverse proxy of TRUSTED_PROXIES, REMOTE_ADDR is already the client's (citygrid.requestid).
    return request.META.get("REMOTE_ADDR") if request is not None else None


def current_actor():
    """The logged-in user of the request being served, if any (for events raised deep inside a save)."""
    request = _current_request.get()
    user = getattr(request, "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else None


# The actions and results as the auditor reads them on the audit page (the codes stay in the data, the search and
# the export). The apps above register their own (citygrid knows nothing of cases or incidents): exact codes, or
# a prefix and the labels of what follows it ("case_" + a lifecycle step).
ACTION_LABELS: dict[str, Any] = {
    "login": gettext_lazy("Sign-in"), "logout": gettext_lazy("Sign-out"),
    "otp_enrol": gettext_lazy("Second factor enrolled"), "otp_verify": gettext_lazy("Second factor checked"),
    "otp_recovery_codes": gettext_lazy("Recovery codes issued"), "password_change": gettext_lazy("Password changed"),
    "role_change": gettext_lazy("Roles changed"), "account_deactivated": gettext_lazy("Account deactivated"),
    "permission_denied": gettext_lazy("Refused: no permission"), "out_of_scope": gettext_lazy("Refused: out of scope"),
    "rate_limited": gettext_lazy("Refused: too many requests"), "export": gettext_lazy("Data exported"),
    "audit_search": gettext_lazy("Audit trail searched"), "audit_export": gettext_lazy("Audit trail exported"),
    "audit_purge": gettext_lazy("Audit trail purged past its retention"),
    "admin_add": gettext_lazy("Administration: added"), "admin_change": gettext_lazy("Administration: changed"),
    "admin_delete": gettext_lazy("Administration: deleted"),
}
RESULT_LABELS: dict[str, Any] = {"ok": gettext_lazy("succeeded"), "failed": gettext_lazy("failed"),
                                 "denied": gettext_lazy("denied"), "refused": gettext_lazy("refused")}
_FAMILIES: list[tuple[str, Mapping[str, Any]]] = []


def register_action_labels(labels: Mapping[str, Any], prefix: str = "") -> None:
    """Labels for audit actions: `labels` by exact code, or with `prefix`, by what follows the prefix."""
    if prefix:
        _FAMILIES.append((prefix, labels))
        _FAMILIES.sort(key=lambda family: -len(family[0]))  # the longest prefix decides
    else:
        ACTION_LABELS.update(labels)


def action_label(code: str) -> str:
    """An audit action as a person reads it; a code nobody labelled shows as itself."""
    if code in ACTION_LABELS:
        return str(ACTION_LABELS[code])
    for prefix, labels in _FAMILIES:
        if code.startswith(prefix) and code[len(prefix):] in labels:
            return str(labels[code[len(prefix):]])
    return code


def known_actions() -> list[tuple[str, str]]:
    """Every labelled action code with its label, by label: the audit page's search offers these."""
    codes = {code: str(label) for code, label in ACTION_LABELS.items()}
    for prefix, labels in reversed(_FAMILIES):  # the longest prefix decides, as in action_label
        codes.update({prefix + code: str(label) for code, label in labels.items()})
    return sorted(codes.items(), key=lambda item: (item[1], item[0]))


def result_label(code: str) -> str:
    return str(RESULT_LABELS.get(code, code))


# What a target's kind ("case: 2026…", "user: li") reads as; the apps register their own kinds (incidents: case…).
TARGET_LABELS: dict[str, Any] = {"user": gettext_lazy("User")}


def register_target_labels(labels: Mapping[str, Any]) -> None:
    TARGET_LABELS.update(labels)


def target_label(target: str) -> str:
    """A target as a person reads it: its kind labelled ("case: 2026…" → "案件 2026…"); the stored target keeps the
    kind's code, which searches and the export use."""
    kind, sep, rest = target.partition(": ")
    return f"{TARGET_LABELS[kind]} {rest}" if sep and kind in TARGET_LABELS else target


# The codes a detail names ("registered → dispatched", "hotline_12319"), labelled by the apps that write them, for
# the actions whose code starts with a prefix.
_DETAIL_WORDS: list[tuple[str, Mapping[str, Any]]] = []
_WORD = re.compile(r"[a-z][a-z0-9_]*")


def register_detail_words(words: Mapping[str, Any], prefix: str) -> None:
    _DETAIL_WORDS.append((prefix, words))


def detail_label(action: str, detail: str) -> str:
    """A detail as a person reads it: the codes the action's app labelled replaced by their labels, whole words
    only; the stored detail keeps the codes, which searches and the export use."""
    words: dict[str, Any] = {}
    for prefix, labels in _DETAIL_WORDS:
        if action.startswith(prefix):
            words.update(labels)
    return _WORD.sub(lambda m: str(words.get(m.group(), m.group())), detail) if words else detail


def record(action: str, *, request: HttpRequest | None = None, user=None, username: str = "", target: str = "",
           result: str = "ok", detail: str = "") -> AuditEvent:
    e = event(action, request=request, user=user, username=username, target=target, result=result, detail=detail)
    e.save()
    return e


def event(action: str, *, request: HttpRequest | None = None, user=None, username: str = "", target: str = "",
          result: str = "ok", detail: str = "") -> AuditEvent:
    """The audit record of an action, not yet saved: record() saves it; a caller writing it with other rows in
    one statement (citygrid.inserts) takes it from here, so the record is the same either way."""
    request = request if request is not None else _current_request.get()
    user = user if user is not None else getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return AuditEvent(user=user, username=username or (user.get_username() if user else ""),
                      ip=client_ip(request), action=action, target=target[:200], result=result, detail=detail)


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    record("login", request=request, user=user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record("logout", request=request, user=user)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    record("login", request=request, user=None, username=str(credentials.get("username", ""))[:150],
           result="failed")


@receiver(post_save, sender=LogEntry)
def _admin_change(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if created:
        action = {1: "admin_add", 2: "admin_change", 3: "admin_delete"}.get(instance.action_flag, "admin")
        record(action, user=instance.user, target=f"{instance.content_type}: {instance.object_repr}",
               detail=instance.get_change_message())


def exception_handler(exc, context):
    """DRF's handler; a refusal's reason is kept for the audit entry AuditContextMiddleware writes for it."""
    from rest_framework.views import exception_handler as drf_handler

    response = drf_handler(exc, context)
    request = context.get("request")
    if response is not None and response.status_code == 403 and request is not None:
        request._request._citygrid_denial = getattr(exc, "detail", exc)
    return response


def ensure_partitions(months: int = 2) -> int:
    """Make the audit trail's monthly partitions from this month to `months` ahead (the owner's definer
    function citygrid_audit_partitions: the runtime role creates nothing). Returns how many were made."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT citygrid_audit_partitions(%s)", [months])
        return cur.fetchone()[0]


def purge_expired(days: int | None = None) -> int:
    """Delete audit events older than the retention period (settings.AUDIT_RETENTION_DAYS, at least 180 —
    the database refuses less), and record the purge itself. Returns the number deleted.

    The runtime role may not DELETE from the trail: the owner's SECURITY DEFINER function citygrid_audit_purge
    does it, only for rows older than the retention the database holds (which this call can lengthen, never
    shorten)."""
    from django.conf import settings
    from django.db import connection, transaction

    days = days if days is not None else settings.AUDIT_RETENTION_DAYS
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT deleted, retention_days FROM citygrid_audit_purge(%s)", [days])
        deleted, kept = cur.fetchone()
    record("audit_purge", detail=f"{deleted} events older than {kept} days")
    return deleted
