"""Gunicorn settings for the web container (docker/Dockerfile's default command).

WEB_CONCURRENCY (read by gunicorn itself, default 3 here) sets the number of worker
processes; a rule of thumb is 2 × CPU cores + 1 for the host's share of the web service.
"""

import os

bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "sync"

# nginx buffers request bodies (uploads) and responses, so a sync worker is never held by
# a slow client. A request still running after `timeout` seconds is killed; nginx's
# proxy_read_timeout (docker/nginx.conf) is a little longer so gunicorn decides first.
timeout = 60
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then (guards against slow leaks); jitter avoids all at once.
max_requests = 1000
max_requests_jitter = 100

# Heartbeat files in memory, not on the container's overlay filesystem.
worker_tmp_dir = "/dev/shm"  # noqa: S108  tmpfs owned by the container, not a shared /tmp

# Only nginx reaches port 8000 (the port is not published): trust its X-Forwarded-* headers.
forwarded_allow_ips = "*"

# No gunicornc control socket: nothing uses it and $HOME is not writable.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
# Client address as forwarded by nginx first, then the usual combined format and duration.
access_log_format = '%({x-forwarded-for}i)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
