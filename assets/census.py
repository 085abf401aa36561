"""Changing the census: every save through here records what changed in the component's history, and
field-reported changes (CensusChange) become census changes when staff approve them."""

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.gis.geos import WKTWriter
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from . import codes
from .models import TRACKED, CensusChange, Component, ComponentLog, Status

_WKT = WKTWriter(precision=7)


def _value(component: Component, field: str):
    if field == "bureau":
        return component.bureau.code if component.bureau_id else None
    value = getattr(component, field)
    if field == "geom":  # to 1e-7° (about a centimetre): a round trip through a file is no change
        return _WKT.write(value).decode() if value is not None else None
    if field == "photo":
        return value.name or None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def snapshot(component: Component) -> dict:
    return {field: _value(component, field) for field in TRACKED}


@transaction.atomic
def save_component(component: Component, actor: AbstractBaseUser | None, *, note: str = "",
                   action: str | None = None) -> ComponentLog | None:
    """Save a new or changed component and append what changed to its history (nothing when nothing did)."""
    before = None
    if component.pk is not None:
        stored = Component.objects.select_related("bureau").filter(pk=component.pk).first()
        before = snapshot(stored) if stored is not None else None
    component.save()
    after = snapshot(component)
    if before is None:
        changes = {k: [None, v] for k, v in after.items() if v not in (None, "")}
        action = action or ComponentLog.Action.CREATE
    else:
        changes = {k: [before[k], after[k]] for k in TRACKED if before[k] != after[k]}
        if not changes:
            return None
        action = action or ComponentLog.Action.UPDATE
    return ComponentLog.objects.create(component=component, action=action, changes=changes,
                                       actor=actor if actor and actor.is_authenticated else None, note=note[:200])


def next_code(county: str, subclass: str) -> str:
    """The next free code of a subclass in a county (the highest sequence in use + 1)."""
    county_w, class_w, sub_w, _seq_w = codes.code_widths()
    prefix = codes.make_code(county, subclass, 1)[:county_w + class_w + sub_w]
    top = Component.objects.filter(code__startswith=prefix).aggregate(top=Max("code"))["top"]
    sequence = int(top[len(prefix):]) + 1 if top else 1
    return codes.make_code(county, subclass, sequence)


@transaction.atomic
def approve(change: CensusChange, actor: AbstractBaseUser) -> Component:
    """Apply a pending change: a new component is surveyed in (accuracy C: located by a phone), a missing one
    is marked missing. Raises ValueError when the change is no longer pending."""
    change = CensusChange.objects.select_for_update().get(pk=change.pk)
    if change.state != CensusChange.State.PENDING:
        raise ValueError("this census change was already decided")
    note = f"{change.case_number} {change.note}".strip()
    if change.kind == CensusChange.Kind.NEW:
        component = Component(subclass=change.subclass, geom=change.location, accuracy="C",
                              survey_date=timezone.localdate(), code="0")
        component.locate()
        # Two approvals of the same subclass in the same county at once would take the same next code: the
        # second waits for the first's transaction (a lock per county and subclass, released at commit).
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        [f"citygrid.census.{component._county_code}.{change.subclass}"])
        component.code = next_code(component._county_code, change.subclass)
    else:
        component = change.component
        component.status = Status.MISSING
    save_component(component, actor, note=note, action=ComponentLog.Action.CENSUS)
    change.component = component
    change.state, change.decided_by, change.decided_at = CensusChange.State.APPROVED, actor, timezone.now()
    change.save()
    return component


def reject(change: CensusChange, actor: AbstractBaseUser) -> None:
    updated = CensusChange.objects.filter(pk=change.pk, state=CensusChange.State.PENDING).update(
        state=CensusChange.State.REJECTED, decided_by=actor, decided_at=timezone.now())
    if not updated:
        raise ValueError("this census change was already decided")
