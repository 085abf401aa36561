"""The auditor's page: search the security audit trail and export what was found. Both are audited."""

from datetime import datetime, time

from django import forms
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views import View

from .audit import RESULT_LABELS, action_label, detail_label, known_actions, record, result_label, target_label
from .exports import csv_lines
from .models import AuditEvent
from .policy import PolicyPageMixin

PAGE_SIZE = 100


class AuditSearch(forms.Form):
    q = forms.CharField(label=_("Text"), required=False, help_text=_("In the user, object or detail."))
    # Any code is searched for (older releases' and unlabelled ones too); the labelled ones are offered.
    action = forms.CharField(label=_("Action"), required=False, max_length=40, widget=forms.Select)
    result = forms.ChoiceField(label=_("Result"), required=False, choices=[
        ("", _("any")), *RESULT_LABELS.items()])
    ip = forms.GenericIPAddressField(label=_("Address"), required=False)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].widget.choices = [("", _("any")), *known_actions()]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", _("The end is before the start."))
        return data

    def events(self) -> QuerySet[AuditEvent]:
        events = AuditEvent.objects.all()
        data = self.cleaned_data
        if data.get("q"):
            events = events.filter(Q(username__icontains=data["q"]) | Q(target__icontains=data["q"])
                                   | Q(detail__icontains=data["q"]))
        if data.get("action"):
            events = events.filter(action=data["action"])
        if data.get("result"):
            events = events.filter(result=data["result"])
        if data.get("ip"):
            events = events.filter(ip=data["ip"])
        tz = timezone.get_current_timezone()
        if data.get("start"):
            events = events.filter(at__gte=datetime.combine(data["start"], time.min, tz))
        if data.get("end"):
            events = events.filter(at__lte=datetime.combine(data["end"], time.max, tz))
        return events


def _describe(form: AuditSearch) -> str:
    return " ".join(f"{k}={v}" for k, v in form.cleaned_data.items() if v)


class AuditTrail(PolicyPageMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form = AuditSearch(request.GET)  # every field is optional: no query is a valid search for everything
        if not form.is_valid():
            return render(request, "citygrid/audit_trail.html", {"form": form}, status=400)
        page = Paginator(form.events(), PAGE_SIZE).get_page(request.GET.get("page"))
        for event in page:  # as the auditor reads them (the codes stay in the data and the export)
            event.action_label, event.result_label = action_label(event.action), result_label(event.result)
            event.target_label = target_label(event.target)
            event.detail_label = detail_label(event.action, event.detail)
        record("audit_search", request=request, detail=_describe(form))
        query = request.GET.copy()
        query.pop("page", None)
        return render(request, "citygrid/audit_trail.html", {
            "form": form, "page": page, "query": query.urlencode(),
            "not_signed_in": _("(not signed in)")})  # a report from the public, a job of the system


class AuditExport(PolicyPageMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form = AuditSearch(request.GET)
        if not form.is_valid():
            return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain; charset=utf-8")
        events = form.events()
        record("audit_export", request=request, detail=_describe(form))

        def rows():
            # The codes for machines (a search, a script), each beside its label as the audit page shows it, in
            # the auditor's language; the time in the city's time zone, with its offset.
            yield ["at", "user", "ip", "action", "object", "result", "detail",
                   "action_label", "object_label", "result_label", "detail_label"]
            for e in events.iterator(chunk_size=2000):
                yield [timezone.localtime(e.at).isoformat(), e.username, e.ip or "", e.action, e.target, e.result,
                       e.detail, action_label(e.action), target_label(e.target), result_label(e.result),
                       detail_label(e.action, e.detail)]

        response = StreamingHttpResponse(csv_lines(rows()), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{timezone.localdate():%Y%m%d}.csv"'
        return response
