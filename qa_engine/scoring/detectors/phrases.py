"""Parameter types shared by the phrase-based detectors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class PhraseEntry(BaseModel):
    """A phrase as a rubric writes it: literal text or a regex, optional context exclusions."""

    model_config = ConfigDict(extra="forbid")
    phrase: str | None = None
    regex: str | None = None
    name: str | None = None
    exclude: list[str] = []

    @model_validator(mode="after")
    def _one_of(self) -> PhraseEntry:
        if not self.phrase and not self.regex:
            raise ValueError("give 'phrase' or 'regex'")
        import re

        for rx in [self.regex, *self.exclude]:
            if rx:
                try:
                    re.compile(rx)
                except re.error as exc:
                    raise ValueError(f"bad regular expression {rx!r}: {exc}") from exc
        return self


PhraseList = list[str | PhraseEntry]


def as_items(phrases: PhraseList) -> list[str | dict]:
    return [p if isinstance(p, str) else p.model_dump(exclude_none=True) for p in phrases]
