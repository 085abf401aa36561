#!/bin/sh
# Pages the on-call person: a CityGrid unit ($1) failed. PAGE_COMMAND (environment file) gets the message on
# its standard input, e.g.  PAGE_COMMAND='mail -s "CityGrid alert" oncall@example.gov.cn'  or
# PAGE_COMMAND='curl -fsS --data-binary @- https://alerts.example.gov.cn/hook'. The message also goes to the
# journal at priority crit, where a log shipper can pick it up.
set -u
unit="${1:?usage: page.sh UNIT}"
subject="CityGrid on $(hostname): $unit failed"
details=$(journalctl -u "$unit" -n 30 --no-pager -o cat 2>/dev/null || true)
logger -p daemon.crit -t citygrid-page "$subject" 2>/dev/null || echo "$subject" >&2
if [ -n "${PAGE_COMMAND:-}" ]; then
    printf '%s\n\n%s\n' "$subject" "$details" | sh -c "$PAGE_COMMAND"
fi
