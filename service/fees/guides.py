"""Publishing guidance price tables: the one use case behind the API, the workbench's CSV
import, the CLI and the reference data shipped with the service.

Every guide is checked the same way whoever sends it (the typed models below are the API's
request body too): a price above zero with at most 13 integer digits, a known mode and grade
band, class sizes and minutes in range, a day in 2000-2099, no control character, bands that do
not overlap, a region that exists and lies in the publisher's. A file is checked whole first:
its problems come back row by row and nothing is written. A guide for a region and day that
already has a different one is refused unless the publisher asks to supersede it; the old one
is then kept, marked superseded by the new, and the replacement is audited.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

from pydantic import Field, StrictInt, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.fees.models import PriceGuide, PriceGuideItem
from service.fees.prices import Band
from service.kit.ids import new_id
from service.kit.money import Day, Percent, PositiveMoney
from service.kit.wire import RegionCode, Strict
from service.policy import approvals
from service.registry.institutions import audit
from service.registry.models import Approval, Regulator
from service.registry.regions import in_scope, is_valid_region

Mode = Literal["offline", "online"]
GradeBand = Literal["preschool", "primary", "junior", "senior", "any"]
MAX_FILE_ROWS = 5000
# What to do with a guide for a day that already has a different one: refuse it (the
# default), supersede the old (asked for explicitly, audited), or keep the old (the reference
# data shipped with the service never overrides what a regulator published).
Existing = Literal["refuse", "supersede", "keep"]


class GuideItem(Strict):
    """One band of a guide: yuan per student per standard class hour, and its float cap."""

    mode: Mode
    grade_band: GradeBand = "any"
    class_size_min: StrictInt = Field(ge=1, le=100_000)
    class_size_max: StrictInt | None = Field(ge=1, le=100_000)
    standard_minutes: StrictInt = Field(ge=1, le=240)
    base_price: PositiveMoney
    max_float_pct: Percent = Field(default=Decimal("10"))

    @model_validator(mode="after")
    def _bounds(self) -> GuideItem:
        if self.max_float_pct > 100:
            raise ValueError("max_float_pct above 100 is not a float cap")
        if self.class_size_max is not None and self.class_size_max < self.class_size_min:
            raise ValueError("class_size_max is below class_size_min")
        return self

    def band(self) -> Band:
        return Band(
            mode=self.mode,
            grade_band=self.grade_band,
            class_size_min=self.class_size_min,
            class_size_max=self.class_size_max,
            standard_minutes=self.standard_minutes,
            base_price=self.base_price,
            max_float_pct=self.max_float_pct,
        )


class GuideDraft(Strict):
    """A guide to publish: a region's bands, in force from a day."""

    region_code: RegionCode
    effective_from: Day
    items: list[GuideItem] = Field(min_length=1, max_length=200)
    source: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True, kw_only=True)
class Publisher:
    """Who publishes, over what: a regulator over their region, or the service itself (the
    reference tables it ships with: `regulator` None, every region). `via` says which door
    (api, workbench, cli, reference_data) for the audit log."""

    actor: str
    via: str
    regulator: Regulator | None = None

    @classmethod
    def of(cls, regulator: Regulator, via: str) -> Publisher:
        return cls(actor=f"regulator:{regulator.id}", via=via, regulator=regulator)


@dataclass(frozen=True, kw_only=True)
class Problem:
    line: int | None  # the file's line, None for a guide sent as one body
    field: str
    code: str
    message: str
    kind: str = ""  # what is wrong, as a stable word a page can say in its language

    def shown(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message,
                "kind": self.kind or self.code}  # fmt: skip


@dataclass(kw_only=True)
class Published:
    created: list[PriceGuide] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)  # ids of the guides replaced
    unchanged: list[PriceGuide] = field(default_factory=list)  # the same guide, already there


@dataclass(frozen=True, kw_only=True)
class _Entry:
    draft: GuideDraft
    lines: tuple[int, ...] = ()  # the file's lines it came from


