"""A fake SOLAPI server on 127.0.0.1, shared by the tests and the benchmarks
(docs/providers.md#solapi).

    python bench/fake_solapi.py --api-key K --api-secret S [--port 0] [--fail-suffix 9999]

prints its base URL as the first stdout line and serves until SIGTERM or SIGINT. In a test:

    with FakeSolapi(key, secret) as fake:
        provider = SolapiProvider(..., base_url=fake.base_url)
        ...
        assert fake.received_ids() == Counter({"m1": 1, "m2": 1})

What it speaks: the HMAC-SHA256 Authorization header (403 ``SignatureDoesNotMatch`` otherwise; 403
``RequestTimeTooSkewed`` when its date is more than 15 minutes from the server's clock),
``POST /messages/v4/send-many/detail``, ``GET /messages/v4/list`` (filters and startKey/nextKey
paging), ``GET /cash/v1/balance``, ``GET /kakao/v2/templates`` (``templateId``/``status`` filters,
startKey/nextKey paging) and ``GET /senderid/v1/numbers`` over what ``add_template`` and
``add_sender`` registered, ``POST /storage/v1/files`` (kept in ``files``, answered with a
``fileId``), plus ``GET /_fake/stats`` for a benchmark in another process.
A brand message (``BMS_FREE``) needs ``text``, ``kakaoOptions.pfId`` and ``kakaoOptions.bms`` with
``chatBubbleType`` TEXT, or IMAGE with the ``imageId`` of a file uploaded as ``BMS``; otherwise its
row is rejected with ``SHAPE_CODE``.
Every message is stored; a recipient ending in ``fail_suffix`` is rejected per row (``FAIL_CODE``)
and is not counted as received, and so is a recipient already in the same request
(``DUPLICATE_CODE``) unless the request body sets ``allowDuplicates: true``. Accepted messages are stored as delivered (4000) at once.

The server's clock is ``now_ms() + clock_offset_ms``: ``dateCreated``, the list date filters, the
``Date`` header and the signature window all use it, so a test can put SOLAPI's clock minutes
ahead of or behind kmsg's (``--clock-offset-ms`` on the command line).

``pause_after(n, record=...)`` is the crash-test gate: the first send request that arrives once
``n`` messages have been accepted blocks until ``release()``, then the connection is closed with no
answer. With ``record=True`` its messages were stored first (the provider has them, the client never
learns it); with ``record=False`` they were dropped (they provably never arrived).

``fail_next(*faults)`` scripts the next send requests, one fault each (``None``: answer normally):
``"500-before"`` (500, nothing stored), ``"500-after"`` (stored, then 500), ``"drop-before"`` /
``"drop-after"`` (the connection closes with no answer, before / after storing), ``"429"`` and
``"503"`` (refused, nothing stored).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

if __package__ in (None, ""):  # run as a script: import this checkout, not an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmsg_cli.providers.solapi.build import sign  # noqa: E402

# parameter names in any case: the official SDK writes "ApiKey=" and "Date=", kmsg "apiKey=", "date="
AUTH = re.compile(
    r"^HMAC-SHA256 apiKey=(\S+), date=(\S+), salt=(\S+), signature=([0-9a-f]{64})$", re.IGNORECASE
)
ID_FIELD = "kmsgId"
ACCOUNT = "99999999999999"
# A per-row rejection at registration: 1011 is SOLAPI's "format error". 1062 would be the
# *sender* not being registered and 3010 ("bad recipient number") is a carrier-stage code that only
# shows up later in /messages/v4/list, never in failedMessageList
# (docs/providers.md#solapi-status-codes).
FAIL_CODE = "1011"
FAIL_MESSAGE = "수신번호 형식 오류"
# A recipient repeated within one request is refused per row unless the request sets
# ``allowDuplicates: true`` (docs/providers.md#solapi-sending).
DUPLICATE_CODE = "1026"
SHAPE_CODE = "1010"  # a required field is missing or malformed
DUPLICATE_MESSAGE = "중복 수신번호"
SKEW_LIMIT_MS = 15 * 60_000  # SOLAPI refuses a signature dated further than this from its clock
Answer = tuple[int, Any] | None  # None: close the connection without an answer


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_z(epoch_ms: int) -> str:
    """SOLAPI's own date format: ``2026-01-01T00:00:03.000Z``."""
    whole = datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{epoch_ms % 1000:03d}Z"


def parse_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


