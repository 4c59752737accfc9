"""The LLM-as-judge: any OpenAI-compatible chat-completions server grades faithfulness.

One chat completion per answer at temperature 0 for a JSON score in [0, 1] and a rationale; a
reply without one is asked once more, then left unscored with the reason, never given a made-up
score. Only a server that refuses the judge itself fails the whole batch.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, TypeVar

from monitoring_pipelines.core.config import OpenAIJudgeConfig
from monitoring_pipelines.core.errors import ConfigError
from monitoring_pipelines.core.judge.base import (
    BUDGET_EXHAUSTED,
    JudgeBudget,
    JudgeItem,
    Unscored,
    UnscoredKind,
    Verdict,
    as_items,
)
from monitoring_pipelines.core.judge.cache import CacheKey, JudgeCache, cache_key
from monitoring_pipelines.core.judge.chat_client import (
    ChatClient,
    ChatReply,
    JudgeError,
    JudgeOutputError,
    JudgeRequestError,
    JudgeSetupError,
    excerpt,
    truncate,
)
from monitoring_pipelines.core.judge.prompt import PROMPT_VERSION, build_messages

__all__ = [
    "BUDGET_EXHAUSTED",
    "MAX_NESTING",
    "MAX_RATIONALE_CHARS",
    "MAX_REPLY_CHARS",
    "UNAVAILABLE_AFTER",
    "JudgeBudgetError",
    "JudgeError",
    "JudgeOutputError",
    "JudgeRequestError",
    "JudgeSetupError",
    "OpenAIJudge",
    "parse_verdict",
]

logger = logging.getLogger(__name__)

MAX_RATIONALE_CHARS: Final = 500
MAX_REPLY_CHARS: Final = 20_000
"""Longest reply read: a verdict is a score and one short sentence, and a longer reply would
only cost memory and time to parse."""
MAX_NESTING: Final = 32
"""Deepest nesting of arrays and objects parsed: a verdict is one flat object."""
OUTPUT_ATTEMPTS: Final = 2
UNAVAILABLE_AFTER: Final = 5
"""judge_many stops asking after this many answers in a row failed on retryable errors."""

_CODE_BLOCK: Final = re.compile(r"\A```(?:json)?[ \t]*\n?(.*?)\n?[ \t]*```\Z", re.DOTALL | re.I)
_JSON_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)

_R = TypeVar("_R", bound="Verdict | Unscored")


class JudgeBudgetError(JudgeError):
    """``OpenAIJudge.judge`` did not ask: the judge's ``daily_budget_usd`` is spent."""


def parse_verdict(content: str) -> tuple[float, str]:
    """The score and rationale of a judge's reply, validated strictly.

    Whatever the reply, this returns a verdict or raises :class:`JudgeOutputError` saying why
    there is none: a reply longer than ``MAX_REPLY_CHARS`` is not read, one nested deeper than
    ``MAX_NESTING`` is not parsed, and a key given twice anywhere makes the verdict ambiguous.

    Args:
        content: The reply: one JSON object, optionally inside a single Markdown code fence.

    Returns:
        The score, within [0, 1], and the rationale, whitespace collapsed, control characters
        dropped, at most ``MAX_RATIONALE_CHARS`` characters.

    Raises:
        JudgeOutputError: The reply is not such an object; a score outside [0, 1] is refused,
            not clamped.
    """
    if len(content) > MAX_REPLY_CHARS:
        raise JudgeOutputError(
            f"the judge's reply is {len(content):,} characters long, more than a verdict's "
            f"{MAX_REPLY_CHARS:,}: {excerpt(content)}"
        )
    text = content.strip()
    fenced = _CODE_BLOCK.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if _nesting(text) > MAX_NESTING:
        raise JudgeOutputError(
            f"the judge's reply is nested more than {MAX_NESTING} levels deep, which no "
            f"verdict is: {excerpt(content)}"
        )
    try:
        data = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise JudgeOutputError(
            f"the judge's reply is not JSON ({exc}): {excerpt(content)}"
        ) from exc
    if not isinstance(data, dict):
        raise JudgeOutputError(f"the judge's reply is not a JSON object: {excerpt(content)}")
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise JudgeOutputError(
            f"the judge's score must be a number from 0 to 1, got {excerpt(repr(score))}"
        )
    if not 0 <= score <= 1:
        raise JudgeOutputError(f"the judge's score {excerpt(repr(score))} is outside [0, 1]")
    rationale = data.get("rationale")
    if not isinstance(rationale, str):
        raise JudgeOutputError(
            f"the judge's rationale must be a string, got {excerpt(repr(rationale))}"
        )
    return float(score), truncate(_plain(rationale), MAX_RATIONALE_CHARS)