def publish_guide(
    session: Session, *, by: Publisher, draft: GuideDraft, existing: Existing, now: datetime
) -> PriceGuide:
    """One guide, as the API sends it. The guide in force for its day afterwards."""
    done = _publish(session, by=by, entries=[_Entry(draft=draft)], existing=existing, now=now)
    return (done.created or done.unchanged)[0]


def publish_file(
    session: Session, *, by: Publisher, text: str, existing: Existing, now: datetime
) -> Published:
    """Every guide of a CSV in the format of service/data/price_guides.csv, all or nothing:
    a file with any bad row is refused with every row's problems."""
    return _publish(session, by=by, entries=_checked_file(text, by), existing=existing, now=now)


def _checked_file(text: str, by: Publisher) -> list[_Entry]:
    entries, problems = parse_file(text)
    if not entries and not problems:
        problems.append(
            Problem(
                line=2,
                field="file",
                code="validation_error",
                message="the file has no guide",
                kind="empty_file",
            )
        )
    problems += [p for e in entries for p in _check(e, by)]
    if problems:  # every row's problem at once, not the first only
        raise _rejected(sorted(problems, key=lambda p: p.line or 0))
    return entries


def _publish(
    session: Session, *, by: Publisher, entries: list[_Entry], existing: Existing, now: datetime
) -> Published:
    problems = [p for e in entries for p in _check(e, by)]
    current = {} if problems else _current(session, entries)
    for e in entries:
        old = current.get(_key(e.draft))
        if old is not None and existing == "refuse" and not _same(session, old, e.draft):
            problems.append(_exists(e, old))
    if problems:
        raise _rejected(problems)
    done = Published()
    try:
        for e in entries:
            old = current.get(_key(e.draft))
            if old is not None and (existing == "keep" or _same(session, old, e.draft)):
                done.unchanged.append(old)
            else:
                _write(session, by, e.draft, old, done, now)
        session.flush()
    except IntegrityError as exc:  # another publisher wrote this day's guide meanwhile
        raise DomainError("price_guide_exists", "a guide for this day was just published; "
                          "look at it and publish again") from exc  # fmt: skip
    return done


def _write(
    session: Session,
    by: Publisher,
    draft: GuideDraft,
    old: PriceGuide | None,
    done: Published,
    now: datetime,
) -> None:
    guide = PriceGuide(
        id=new_id("pg"),
        region_code=draft.region_code,
        effective_from=draft.effective_from,
        source=draft.source,
        created_at=now,
    )
    if old is not None:
        # The old guide leaves the index of current guides before the new one enters it.
        old.superseded_by, old.superseded_at = guide.id, now
        session.flush()
        done.superseded.append(old.id)
    session.add(guide)
    session.flush()
    session.add_all(
        PriceGuideItem(id=new_id("pgi"), guide_id=guide.id, **i.band().__dict__)
        for i in draft.items
    )
    done.created.append(guide)
    action = "price_guide:supersede" if old is not None else "price_guide:publish"
    detail: dict[str, object] = {"region_code": draft.region_code, "via": by.via,
                                 "effective_from": draft.effective_from.isoformat(),
                                 "items": len(draft.items)}  # fmt: skip
    if old is not None:
        detail["superseded"] = old.id
    audit(session, actor=by.actor, action=action, subject=guide.id, detail=detail, now=now,
          region_code=draft.region_code)  # fmt: skip


def _key(draft: GuideDraft) -> tuple[str, date]:
    return draft.region_code, draft.effective_from


def _current(session: Session, entries: list[_Entry]) -> dict[tuple[str, date], PriceGuide]:
    """The current guide of each entry's region and day, locked against a concurrent
    supersede."""
    regions = sorted({e.draft.region_code for e in entries})
    wanted = {_key(e.draft) for e in entries}
    rows = session.scalars(
        select(PriceGuide)
        .where(PriceGuide.region_code.in_(regions), PriceGuide.superseded_by.is_(None))
        .order_by(PriceGuide.id)
        .with_for_update()
    )
    current = {(g.region_code, g.effective_from): g for g in rows}
    return {k: g for k, g in current.items() if k in wanted}


