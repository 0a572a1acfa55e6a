"""`manage.py runserver` as `make run` serves the embedded default: Django's development server
(with the static files, as django.contrib.staticfiles gives it), whose listen queue holds 128
connections instead of 10. At a deadline the browsers of several companies send chunks and
finalisations at once; with a queue of 10, a burst of connections under load could be reset
before the server accepted them (production runs gunicorn, whose queue is 2048). The demo app
comes before django.contrib.staticfiles in INSTALLED_APPS, so that this command is the one run.
"""

from django.contrib.staticfiles.management.commands.runserver import Command as StaticFilesRunserver
from django.core.servers.basehttp import WSGIServer

LISTEN_QUEUE = 128


class BurstTolerantWSGIServer(WSGIServer):
    request_queue_size = LISTEN_QUEUE


class Command(StaticFilesRunserver):
    server_cls = BurstTolerantWSGIServer
