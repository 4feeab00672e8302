"""Issue 13 item 6 on the wire: Kakao brand messages (SOLAPI, the fake server on 127.0.0.1),
FriendTalk (Aligo, respx), AlimTalk buttons checked against the template, and images checked
before anything is journaled (docs/providers.md#brand-messages, docs/providers.md#buttons,
docs/providers.md#images)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from bench.fake_solapi import FakeSolapi
from tests.conftest import (
    ALIGO_KAKAO_URL,
    FakeClock,
    Kmsg,
    aligo_form,
    solapi_server,
    write_aligo_config,
)

KEY, SECRET = "BRANDKEY0001", "BRANDSECRET0001"
TO = "01012345678"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60
MINUTE = 60_000
NEXT_0800 = 1_795_042_800_000  # 2026-11-19 08:00 KST, the morning after the clock's start


def journal(home: Path) -> list[tuple[str, str]]:
    if not (home / "kmsg.db").exists():
        return []
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute('SELECT "type", "send_state" FROM kmsg_delivery_tracking').fetchall()
    finally:
        conn.close()


def jobs(home: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(home / "kmsg.db")
    try:
        return conn.execute('SELECT "status", "process_at" FROM kmsg_jobs').fetchall()
    finally:
        conn.close()


@pytest.fixture
def fake(clock: FakeClock, kmsg_home: Path) -> Iterator[FakeSolapi]:
    with solapi_server(kmsg_home, clock, KEY, SECRET) as server:
        yield server


# ---- SOLAPI brand messages --------------------------------------------------------------------


def test_brand_text_with_buttons_goes_as_bms_free(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path
) -> None:
    code, doc = kmsg.json(
        "send", "--to", TO, "--type", "brand", "--text", "겨울 신상품이 입고되었습니다",
        "--button", "WL:신상품 보기:https://m.example.com/new,https://www.example.com/new",
        "--button", '{"type": "AL", "name": "앱에서 보기", "link_and": "ex://a", "link_ios": "ex://i"}',
        "--button", "AC:채널 추가",
    )  # fmt: skip
    assert code == 0, doc
    assert doc["messages"][0]["type"] == "BRAND" and doc["messages"][0]["state"] == "accepted"
    (stored,) = fake.stored()
    assert stored["statusCode"] == "4000"
    assert stored["type"] == "BMS_FREE" and stored["text"] == "겨울 신상품이 입고되었습니다"
    assert stored["kakaoOptions"] == {
        "pfId": "KA01PF1",
        "bms": {
            "targeting": "I",
            "chatBubbleType": "TEXT",
            "buttons": [
                {
                    "linkType": "WL",
                    "name": "신상품 보기",
                    "linkMobile": "https://m.example.com/new",
                    "linkPc": "https://www.example.com/new",
                },
                {
                    "linkType": "AL",
                    "name": "앱에서 보기",
                    "linkAndroid": "ex://a",
                    "linkIos": "ex://i",
                },
                {"linkType": "AC", "name": "채널 추가"},
            ],
        },
    }
    assert journal(kmsg_home) == [("BRAND", "accepted")]


def test_a_key_reused_with_other_buttons_is_a_conflict_not_a_duplicate(
    kmsg: Kmsg, fake: FakeSolapi
) -> None:
    send = ("send", "--to", TO, "--type", "brand", "--text", "신상품", "--idempotency-key", "b-1")
    code, doc = kmsg.json(*send, "--button", "WL:보기:https://m.example.com/a")
    assert code == 0, doc
    code, doc = kmsg.json(*send, "--button", "WL:보기:https://m.example.com/a")
    assert code == 0 and doc["messages"][0]["state"] == "duplicate", doc  # the same: once
    code, doc = kmsg.json(*send, "--button", "WL:보기:https://m.example.com/b")
    assert code == 65 and "buttons" in doc["error"]["message"], doc
    assert len(fake.stored()) == 1


def test_brand_image_is_uploaded_as_bms_and_sent_as_an_image_bubble(
    kmsg: Kmsg, fake: FakeSolapi, tmp_path: Path
) -> None:
    image = tmp_path / "winter.png"
    image.write_bytes(PNG)
    code, doc = kmsg.json(
        "send", "--to", TO, "--type", "BRAND", "--text", "신상품", "--image", str(image)
    )
    assert code == 0, doc
    ((file_id, upload),) = fake.files.items()
    assert upload["type"] == "BMS" and upload["name"] == "winter.png"
    (stored,) = fake.stored()
    assert stored["statusCode"] == "4000"
    assert stored["kakaoOptions"]["bms"] == {
        "targeting": "I",
        "chatBubbleType": "IMAGE",
        "imageId": file_id,
    }


def test_brand_outside_0800_2050_kst_is_refused_or_deferred(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, clock: FakeClock
) -> None:
    """The clock starts at 20:06 KST: 20:49 still sends, 20:50 is refused (75) with nothing
    journaled, and --defer queues it for 08:00 KST the next morning."""
    clock.now += 43 * MINUTE  # 20:49
    code, doc = kmsg.json("send", "--to", TO, "--type", "BRAND", "--text", "오늘만 할인")
    assert code == 0, doc
    clock.now += MINUTE  # 20:50
    code, doc = kmsg.json("send", "--to", "01022223333", "--type", "BRAND", "--text", "오늘만 할인")
    assert code == 75
    assert "08:00 and 20:50 KST" in doc["error"]["message"]
    assert len(fake.stored()) == 1 and journal(kmsg_home) == [("BRAND", "accepted")]
    code, doc = kmsg.json(
        "send", "--to", "01022223333", "--type", "BRAND", "--text", "오늘만 할인", "--defer"
    )
    assert code == 0, doc
    ((status, process_at),) = jobs(kmsg_home)
    assert status == "pending" and process_at == NEXT_0800
    assert len(fake.stored()) == 1


def test_a_deferred_brand_message_goes_at_0800_with_its_buttons(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, clock: FakeClock
) -> None:
    clock.now += 60 * MINUTE  # 21:06 KST
    args = ("send", "--to", TO, "--type", "BRAND", "--text", "아침 특가", "--defer")
    code, doc = kmsg.json(*args, "--button", "WL:특가 보기:https://m.example.com/s")
    assert code == 0, doc
    clock.now = NEXT_0800 - MINUTE  # 07:59: the queue still holds it
    code, doc = kmsg.json("queue", "run")
    assert code == 0 and not fake.stored(), doc
    clock.now = NEXT_0800
    code, doc = kmsg.json("queue", "run")
    assert code == 0, doc
    (stored,) = fake.stored()
    assert stored["type"] == "BMS_FREE" and stored["kakaoOptions"]["bms"]["buttons"] == [
        {"linkType": "WL", "name": "특가 보기", "linkMobile": "https://m.example.com/s"}
    ]


def test_brand_refuses_what_it_cannot_carry(kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path) -> None:
    cases = [
        (("--subject", "제목"), "no subject"),
        (("--template-id", "TPL1"), "free-form"),
        (("--button", "DS:배송 조회"), "button 1"),
        (
            ("--button", "WL:이름이 아주 아주 아주 긴 버튼입니다:https://m.example.com"),
            "limit is 14",
        ),
        (("--button", "WL:보기:ftp://example.com"), "not an http(s) URL"),
        (("--button", "XX:보기"), "TYPE:NAME"),
        (("--failover", "--fallback-text", "문자"), "ALIMTALK only"),
        (tuple(x for i in range(6) for x in ("--button", f"BK:문의{i}")), "at most 5"),
    ]
    for extra, words in cases:
        code, doc = kmsg.json("send", "--to", TO, "--type", "BRAND", "--text", "신상품", *extra)
        assert code == 65 and words in doc["error"]["message"], (extra, doc)
    code, doc = kmsg.json("send", "--to", TO, "--type", "BRAND", "--text", "가" * 1301)
    assert code == 65 and "1300" in doc["error"]["message"]
    code, doc = kmsg.json("send", "--to", TO, "--text", "hi", "--button", "BK:문의")
    assert (
        code == 65
        and "buttons go with ALIMTALK, BRAND and FRIENDTALK, not SMS" in doc["error"]["message"]
    )
    assert not fake.stored() and journal(kmsg_home) == []


def test_brand_campaign_takes_each_rows_buttons(
    kmsg: Kmsg, fake: FakeSolapi, tmp_path: Path
) -> None:
    data = tmp_path / "promo.csv"
    data.write_text(
        "to,name,buttons\n"
        "01011112222,김철수,WL:쿠폰 받기:https://m.example.com/c/1 | AC:채널 추가\n"
        '01033334444,이영희,"[{""type"": ""BK"", ""name"": ""문의하기""}]"\n'
        "01055556666,박민수,\n"
    )
    result = kmsg(
        "send-bulk", str(data), "--type", "BRAND", "--text", "{name}님, 쿠폰이 도착했어요", "--yes"
    )
    assert result.exit_code == 0, result.output
    by_to = {s["to"]: s for s in fake.stored()}
    assert by_to["01011112222"]["text"] == "김철수님, 쿠폰이 도착했어요"
    assert by_to["01011112222"]["kakaoOptions"]["bms"]["buttons"] == [
        {"linkType": "WL", "name": "쿠폰 받기", "linkMobile": "https://m.example.com/c/1"},
        {"linkType": "AC", "name": "채널 추가"},
    ]
    assert by_to["01033334444"]["kakaoOptions"]["bms"]["buttons"] == [
        {"linkType": "BK", "name": "문의하기"}
    ]
    assert "buttons" not in by_to["01055556666"]["kakaoOptions"]["bms"]
    assert all(s["statusCode"] == "4000" for s in fake.stored())


# ---- AlimTalk buttons against the registered template ----------------------------------------

REGISTERED = [
    {"buttonName": "주문 보기", "buttonType": "WL", "linkMo": "https://m.example.com/o/#{order}"},
    {"buttonName": "문의하기", "buttonType": "BK"},
]
ALIMTALK = ("send", "--to", TO, "--template-id", "TPL1", "--var", "name=김철수", "--var", "order=7")


def test_alimtalk_sends_the_registered_buttons_with_their_links_filled(
    kmsg: Kmsg, fake: FakeSolapi
) -> None:
    fake.add_template("TPL1", "#{name}님, 주문 #{order}이 접수되었습니다", buttons=REGISTERED)
    code, doc = kmsg.json(*ALIMTALK)
    assert code == 0, doc
    code, doc = kmsg.json(
        *(a if a != TO else "01022223333" for a in ALIMTALK),
        "--button", "WL:주문 보기:https://m.example.com/o/7", "--button", "BK:문의하기",
    )  # fmt: skip
    assert code == 0, doc
    buttons = [s["kakaoOptions"]["buttons"] for s in fake.stored()]
    assert (
        buttons
        == [
            [
                {
                    "buttonName": "주문 보기",
                    "buttonType": "WL",
                    "linkMo": "https://m.example.com/o/7",
                },
                {"buttonName": "문의하기", "buttonType": "BK"},
            ]
        ]
        * 2
    )


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (("--button", "BK:문의하기"), "1 buttons given; template 'TPL1' registers 2"),
        (
            ("--button", "BK:문의하기", "--button", "WL:주문 보기:https://m.example.com/o/7"),
            "button 1 is BK:문의하기; template 'TPL1' registers WL:주문 보기 there",
        ),
    ],
)
def test_alimtalk_buttons_other_than_the_templates_exit_65_before_anything_is_journaled(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, given: tuple[str, ...], words: str
) -> None:
    fake.add_template("TPL1", "#{name}님, 주문 #{order}이 접수되었습니다", buttons=REGISTERED)
    code, doc = kmsg.json(*ALIMTALK, *given)
    assert code == 65 and words in doc["error"]["message"], doc
    assert not fake.stored() and journal(kmsg_home) == []


# ---- images -----------------------------------------------------------------------------------


def test_mock_mms_image_checked_before_anything_is_journaled(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path
) -> None:
    png, big, good = tmp_path / "a.jpg", tmp_path / "big.jpg", tmp_path / "ok.jpg"
    png.write_bytes(PNG)  # a PNG named .jpg: the bytes decide
    big.write_bytes(JPEG + b"\x00" * 110 * 1024)
    good.write_bytes(JPEG)
    code, doc = kmsg.json("send", "--to", TO, "--text", "사진", "--image", str(png))
    assert code == 65
    assert doc["error"]["message"] == f"image {png} is PNG; MMS through mock takes JPEG"
    code, doc = kmsg.json("send", "--to", TO, "--text", "사진", "--image", str(big))
    assert code == 65
    assert doc["error"]["message"] == (
        f"image {big} is 110 KB; the limit for MMS through mock is 100 KB"
    )
    code, doc = kmsg.json("send", "--to", TO, "--text", "사진", "--image", str(tmp_path / "no.jpg"))
    assert code == 66 and "no.jpg" in doc["error"]["message"]
    assert journal(kmsg_home) == []
    code, doc = kmsg.json("send", "--to", TO, "--text", "사진", "--image", str(good))
    assert code == 0 and journal(kmsg_home) == [("MMS", "accepted")]


def test_solapi_mms_limit_is_200_kb(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, tmp_path: Path
) -> None:
    fits, big = tmp_path / "fits.jpg", tmp_path / "big.jpg"
    fits.write_bytes(JPEG + b"\x00" * 150 * 1024)  # over the mock's 100 KB, within SOLAPI's 200
    big.write_bytes(JPEG + b"\x00" * 201 * 1024)
    code, doc = kmsg.json("send", "--to", TO, "--text", "사진", "--image", str(big))
    assert code == 65 and "the limit for MMS through solapi is 200 KB" in doc["error"]["message"]
    assert not fake.files and journal(kmsg_home) == []
    code, doc = kmsg.json("send", "--to", TO, "--text", "사진", "--image", str(fits))
    assert code == 0, doc
    assert [f["type"] for f in fake.files.values()] == ["MMS"]


# ---- Aligo: FriendTalk and AlimTalk buttons ----------------------------------------------------

KAKAO = ALIGO_KAKAO_URL


@pytest.fixture
def aligo(kmsg_home: Path) -> Iterator[respx.MockRouter]:
    write_aligo_config(kmsg_home)
    with respx.mock(assert_all_called=False) as router:
        yield router


def test_aligo_friendtalk_goes_to_friend_send_as_advertising_with_buttons(
    kmsg: Kmsg, aligo: respx.MockRouter, kmsg_home: Path
) -> None:
    route = aligo.post(f"{KAKAO}/akv10/friend/send/").respond(
        json={"code": 0, "message": "ok", "info": {"type": "FT", "mid": "9911"}}
    )
    code, doc = kmsg.json(
        "send", "--to", TO, "--type", "FRIENDTALK", "--text", "주말 특가 안내",
        "--button", "WL:특가 보기:https://m.example.com/sale",
    )  # fmt: skip
    assert code == 0, doc
    form = aligo_form(route.calls.last.request)
    assert form["senderkey"] == "ALSENDER" and form["sender"] == "0212345678"
    assert form["advert"] == "Y" and form["failover"] == "N"
    assert form["receiver_1"] == TO and form["message_1"] == "주말 특가 안내"
    assert json.loads(form["button_1"]) == {
        "button": [{"name": "특가 보기", "linkType": "WL", "linkMo": "https://m.example.com/sale"}]
    }
    assert doc["messages"][0]["provider_message_id"] == "9911"
    assert journal(kmsg_home) == [("FRIENDTALK", "accepted")]


def test_aligo_friendtalk_image_is_a_file_part(
    kmsg: Kmsg, aligo: respx.MockRouter, tmp_path: Path
) -> None:
    route = aligo.post(f"{KAKAO}/akv10/friend/send/").respond(
        json={"code": 0, "message": "ok", "info": {"type": "FT", "mid": "9912"}}
    )
    image = tmp_path / "sale.jpg"
    image.write_bytes(PNG)  # a PNG named .jpg: sent as what its bytes say
    code, doc = kmsg.json(
        "send", "--to", TO, "--type", "FRIENDTALK", "--text", "특가", "--image", str(image)
    )
    assert code == 0, doc
    body = route.calls.last.request.content
    assert b'name="image"; filename="sale.jpg"\r\nContent-Type: image/png' in body and PNG in body


def test_aligo_alimtalk_sends_the_template_buttons_as_button_n(
    kmsg: Kmsg, aligo: respx.MockRouter
) -> None:
    item = {
        "templtCode": "TPL1",
        "templtName": "주문",
        "templtContent": "#{name}님, 주문이 접수되었습니다",
        "inspStatus": "APR",
        "status": "A",
        "buttons": [{"name": "주문 보기", "linkType": "WL", "linkMo": "https://m.example.com/o"}],
    }
    aligo.post(f"{KAKAO}/akv10/template/list/").respond(
        json={"code": 0, "message": "ok", "list": [item]}
    )
    route = aligo.post(f"{KAKAO}/akv10/alimtalk/send/").respond(
        json={"code": 0, "message": "ok", "info": {"type": "AT", "mid": "4455"}}
    )
    code, doc = kmsg.json("send", "--to", TO, "--template-id", "TPL1", "--var", "name=김철수")
    assert code == 0, doc
    form = aligo_form(route.calls.last.request)
    assert json.loads(form["button_1"]) == {
        "button": [{"name": "주문 보기", "linkType": "WL", "linkMo": "https://m.example.com/o"}]
    }


def test_brand_campaign_outside_the_window_is_refused_or_held(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, clock: FakeClock, tmp_path: Path
) -> None:
    data = tmp_path / "promo.csv"
    data.write_text("to,name\n01011112222,김철수\n01033334444,이영희\n")
    args = ("send-bulk", str(data), "--type", "BRAND", "--text", "{name}님, 쿠폰", "--yes")
    clock.now += 44 * MINUTE  # 20:50:40 KST
    code, doc = kmsg.json(*args)
    assert code == 75 and "08:00 and 20:50 KST" in doc["error"]["message"], doc
    assert not fake.stored()
    code, doc = kmsg.json(*args, "--defer")
    assert code == 0, doc
    assert jobs(kmsg_home) == [("pending", NEXT_0800)] * 2 and not fake.stored()


def test_brand_dry_run_shows_the_bms_upload_and_sends_nothing(
    kmsg: Kmsg, fake: FakeSolapi, kmsg_home: Path, tmp_path: Path
) -> None:
    image = tmp_path / "b.jpg"
    image.write_bytes(JPEG)
    code, doc = kmsg.json(
        "send",
        "--to",
        TO,
        "--type",
        "BRAND",
        "--text",
        "신상품",
        "--image",
        str(image),
        "--dry-run",
    )
    assert code == 0, doc
    upload, send = doc["requests"]
    assert upload["url"].endswith("/storage/v1/files") and upload["body"]["type"] == "BMS"
    (message,) = send["body"]["messages"]
    assert message["type"] == "BMS_FREE"
    assert message["kakaoOptions"]["bms"]["chatBubbleType"] == "IMAGE"
    assert not fake.files and not fake.stored() and journal(kmsg_home) == []


@pytest.mark.parametrize(
    ("config", "image", "words"),
    [
        (
            '[providers.iw]\ntype = "iwinv"\napi_key = "K"\nsms_api_key = "S"\nsms_auth_key = "A"\n'
            'default_from = "0212345678"\n',
            PNG,
            "is PNG; MMS through iwinv takes JPEG",
        ),
        (
            '[providers.iw]\ntype = "iwinv"\napi_key = "K"\nsms_api_key = "S"\nsms_auth_key = "A"\n'
            'default_from = "0212345678"\n',
            JPEG + b"\x00" * 101 * 1024,
            "the limit for MMS through iwinv is 100 KB",
        ),
        (
            '[providers.al]\ntype = "aligo"\napi_key = "K"\nuser_id = "u"\n'
            'default_from = "0212345678"\n',
            JPEG + b"\x00" * 301 * 1024,
            "the limit for MMS through aligo is 300 KB",
        ),
    ],
)
def test_each_providers_mms_limit_refuses_before_any_request(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path, config: str, image: bytes, words: str
) -> None:
    (kmsg_home / "config.toml").write_text(config)
    (kmsg_home / "config.toml").chmod(0o600)
    path = tmp_path / "photo.jpg"
    path.write_bytes(image)
    with respx.mock(assert_all_called=False) as router:
        code, doc = kmsg.json("send", "--to", TO, "--text", "사진", "--image", str(path))
    assert code == 65 and words in doc["error"]["message"], doc
    assert not router.calls and journal(kmsg_home) == []


def test_mock_dry_run_shows_a_brand_messages_image_and_buttons(
    kmsg: Kmsg, kmsg_home: Path, tmp_path: Path
) -> None:
    image = tmp_path / "b.png"
    image.write_bytes(PNG)
    code, doc = kmsg.json(
        "send", "--to", TO, "--type", "BRAND", "--text", "신상품", "--image", str(image),
        "--button", "WL:보기:https://m.example.com", "--dry-run",
    )  # fmt: skip
    assert code == 0, doc
    (body,) = doc["requests"][0]["body"]
    assert body["type"] == "BRAND" and body["image"] == str(image)
    assert body["buttons"] == [{"name": "보기", "type": "WL", "link_mo": "https://m.example.com"}]
    assert journal(kmsg_home) == []
