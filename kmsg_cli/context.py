"""AppContext: settings, store, providers, HTTP client and output for one invocation, made lazily.

Commands take it from ``ctx.obj``; tests pass their own (``runner.invoke(app, args, obj=...)``)
with a fake clock instead of patching module paths.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmsg_cli import config
from kmsg_cli.core.schedule import Schedule
from kmsg_cli.output import Output

if TYPE_CHECKING:
    import httpx

    from kmsg_cli.core.hooks import Policy, Sink
    from kmsg_cli.core.ports import Clock, Env, Provider
    from kmsg_cli.providers.plugin import Capabilities
    from kmsg_cli.store import Store


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Options:
    config: str | None = None
    db: str | None = None
    json: bool = False
    quiet: bool = False
    verbose: int = 0  # -v 1, -vv 2
    no_color: bool = False
    show_recipients: bool = False
    format: str | None = None  # --format, on commands that list things


@dataclass
class AppContext:
    clock: Clock = field(default_factory=SystemClock)
    options: Options = field(default_factory=Options)
    output: Output = field(default_factory=Output)
    _settings: config.Settings | None = None
    _store: Store | None = None
    _http: httpx.Client | None = None
    _providers: dict[str, Provider] = field(default_factory=dict)
    using_default: bool = False

    def set_options(self, **values: Any) -> None:
        """Merge global options given at the root or on the command (the later one wins)."""
        for key, value in values.items():
            if value not in (None, False):
                setattr(self.options, key, value)
        o = self.options
        self.output = Output(
            json_mode=o.json,
            quiet=o.quiet,
            verbose=o.verbose,
            no_color=o.no_color,
            show_recipients=o.show_recipients,
            fmt=o.format,
        )
        self.output.start_log()

    # -- configuration ------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return config.config_path(self.options.config)

    @property
    def settings(self) -> config.Settings:
        if self._settings is None:
            path = self.config_path
            loaded = config.load(path, required=config.explicit_config(self.options.config))
            if loaded is None:
                self.using_default = True
                self.output.info(
                    f"kmsg: no config file at {path}; using the built-in mock provider "
                    "(nothing is really sent). Run `kmsg config init` to set up a provider.",
                    once=True,
                )
                loaded = config.EMBEDDED_DEFAULT
                self.output.log(f"config: none at {path}; the built-in mock provider")
            elif config.has_literal_secrets(loaded) and _others_can_read(path):
                self.output.warn(
                    f"{path} holds literal secrets and is readable by others: chmod 600"
                )
            for note in config.deprecations(loaded):
                self.output.warn(f"{path}: {note}")
            if not self.using_default:
                self.output.log(f"config: {path}")
            self._settings = loaded
        return self._settings

    # -- store --------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return config.db_path(self.settings, self.options.db)

    def store(self, *, existing: bool = False) -> Store:
        """The database, opened once per run. A database the user named (--db, KMSG_DB,
        [store] path) is never created in a folder that does not exist: a typo must not start
        a fresh, empty database somewhere new (66). ``existing`` is for commands that only read
        or work on what is recorded (status, track, queue): a named database must already be
        there (66). The default location is created on first use, folder and all. A
        ``postgresql://`` URL opens PostgreSQL, with [store] password when the URL is [store] url."""
        if self._store is None:
            from kmsg_cli.store import open_store

            s = self.settings
            if url := config.db_url(s, self.options.db):
                password = config.db_password(s) if url == s.store.url else None
                self._store = open_store(url, self.clock.now_ms(), password=password)
                return self._store
            named = config.db_named(s, self.options.db)
            self._store = open_store(
                self.db_path,
                self.clock.now_ms(),
                must_exist=existing and named,
                make_folder=not named,
            )
            # which delivery events its writes enqueue (docs/hooks.md); none without [hooks]
            self._store.hook_targets = self.settings.hooks.targets()
        return self._store

    @property
    def db_shown(self) -> str:
        """The database as messages name it: the file, or the URL with its password masked."""
        url = config.db_url(self.settings, self.options.db)
        return config.mask_db_url(url) if url else str(self.db_path)

    def _cache(self) -> Store | None:
        """The store for the template/sender cache, without creating a database to read it."""
        named = self._store is not None or config.db_url(self.settings, self.options.db)
        return self.store() if named or self.db_path.exists() else None

    # -- providers ----------------------------------------------------------------------------
    def http(self) -> httpx.Client:
        if self._http is None:
            from kmsg_cli.providers.http_client import make_client

            self._http = make_client()
        return self._http

    def provider(self, provider_id: str) -> Provider:
        if provider_id not in self._providers:
            from kmsg_cli.providers import registry

            cfg = self.settings.providers.get(provider_id)
            if cfg is None and provider_id == "mock":
                # records sent on the built-in mock (no config file) stay trackable after a real
                # provider's config replaces it: the mock needs no secrets and sends nothing
                cfg = config.EMBEDDED_DEFAULT.providers["mock"]
            if cfg is None:
                raise KeyError(provider_id)
            config.check_secrets(
                provider_id, cfg
            )  # fail with the key's name before anything is sent
            deps = registry.Deps(http=self.http, clock=self.clock)
            self._providers[provider_id] = registry.build(provider_id, cfg, deps)
        return self._providers[provider_id]

    def hook_sinks(self) -> dict[str, Sink]:
        """The [hooks] targets, built (the webhook secret resolved) on each call; {} without."""
        from kmsg_cli import hook_sinks

        return hook_sinks.build(self.settings.hooks, self.http, self.clock)

    def hook_policy(self) -> Policy:
        from kmsg_cli.core.hooks import Policy

        h = self.settings.hooks
        return Policy(int(h.timeout_seconds * 1000), tuple(h.backoff_seconds), h.max_attempts)

    def capabilities(self) -> dict[str, Capabilities]:
        """What each configured provider can do, from its type's plugin (nothing built)."""
        from kmsg_cli.providers import registry

        return {
            pid: registry.capabilities(cfg.type) for pid, cfg in self.settings.providers.items()
        }

    def env(self) -> Env:
        from kmsg_cli.core.ports import Env
        from kmsg_cli.core.templates import Lookup
        from kmsg_cli.core.track_rules import detects_not_kakao

        s = self.settings
        t = s.tracking
        caps = self.capabilities()
        return Env(
            clock=self.clock,
            store=self.store,
            provider=self.provider,
            capabilities={pid: c.types for pid, c in caps.items()},
            default_senders={pid: cfg.default_from for pid, cfg in s.providers.items()},
            native_failover={pid: c.native_failover for pid, c in caps.items()},
            api_failover={
                pid: caps[pid].status and detects_not_kakao(cfg.type, t.not_kakao_user_codes, pid)
                for pid, cfg in s.providers.items()
            },
            kinds={pid: cfg.type for pid, cfg in s.providers.items()},
            schedule_windows={
                pid: c.schedule_window for pid, c in caps.items() if c.schedule_window
            },
            routing_default=s.routing.default,
            routing_strategy=s.routing.strategy,
            routing_by_type=s.routing.by_type,
            auto_lms_bytes=s.defaults.sms.auto_lms_bytes,
            prices=s.prices,
            schedule=Schedule(
                t.initial_delay_seconds,
                t.scheduled_grace_seconds,
                tuple(t.backoff_seconds),
                t.max_duration_seconds,
            ),
            warn=self.output.warn,
            templates=Lookup(self._cache, self.provider),
            settle_after_ms=t.settle_after_seconds * 1000,
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._http is not None:
            self._http.close()
            self._http = None


def _others_can_read(path: Path) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o077)
    except OSError:
        return False
