"""The provider port's contract, run against every provider: the built-in ones (the fake SOLAPI on
127.0.0.1, respx for IWINV and Aligo, the in-process mock) and the demo plugin of
tests/fixtures/kmsg_plugin_demo, installed as a distribution with a ``kmsg.providers`` entry point
(docs/plugins.md). A provider type passes by what kmsg sees of it: its plugin, its settings model,
the Provider protocol, a send, a status lookup, the same recipient twice, and its secrets."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

import pytest
import respx

from bench.fake_solapi import FakeSolapi
from kmsg_cli.config import ProviderConfig
from kmsg_cli.core.models import Message, MessageType, Status, StatusQuery
from kmsg_cli.core.ports import Provider
from kmsg_cli.core.templates import (
    TEMPLATE_OPS,
    ChannelCheck,
    SenderCatalog,
    TemplateAdmin,
    TemplateCatalog,
)
from kmsg_cli.errors import ConfigError
from kmsg_cli.providers import registry
from kmsg_cli.providers.plugin import Capabilities, Deps, ProviderPlugin
from kmsg_cli.providers.settings import ProviderSettings

from .conftest import SECRETS, FakeClock, configured, fixture

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "tests" / "fixtures" / "kmsg_plugin_demo"
A, B = "01012345678", "01022223333"
SENDER = "0212345678"
KINDS = ["mock", "solapi", "iwinv", "aligo", "demo"]
DEMO_SECRETS = {"token": "demo-token"}


def install_demo(site: Path) -> None:
    """The demo plugin laid out in ``site`` as pip installs a distribution: its package and a
    ``.dist-info`` whose entry_points.txt is the one its pyproject declares. (The test venv has no
    ``wheel``, so ``pip install`` cannot build it offline; the layout is the same.)"""
    project = tomllib.loads((DEMO / "pyproject.toml").read_text())["project"]
    shutil.copytree(DEMO / "kmsg_plugin_demo", site / "kmsg_plugin_demo")
    info = site / f"kmsg_plugin_demo-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"]["kmsg.providers"]
    lines = ["[kmsg.providers]", *(f"{name} = {target}" for name, target in points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install_demo(site)
    return site


@pytest.fixture(autouse=True)
def _demo_installed(demo_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(demo_site))
    monkeypatch.setenv("KMSG_TEST_DEMO_TOKEN", DEMO_SECRETS["token"])


class Wire:
    """One provider type's far end in a test: its config table and what reached it."""

    def __init__(self, kind: str, tmp: Path, clock: FakeClock) -> None:
        self.kind, self.tmp, self.clock = kind, tmp, clock
        self.base_url: str | None = None
        self.router: respx.MockRouter | None = None
        self.fake: FakeSolapi | None = None

    def table(self, **extra: Any) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {
            "mock": {},
            "solapi": SECRETS["solapi"] | {"base_url": self.base_url},
            "iwinv": SECRETS["iwinv"] | {"sms_company_id": "org1"},
            "aligo": SECRETS["aligo"],
            "demo": DEMO_SECRETS | {"outbox": str(self.tmp / "outbox.jsonl")},
        }
        return {"default_from": SENDER} | tables[self.kind] | extra

    def config(self, **extra: Any) -> ProviderConfig:
        return configured(self.kind, **self.table(**extra))

    def times_reached(self, number: str, provider: Any) -> int:
        """How many messages to ``number`` reached the provider."""
        if self.fake is not None:
            return self.fake.recipients()[number]
        if self.router is not None:
            return sum(c.request.content.decode().count(number) for c in self.router.calls)
        if self.kind == "mock":
            return sum(m.to == number for m in provider.sent)
        lines = (self.tmp / "outbox.jsonl").read_text().splitlines()
        return sum(json.loads(line)["to"] == number for line in lines)

    @contextmanager
    def running(self) -> Iterator[Wire]:
        if self.kind == "solapi":
            keys = SECRETS["solapi"]
            with FakeSolapi(keys["api_key"], keys["api_secret"], now_ms=self.clock.now_ms) as fake:
                self.fake, self.base_url = fake, fake.base_url
                yield self
            return
        if self.kind in ("iwinv", "aligo"):
            with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
                self.router = router
                _routes(self.kind, router)
                yield self
            return
        yield self


