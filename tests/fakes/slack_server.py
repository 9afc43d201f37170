"""A fake Slack on 127.0.0.1: incoming webhooks and chat.postMessage, over real HTTP, so tests can
run the real slack_sdk clients (their retry handlers included) against it.

    with FakeSlack(token="xoxb-test") as slack:
        slack.fail_next(1, 429)              # then 500, 503, 404, ... or "drop"
        ...  # send to slack.webhook_url, or WebClient(base_url=slack.api_base_url)
        assert len(slack.messages) == 1

- ``POST /services/<anything>``: an incoming webhook; 200 "ok".
- ``POST /api/chat.postMessage``: JSON or form body; the bearer token (or a ``token`` form field) must
  be the expected one, else ``{"ok": false, "error": "invalid_auth"}`` (``not_authed`` when absent);
  ``{"ok": true, "ts": ..., "channel": ...}`` with a ts that increases with each message.
- ``fail_next(n, how)`` answers the next n requests (any endpoint) with: 429 and ``Retry-After``
  (chat.postMessage: ``{"ok": false, "error": "ratelimited"}``), another HTTP status (a plain-text
  body, as Slack's edge serves), or ``"drop"`` (the connection is closed without an answer).

``messages`` holds every accepted message (text, blocks, thread_ts, channel, ts, endpoint);
``attempts`` every request with its outcome and arrival time, failed ones included.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


def unused_port() -> int:
    """A local port with nothing listening on it: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeSlack:
    def __init__(self, token: str = "xoxb-fake-token", channels: set[str] | None = None, retry_after: int = 1):
        self.token = token
        self.channels = channels  # None: every channel exists; else others get channel_not_found
        self.retry_after = retry_after
        self.messages: list[dict] = []
        self.attempts: list[dict] = []
        self._failures: deque[int | str] = deque()
        self._lock = threading.Lock()
        self._ts = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeSlack:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/services/T0FAKE/B0FAKE/s3cr3tWebhookPath"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/api/"

    # -- scripting

    def fail_next(self, count: int, how: int | str) -> None:
        """Answer the next ``count`` requests with HTTP status ``how`` (429 adds Retry-After), or
        close the connection without an answer when ``how`` is "drop"."""
        if how != "drop" and not (isinstance(how, int) and 400 <= how <= 599):
            raise ValueError(f"how={how!r}: use an HTTP error status (e.g. 429, 500) or 'drop'")
        with self._lock:
            self._failures.extend([how] * count)

    def _next_failure(self) -> int | str | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _record_attempt(self, path: str, outcome: str) -> None:
        with self._lock:
            self.attempts.append({"path": path, "outcome": outcome, "at": time.monotonic()})

    def _accept(self, endpoint: str, body: dict) -> dict:
        with self._lock:
            self._ts += 1
            record = {
                "endpoint": endpoint, "text": body.get("text"), "blocks": body.get("blocks"),
                "thread_ts": body.get("thread_ts"), "channel": body.get("channel"),
                "ts": f"{1_700_000_000 + self._ts}.{self._ts:06d}" if endpoint == "chat.postMessage" else None,
            }
            self.messages.append(record)
            return record


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        if path.startswith("/services/"):
            endpoint = "webhook"
        elif path == "/api/chat.postMessage":
            endpoint = "chat.postMessage"
        else:
            self.fake._record_attempt(path, "404")
            return self._reply(404, "text/plain", b"not found")
        failure = self.fake._next_failure()
        if failure == "drop":
            self.fake._record_attempt(path, "drop")
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if failure is not None:
            self.fake._record_attempt(path, str(failure))
            return self._fail(endpoint, failure)
        if endpoint == "webhook":
            return self._webhook(path, raw)
        return self._post_message(path, raw)

    # -- endpoints

    def _webhook(self, path: str, raw: bytes) -> None:
        try:
            body = self._body(raw)
        except ValueError:
            self.fake._record_attempt(path, "invalid_payload")
            return self._reply(400, "text/plain", b"invalid_payload")
        if not body.get("text") and not body.get("blocks"):
            self.fake._record_attempt(path, "no_text")
            return self._reply(400, "text/plain", b"no_text")
        self.fake._accept("webhook", body)
        self.fake._record_attempt(path, "ok")
        self._reply(200, "text/html", b"ok")

    def _post_message(self, path: str, raw: bytes) -> None:
        try:
            body = self._body(raw)
        except ValueError:
            return self._api(path, 200, {"ok": False, "error": "invalid_json"})
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else body.get("token")
        if not token:
            return self._api(path, 200, {"ok": False, "error": "not_authed"})
        if token != self.fake.token:
            return self._api(path, 200, {"ok": False, "error": "invalid_auth"})
        channel = body.get("channel")
        if not channel or (self.fake.channels is not None and channel not in self.fake.channels):
            return self._api(path, 200, {"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return self._api(path, 200, {"ok": False, "error": "no_text"})
        record = self.fake._accept("chat.postMessage", body)
        self._api(path, 200, {"ok": True, "channel": channel, "ts": record["ts"],
                              "message": {"text": record["text"], "ts": record["ts"]}})

    def _fail(self, endpoint: str, status: int) -> None:
        headers = {"Retry-After": str(self.fake.retry_after)} if status == 429 else {}
        if endpoint == "chat.postMessage" and status == 429:
            return self._reply(429, "application/json", json.dumps({"ok": False, "error": "ratelimited"}).encode(), headers)
        text = {429: "rate_limited", 404: "no_service", 410: "channel_is_archived", 403: "action_prohibited"}
        self._reply(status, "text/plain", text.get(status, "Internal Server Error" if status >= 500 else "error").encode(), headers)

    # -- plumbing

    def _body(self, raw: bytes) -> dict:
        """JSON, or a form (``payload=<json>`` for webhooks; ``blocks`` as a JSON string)."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type == "application/x-www-form-urlencoded":
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
            if "payload" in form:
                return json.loads(form["payload"])
            if "blocks" in form:
                form["blocks"] = json.loads(form["blocks"])
            return form
        body = json.loads(raw.decode("utf-8") or "{}")
        if not isinstance(body, dict):
            raise ValueError("body is not a JSON object")
        return body

    def _api(self, path: str, status: int, data: dict) -> None:
        self.fake._record_attempt(path, "ok" if data.get("ok") else data.get("error", "error"))
        self._reply(status, "application/json; charset=utf-8", json.dumps(data).encode())

    def _reply(self, status: int, content_type: str, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
