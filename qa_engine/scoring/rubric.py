"""The rubric: QA scorecard items as data (YAML in rubrics/), validated on load.

Errors name the file, the item and the field, so a QA lead editing the YAML can
fix it without reading code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qa_engine.errors import RubricError
from qa_engine.paths import rubrics_dir
from qa_engine.scoring.detectors import REGISTRY
from qa_engine.scoring.detectors.base import Params

Category = Literal["etiquette", "call_skills", "handling", "business_knowledge", "goal_achievement",
                   "forbidden", "compliance"]


class Thresholds(BaseModel):
    """excellent / target / warning (优秀值/达标值/预警值); worse than warning scores 0.

    Higher is better when excellent > warning (a share of turns), lower is better
    when excellent < warning (seconds of delay).
    """

    model_config = ConfigDict(extra="forbid")
    excellent: float
    target: float
    warning: float

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        e, t, w = self.excellent, self.target, self.warning
        if not (e >= t >= w or e <= t <= w) or e == w:
            raise ValueError("excellent, target and warning must be in order (all rising or all falling)")
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.excellent > self.warning


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    name_en: str
    category: Category
    points: float = Field(ge=0)
    detector: str | None = None
    params: dict[str, Any] = {}
    thresholds: Thresholds | None = None
    deduct: float | None = Field(default=None, gt=0)  # points off per event, instead of all-or-nothing
    fatal: bool = False  # 一票否决: a failed fatal item scores the whole call 0
    manual: bool = False  # judged by the inspector only, never by the machine
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> Item:
        if self.manual:
            if self.detector or self.thresholds or self.params:
                raise ValueError("a manual item has no detector, params or thresholds")
            return self
        if not self.detector:
            raise ValueError("give a 'detector' (or set manual: true)")
        if self.detector not in REGISTRY:
            raise ValueError(f"unknown detector {self.detector!r}; known: {', '.join(sorted(REGISTRY))}")
        if self.thresholds and not REGISTRY[self.detector].measures:
            raise ValueError(f"detector {self.detector!r} measures no number: remove 'thresholds'")
        if self.thresholds and self.deduct:
            raise ValueError("use either 'thresholds' or 'deduct', not both")
        return self


class Flag(BaseModel):
    """A detector that raises a call flag (escalation, PII) without scoring points."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    name_en: str
    detector: str
    params: dict[str, Any] = {}
    priority: int = 0  # higher flags sort first (escalation tops the queue)

    @model_validator(mode="after")
    def _known(self) -> Flag:
        if self.detector not in REGISTRY:
            raise ValueError(f"unknown detector {self.detector!r}; known: {', '.join(sorted(REGISTRY))}")
        return self


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$", max_length=100)
    # A version names files and URLs (id@version): letters, digits and . _ + - only.
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$", max_length=100)
    language: Literal["zh", "en"]
    name: str
    name_en: str
    pass_score: float = Field(ge=0)
    # Evidence resting on ASR words less sure than this goes to a person.
    review_below_confidence: float = Field(default=0.5, ge=0, le=1)
    phrases: dict[str, list[Any]] = {}
    # Prompt the ASR with the forbidden phrases (see pipeline._with_hotwords). Off by default:
    # measured with Whisper base, the prompt made it write forbidden phrases nobody said.
    hotwords: bool = False
    items: list[Item] = Field(min_length=1)
    flags: list[Flag] = []
    # Filled in on load: validated detector parameters per item / flag id.
    compiled: dict[str, Params] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        ids = [i.id for i in self.items] + [f.id for f in self.flags]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate item ids: {', '.join(sorted(dup))}")
        return self

    @property
    def max_points(self) -> float:
        return sum(i.points for i in self.items)

    def hotword_phrases(self) -> list[str]:
        """The forbidden phrases, to prompt the ASR with (see pipeline._with_hotwords).

        Only these: a long prompt of script phrases made Whisper base drop punctuation,
        shift word timings and append a greeting that was never said. Even this short
        prompt made base append "我没办法，不归我" to turns that never said it, so rubrics
        leave it off unless a larger model is shown to use it well. A phrase inside a
        longer one ("not my problem" in "that's not my problem") is left out.
        """
        found: list[str] = []
        for item in self.items:
            if item.detector != "forbidden_phrase":
                continue
            for e in self.compiled[item.id].model_dump().get("phrases", []):
                text = e if isinstance(e, str) else e.get("phrase")
                if text and text not in found:
                    found.append(text)
        return [t for t in found if not any(t != o and t in o for o in found)]

    def phrases_of(self, *names: str) -> list[str]:
        out: list[str] = []
        for n in names:
            out += [p if isinstance(p, str) else (p.get("phrase") or "") for p in self.phrases.get(n, [])]
        return [p for p in out if p]


