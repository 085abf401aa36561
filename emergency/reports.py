"""Situation reports (信息报送): the first report (首报), follow-ups (续报) and the final report (终报), written from
the incident's log and its tasks — every sentence from a recorded fact — as an A4 page that prints cleanly and as a
PDF printed by WeasyPrint with the Noto CJK fonts, the same way as the monthly bulletin (dispatch.bulletin).
A drill's report says so on every page; its drill report compares each task's time with the plan's limit."""

import logging

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from .board import ACTION_LABELS, incident_summary, tasks, timeline
from .models import Incident, IncidentLog, Status

KINDS = ("first", "followup", "final")


def default_kind(incident: Incident) -> str:
    if incident.status == Status.ENDED:
        return "final"
    return "followup" if incident.plan_id else "first"




def context(incident: Incident, kind: str) -> dict:
    summary = incident_summary(incident)
    log = timeline(incident)
    rows = tasks(incident)
    now = timezone.now()
    if kind == "first":  # what was known when the incident was opened and first decided
        log = [e for e in log if e["action"] in ("open", "case_added", "level_up", "level_down")]
    for e in log:
        e["words"] = str(ACTION_LABELS.get(e["action"], e["action"]))
    done = [t for t in rows if t["state"] == "done"]
    late = [t for t in rows if t["overdue"]]
    mobilised = list(incident.mobilisations.select_related("resource").order_by("at"))
    level_changes = IncidentLog.objects.filter(incident=incident, action__in=("level_up", "level_down")).count()
    titles = {"first": _("First report"), "followup": _("Follow-up report"), "final": _("Final report")}
    sequence = None
    if kind == "followup":
        sequence = IncidentLog.objects.filter(incident=incident, action="plan_activated").count() or 1
    summary_lines = [
        _("At %(at)s, %(type)s: %(title)s, level %(level)s.") % {
            "at": timezone.localtime(incident.created_at).strftime("%Y-%m-%d %H:%M"),
            "type": incident.event_type.name, "title": incident.title, "level": incident.get_level_display()},
        _("Districts affected: %(d)s.") % {"d": "、".join(summary["districts"]) or "—"},
        _("Cases in the incident: %(n)d.") % {"n": incident.case_links.count()},
    ]
    if incident.plan_id:
        summary_lines.append(_("Plan activated: %(plan)s, commanded by %(hq)s; %(n)d tasks issued, %(done)d done, "
                               "%(late)d past their time limit.") % {
            "plan": str(incident.plan), "hq": summary["headquarters"] or "—", "n": len(rows), "done": len(done),
            "late": len(late)})
    if level_changes:
        summary_lines.append(_("Level changed %(n)d times.") % {"n": level_changes})
    if mobilised:
        summary_lines.append(_("Resources mobilised: %(r)s.") % {"r": "、".join(m.resource.name for m in mobilised)})
    if kind == "final" and incident.ended_at:
        ended = IncidentLog.objects.filter(incident=incident, action="end").order_by("-id").first()
        at = timezone.localtime(incident.ended_at).strftime("%Y-%m-%d %H:%M")
        summary_lines.append(_("Ended at %(at)s: %(note)s") % {"at": at, "note": ended.note if ended else ""})
    return {"incident": incident, "summary": summary, "kind": kind, "title": titles[kind], "sequence": sequence,
            "log": log, "tasks": rows, "mobilised": mobilised, "lines": summary_lines, "generated_at": now,
            "drill_rows": drill_rows(rows) if incident.drill else []}


def drill_rows(rows: list[dict]) -> list[dict]:
    """A drill's comparison: each task's time (issue → done) against the plan's limit."""
    out = []
    for t in rows:
        taken = t["minutes_taken"]
        out.append({**t, "verdict": "—" if taken is None else ("✓" if taken <= t["limit_minutes"] else "✗"),
                    "margin": None if taken is None else round(t["limit_minutes"] - taken, 1)})
    return out


def render_html(incident: Incident, kind: str, *, standalone: bool = True) -> str:
    css = ""
    if standalone:
        from django.contrib.staticfiles import finders

        with open(finders.find("emergency/report.css"), encoding="utf-8") as f:
            css = f.read()
    return render_to_string("emergency/report_document.html", {**context(incident, kind), "standalone": standalone,
                                                               "inline_css": css})


def render_pdf(incident: Incident, kind: str) -> bytes:
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    from weasyprint import HTML

    return HTML(string=render_html(incident, kind), base_url=None).write_pdf()