def _same(session: Session, old: PriceGuide, draft: GuideDraft) -> bool:
    items = session.scalars(select(PriceGuideItem).where(PriceGuideItem.guide_id == old.id))
    kept = sorted(_band_key(i) for i in items)
    return kept == sorted(_band_key(i.band()) for i in draft.items)


def _band_key(b: Band | PriceGuideItem) -> tuple[object, ...]:
    return (b.mode, b.grade_band, b.class_size_min, b.class_size_max or 0,
            b.standard_minutes, b.base_price, b.max_float_pct)  # fmt: skip


def _check(entry: _Entry, by: Publisher) -> list[Problem]:
    """What is wrong with a guide beyond its fields' types: its region, scope and bands."""
    d, line = entry.draft, (entry.lines[0] if entry.lines else None)
    if not is_valid_region(d.region_code):
        msg = f"unknown region code {d.region_code!r}"
        return [Problem(line=line, field="region_code", code="invalid_region_code", message=msg)]
    if by.regulator is not None and not in_scope(by.regulator.region_code, d.region_code):
        msg = f"{d.region_code} is outside your region"
        return [Problem(line=line, field="region_code", code="out_of_region", message=msg)]
    return _overlaps(entry)


def _overlaps(entry: _Entry) -> list[Problem]:
    """Overlapping bands for the same mode and grade would make a price ambiguous."""
    items, out = entry.draft.items, []
    for i, a in enumerate(items):
        for j in range(i + 1, len(items)):
            b = items[j]
            if (a.mode, a.grade_band) != (b.mode, b.grade_band):
                continue
            a_hi, b_hi = a.class_size_max or 10**9, b.class_size_max or 10**9
            if a.class_size_min <= b_hi and b.class_size_min <= a_hi:
                line = entry.lines[j] if entry.lines else None
                msg = (f"bands overlap for {a.mode}/{a.grade_band}: class sizes "
                       f"{a.class_size_min}-{a.class_size_max or ''} and "
                       f"{b.class_size_min}-{b.class_size_max or ''}")  # fmt: skip
                out.append(
                    Problem(
                        line=line,
                        field="class_size_min",
                        code="validation_error",
                        message=msg,
                        kind="band_overlap",
                    )
                )
    return out


def _exists(entry: _Entry, old: PriceGuide) -> Problem:
    line = entry.lines[0] if entry.lines else None
    msg = (f"a different guide for {old.region_code} from {old.effective_from} is published "
           f"({old.id}); supersede it to replace it (it is kept as history)")  # fmt: skip
    return Problem(line=line, field="effective_from", code="price_guide_exists", message=msg)


def _rejected(problems: list[Problem]) -> DomainError:
    """One problem of a guide sent alone keeps its own code (a 403 for another region, a 409
    for an existing guide); a file's problems are one refusal listing every row."""
    first = problems[0]
    if len(problems) == 1 and first.line is None:
        return DomainError(first.code, first.message)
    return DomainError(
        "price_guides_rejected",
        f"{len(problems)} problem(s) in the guides; nothing was published",
        extra={"errors": [p.shown() for p in problems[:200]]},
    )


# The CSV file

_COLUMNS = ("region_code", "effective_from", "mode", "grade_band", "class_size_min",
            "class_size_max", "standard_minutes", "base_price", "max_float_pct")  # fmt: skip
_SMALL_INT = re.compile(r"[0-9]{1,9}")


class _Row(GuideItem):
    region_code: RegionCode
    effective_from: Day
    region_name: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=500)


