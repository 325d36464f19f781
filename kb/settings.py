"""One settings object, read from environment variables and overridden by CLI flags.

Nothing here touches the disk: building a `Settings` only decides where things are and what to use. The chat-model
settings (`llm*`, `model_dir`, `translate`) are used only by bot/ but belong here: one object is read once from the
environment and the flags and handed down every layer, and they are plain values that give kb no dependency on bot.

| setting      | environment variable | default                                          |
|--------------|----------------------|--------------------------------------------------|
| kb_dir       | CERTKB_KB_DIR        | `$XDG_DATA_HOME/certkb/kb` (`~/.local/share/...`) |
| embedder     | CERTKB_EMBEDDER      | the one the KB was built with, else `e5-small-q4`  |
| chroma_url   | CERTKB_CHROMA_URL    | none: embedded Chroma inside `kb_dir`             |
| threads      | CERTKB_THREADS       | the CPU cores this process may use (cgroup quota) |
| llm          | CERTKB_LLM           | `auto`: an endpoint if configured, else the local model, else `none` |
| llm_url      | CERTKB_LLM_URL       | none (OpenAI-compatible base URL, or the Ollama URL)                 |
| llm_model    | CERTKB_LLM_MODEL     | the endpoint's model name (`local` needs none)                      |
| llm_timeout  | CERTKB_LLM_TIMEOUT   | 120 seconds for a whole answer                                      |
| model_dir    | CERTKB_MODEL_DIR     | `$XDG_CACHE_HOME/certkb/models`: where the local model is assembled |
| reranker     | CERTKB_RERANKER      | none; a local sentence-transformers CrossEncoder folder          |
| translate    | CERTKB_TRANSLATE     | `1`: with a chat model, questions are also searched translated  |
| stale_months | CERTKB_STALE_MONTHS  | 12: an answer citing a document whose `as_of` is older says so; 0 off |
| ocr          | CERTKB_OCR           | `1`: scanned PDF pages and images are read with OCR when installed |
| exact_search | CERTKB_EXACT_SEARCH  | `1`: an embedded KB is searched exactly in memory (`kb.dense`); `0` HNSW |

The API key of an endpoint is read from CERTKB_LLM_API_KEY (or OPENAI_API_KEY) when the model is built, and is never
part of the settings, so printing settings cannot leak it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kb.dates import DEFAULT_STALE_MONTHS
from kb.errors import ConfigError

DEFAULT_EMBEDDER = "e5-small-q4"


def default_kb_dir(env: Mapping[str, str]) -> Path:
    """A per-user location, so every command finds the same knowledge base from any working directory."""
    data_home = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(data_home) / "certkb" / "kb"


def default_cache_dir(env: Mapping[str, str]) -> Path:
    cache_home = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(cache_home) / "certkb"


def default_model_dir(env: Mapping[str, str]) -> Path:
    return default_cache_dir(env) / "models"


def cpu_quota(cgroup_root: Path = Path("/sys/fs/cgroup"), own: Path = Path("/proc/self/cgroup")) -> float | None:
    """The cores this process's cgroup may use in CPU time (`docker run --cpus=1.5` gives 1.5), or None without a
    limit: the smallest quota on the way from the process's own cgroup to the root, cgroup v2 (`cpu.max`) or v1
    (`cpu.cfs_quota_us` / `cpu.cfs_period_us`). A container limited to one core of an 8-core host still sees 8
    cores in its affinity, and 8 threads on one core's time wait on each other."""
    try:
        lines = own.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        base: Path | None = None
        v2 = controllers == ""
        if v2:
            base = cgroup_root
        elif "cpu" in controllers.split(","):
            base = next((cgroup_root / n for n in ("cpu", "cpu,cpuacct") if (cgroup_root / n).is_dir()), None)
        if base is None:
            continue
        # inside a container the cgroup's path may not exist under the mount (no cgroup namespace): then the
        # mount's root is the container's own cgroup
        folder = base / path.lstrip("/")
        if not folder.is_dir():
            folder = base
        for level in [folder, *folder.parents]:
            quota = _quota_at(level, v2)
            if quota is not None:
                quotas.append(quota)
            if level == base:
                break
    return min(quotas) if quotas else None


def _quota_at(folder: Path, v2: bool) -> float | None:
    try:
        if v2:
            quota, _, period = (folder / "cpu.max").read_text(encoding="utf-8").partition(" ")
            if quota.strip() == "max":
                return None
            return int(quota) / int(period)
        limit = int((folder / "cpu.cfs_quota_us").read_text(encoding="utf-8"))
        if limit <= 0:  # -1: no limit
            return None
        return limit / int((folder / "cpu.cfs_period_us").read_text(encoding="utf-8"))
    except (OSError, ValueError, ZeroDivisionError):
        return None


