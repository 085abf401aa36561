"""Working time: deadlines are counted in office hours on working days of the Chinese calendar — weekends
and public holidays off, make-up working days (调休) on, as the CalendarDay rows for each year say."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from .models import CalendarDay, WorkPeriod

DEFAULT_PERIODS = ((time(8, 30), time(12, 0)), (time(14, 30), time(17, 30)))


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date]
    workdays: frozenset[date]
    periods: tuple[tuple[time, time], ...]

    @classmethod
    def load(cls) -> "WorkingCalendar":
        days = list(CalendarDay.objects.values_list("date", "kind"))
        periods = tuple(WorkPeriod.objects.values_list("start", "end")) or DEFAULT_PERIODS
        return cls(frozenset(d for d, k in days if k == CalendarDay.Kind.HOLIDAY),
                   frozenset(d for d, k in days if k == CalendarDay.Kind.WORKDAY), periods)

    @property
    def hours_per_day(self) -> float:
        return sum((datetime.combine(date.min, e) - datetime.combine(date.min, s)).total_seconds()
                   for s, e in self.periods) / 3600

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add(self, start: datetime, *, hours: float = 0, days: float = 0) -> datetime:
        """`start` plus so many working hours (a working day counts as one day's office hours), counted in
        the local time zone; time outside office hours does not count."""
        remaining = timedelta(hours=hours + days * self.hours_per_day)
        tz = timezone.get_current_timezone()
        current = timezone.localtime(start, tz)
        day = current.date()
        while True:
            if self.is_working_day(day):
                for s, e in self.periods:
                    begin = datetime.combine(day, s, tzinfo=tz)
                    end = datetime.combine(day, e, tzinfo=tz)
                    if current >= end:
                        continue
                    begin = max(begin, current)
                    if begin + remaining <= end:
                        return begin + remaining
                    remaining -= end - begin
                    current = end
            day += timedelta(days=1)
            current = datetime.combine(day, time.min, tzinfo=tz)

    def working_hours(self, start: datetime, end: datetime) -> float:
        """Office hours between two instants: what is left until a deadline, negative once it has passed
        (how many office hours overdue)."""
        if end < start:
            return -self.working_hours(end, start)
        tz = timezone.get_current_timezone()
        current, end = timezone.localtime(start, tz), timezone.localtime(end, tz)
        day, total = current.date(), timedelta()
        while day <= end.date():
            if self.is_working_day(day):
                for s, e in self.periods:
                    begin = max(datetime.combine(day, s, tzinfo=tz), current)
                    finish = min(datetime.combine(day, e, tzinfo=tz), end)
                    if finish > begin:
                        total += finish - begin
            day += timedelta(days=1)
        return total.total_seconds() / 3600

    def add_limit(self, start: datetime, amount: int, unit: str) -> datetime:
        return self.add(start, hours=amount) if unit == "hours" else self.add(start, days=amount)
