"""The benchmark's local IAM: moto's own WSGI application, served by waitress.

`moto_server` (werkzeug's development server) answers about 110 requests a second on a
2-core machine, slower than the fault proxy's 20 ms latency lets a client ask, so a
benchmark against it measures moto, not the tools. This launcher changes how moto is
served, never what it answers:

- waitress instead of werkzeug's development server: a thread pool and keep-alive
  connections, where werkzeug starts a thread and closes the connection per request;
- no log line per request;
- the host -> service lookup, which moto repeats for every request, remembered;
- GetAccessKeyLastUsed reads moto's own index of keys by id (IAMBackend.access_keys,
  which moto keeps for signing) instead of scanning every key of every user, which
  made each call O(users); anything but a user's key falls back to moto's scan.

Usage: python moto_bench_server.py PORT [THREADS]
"""

import logging
import sys

import waitress
from moto.iam import models as iam_models
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)


class RememberingDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, with each host's service looked up once."""

    def __init__(self, create_app):
        super().__init__(create_app)
        self.services_by_host = {}

    def get_backend_for_host(self, host):
        if host not in self.services_by_host:
            self.services_by_host[host] = super().get_backend_for_host(host)
        return self.services_by_host[host]


def use_key_index():
    scan = iam_models.IAMBackend.get_access_key_last_used

    def get_access_key_last_used(self, access_key_id):
        key = self.access_keys.get(access_key_id)
        if key is None or key.user_name is None:  # not a user's key: moto's own answer
            return scan(self, access_key_id)
        return {"user_name": key.user_name, "last_used": key.last_used}

    iam_models.IAMBackend.get_access_key_last_used = get_access_key_last_used


def main():
    port = int(sys.argv[1])
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    use_key_index()
    application = RememberingDispatcher(create_backend_app)
    waitress.serve(
        application,
        host="127.0.0.1",
        port=port,
        threads=threads,
        connection_limit=1000,
        _quiet=True,
    )


if __name__ == "__main__":
    main()