def parse_file(text: str) -> tuple[list[_Entry], list[Problem]]:
    """The file's guides (rows grouped by region and day), or what is wrong with each row."""
    problems: list[Problem] = []
    rows: dict[tuple[str, date], list[tuple[int, _Row]]] = defaultdict(list)
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [
            Problem(
                line=1,
                field="header",
                code="validation_error",
                message=f"missing {', '.join(missing)}",
                kind="missing_columns",
            )
        ]
    try:
        for row in reader:
            line = reader.line_num
            if len(problems) > 200 or line > MAX_FILE_ROWS + 1:
                problems.append(
                    Problem(
                        line=line,
                        field="file",
                        code="validation_error",
                        message="too many rows",
                        kind="too_many_rows",
                    )
                )
                break
            parsed = _parse_row(line, row, problems)
            if parsed is not None:
                rows[(parsed.region_code, parsed.effective_from)].append((line, parsed))
    except csv.Error as exc:
        problems.append(
            Problem(
                line=reader.line_num,
                field="file",
                code="validation_error",
                message=str(exc),
                kind="unreadable",
            )
        )
    return [_entry(group, problems) for group in rows.values()], problems


def _parse_row(line: int, row: dict[str | Any, Any], problems: list[Problem]) -> _Row | None:
    if None in row:
        problems.append(
            Problem(
                line=line,
                field="row",
                code="validation_error",
                message="more fields than the header",
                kind="too_many_fields",
            )
        )
        return None
    if None in row.values():
        problems.append(
            Problem(
                line=line,
                field="row",
                code="validation_error",
                message="fewer fields than the header",
                kind="too_few_fields",
            )
        )
        return None
    fields = {k: _cell(k, v) for k, v in row.items() if k in _Row.model_fields}
    try:
        return _Row.model_validate(fields)
    except ValidationError as exc:
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "row"
            message = e["msg"].removeprefix("Value error, ")
            problems.append(
                Problem(
                    line=line, field=where, code="validation_error", message=message, kind=e["type"]
                )
            )
        return None


def _cell(name: str, value: str | None) -> object:
    """A CSV cell as the typed model takes it: small whole numbers as integers, empties as
    absent; anything else is left as text for the model to refuse."""
    if value is None:
        return None
    value = value.strip()
    if value == "":
        return {"grade_band": "any", "max_float_pct": "10"}.get(name)
    if name in ("class_size_min", "class_size_max", "standard_minutes"):
        return int(value) if _SMALL_INT.fullmatch(value) else value
    return value


def _entry(group: list[tuple[int, _Row]], problems: list[Problem]) -> _Entry:
    first = group[0][1]
    note = " ".join(filter(None, [first.region_name, first.note]))[:200] or None
    items = [GuideItem.model_validate(r.model_dump(include=set(GuideItem.model_fields)))
             for _, r in group]  # fmt: skip
    draft = GuideDraft.model_construct(
        region_code=first.region_code, effective_from=first.effective_from, items=items,
        source=note,
    )  # fmt: skip
    if len(items) > 200:
        problems.append(
            Problem(
                line=group[200][0],
                field="items",
                code="validation_error",
                message="a guide has at most 200 bands",
            )
        )
    return _Entry(draft=draft, lines=tuple(line for line, _ in group))


def seed_published(session: Session, *, now: datetime) -> int:
    """The reference tables shipped with the service (service/data/price_guides.csv), for the
    days that have none yet. How many guides were written."""
    text = resources.files("service.data").joinpath("price_guides.csv").read_text(encoding="utf-8")
    by = Publisher(actor="service:reference_data", via="reference_data")
    return len(publish_file(session, by=by, text=text, existing="keep", now=now).created)


# Four eyes (service.policy.approvals): publishing guides is `price_guide_publish`. A
# regulator's guide, through any door (the API, the workbench's import, the CLI's), is
# published at once or waits for a second person, as the region's pack says; the reference
# data the service ships with and a backtest's copy publish directly (no regulator decides
# them).


def submit_guide(
    session: Session,
    *,
    regulator: Regulator,
    via: str,
    draft: GuideDraft,
    existing: Existing,
    now: datetime,
) -> approvals.Done | approvals.Pending:
    """One guide, as the API sends it: published (the answer names it) or pending."""
    return _submit(session, regulator, via, [_Entry(draft=draft)], existing, now)


