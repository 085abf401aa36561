"""The warnings API for the command centres: list and issue, one warning with its log, update, cancel, and the
CAP document of any log entry (drills' too, which the public never gets). Thin: the rules are in rules.py."""

import json

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.scopes import scoped_object

from . import cap, rules, scoping
from .models import LEVEL_COLOURS, EarlyWarning, WarningLevel, WarningLog, WarningType


def state_label(warning: EarlyWarning, now=None) -> str:
    if warning.state == EarlyWarning.State.CANCELLED:
        return _("Lifted")
    return _("In force") if warning.expires > (now or timezone.now()) else _("Expired")


def cap_url(entry: WarningLog, *, public: bool) -> str:
    if public:
        return reverse("warnings-public:cap", args=[entry.identifier])
    return reverse("alerts:warning-cap", args=[entry.warning_id, entry.seq])


def summary(warning: EarlyWarning, user=None, *, latest: WarningLog | None = None) -> dict:
    """A warning as the pages show it (the public's view leaves out who issued it and the drill's existence)."""
    return {
        "id": warning.pk, "type": warning.type.code, "type_name": warning.type.name, "level": warning.level,
        "level_label": WarningLevel(warning.level).label, "colour": LEVEL_COLOURS[warning.level],
        "headline": warning.headline, "description": warning.description, "instruction": warning.instruction,
        "area_desc": warning.area_desc, "area": json.loads(warning.area.geojson),
        "effective": timezone.localtime(warning.effective).isoformat(),
        "expires": timezone.localtime(warning.expires).isoformat(),
        "exercise": warning.exercise, "state": warning.state, "state_label": state_label(warning),
        "in_force": warning.in_force(), "version": warning.version,
        "issuer": warning.district.name if warning.district_id else _("City command centre"),
        "issued_at": timezone.localtime(warning.issued_at).isoformat(),
        "updated_at": timezone.localtime(warning.updated_at).isoformat(),
        **({"can_change": scoping.may_change(user, warning) and warning.in_force(),
            "incident": warning.incident} if user is not None else {}),
        **({"identifier": latest.identifier, "cap_url": cap_url(latest, public=False)} if latest else {}),
    }


def log_entry(entry: WarningLog) -> dict:
    return {"seq": entry.seq, "action": entry.action, "action_label": WarningLog.Action(entry.action).label,
            "by": entry.actor.get_full_name() or entry.actor.get_username(),
            "sent": timezone.localtime(entry.sent).isoformat(), "identifier": entry.identifier,
            "references": entry.references, "note": entry.note, "changes": entry.changes,
            "cap_url": cap_url(entry, public=False)}


def _latest(warnings: list[EarlyWarning]) -> dict[int, WarningLog]:
    found: dict[int, WarningLog] = {}
    for entry in WarningLog.objects.filter(warning__in=warnings).order_by("warning_id", "seq").only(
            "warning_id", "seq", "identifier"):
        found[entry.warning_id] = entry
    return found


def _data(request) -> dict:
    return request.data if hasattr(request.data, "get") else {}


def _raise(exc: rules.InvalidWarning):
    raise ValidationError(exc.errors) from exc


class IssueInput(serializers.Serializer):
    type = serializers.CharField(max_length=40)
    level = serializers.ChoiceField(choices=WarningLevel.choices)
    headline = serializers.CharField(max_length=160)
    description = serializers.CharField(max_length=4000)
    instruction = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    area_desc = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    area = serializers.JSONField()
    effective = serializers.DateTimeField(required=False, allow_null=True, default=None)
    expires = serializers.DateTimeField()
    exercise = serializers.BooleanField(required=False, default=False)


class UpdateInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    level = serializers.ChoiceField(choices=WarningLevel.choices, required=False)
    headline = serializers.CharField(max_length=160, required=False)
    description = serializers.CharField(max_length=4000, required=False)
    instruction = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    area_desc = serializers.CharField(max_length=200, required=False, allow_blank=True)
    area = serializers.JSONField(required=False)
    expires = serializers.DateTimeField(required=False)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class CancelInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    note = serializers.CharField(max_length=500)


class WarningList(APIView):
    """Warnings the user may read, in force first (`?state=in_force` or `past`), with the figures per level
    (drills not counted); POST issues one."""

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="alerts_warnings_list")
    def get(self, request):
        qs = scoping.visible_warnings(request.user).select_related("type", "district")
        state = request.query_params.get("state", "")
        if state not in ("", "in_force", "past"):
            raise ValidationError({"state": [_("Either in_force or past.")]})
        now = timezone.now()
        found = rules.in_force(qs, now=now) if state == "in_force" else (
            qs.exclude(pk__in=rules.in_force(qs, now=now).values("pk")) if state == "past" else qs)
        found = list(found.order_by("-issued_at")[:200])
        latest = _latest(found)
        return Response({"results": [summary(w, request.user, latest=latest.get(w.pk)) for w in found],
                         "figures": rules.figures(qs), "may_issue": scoping.may_issue(request.user)})

    @extend_schema(request=IssueInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = IssueInput(data=_data(request))
        data.is_valid(raise_exception=True)
        try:
            warning = rules.issue(request.user, rules.Draft(**data.validated_data))
        except rules.InvalidWarning as exc:
            _raise(exc)
        return Response(_detail(warning, request.user), status=201)


def _detail(warning: EarlyWarning, user) -> dict:
    log = list(warning.log.select_related("actor").order_by("seq"))
    return {**summary(warning, user, latest=log[-1] if log else None), "log": [log_entry(e) for e in log]}


class WarningDetail(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        return Response(_detail(scoped_object(request), request.user))


class WarningUpdate(APIView):
    """An Update (CAP msgType Update, referencing the earlier documents): `version` as read, and what changes."""

    @extend_schema(request=UpdateInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        data = UpdateInput(data=_data(request))
        data.is_valid(raise_exception=True)
        try:
            warning = rules.update(request.user, scoped_object(request), rules.Change(**data.validated_data))
        except rules.InvalidWarning as exc:
            _raise(exc)
        except rules.Conflict as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(_detail(warning, request.user))


class WarningCancel(APIView):
    """解除 (CAP msgType Cancel, referencing the earlier documents): `version` as read and the reason."""

    @extend_schema(request=CancelInput, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        data = CancelInput(data=_data(request))
        data.is_valid(raise_exception=True)
        try:
            warning = rules.cancel(request.user, scoped_object(request), **data.validated_data)
        except rules.InvalidWarning as exc:
            _raise(exc)
        except rules.Conflict as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(_detail(warning, request.user))


class WarningCap(APIView):
    """The CAP document of one log entry of a warning the user may read, as it was published (drills too)."""

    @extend_schema(responses={(200, cap.CAP_MEDIA_TYPE): OpenApiTypes.STR})
    def get(self, request, pk: int, seq: int):
        entry = scoped_object(request).log.filter(seq=seq).first()
        if entry is None:
            return Response({"detail": _("Not found.")}, status=404)
        return HttpResponse(entry.cap_xml, content_type=f"{cap.CAP_MEDIA_TYPE}; charset=utf-8")


class WarningTypes(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response({"types": [{"code": t.code, "name": t.name} for t in WarningType.objects.all()],
                         "levels": [{"code": v, "label": label, "colour": LEVEL_COLOURS[v]}
                                    for v, label in WarningLevel.choices]})
