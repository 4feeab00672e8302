from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from typer.testing import CliRunner

from bench.fake_solapi import FakeSolapi
from kmsg_cli.app import app
from kmsg_cli.context import AppContext

START_MS = 1_795_000_000_000  # 2026-11-18, a fixed instant


class FakeClock:
    """Injected clock: time moves only when a test says so; sleep() records instead of sleeping."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now = now_ms
        self.slept: list[float] = []

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += int(seconds * 1000)

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def kmsg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own KMSG_HOME and runs from an unrelated cwd (CLI-17)."""
    home = tmp_path / "home"
    home.mkdir()
    for var in ("KMSG_CONFIG", "KMSG_DB", "NO_COLOR", "KMSG_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KMSG_HOME", str(home))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


class Kmsg:
    """Run the CLI in-process with an injected clock; each call is a separate 'run'."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None) -> Any:
        ctx = AppContext(clock=self.clock)
        return self.runner.invoke(app, list(args), obj=ctx, input=input)

    def json(self, *args: str, input: str | None = None) -> tuple[int, dict[str, Any]]:
        result = self(*args, "--json", input=input)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, result.stdout
        return result.exit_code, json.loads(lines[0])


@pytest.fixture
def kmsg(clock: FakeClock) -> Kmsg:
    return Kmsg(clock)


@pytest.fixture
def write_config(kmsg_home: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = kmsg_home / "config.toml"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    return write


def write_solapi_config(
    home: Path,
    base_url: str,
    key: str,
    secret: str,
    *,
    pf_id: str | None = "KA01PF1",
    sender: str = "0212345678",
    extra: str = "",
) -> None:
    """``home``'s config file (0600): provider ``sol``, SOLAPI at ``base_url``, then ``extra``."""
    pf = f'kakao_pf_id = "{pf_id}"\n' if pf_id else ""
    path = home / "config.toml"
    path.write_text(
        f'[providers.sol]\ntype = "solapi"\napi_key = "{key}"\napi_secret = "{secret}"\n'
        f'{pf}default_from = "{sender}"\nbase_url = "{base_url}"\ntimeout_seconds = 2\n{extra}'
    )
    path.chmod(0o600)


@contextmanager
def solapi_server(
    home: Path, clock: FakeClock, key: str, secret: str, **config: Any
) -> Iterator[FakeSolapi]:
    """A fake SOLAPI on 127.0.0.1, on kmsg's clock (it refuses a signature dated 15 minutes from
    its own), that ``home``'s config file names as provider ``sol`` (write_solapi_config)."""
    with FakeSolapi(key, secret, now_ms=clock.now_ms) as server:
        write_solapi_config(home, server.base_url, key, secret, **config)
        yield server


ALIGO_SMS_URL, ALIGO_KAKAO_URL = "https://sms.example.test", "https://kakao.example.test"


def write_aligo_config(
    home: Path, *, sender: str = "0212345678", sender_field: str = "default_from"
) -> None:
    """``home``'s config file (0600): provider ``al``, Aligo at the two example.test hosts (respx
    answers for them); ``sender_field`` "sender" is the key's older name."""
    path = home / "config.toml"
    path.write_text(
        '[providers.al]\ntype = "aligo"\napi_key = "ALKEY"\nuser_id = "aluser"\n'
        f'sender_key = "ALSENDER"\n{sender_field} = "{sender}"\n'
        f'base_url = "{ALIGO_SMS_URL}"\nkakao_base_url = "{ALIGO_KAKAO_URL}"\n'
    )
    path.chmod(0o600)


def aligo_form(request: httpx.Request) -> dict[str, str]:
    """The form fields of a request to Aligo, one value each, blank ones kept."""
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


# ---- PostgreSQL: one throwaway cluster per session, a fresh database per test (tests/pg.py) ----


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    from tests import pg

    bin_dir = pg.find_bin()
    if bin_dir is None:
        if pg.required():
            pytest.fail(f"KMSG_REQUIRE_POSTGRES=1 but {pg.INSTALL}")
        pytest.skip(pg.INSTALL)
    cluster = pg.Cluster(bin_dir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Any) -> Iterator[str]:
    """The URL of an empty database of its own on the test cluster."""
    url = pg_cluster.new_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store contract, two backends: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "k.db")
    return str(request.getfixturevalue("pg_url"))