def _routes(kind: str, router: respx.MockRouter) -> None:
    if kind == "iwinv":
        sms = "https://sms.bizservice.iwinv.kr"
        router.post(f"{sms}/api/v2/send/").respond(200, json=fixture("iwinv_sms_ok.json"))
        router.post(f"{sms}/api/history/").respond(200, json=fixture("iwinv_sms_history.json"))
    else:
        sms = "https://apis.aligo.in"
        router.post(f"{sms}/send/").respond(200, json=fixture("aligo_sms_ok.json"))
        router.post(f"{sms}/send_mass/").respond(200, json=fixture("aligo_sms_ok_int.json"))
        router.post(f"{sms}/sms_list/").respond(200, json={"result_code": 1, "list": []})


@pytest.fixture(params=KINDS)
def wire(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Wire]:
    with Wire(request.param, tmp_path, clock).running() as w:
        yield w


def sms(mid: str, to: str = A, text: str = "안내 문자") -> Message:
    return Message(mid, MessageType.SMS, to, SENDER, text)


def build(wire: Wire, deps: Deps, **extra: Any) -> Any:
    return registry.build(wire.kind, wire.config(**extra), deps)


# ------------------------------------------------------------------ the plugin and its settings


def test_the_plugin_describes_its_type(wire: Wire) -> None:
    plugin = registry.plugin(wire.kind)
    assert isinstance(plugin, ProviderPlugin) and plugin.kind == wire.kind
    caps = plugin.capabilities
    assert isinstance(caps, Capabilities) and caps.types and caps.max_batch >= 1
    model = plugin.settings_model()
    assert issubclass(model, ProviderSettings)
    assert get_args(model.model_fields["type"].annotation) == (wire.kind,)
    assert model.secret_keys <= model.model_fields.keys()
    assert set(model.renamed.values()) <= model.model_fields.keys()


def test_the_settings_model_validates_the_table_and_names_the_key(wire: Wire) -> None:
    with pytest.raises(ConfigError) as err:
        configured(wire.kind, **wire.table(no_such_key=1))
    assert err.value.problems == [f"unknown key 'providers.{wire.kind}.no_such_key'"]
    with pytest.raises(ConfigError, match=rf"providers\.{wire.kind}\.timeout_seconds"):
        configured(wire.kind, **wire.table(timeout_seconds="10"))  # strict types (CFG-11)