class FakeSolapi:
    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        fail_suffix: str = "9999",
        now_ms: Callable[[], int] = wall_clock_ms,
        clock_offset_ms: int = 0,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.fail_suffix = fail_suffix
        self.real_ms = now_ms  # the time everyone agrees on (a test's fake clock, else the wall)
        self.clock_offset_ms = clock_offset_ms  # how far this "SOLAPI" is off from it
        self.base_url = ""
        self.salts: list[str] = []  # every accepted Authorization salt, in order
        self.paused = threading.Event()  # set while a send request is held by the gate
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._gate_at: int | None = None  # hold the next send once this many were accepted
        self._gate_records = True
        self._faults: list[str | None] = []
        self._stored: dict[str, dict[str, Any]] = {}  # messageId -> StoredMessage
        self._created: dict[str, int] = {}  # messageId -> dateCreated in epoch ms
        self._order: list[str] = []  # messageIds in arrival order
        self._groups: dict[str, list[str]] = {}
        self._received: Counter[str] = Counter()
        self._accepted = 0
        self._requests = 0
        self._httpd: ThreadingHTTPServer | None = None
        self.templates: list[dict[str, Any]] = []  # Kakao templates, SOLAPI's shape
        self.senders: list[dict[str, Any]] = []  # registered sender ids, SOLAPI's shape
        self.channels: dict[str, str] = {"KA01PF1": "@kmsgtest"}  # Kakao channels: pfId -> searchId
        self.files: dict[str, dict[str, Any]] = {}  # fileId -> the upload's body (type, name)

    def now_ms(self) -> int:
        """The server's own clock: dateCreated, the list date filters, Date, the signature window."""
        return self.real_ms() + self.clock_offset_ms

    # ------------------------------------------------------------------ lifecycle

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (``port`` 0: any free port) in a daemon thread; the base URL."""
        httpd = self._httpd = _Server(("127.0.0.1", port), self)
        # a short poll interval so stop() returns quickly; the loop itself never sleeps on requests
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        self.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
        return self.base_url

    def stop(self) -> None:
        self._released.set()  # let a request held by the gate finish
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeSolapi:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ observability and the gate

    @property
    def requests(self) -> int:
        """HTTP requests answered or held, /_fake/stats excluded."""
        with self._lock:
            return self._requests

    def received_ids(self) -> Counter[str]:
        """``customFields.kmsgId`` -> how many accepted messages carried it."""
        with self._lock:
            return Counter(self._received)

    def recipients(self) -> Counter[str]:
        """Recipient -> how many accepted messages went to it: exactly-once per CSV row."""
        with self._lock:
            return Counter(m["to"] for m in self._stored.values() if m["dateReceived"])

    def stored(self) -> list[dict[str, Any]]:
        """Every stored message (StoredMessage fields), in arrival order."""
        with self._lock:
            return [dict(self._stored[mid]) for mid in self._order]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "messages": self._accepted,
                "unique": len(self._received),
                "requests": self._requests,
            }

    def pause_after(self, n_messages: int, *, record: bool = True) -> None:
        with self._lock:
            self._gate_at, self._gate_records = n_messages, record
            self.paused.clear()
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def add_template(
        self,
        template_id: str,
        content: str,
        *,
        status: str = "APPROVED",
        name: str = "",
        buttons: list[dict[str, str]] | None = None,
    ) -> None:
        """Register a Kakao template as ``GET /kakao/v2/templates`` lists it (``buttons`` in
        SOLAPI's shape: buttonName, buttonType, linkMo, ...)."""
        with self._lock:
            self.templates.append(
                {
                    "templateId": template_id,
                    "name": name or template_id,
                    "channelId": "KA01PF1",
                    "content": content,
                    "status": status,
                    "messageType": "BA",
                    "emphasizeType": "NONE",
                    "buttons": list(buttons or []),
                    "quickReplies": [],
                    "variables": [{"name": n} for n in re.findall(r"#\{([^{}]*)\}", content)],
                    "isHidden": False,
                }
            )

    def add_sender(self, number: str, *, status: str = "ACTIVE") -> None:
        with self._lock:
            self.senders.append({"phoneNumber": number, "status": status, "method": "ARS"})

    def kakao_fails(self, to: str, code: str = "3104", message: str = "카카오톡 미사용자") -> None:
        """The AlimTalk already stored for ``to`` fails at Kakao. With ``disableSms: false``
        SOLAPI sends the replacement SMS itself: the row then says ``replacement: true`` and
        ``resendCount: 1`` and carries the replacement's delivery (the shape is [unverified],
        docs/providers.md#solapi-status-lookup); otherwise the row fails with ``code``."""
        with self._lock:
            for row in self._stored.values():
                if row["to"] != to or row["type"] != "ATA":
                    continue
                if (row.get("kakaoOptions") or {}).get("disableSms") is False:
                    row.update(replacement=True, resendCount=1)
                else:
                    row.update(statusCode=code, statusMessage=message, dateReceived=None)

    def fail_next(self, *faults: str | None) -> None:
        with self._lock:
            self._faults.extend(faults)

    # ------------------------------------------------------------------ the API

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> Answer:
        url = urlsplit(target)
        if url.path == "/_fake/stats":
            return 200, self.stats()
        with self._lock:
            self._requests += 1
        refusal = self._refusal(authorization)
        if refusal is not None:
            return 403, {"errorCode": refusal, "errorMessage": refusal}
        route = (method, url.path.rstrip("/"))
        if route == ("POST", "/messages/v4/send-many/detail"):
            return self._send(body)
        if route == ("POST", "/storage/v1/files"):
            return self._upload(body)
        if route == ("GET", "/messages/v4/list"):
            return self._list(parse_qs(url.query))
        if route == ("GET", "/cash/v1/balance"):
            return 200, {"balance": 100000.0, "point": 0}
        if route == ("GET", "/kakao/v2/templates"):
            return self._templates(parse_qs(url.query))
        if route[1].startswith("/kakao/v2/templates"):
            return self._template_admin(method, route[1], body)
        if route[0] == "GET" and route[1].startswith("/kakao/v2/channels/"):
            pf_id = route[1].rsplit("/", 1)[1]
            with self._lock:
                if pf_id not in self.channels:
                    return 404, {"errorCode": "NotFound", "errorMessage": "channel not found"}
                return 200, {"channelId": pf_id, "searchId": self.channels[pf_id]}
        if route == ("GET", "/senderid/v1/numbers"):
            with self._lock:
                return 200, {"accountId": "A1", "limit": 20, "senderIds": list(self.senders)}
        return 404, {"errorCode": "NotFound", "errorMessage": f"{method} {url.path}"}

    def _refusal(self, header: str) -> str | None:
        """SOLAPI's errorCode for a refused Authorization header; None when it is accepted."""
        match = AUTH.match(header)
        if not match:
            return "SignatureDoesNotMatch"
        key, date, salt, signature = match.groups()
        if key != self.api_key or signature != sign(self.api_secret, date, salt):
            return "SignatureDoesNotMatch"
        try:
            signed_at = parse_ms(date)
        except ValueError:
            return "SignatureDoesNotMatch"
        if abs(signed_at - self.now_ms()) > SKEW_LIMIT_MS:
            return "RequestTimeTooSkewed"
        with self._lock:
            self.salts.append(salt)
        return None

    def _send(self, raw: bytes) -> Answer:
        try:
            doc = json.loads(raw)
            messages = doc["messages"]
        except (ValueError, KeyError, TypeError):
            return 400, {"errorCode": "ValidationError", "errorMessage": "messages required"}
        allow_duplicates = doc.get("allowDuplicates") is True
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                return self._fault(fault, messages, allow_duplicates)
            held = self._gate_at is not None and self._accepted >= self._gate_at
            if held:
                self._gate_at = None
            store = self._gate_records or not held
            answer = self._store(messages, allow_duplicates) if store else None
        if not held:
            return 200, answer
        self.paused.set()
        self._released.wait()
        return None

    def _upload(self, raw: bytes) -> Answer:
        try:
            doc = json.loads(raw)
            kind, data = doc["type"], doc["file"]
        except (ValueError, KeyError, TypeError):
            return 400, {"errorCode": "ValidationError", "errorMessage": "file and type required"}
        with self._lock:
            file_id = f"FILEFAKE{len(self.files) + 1:024d}"
            self.files[file_id] = {"type": kind, "name": doc.get("name"), "bytes": len(data)}
        return 200, {"fileId": file_id, "type": kind, "link": doc.get("link")}

    def _malformed(self, m: dict[str, Any]) -> bool:
        """A brand message without what SOLAPI needs to show it (the caller holds the lock)."""
        if m.get("type") != "BMS_FREE":
            return False
        options = m.get("kakaoOptions") or {}
        bms = options.get("bms") or {}
        bubble = bms.get("chatBubbleType")
        if not m.get("text") or not options.get("pfId") or bubble not in ("TEXT", "IMAGE"):
            return True
        upload = self.files.get(str(bms.get("imageId")))
        return bubble == "IMAGE" and (upload is None or upload["type"] != "BMS")

    def _fault(
        self, fault: str, messages: list[dict[str, Any]], allow_duplicates: bool = False
    ) -> Answer:
        """One scripted failure (the caller holds the lock)."""
        if fault.endswith("-after"):
            self._store(messages, allow_duplicates)
        if fault.startswith("drop"):
            return None
        if fault.startswith("500"):
            return 500, {"errorCode": "InternalError", "errorMessage": "scripted failure"}
        if fault == "429":
            return 429, {"errorCode": "TooManyRequests", "errorMessage": "slow down"}
        if fault == "503":
            return 503, {"errorCode": "ServiceUnavailable", "errorMessage": "try later"}
        raise ValueError(f"unknown fault {fault!r}")

    def _store(
        self, messages: list[dict[str, Any]], allow_duplicates: bool = False
    ) -> dict[str, Any]:
        """Store one request's messages (the caller holds the lock); the send-many/detail answer."""
        now_ms = self.now_ms()
        now = iso_z(now_ms)
        group_id = f"G4VFAKE{len(self._groups) + 1:025d}"
        ids = self._groups[group_id] = []
        accepted, failed = [], []
        seen: set[str] = set()
        for m in messages:
            mid = f"M4VFAKE{len(self._order) + 1:025d}"
            fields = m.get("customFields") or {}
            to = str(m.get("to", ""))
            repeated = to in seen and not allow_duplicates
            seen.add(to)
            malformed = self._malformed(m)
            rejected = repeated or malformed or to.endswith(self.fail_suffix)
            code, text = (FAIL_CODE, FAIL_MESSAGE) if rejected else ("4000", "정상 수신")
            if repeated:
                code, text = DUPLICATE_CODE, DUPLICATE_MESSAGE
            elif malformed:
                code, text = SHAPE_CODE, "brand message fields missing"
            self._stored[mid] = {
                "messageId": mid,
                "groupId": group_id,
                "type": m.get("type"),
                "to": to,
                "from": m.get("from"),
                "text": m.get("text"),
                "kakaoOptions": m.get("kakaoOptions"),
                "statusCode": code,
                "statusMessage": text,
                "customFields": fields,
                "dateCreated": now,
                "dateUpdated": now,
                "dateReceived": None if rejected else now,
            }
            self._created[mid] = now_ms
            self._order.append(mid)
            ids.append(mid)
            if rejected:
                failed.append(
                    {
                        "to": to,
                        "from": m.get("from"),
                        "type": m.get("type"),
                        "country": "82",
                        "messageId": mid,
                        "statusCode": code,
                        "statusMessage": text,
                        "customFields": fields,
                        "accountId": ACCOUNT,
                    }
                )
                continue
            self._received[str(fields.get(ID_FIELD, ""))] += 1
            self._accepted += 1
            accepted.append(
                {
                    "messageId": mid,
                    "statusCode": "2000",
                    "statusMessage": "",
                    "customFields": fields,
                }
            )
        return {
            "groupInfo": _group_info(group_id, len(messages), len(accepted), now),
            "failedMessageList": failed,
            "messageList": accepted,
        }

    def _list(self, query: dict[str, list[str]]) -> Answer:
        def one(name: str) -> str | None:
            return query[name][0] if name in query else None

        start_key, to, since, until = one("startKey"), one("to"), one("startDate"), one("endDate")
        try:
            limit = int(one("limit") or 20)
            start = parse_ms(since) if since else None
            end = parse_ms(until) if until else None
        except ValueError:
            return 400, {"errorCode": "ValidationError", "errorMessage": "bad limit or date"}
        page: dict[str, dict[str, Any]] = {}
        next_key = None
        with self._lock:
            for mid in self._candidates(query, start_key):
                row, created = self._stored[mid], self._created[mid]
                if to and row["to"] != to:
                    continue
                if (start is not None and created < start) or (end is not None and created > end):
                    continue
                if len(page) == limit:
                    next_key = mid
                    break
                page[mid] = row
        return 200, {
            "startKey": start_key,
            "nextKey": next_key,
            "limit": limit,
            "messageList": page,
        }

    def _templates(self, query: dict[str, list[str]]) -> Answer:
        """One page of ``{limit, templateList, startKey, nextKey}``; the key is a list index."""
        wanted = {k: query[k][0] for k in ("templateId", "status") if k in query}
        start = query.get("startKey", [None])[0]
        limit = int(query.get("limit", ["20"])[0])
        with self._lock:
            rows = [t for t in self.templates if all(t[k] == v for k, v in wanted.items())]
        first = int(start) if start else 0
        page = rows[first : first + limit]
        more = first + limit < len(rows)
        return 200, {
            "limit": limit,
            "templateList": page,
            "startKey": start,
            "nextKey": str(first + limit) if more else None,
        }

    def _template_admin(self, method: str, path: str, raw: bytes) -> Answer:
        """Create, update, delete and request inspection, with SOLAPI's rules: only a PENDING or
        REJECTED template may be changed or deleted, only a PENDING one sent to inspection."""
        parts = path.split("/")[4:]  # after /kakao/v2/templates
        body = json.loads(raw or b"{}")
        with self._lock:
            if method == "POST" and not parts:
                if body.get("channelId") not in self.channels:
                    return 400, {"errorCode": "ValidationError", "errorMessage": "channelId"}
                if not body.get("name") or not body.get("content"):
                    return 400, {"errorCode": "ValidationError", "errorMessage": "name, content"}
                row = {
                    "templateId": f"KA01TP{len(self.templates) + 1:06d}",
                    "name": body["name"],
                    "channelId": body["channelId"],
                    "content": body["content"],
                    "categoryCode": body.get("categoryCode", ""),
                    "status": "PENDING",
                    "buttons": body.get("buttons", []),
                }
                self.templates.append(row)
                return 200, dict(row)
            found = next((t for t in self.templates if parts and t["templateId"] == parts[0]), None)
            if found is None:
                return 404, {"errorCode": "NotFound", "errorMessage": "template not found"}
            action = (method, tuple(parts[1:]))
            if action == (("PUT", ("inspection",))):
                if found["status"] != "PENDING":
                    return 400, {"errorCode": "InvalidStatus", "errorMessage": found["status"]}
                found["status"] = "INSPECTING"
                return 200, dict(found)
            if action[1] or method not in ("PUT", "DELETE"):
                return 404, {"errorCode": "NotFound", "errorMessage": path}
            if found["status"] not in ("PENDING", "REJECTED"):
                return 400, {"errorCode": "InvalidStatus", "errorMessage": found["status"]}
            if method == "DELETE":
                self.templates.remove(found)
                return 200, dict(found)
            found.update({k: body[k] for k in ("name", "content", "buttons") if k in body})
            found["status"] = "PENDING"
            return 200, dict(found)

    def _candidates(self, query: dict[str, list[str]], start_key: str | None) -> list[str]:
        """Ids to scan, in arrival order, from ``start_key`` on (the caller holds the lock)."""
        wanted = query.get("messageId", []) + query.get("messageIds", [])
        if wanted:
            ids = [mid for mid in dict.fromkeys(wanted) if mid in self._stored]
        elif query.get("groupId"):
            ids = self._groups.get(query["groupId"][0], [])
        else:
            ids = self._order
        if start_key is None:
            return ids
        try:
            return ids[ids.index(start_key) :]
        except ValueError:  # not a key this query handed out
            return []


def _group_info(group_id: str, total: int, accepted: int, now: str) -> dict[str, Any]:
    """groupInfo with every field SOLAPI sends, so a strict client (the official SDK) reads it."""
    count = {"total": total, "sentTotal": 0, "sentSuccess": 0, "sentPending": 0}
    count |= {"sentReplacement": 0, "refund": 0}
    count |= {"registeredSuccess": accepted, "registeredFailed": total - accepted}
    cash = {"requested": 0, "replacement": 0, "refund": 0, "sum": 0}
    return {
        "groupId": group_id, "status": "SENDING", "count": count, "countForCharge": {},
        "balance": cash, "point": cash, "app": {"profit": {}, "appId": None}, "log": [],
        "allowDuplicates": False, "isRefunded": False, "accountId": ACCOUNT,
        "masterAccountId": None, "apiVersion": "4", "price": {},
        "dateCreated": now, "dateUpdated": now,
    }  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections

    def __init__(self, address: tuple[str, int], fake: FakeSolapi) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: no new connection and thread per batch
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep output quiet
        return None

    def _serve(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        auth = self.headers.get("Authorization", "")
        answer = self.server.fake.handle(self.command, self.path, auth, body)
        if answer is None:
            self.close_connection = True  # the client never hears back
            return
        status, doc = answer
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server dispatches on these

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, on the fake's own clock (send_response asks for it)."""
        when = self.server.fake.now_ms() / 1000 if timestamp is None else timestamp
        return super().date_time_string(when)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake SOLAPI on 127.0.0.1.")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-secret", required=True)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--fail-suffix", default="9999")
    parser.add_argument(
        "--clock-offset-ms", type=int, default=0, help="the server's clock minus the real time"
    )
    args = parser.parse_args(argv)
    fake = FakeSolapi(
        args.api_key,
        args.api_secret,
        fail_suffix=args.fail_suffix,
        clock_offset_ms=args.clock_offset_ms,
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before the URL goes out: a parent may stop us
        signal.signal(sig, lambda *_: done.set())  # at once
    fake.start(args.port)
    sys.stdout.write(fake.base_url + "\n")
    sys.stdout.flush()
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
