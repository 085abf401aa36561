"""gunicorn's settings for CityGrid, for the systemd unit (citygrid-web.service) and `make run` alike.

The access log goes to stdout (the journal under systemd) with each request's id, the one nginx made and the
application logged its own lines with (citygrid/requestid.py)."""

import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("WORKERS", "3"))
# Threads let a worker hold dispatchers' live-feed streams open while it serves other requests.
threads = int(os.environ.get("THREADS", "8"))
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
# A stream ends every FEED_STREAM_SECONDS: a restart lets it finish rather than cut it.
graceful_timeout = int(os.environ.get("FEED_STREAM_SECONDS", "25")) + 5
