"""API keys for the REST API, the OpenAI-compatible endpoint, MCP and the page: who may read the knowledge base.

Keys live in a JSON file (`api-keys.json` beside the knowledge base, `kb.layout.KBLayout.keys`, or `--keys FILE` /
`CERTKB_KEYS_FILE`), stored as the SHA-256 of the key, never the key itself: a key is 32 random bytes, so a plain
hash cannot be reversed or guessed, and a leaked file grants nothing. `certkb keys add NAME` prints the key once.
A request's key is compared with every stored hash in constant time (`hmac.compare_digest`).

Once the file has any key, revoked ones included, keys are required: revoking the last key locks the server rather
than opening it. A running server reads the file again when it changes, so `certkb keys revoke NAME` takes effect
on the next request without a restart.

>>> import tempfile; store = KeyStore(Path(tempfile.mkdtemp()) / "api-keys.json")
>>> key = store.add("helpdesk", only=["certkb"])
>>> store.check(key).name, store.check("certkb_wrong"), store.configured
('helpdesk', None, True)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kb.errors import ConfigError
from kb.files import write_atomic

PREFIX = "certkb_"  # so a key found in a log or a repository is recognisable as one
NAME = re.compile(r"[\w.@-]{1,64}")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """One key's record: its name, the SHA-256 of the key, the knowledge bases it may read (empty: all), when it
    was made and, once revoked, when."""

    name: str
    sha256: str
    only: list[str] = field(default_factory=list)
    created: str = ""
    revoked: str = ""

    def may_read(self, kb: str) -> bool:
        return not self.only or kb in self.only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        """What `certkb keys list` shows: everything but the hash."""
        return {"name": self.name, "only": self.only, "created": self.created, "revoked": self.revoked}


class KeyStore:
    """The keys file at `path` (it need not exist: then no key is configured)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: list[ApiKey] = []

    @classmethod
    def from_env(cls, given: str | None, kb_dir: Path) -> KeyStore:
        """`--keys FILE`, else $CERTKB_KEYS_FILE, else `api-keys.json` in the knowledge-base folder."""
        from kb.layout import KBLayout

        chosen = given or os.environ.get("CERTKB_KEYS_FILE")
        return cls(Path(chosen) if chosen else KBLayout(kb_dir).keys)

    # ---- reading ---------------------------------------------------------------------------------------------

    def entries(self) -> list[ApiKey]:
        """Every key, revoked ones included, as the file has them now."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._keys = None, []
                return []
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._keys, self._stamp = self._read(), stamp
            return list(self._keys)

    @property
    def configured(self) -> bool:
        """Whether keys are required: the file holds at least one key (revoked or not)."""
        return bool(self.entries())

    def check(self, key: str) -> ApiKey | None:
        """The live key whose hash matches `key`, else None (unknown, malformed or revoked)."""
        if not key:
            return None
        wanted = digest(key)
        found = None
        for record in self.entries():  # every record is compared, so the time does not say which one matched
            if hmac.compare_digest(wanted, record.sha256) and not record.revoked:
                found = record
        return found

    def _read(self) -> list[ApiKey]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [ApiKey(**item) for item in data["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"the API keys file {self.path} is unreadable ({exc}): fix or remove it") from None

    # ---- changing --------------------------------------------------------------------------------------------

    def add(self, name: str, only: list[str] | None = None) -> str:
        """Make a key called `name` (that may read only the knowledge bases `only`, or all), store its hash and
        return the key: the only time it is ever shown."""
        if not NAME.fullmatch(name):
            raise ConfigError(f"a key's name is 1 to 64 letters, digits, '.', '@', '-' or '_', not {name!r}")
        for kb in only or []:
            if not NAME.fullmatch(kb):
                raise ConfigError(f"{kb!r} is not a knowledge base name (letters, digits, '.', '@', '-', '_')")
        keys = self.entries()
        if any(k.name == name and not k.revoked for k in keys):
            raise ConfigError(f"there is already a key named {name!r}: revoke it first or choose another name")
        key = PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(name, digest(key), sorted(set(only or [])), _now())
        self._write([k for k in keys if k.name != name] + [record])
        return key

    def revoke(self, name: str) -> ApiKey:
        keys = self.entries()
        live = [k for k in keys if k.name == name and not k.revoked]
        if not live:
            known = ", ".join(k.name for k in keys if not k.revoked) or "none"
            raise ConfigError(f"no live key named {name!r} in {self.path} (live keys: {known})")
        revoked = ApiKey(name, live[0].sha256, live[0].only, live[0].created, _now())
        self._write([revoked if k is live[0] else k for k in keys])
        return revoked

    def _write(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"keys": [k.to_dict() for k in keys]}, ensure_ascii=False, indent=2) + "\n"
        write_atomic(self.path, text)
        os.chmod(self.path, 0o600)  # hashes only, but nobody else needs to read them


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(headers: dict[str, str], cookie: str = "") -> str:
    """The key a request sends: `Authorization: Bearer KEY`, `X-API-Key: KEY`, or the page's cookie."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key", "").strip() or cookie