@dataclass(frozen=True)
class _Outcome:
    verdict: Verdict | None
    error: JudgeError | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None


class OpenAIJudge:
    """A faithfulness judge asking a chat-completions server (see the module docstring).

    Args:
        config: Server, model, timeouts, retries, concurrency, prices and daily budget.
        api_key: Bearer key, or ``None`` for servers that need none (Ollama, vLLM).
        cache: Where verdicts are kept; a hit makes no request and costs nothing.
        sleep: Waits between retries (tests pass a recorder).
        clock: Unix seconds now, for Retry-After given as an HTTP date.
        rng: Source of the backoff jitter.

    Raises:
        ConfigError: ``daily_budget_usd`` is set without both prices.
        ValueError: ``base_url`` is not an http(s) URL.
    """

    def __init__(
        self,
        config: OpenAIJudgeConfig,
        api_key: str | None,
        *,
        cache: JudgeCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if config.daily_budget_usd is not None and (
            config.input_per_1k is None or config.output_per_1k is None
        ):
            raise ConfigError(
                "llm.judge.openai.daily_budget_usd needs input_per_1k and output_per_1k: "
                "without prices the judge cannot tell what it spends"
            )
        self._config = config
        self._client = ChatClient(config, api_key, sleep=sleep, clock=clock, rng=rng)
        self._cache = cache
        self._lock = threading.Lock()
        self._spent = 0.0
        self._finished = 0

    @property
    def name(self) -> str:
        """``openai:<model>``, recorded with every verdict and part of the cache key."""
        return f"openai:{self._config.model}"

    @property
    def version(self) -> str:
        """The prompt's version."""
        return PROMPT_VERSION

    @property
    def priced(self) -> bool:
        """Whether both token prices are configured, so costs are known."""
        return self._config.input_per_1k is not None and self._config.output_per_1k is not None

    def __repr__(self) -> str:
        return (
            f"OpenAIJudge(model={self._config.model!r}, base_url={self._client.shown!r}, "
            f"api_key={'set' if self._client.has_key else 'none'}, "
            f"cache={type(self._cache).__name__ if self._cache is not None else None})"
        )

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float | None:
        """What the tokens cost at the configured prices; ``None`` when not priced."""
        price_in, price_out = self._config.input_per_1k, self._config.output_per_1k
        if price_in is None or price_out is None:
            return None
        return tokens_in / 1000 * price_in + tokens_out / 1000 * price_out

    @property
    def spent_usd(self) -> float | None:
        """What this judge's requests have cost so far; ``None`` when not priced."""
        with self._lock:
            return self._spent if self.priced else None

    def judge(self, question: str | None, context: str, answer: str) -> Verdict:
        """Score one answer, from the cache when it is there, within ``daily_budget_usd``.

        Raises:
            JudgeBudgetError: This judge has spent its ``daily_budget_usd``.
            JudgeOutputError: Two replies in a row were not valid verdicts.
            JudgeRequestError: The server refused the request or did not answer in the retries.
            JudgeSetupError: The server refuses the key, the model or the URL.
        """
        errors: dict[int, JudgeError] = {}
        budget = self._daily_budget()
        [result] = self._judge_all([JudgeItem(question, context, answer)], budget, errors)
        if isinstance(result, Verdict):
            return result
        if result.kind == "budget_exhausted":
            raise JudgeBudgetError(
                f"judge {self.name} did not ask: its daily budget of "
                f"${self._config.daily_budget_usd} is spent"
            )
        raise errors.get(0) or JudgeRequestError(result.reason, retryable=True)

    def judge_many(
        self,
        items: Iterable[JudgeItem | tuple[str | None, str, str]],
        budget: JudgeBudget | None = None,
    ) -> list[Verdict | Unscored]:
        """Score answers, ``max_concurrency`` at a time, in order, within a budget.

        Cached answers and repeats within ``items`` make no request. Before each request the
        next answer's cost is estimated as the average of the answers this judge has finished
        (before the first, ``budget.usd_per_answer``), and answers are sent only while this
        call's spending plus the estimate for those in flight and the next stays within
        ``budget.usd`` (with no estimate at all, one answer is sent, alone, whenever any
        budget is left). Once the budget stops the call, every answer not yet sent is
        ``Unscored`` (kind ``budget_exhausted``). An answer whose replies were not valid
        verdicts, or whose request failed, is ``Unscored`` (``invalid_output``,
        ``request_failed``) and the others are still scored; after ``UNAVAILABLE_AFTER``
        answers in a row failed on retryable errors, the rest are not asked
        (``judge_unavailable``).

        Args:
            items: ``(question, context, answer)`` triples.
            budget: Dollars and/or answers this call may spend (``JudgeBudget()``: no limit);
                ``None``: what is left of ``daily_budget_usd`` after this judge's spending.

        Returns:
            Per item, in order, its verdict or why it has none.

        Raises:
            JudgeSetupError: The server refuses the key, the model or the URL.
            ValueError: A budget in dollars for a judge without prices.
        """
        if budget is None:
            budget = self._daily_budget()
        return self._judge_all(as_items(items), budget, {})

    # -- batch ------------------------------------------------------------------------------

    def _daily_budget(self) -> JudgeBudget | None:
        daily = self._config.daily_budget_usd
        if daily is None:
            return None
        with self._lock:
            return JudgeBudget.for_day(daily, self._spent)

    def _judge_all(
        self,
        todo: Sequence[JudgeItem],
        budget: JudgeBudget | None,
        errors: dict[int, JudgeError],
    ) -> list[Verdict | Unscored]:
        """Results of ``todo``; the error behind each unscored request goes to ``errors``."""
        if budget is not None and budget.usd is not None and not self.priced:
            raise ValueError(
                "a judge budget in USD needs input_per_1k and output_per_1k in the judge config"
            )
        keys = [self._cache_key(item) for item in todo]
        results: list[Verdict | Unscored | None] = [None] * len(todo)
        first: dict[CacheKey, int] = {}
        ask: list[int] = []
        for index, key in enumerate(keys):
            if key in first:
                continue
            first[key] = index
            hit = self._cache.get(key) if self._cache is not None else None
            if hit is not None:
                results[index] = self._free(hit)
            else:
                ask.append(index)
        if ask:
            self._ask(todo, keys, ask, results, budget, errors)
        out: list[Verdict | Unscored] = []
        for index, key in enumerate(keys):
            result = results[index]
            if result is None:  # a repeat of an earlier item: its result, free
                earlier = results[first[key]]
                assert earlier is not None
                result = self._free(earlier)
            out.append(result)
        return out

    def _ask(
        self,
        items: Sequence[JudgeItem],
        keys: Sequence[CacheKey],
        ask: Sequence[int],
        results: list[Verdict | Unscored | None],
        budget: JudgeBudget | None,
        errors: dict[int, JudgeError],
    ) -> None:
        with self._lock:
            spending = _Spending(budget, self._spent, self._finished)
        queue = deque(ask)
        stopped: Unscored | None = None
        failed_in_row = 0
        limit = self._config.max_concurrency
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="judge") as pool:
            running: dict[Future[_Outcome], int] = {}
            try:
                while queue or running:
                    while queue and stopped is None and len(running) < limit:
                        decision = spending.decide(len(running))
                        if decision == "wait":
                            break
                        if decision == "stop":
                            stopped = self._unscored("budget_exhausted", BUDGET_EXHAUSTED)
                            logger.info("judge budget exhausted; %d answers left", len(queue))
                            break
                        index = queue.popleft()
                        spending.started += 1
                        running[pool.submit(self._score, items[index])] = index
                    while stopped is not None and queue:
                        results[queue.popleft()] = stopped
                    if not running:
                        continue
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = running.pop(future)
                        outcome = future.result()
                        counted = spending.record(outcome.cost_usd)
                        with self._lock:
                            self._spent += counted
                            self._finished += 1
                        results[index] = self._settle(keys[index], outcome)
                        error = outcome.error
                        if error is not None:
                            errors[index] = error
                        transient = isinstance(error, JudgeRequestError) and error.retryable
                        failed_in_row = failed_in_row + 1 if transient else 0
                        if failed_in_row >= UNAVAILABLE_AFTER and stopped is None:
                            stopped = self._unscored(
                                "judge_unavailable",
                                f"not asked: {failed_in_row} answers in a row failed; "
                                f"the last: {error}",
                            )
            except BaseException:
                for future in running:
                    future.cancel()
                raise

    def _settle(self, key: CacheKey, outcome: _Outcome) -> Verdict | Unscored:
        if outcome.verdict is not None:
            if self._cache is not None:
                self._cache.put(key, outcome.verdict)
            return outcome.verdict
        error = outcome.error
        assert error is not None
        kind: UnscoredKind = (
            "invalid_output" if isinstance(error, JudgeOutputError) else "request_failed"
        )
        return Unscored(
            kind=kind,
            reason=str(error),
            judge=self.name,
            prompt_version=self.version,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            cost_usd=outcome.cost_usd,
        )

    def _unscored(self, kind: UnscoredKind, reason: str) -> Unscored:
        return Unscored(kind, reason, self.name, self.version, 0, 0, self._nothing())

    def _free(self, result: _R) -> _R:
        """``result`` as got again without a request: no tokens, no cost."""
        return replace(result, tokens_in=0, tokens_out=0, cost_usd=self._nothing())

    def _nothing(self) -> float | None:
        return 0.0 if self.priced else None

    def _cache_key(self, item: JudgeItem) -> CacheKey:
        return cache_key(self.name, self.version, item.question, item.context, item.answer)

    # -- one answer -------------------------------------------------------------------------

    def _score(self, item: JudgeItem) -> _Outcome:
        """Ask for a verdict, once more after an invalid reply; never raises but setup errors."""
        messages = build_messages(item.question, item.context, item.answer)
        tokens_in = tokens_out = 0
        usage_known = True
        error: JudgeError | None = None
        verdict: Verdict | None = None
        for _ in range(OUTPUT_ATTEMPTS):
            try:
                reply = self._client.complete(messages)
            except JudgeRequestError as exc:
                error = exc
                break
            except JudgeOutputError as exc:  # the server's answer was not chat-completions JSON
                error, usage_known = exc, False
                continue
            if reply.usage is None:
                usage_known = False
            else:
                tokens_in += reply.usage[0]
                tokens_out += reply.usage[1]
            try:
                score, rationale = _read(reply)
            except JudgeOutputError as exc:
                error = JudgeOutputError(self._client.redact(str(exc)))
                logger.warning("judge %s: %s", self.name, error)
                continue
            except Exception as exc:  # a reply is untrusted: reading it may cost one answer only
                error = JudgeOutputError(
                    self._client.redact(
                        f"the judge's reply could not be read ({type(exc).__name__}: "
                        f"{excerpt(str(exc))})"
                    )
                )
                logger.exception("judge %s: %s", self.name, error)
                continue
            cost = self.cost_usd(tokens_in, tokens_out) if usage_known else None
            verdict = Verdict(
                score, rationale, self.name, self.version, tokens_in, tokens_out, cost
            )
            error = None
            break
        cost = self.cost_usd(tokens_in, tokens_out) if usage_known else None
        return _Outcome(verdict, error, tokens_in, tokens_out, cost)


