"""The reference kmsg is measured against: the official SOLAPI Python SDK doing the same campaign.

    python bench/sdk_reference.py ROWS.CSV BASE_URL

Streams the CSV bench/run.py writes, renders its text for each row and sends through the SDK's
``send`` in groups of 10,000 to the server at BASE_URL (the fake SOLAPI). It journals nothing and
keeps no state: it is the floor a tool that does keep state is compared with. Needs the ``bench``
extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import csv
import sys

from solapi import SolapiMessageService  # type: ignore[import-not-found]
from solapi.model import RequestMessage  # type: ignore[import-not-found]

KEY, SECRET = "BENCHKEY0000", "BENCHSECRET0000"  # the fake server's, as bench/run.py starts it
GROUP = 10_000  # the SDK's own limit per send-many call


def main(path: str, base_url: str) -> None:
    service = SolapiMessageService(KEY, SECRET)
    service.base_url = base_url
    batch: list[RequestMessage] = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for name, phone, order in reader:
            text = (
                f"{name}님, 주문하신 상품이 오늘 출발합니다. 주문번호 {order}"  # bench/run.py TEXT
            )
            batch.append(RequestMessage(from_="0212345678", to=phone, text=text))
            if len(batch) == GROUP:
                service.send(batch)
                batch = []
    if batch:
        service.send(batch)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