def test_builds_without_resolving_secrets_and_matches_the_protocol(
    wire: Wire, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = registry.plugin(wire.kind).settings_model()
    unset = {key: f"env:KMSG_TEST_UNSET_{key.upper()}" for key in model.secret_keys}
    for key in unset:
        monkeypatch.delenv(f"KMSG_TEST_UNSET_{key.upper()}", raising=False)
    provider = build(wire, deps, **unset)
    caps = registry.capabilities(wire.kind)
    assert (provider.id, provider.kind, provider.types) == (wire.kind, wire.kind, caps.types)
    assert provider.max_batch == caps.max_batch
    assert provider.native_failover is caps.native_failover
    assert provider.native_schedule is (caps.schedule_window is not None)
    assert isinstance(provider, TemplateCatalog) is caps.templates
    assert isinstance(provider, SenderCatalog) is caps.senders
    admin = isinstance(provider, TemplateAdmin)
    assert (provider.template_ops if admin else frozenset()) == caps.template_admin
    assert caps.template_admin <= set(TEMPLATE_OPS)
    assert isinstance(provider, ChannelCheck) is (wire.kind in ("solapi", "aligo"))
    for name, member in inspect.getmembers(Provider, inspect.isfunction):
        if not name.startswith("_"):
            ours = list(inspect.signature(getattr(provider, name)).parameters)
            assert ours == list(inspect.signature(member).parameters)[1:], name


def test_max_batch_in_the_config_overrides_the_capability(wire: Wire, deps: Deps) -> None:
    assert build(wire, deps, max_batch=1).max_batch == 1


# ------------------------------------------------------------------ the wire


def test_sends_and_reports_status_for_each_message(wire: Wire, deps: Deps) -> None:
    provider = build(wire, deps)
    (result,) = provider.send([sms("m1")])
    assert result.message_id == "m1" and result.accepted and result.provider_message_id
    assert wire.times_reached(A, provider) == 1
    query = StatusQuery("m1", result.provider_message_id, A, MessageType.SMS, 0, result.group_id)
    (report,) = provider.status([query])
    assert report.message_id == "m1"
    if wire.kind != "aligo":  # Aligo has no verified SMS status vocabulary: None keeps polling
        assert report.status is Status.DELIVERED


def test_one_recipient_twice_with_two_texts_goes_out_twice(wire: Wire, deps: Deps) -> None:
    """Issue 13: two rows of one campaign to one number are two messages, never refused as a
    duplicate (SOLAPI needs allowDuplicates; the others send them as they come)."""
    provider = build(wire, deps)
    batch = [sms("a", text="주문 1 발송"), sms("b", text="주문 2 발송"), sms("c", to=B)]
    size = provider.max_batch  # as kmsg calls it: never more than max_batch in one call
    results = [r for i in range(0, 3, size) for r in provider.send(batch[i : i + size])]
    assert [r.message_id for r in results] == ["a", "b", "c"]
    assert all(r.accepted for r in results), results
    assert wire.times_reached(A, provider) == 2 and wire.times_reached(B, provider) == 1


def test_a_missing_secret_names_its_key_and_nothing_is_sent(
    wire: Wire, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every secret an ``env:`` reference to an unset variable: the provider still builds, and
    the send fails naming the key and the variable before anything reaches the wire (CFG-1)."""
    model = registry.plugin(wire.kind).settings_model()
    if not model.secret_keys:
        assert wire.kind == "mock"  # only the mock holds no secret
        return
    unset = {key: f"env:KMSG_TEST_MISSING_{key.upper()}" for key in model.secret_keys}
    for ref in unset.values():
        monkeypatch.delenv(ref[4:], raising=False)
    provider = build(wire, deps, **unset)
    with pytest.raises(ConfigError) as err:
        provider.send([sms("m1")])
    named = re.fullmatch(
        rf"providers\.{wire.kind}\.(\w+): environment variable KMSG_TEST_MISSING_(\w+) is not set",
        err.value.message,
    )
    assert named and named[1].upper() == named[2], err.value.message
    if wire.kind != "demo":
        assert wire.times_reached(A, provider) == 0
    else:
        assert not (wire.tmp / "outbox.jsonl").exists()


def test_the_preview_never_shows_a_secret(wire: Wire, deps: Deps) -> None:
    provider = build(wire, deps)
    shown = json.dumps(provider.preview([sms("m1")]), ensure_ascii=False)
    literals = [v for v in wire.config().secrets().values() if v]
    assert literals or wire.kind == "mock"
    assert not [v for v in literals if v in shown]


@pytest.mark.parametrize(("kind", "old"), [("iwinv", "sender_number"), ("aligo", "sender")])
def test_an_old_sender_key_still_works_with_a_warning(kind: str, old: str) -> None:
    base = {"type": kind} | SECRETS[kind]
    settings = _validate({kind: base | {old: SENDER}})
    cfg = settings.providers[kind]
    assert cfg.default_from == SENDER and cfg.renamed == ((old, "default_from"),)
    from kmsg_cli import config

    assert config.deprecations(settings) == [
        f"providers.{kind}.{old} is deprecated: rename it default_from (same value)"
    ]
    with pytest.raises(ConfigError, match=f"{old} is the old name of default_from"):
        _validate({kind: base | {old: SENDER, "default_from": SENDER}})


def _validate(providers: dict[str, Any]) -> Any:
    from kmsg_cli import config

    return config.validate({"providers": providers}, "test")


def test_an_unknown_type_names_the_installed_ones() -> None:
    with pytest.raises(ConfigError) as err:
        _validate({"x": {"type": "nosuch"}})
    assert err.value.problems == [
        "providers.x.type: unknown provider type 'nosuch' "
        "(built in: mock, solapi, iwinv, aligo; installed plugins: demo)"
    ]


# ------------------------------------------------------------------ the plugin through the CLI


def kmsg_cli(
    home: Path, site: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, Any]:
    """``kmsg --json ARGS`` in a fresh process, the plugin installed in ``site``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KMSG_")}
    clean |= {"KMSG_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    clean |= env or {}
    code = "import sys; from kmsg_cli.app import main; sys.argv[0] = 'kmsg'; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, "--json", *args],
        env=clean,
        cwd=home,
        capture_output=True,
        text=True,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr


def test_a_plugin_provider_is_configured_listed_sent_through_and_tracked(
    tmp_path: Path, kmsg_home: Path, demo_site: Path
) -> None:
    """The must-show: an installed plugin is a provider like the built-in ones, with no change to
    kmsg's code — its own keys validated by its own model, its secret masked, sent and tracked."""
    home = kmsg_home
    outbox = tmp_path / "outbox.jsonl"
    config = home / "config.toml"
    config.write_text(
        f'[providers.demo]\ntype = "demo"\ntoken = "env:DEMO_TOKEN"\noutbox = "{outbox}"\n'
        f'default_from = "{SENDER}"\n\n[providers.lit]\ntype = "demo"\ntoken = "demo-token"\n'
        f'outbox = "{outbox}"\n\n[routing]\ndefault = "demo"\n\n'
        "[tracking]\ninitial_delay_seconds = 0\n"
    )
    config.chmod(0o600)
    env = {"DEMO_TOKEN": "demo-token"}

    code, doc = kmsg_cli(home, demo_site, "providers", "list", env=env)
    assert code == 0, doc
    rows = {p["id"]: p for p in doc["providers"]}
    assert rows["demo"]["type"] == "demo" and rows["demo"]["types"] == ["SMS", "LMS"]
    assert rows["demo"]["secrets"] == {"token": "env:DEMO_TOKEN"}
    assert rows["lit"]["secrets"] == {"token": "****"}
    assert rows["demo"]["max_batch"] == 2 and rows["demo"]["schedule_window"] is None
    assert "demo-token" not in json.dumps(doc)

    code, doc = kmsg_cli(home, demo_site, "send", "--to", A, "--text", "플러그인 안내", env=env)
    assert code == 0, doc
    (sent,) = doc["messages"]
    assert (sent["provider"], sent["status"]) == ("demo", "SENT")
    assert json.loads(outbox.read_text())["text"] == "플러그인 안내"

    code, doc = kmsg_cli(home, demo_site, "track", "--once", env=env)
    assert code == 0, doc
    code, doc = kmsg_cli(home, demo_site, "status", sent["message_id"], env=env)
    assert code == 0 and doc["message"]["status"] == "DELIVERED", doc

    # its own model checks its own keys, and a missing secret names the key (exit 78)
    code, doc = kmsg_cli(home, demo_site, "send", "--to", A, "--text", "x")
    assert code == 78 and "providers.demo.token" in doc["error"]["message"], doc
    config.write_text(config.read_text().replace('outbox = "', 'outbx = "', 1))
    code, doc = kmsg_cli(home, demo_site, "config", "validate", env=env)
    assert code == 78, doc
    assert "unknown key 'providers.demo.outbx'" in doc["error"]["problems"]
    assert "missing key 'providers.demo.outbox'" in doc["error"]["problems"]


def test_without_the_plugin_its_type_is_unknown(tmp_path: Path, kmsg_home: Path) -> None:
    home = kmsg_home
    (home / "config.toml").write_text('[providers.demo]\ntype = "demo"\n')
    code, doc = kmsg_cli(home, tmp_path, "providers", "list")
    assert code == 78
    assert "providers.demo.type: unknown provider type 'demo'" in doc["error"]["message"]


def test_a_broken_plugin_is_a_config_error_not_a_crash(
    demo_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = ProviderPlugin(
        "demo", registry.plugin("demo").capabilities, "kmsg_plugin_demo.nope:X", "nope:Y"
    )
    monkeypatch.setattr(registry, "plugin", lambda kind: broken)
    with pytest.raises(ConfigError) as err:
        _validate({"d": {"type": "demo"}})
    assert err.value.problems == [
        "providers.d.type: cannot load kmsg_plugin_demo.nope:X: "
        "ModuleNotFoundError: No module named 'kmsg_plugin_demo.nope'"
    ]