class _Spending:
    """The budget of one call: answers started and dollars spent by it. The next answer's cost
    is estimated from what the judge finished, the call's included (else from the budget)."""

    def __init__(self, budget: JudgeBudget | None, spent_before: float, finished_before: int):
        self.budget = budget
        self.started = 0
        self.spent = 0.0
        self._total = spent_before
        self._finished = finished_before

    def estimate(self) -> float | None:
        """What the next answer is expected to cost, if there is any way to tell."""
        if self._finished:
            return self._total / self._finished
        return None if self.budget is None else self.budget.usd_per_answer

    def decide(self, in_flight: int) -> Literal["go", "wait", "stop"]:
        budget = self.budget
        if budget is None:
            return "go"
        if budget.max_answers is not None and self.started >= budget.max_answers:
            return "stop"
        if budget.usd is None:
            return "go"
        estimate = self.estimate()
        if estimate is None:  # one answer at a time until there is an estimate
            if in_flight:
                return "wait"
            return "go" if budget.usd > 0 else "stop"
        if self.spent + (in_flight + 1) * estimate <= budget.usd:
            return "go"
        return "wait" if in_flight else "stop"

    def record(self, cost_usd: float | None) -> float:
        """Count one finished answer; returns the dollars counted for it."""
        if cost_usd is None:  # the server reported no usage: count it as an average answer
            cost_usd = self.estimate() or 0.0
        self.spent += cost_usd
        self._total += cost_usd
        self._finished += 1
        return cost_usd