def _resolve_refs(value: Any, phrases: dict[str, list[Any]], where: str, seen: tuple[str, ...] = ()) -> Any:
    """'$name' in params stands for the rubric's shared phrase list `name` (lists may nest)."""
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in phrases:
            raise RubricError(f"{where}: unknown phrase list {value!r}; defined: {', '.join(sorted(phrases))}")
        if name in seen:
            raise RubricError(f"{where}: phrase list {value!r} refers to itself ({' -> '.join((*seen, name))})")
        return _resolve_refs(list(phrases[name]), phrases, where, (*seen, name))
    if isinstance(value, list):
        out: list[Any] = []
        for v in value:
            r = _resolve_refs(v, phrases, where, seen)
            if isinstance(v, str) and v.startswith("$"):
                out.extend(r)
            else:
                out.append(r)
        return out
    if isinstance(value, dict):
        return {k: _resolve_refs(v, phrases, where, seen) for k, v in value.items()}
    return value


def _fmt(err: dict[str, Any]) -> str:
    loc = ".".join(str(x) for x in err["loc"])
    return f"field '{loc}': {err['msg']}" if loc else err["msg"]


def parse(data: Any, source: str) -> Rubric:
    if not isinstance(data, dict):
        raise RubricError(f"{source}: a rubric is a mapping (id, version, items, ...), got {type(data).__name__}")
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = list(err["loc"])
            prefix = ""
            if len(loc) >= 2 and loc[0] in ("items", "flags") and isinstance(loc[1], int):
                entries = data.get(loc[0]) or []
                ident = entries[loc[1]].get("id", f"#{loc[1] + 1}") if loc[1] < len(entries) and \
                    isinstance(entries[loc[1]], dict) else f"#{loc[1] + 1}"
                prefix = f"item '{ident}': "
                loc = loc[2:]
            msgs.append(prefix + _fmt({"loc": loc, "msg": err["msg"]}))
        raise RubricError(f"{source}: " + "; ".join(msgs)) from exc
    scored: list[Item | Flag] = [*rubric.items, *rubric.flags]
    for entry in scored:
        if isinstance(entry, Item) and entry.manual:
            continue
        assert entry.detector is not None
        where = f"{source}: item '{entry.id}'"
        params = _resolve_refs(entry.params, rubric.phrases, where)
        try:
            rubric.compiled[entry.id] = REGISTRY[entry.detector].params_model.model_validate(params)
        except ValidationError as exc:
            msgs = [_fmt({"loc": ("params", *e["loc"]), "msg": e["msg"]}) for e in exc.errors()]
            raise RubricError(f"{where}: " + "; ".join(msgs)) from exc
    return rubric


def load(name_or_path: str | Path) -> Rubric:
    """A rubric by path, or by name from rubrics/ (e.g. 'zh_callcenter')."""
    path = Path(name_or_path)
    if not path.suffix:
        path = rubrics_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in rubrics_dir().glob("*.yaml")))
        raise RubricError(f"rubric {name_or_path!r} not found; known rubrics: {known}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RubricError(f"{path.name}: not valid YAML: {exc}") from exc
    return parse(data, path.name)


def default_for(language: str) -> str:
    return {"zh": "zh_callcenter", "en": "en_callcenter"}.get(language, "zh_callcenter")


def list_rubrics() -> list[Path]:
    return sorted(rubrics_dir().glob("*.yaml"))