def submit_file(
    session: Session, *, regulator: Regulator, via: str, text: str, existing: Existing,
    now: datetime,
) -> approvals.Done | approvals.Pending:  # fmt: skip
    """A CSV's guides, checked whole first (a bad file is refused with every row's problem,
    never held for approval): published, or pending as one approval."""
    entries = _checked_file(text, Publisher.of(regulator, via))
    return _submit(session, regulator, via, entries, existing, now)


def _submit(
    session: Session,
    regulator: Regulator,
    via: str,
    entries: list[_Entry],
    existing: Existing,
    now: datetime,
) -> approvals.Done | approvals.Pending:
    if existing != "supersede":
        # The same guides again change nothing: answered at once, with nothing to approve.
        trial = session.begin_nested()
        try:
            probe = _publish(session, by=Publisher.of(regulator, via), entries=entries,
                             existing=existing, now=now)  # fmt: skip
            unchanged = [g.id for g in probe.unchanged]
        finally:
            trial.rollback()
        if not probe.created:
            return approvals.Done(answer={"created": [], "superseded": [], "unchanged": unchanged})
    drafts = [e.draft for e in entries]
    regions = sorted({d.region_code for d in drafts})
    region = regions[0] if len(regions) == 1 else regulator.region_code
    target = (f"{region}:{drafts[0].effective_from.isoformat()}" if len(drafts) == 1
              else f"{len(drafts)} guides")  # fmt: skip
    payload = {"via": via, "existing": existing,
               "guides": [json.loads(d.model_dump_json()) for d in drafts],
               "lines": [list(e.lines) for e in entries]}  # fmt: skip
    return approvals.submit(
        session,
        action="price_guide_publish",
        office=regulator,
        target=target,
        region_code=region,
        payload=payload,
        now=now,
    )


def _drafts(payload: Mapping[str, Any]) -> list[GuideDraft]:
    return [GuideDraft.model_validate_json(json.dumps(g)) for g in payload["guides"]]


def _run_publish(
    session: Session, office: Regulator, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    by = Publisher.of(office, str(payload["via"]))
    lines = payload.get("lines") or [[] for _ in payload["guides"]]
    entries = [
        _Entry(draft=d, lines=tuple(n)) for d, n in zip(_drafts(payload), lines, strict=True)
    ]
    done = _publish(session, by=by, entries=entries, existing=payload["existing"], now=now)
    return {"created": [g.id for g in done.created], "superseded": done.superseded,
            "unchanged": [g.id for g in done.unchanged]}  # fmt: skip


def _describe_publish(session: Session, approval: Approval) -> list[approvals.Fact]:
    p = approval.payload
    facts = [
        approvals.Fact(label="via", value=p["via"]),
        approvals.Fact(label="replace_existing", value=p["existing"] == "supersede"),
    ]
    entries = [_Entry(draft=d) for d in _drafts(p)]
    current = _current_unlocked(session, entries)
    for d in _drafts(p):
        old = current.get(_key(d))
        facts.append(approvals.Fact(label="guide", value={
            "region_code": d.region_code, "effective_from": d.effective_from.isoformat(),
            "source": d.source, "replaces": old.id if old is not None else None,
            "items": [json.loads(i.model_dump_json()) for i in d.items]}))  # fmt: skip
    return facts


def _current_unlocked(
    session: Session, entries: list[_Entry]
) -> dict[tuple[str, date], PriceGuide]:
    """`_current` for a page to read (no lock)."""
    regions = sorted({e.draft.region_code for e in entries})
    wanted = {_key(e.draft) for e in entries}
    rows = session.scalars(
        select(PriceGuide).where(
            PriceGuide.region_code.in_(regions), PriceGuide.superseded_by.is_(None)
        )
    )
    return {k: g for g in rows if (k := (g.region_code, g.effective_from)) in wanted}


approvals.register(
    approvals.Approvable(name="price_guide_publish", run=_run_publish, describe=_describe_publish)
)
