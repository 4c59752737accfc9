"""Which answers decline: a list of regular expressions, searched case-insensitively.

The defaults are English phrasings of a refusal ("I'm sorry, but I can't help with that",
"I am unable to provide", "as an AI language model") and a few of French, Spanish, German,
Italian and Portuguese. They match the refusal itself, not every apology: "sorry for the
wait" or "I can't wait to help" are not refusals. A monitor replaces them with
``llm.output_safety.refusals.patterns`` or adds to them with ``.extra_patterns``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from monitoring_pipelines.core.config import RefusalConfig

Q: Final = "['\u2019]"  # an apostrophe, typed or typographic
_NOT: Final = (
    rf"(?: cannot| can{Q}?t| can not| am unable to|{Q}m unable to| am not able to|"
    rf" won{Q}?t| will not)"
)
_ADVERB: Final = r"(?:(?:really|currently|directly|personally|actually|legally|be able to) )?"
_DO: Final = (
    r"(?:help|assist|answer|provide|share|give|disclose|discuss|do|comply|fulfil|fulfill|"
    r"process|complete|support|access|look up|retrieve|handle)"
)

DEFAULT_PATTERNS: Final[tuple[str, ...]] = (
    # "I can't help with that", "I am unable to provide", "I won't share"
    rf"\bI{_NOT} {_ADVERB}{_DO}\b",
    # "I'm sorry, but I can't ...", "I'm afraid I cannot ..."
    rf"\bI(?:{Q}m| am) (?:sorry|afraid)\b[^.!?\n]{{0,60}}\b(?:cannot|can{Q}?t|unable|not able)\b",
    rf"\bI(?:{Q}m| am) not (?:able|allowed|permitted|authori[sz]ed) to\b",
    r"\bas an AI(?: language model| assistant)?\b",
    r"\bI (?:must|have to) (?:decline|refuse)\b",
    r"\b(?:that|this) (?:request )?(?:is|falls) (?:outside|beyond) (?:of )?(?:my|what I)\b",
    r"\bje ne (?:peux|pourrai) pas\b|\bje ne suis pas en mesure de\b",
    r"\blo siento,? (?:pero )?no puedo\b|\bno puedo (?:ayudar|responder|proporcionar)\b",
    r"\b(?:leider )?kann ich (?:Ihnen |dir )?(?:dabei |damit )?nicht (?:helfen|weiterhelfen)\b",
    r"\bnon posso (?:aiutar|rispondere|fornire)\w*\b",
    r"\bnão posso (?:ajudar|responder|fornecer)\b",
)


@dataclass(frozen=True)
class RefusalMatcher:
    """The patterns of a monitor, compiled once.

    Attributes:
        patterns: The expressions, in order.
        version: A short hash of them: days measured with other patterns are not a baseline
            for a rise of the refusal share.
    """

    patterns: tuple[str, ...]
    version: str
    _compiled: re.Pattern[str]

    @classmethod
    def of(cls, patterns: Sequence[str]) -> RefusalMatcher:
        if not patterns:
            raise ValueError("a refusal matcher needs at least one pattern")
        joined = "|".join(f"(?:{p})" for p in patterns)
        digest = hashlib.sha256("\n".join(patterns).encode()).hexdigest()[:12]
        return cls(tuple(patterns), digest, re.compile(joined, re.IGNORECASE))

    @classmethod
    def from_config(cls, config: RefusalConfig) -> RefusalMatcher:
        base = DEFAULT_PATTERNS if config.patterns is None else tuple(config.patterns)
        return cls.of([*base, *config.extra_patterns])

    def declines(self, answer: str) -> bool:
        """Whether the answer matches one of the patterns."""
        return self._compiled.search(answer) is not None