def _read(reply: ChatReply) -> tuple[float, str]:
    """The verdict in a reply, or a JudgeOutputError saying why there is none."""
    try:
        if reply.refusal is not None:
            raise JudgeOutputError(f"the judge refused: {excerpt(reply.refusal)}")
        if reply.content is None:
            raise JudgeOutputError("the judge returned no content")
        return parse_verdict(reply.content)
    except JudgeOutputError as exc:
        if reply.finish_reason != "length":
            raise
        raise JudgeOutputError(f"{exc} (the reply was cut at the token limit)") from exc


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object of ``pairs``; a key given twice (at any depth) is a JudgeOutputError."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise JudgeOutputError(
                f"the judge's reply has a duplicate key {excerpt(repr(key))}, so which value "
                "it meant is ambiguous"
            )
        data[key] = value
    return data


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in ``text``, strings left out."""
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _plain(text: str) -> str:
    """``text`` as stored: whitespace collapsed, control characters (NUL, which PostgreSQL
    cannot store, among them) dropped and unpaired surrogates replaced."""
    kept: list[str] = []
    for char in " ".join(text.split()):
        category = unicodedata.category(char)
        if category == "Cs":
            kept.append("\N{REPLACEMENT CHARACTER}")
        elif category != "Cc":
            kept.append(char)
    return "".join(kept)