def available_cores() -> int:
    """The cores this process may really use: those it may run on (its affinity, which `taskset` and cpusets
    narrow), no more than its cgroup's CPU quota allows (rounded up)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    quota = cpu_quota()
    return min(cores, max(1, math.ceil(quota))) if quota is not None else cores


@dataclass(frozen=True)
class Settings:
    """Where the knowledge base lives and which components build and serve it.

    >>> s = Settings.from_env({"CERTKB_KB_DIR": "/tmp/kb"}).with_overrides(embedder="fake")
    >>> s.kb_dir, s.embedder
    (PosixPath('/tmp/kb'), 'fake')
    """

    kb_dir: Path
    embedder: str | None = None
    chroma_url: str | None = None
    threads: int = 1
    llm: str = "auto"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_timeout: float = 120.0
    model_dir: Path | None = None
    translate: bool = True
    reranker: str | None = None
    stale_months: int = DEFAULT_STALE_MONTHS
    ocr: bool = True
    exact_search: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        kb_dir = Path(env["CERTKB_KB_DIR"]).expanduser() if env.get("CERTKB_KB_DIR") else default_kb_dir(env)
        threads_raw = env.get("CERTKB_THREADS", "")
        if threads_raw:
            try:
                threads = int(threads_raw)
            except ValueError:
                raise ConfigError(f"CERTKB_THREADS must be a whole number, got {threads_raw!r}") from None
        else:
            threads = available_cores()
        timeout_raw = env.get("CERTKB_LLM_TIMEOUT", "")
        try:
            timeout = float(timeout_raw) if timeout_raw else 120.0
        except ValueError:
            raise ConfigError(f"CERTKB_LLM_TIMEOUT must be a number of seconds, got {timeout_raw!r}") from None
        translate_raw = env.get("CERTKB_TRANSLATE", "1").strip().lower()
        if translate_raw not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
            raise ConfigError(f"CERTKB_TRANSLATE must be 1 or 0, got {translate_raw!r}")
        stale_raw = env.get("CERTKB_STALE_MONTHS", "").strip()
        try:
            stale_months = int(stale_raw) if stale_raw else DEFAULT_STALE_MONTHS
        except ValueError:
            raise ConfigError(f"CERTKB_STALE_MONTHS must be a whole number of months, got {stale_raw!r}") from None
        ocr_raw = env.get("CERTKB_OCR", "1").strip().lower()
        if ocr_raw not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
            raise ConfigError(f"CERTKB_OCR must be 1 or 0, got {ocr_raw!r}")
        exact_raw = env.get("CERTKB_EXACT_SEARCH", "1").strip().lower()
        if exact_raw not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
            raise ConfigError(f"CERTKB_EXACT_SEARCH must be 1 or 0, got {exact_raw!r}")
        settings = cls(
            kb_dir=kb_dir,
            embedder=env.get("CERTKB_EMBEDDER") or None,
            chroma_url=env.get("CERTKB_CHROMA_URL") or None,
            threads=threads,
            llm=env.get("CERTKB_LLM") or "auto",
            llm_url=env.get("CERTKB_LLM_URL") or None,
            llm_model=env.get("CERTKB_LLM_MODEL") or None,
            llm_timeout=timeout,
            model_dir=Path(env["CERTKB_MODEL_DIR"]).expanduser() if env.get("CERTKB_MODEL_DIR") else None,
            translate=translate_raw not in ("0", "false", "no", "off"),
            reranker=env.get("CERTKB_RERANKER") or None,
            stale_months=stale_months,
            ocr=ocr_raw not in ("0", "false", "no", "off"),
            exact_search=exact_raw not in ("0", "false", "no", "off"),
        )
        settings.check()
        return settings

    def with_overrides(self, **values: Any) -> Settings:
        """Apply CLI flags; a value of None means "flag not given" and keeps the current setting."""
        given = {key: value for key, value in values.items() if value is not None}
        for key in ("kb_dir", "model_dir"):
            if key in given:
                given[key] = Path(given[key]).expanduser()
        settings = replace(self, **given)
        settings.check()
        return settings

    def check(self) -> None:
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")
        if self.chroma_url is not None and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the Chroma URL must start with http:// or https://, got {self.chroma_url!r} "
                "(example: --chroma-url http://127.0.0.1:8000)"
            )
        if self.llm_url is not None and not self.llm_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the LLM URL must start with http:// or https://, got {self.llm_url!r} "
                "(example: CERTKB_LLM_URL=http://127.0.0.1:8080/v1)"
            )
        if self.stale_months < 0:
            raise ConfigError(f"stale_months must be 0 (no age check) or a number of months, got {self.stale_months}")
        if not math.isfinite(self.llm_timeout) or self.llm_timeout <= 0:
            raise ConfigError(f"the LLM timeout must be a positive number of seconds, got {self.llm_timeout}")
