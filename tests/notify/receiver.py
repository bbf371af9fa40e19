"""A real webhook receiver on a free local port (stdlib HTTP server in a thread): it can fail the next N
requests, be down (its socket closed) and come back on the same port, answer slowly, and it deduplicates by
event id the way a receiver should, checking every signature."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jifen.notify.channels import verify


class Receiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.fail_next = 0
        self.down_after_failing = False  # go down once the failures are used up
        self.delay = 0.0
        self.arrived = 0  # requests that reached the handler (counted before its delay)
        self.requests: Counter[str] = Counter()  # every request by event id, repeats included
        self.events: dict[str, dict[str, Any]] = {}  # what the receiver kept: one per event id
        self.bad_signatures = 0
        self.mismatched_ids = 0
        self.lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.arrived += 1
                if receiver.delay:
                    time.sleep(receiver.delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    event_id = headers.get("x-jifen-event-id", "")
                    receiver.requests[event_id] += 1
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = 500
                        if receiver.fail_next == 0 and receiver.down_after_failing:
                            threading.Thread(target=receiver.down).start()
                    else:
                        status = 200
                        if not verify(receiver.secret, headers, body):
                            receiver.bad_signatures += 1
                        document = json.loads(body)
                        if document["id"] != event_id:
                            receiver.mismatched_ids += 1
                        receiver.events.setdefault(event_id, document)  # a repeat is dropped by id
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        self._server = server

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
