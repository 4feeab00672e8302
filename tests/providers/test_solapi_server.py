"""SOLAPI against a fake server on a real 127.0.0.1 socket: send + status through base_url."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from kmsg_cli.core.models import MessageType, Status, StatusQuery
from kmsg_cli.providers.solapi import sign

from .conftest import SECRETS, msg, solapi

AUTH = re.compile(r"^HMAC-SHA256 apiKey=(\S+), date=(\S+), salt=(\S+), signature=([0-9a-f]{64})$")


class FakeSolapi(BaseHTTPRequestHandler):
    stored: dict[str, dict[str, Any]] = {}
    salts: list[str] = []

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return None

    def _authorized(self) -> bool:
        match = AUTH.match(self.headers.get("Authorization", ""))
        if not match:
            return False
        key, date, salt, signature = match.groups()
        self.salts.append(salt)
        return key == SECRETS["solapi"]["api_key"] and signature == sign(
            SECRETS["solapi"]["api_secret"], date, salt
        )

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        if not self._authorized():
            return self._reply(403, {"errorCode": "SignatureDoesNotMatch", "errorMessage": "no"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        rows = []
        for n, m in enumerate(body["messages"]):
            mid = f"M4VFAKE{n:025d}"
            self.stored[mid] = {
                "messageId": mid,
                "statusCode": "4000",
                "statusMessage": "ok",
                "customFields": m["customFields"],
                "dateReceived": "2026-01-01T00:00:03.000Z",
            }
            rows.append({"messageId": mid, "statusCode": "2000", "customFields": m["customFields"]})
        self._reply(
            200, {"groupInfo": {"groupId": "G4VFAKE"}, "failedMessageList": [], "messageList": rows}
        )

    def do_GET(self) -> None:  # noqa: N802
        if not self._authorized():
            return self._reply(403, {"errorCode": "SignatureDoesNotMatch", "errorMessage": "no"})
        params = parse_qs(urlparse(self.path).query)
        ids = params.get("messageIds", []) + params.get("messageId", [])
        self._reply(200, {"messageList": {i: self.stored[i] for i in ids if i in self.stored}})


@pytest.fixture
def server() -> Iterator[str]:
    FakeSolapi.salts.clear()  # class-level state shared by every server in the session
    FakeSolapi.stored.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeSolapi)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_send_then_status_over_a_real_socket(server, deps) -> None:
    p = solapi(deps, base_url=server)
    results = p.send([msg(mid="a"), msg(mid="b", to="01022223333")])
    assert [r.status for r in results] == [Status.PENDING, Status.PENDING]
    assert {r.group_id for r in results} == {"G4VFAKE"}
    queries = [
        StatusQuery(r.message_id, r.provider_message_id, "010", MessageType.SMS, 0) for r in results
    ]
    reports = p.status(queries)
    assert [r.status for r in reports] == [Status.DELIVERED, Status.DELIVERED]
    assert len(set(FakeSolapi.salts)) == len(FakeSolapi.salts) == 2
