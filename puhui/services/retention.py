"""How long data-source payloads are kept, and the purge of those whose time has passed.

Why a rule of its own: the payloads behind a credit decision are its evidence (the decision can
be explained and replayed from them) for as long as the loan runs and for the years after it in
which it may be disputed or examined; after that, keeping half a megabyte of someone's business
records serves no purpose PIPL would accept (art. 19: no longer than necessary).

The rule (`PUHUI_PAYLOAD_RETENTION_YEARS`, default 5, 1-30 years): an application's payloads
are kept until N years after

- its loan was **closed** (repaid) or **written off**: the date of the loan's latest event (a
  refund or recovery booked after the close moves the date on), when a loan was made;
- the application **ended without a loan** (declined, withdrawn or expired): the business date
  of that last status change (for a declined application, the decision);
- the payload was fetched, for a payload stored without a known application.

Nothing is purged while it may still be needed: an application still in progress (submitted,
under manual review as `referred` — the closest the platform has to a decision under appeal —,
offered, accepted, signed) or whose loan is not closed (pending, active, or unknown) keeps its
payloads whatever their age.  A payload is kept up to and including the anniversary
(`kept_until`, N years on, 29 February landing on the 28th) and purged by a run on a later date.

`purge_payloads` records a tombstone per payload (`purged_payloads`: id, scope, consent, hash,
size, until when it had to be kept, when and why it went) before deleting it, which is the only
deletion the database lets through on `source_payloads`, and writes one entry per application
to the personal-data access log (action `payload_purge`), as erasures are logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterator

from sqlalchemy.orm import Session

from puhui.calendar import add_months
from puhui.errors import InvalidBusinessDate
from puhui.loans.state import LoanStatus
from puhui.origination.workflow import ApplicationStatus as S
from puhui.risk.errors import InvalidParameter
from puhui.services.access import Perm, Principal
from puhui.services.clock import BUSINESS_ZONE, business_date
from puhui.services.platform import Platform
from puhui.store import monitoring_repo, risk_repo

#: Environment variable: years an application's payloads are kept after its loan closed (or the
#: application ended without one).
RETENTION_ENV = "PUHUI_PAYLOAD_RETENTION_YEARS"
DEFAULT_YEARS = 5
MIN_YEARS, MAX_YEARS = 1, 30
#: Application statuses that end an application without a loan.
ENDED = frozenset({S.DECLINED.value, S.WITHDRAWN.value, S.EXPIRED.value})
#: Loan statuses after which nothing more is owed.
FINISHED = {LoanStatus.CLOSED.value: "closed", LoanStatus.WRITTEN_OFF.value: "written off"}


def retention_years(text: str | None = None) -> int:
    """The configured retention, `PUHUI_PAYLOAD_RETENTION_YEARS` (or `text`), 1-30 years,
    default 5.  A bad setting refuses the purge before anything is read (`InvalidParameter`)."""
    text = (os.environ.get(RETENTION_ENV, "") if text is None else text).strip()
    if not text:
        return DEFAULT_YEARS
    if not text.isdigit() or not MIN_YEARS <= int(text) <= MAX_YEARS:
        raise InvalidParameter(f"{RETENTION_ENV} must be a whole number of years from "
                               f"{MIN_YEARS} to {MAX_YEARS}, not {text!r}")
    return int(text)


def _day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_ZONE).date()


@dataclass(frozen=True)
class Retention:
    """Until when one application's payloads are kept (None: as long as they are needed) and
    why."""

    application_id: str | None
    applicant_id: str
    kept_until: date | None
    why: str

    def expired(self, as_of: date) -> bool:
        return self.kept_until is not None and self.kept_until < as_of


def retention_of(row: Any, years: int) -> Retention:
    """The rule applied to one `risk_repo.payload_applications` row."""
    app, applicant = row.application_id, row.applicant_id
    if row.loan_id is not None:
        finished = FINISHED.get(row.loan_status)
        if finished is None:
            return Retention(app, applicant, None,
                             f"loan {row.loan_id} is {row.loan_status or 'unknown'}: kept while "
                             "it runs")
        ended = row.loan_last_event or _day(row.updated_at)
        return Retention(app, applicant, add_months(ended, 12 * years),
                         f"loan {row.loan_id} {finished}, last event on {ended}; kept {years} "
                         "years after")
    if row.status in ENDED:
        ended = _day(row.updated_at)
        return Retention(app, applicant, add_months(ended, 12 * years),
                         f"application {row.status} on {ended} without a loan; kept {years} "
                         "years after")
    return Retention(app, applicant, None, f"application is {row.status}: kept while it is open")


def _unattached(row: Any, years: int) -> Retention:
    fetched = _day(row.fetched_at)
    return Retention(row.application_id, row.applicant_id, add_months(fetched, 12 * years),
                     f"stored without a known application, fetched on {fetched}; kept {years} "
                     "years after")


#: Applications whose retention is decided per read (the purge's memory is bounded by a page,
#: not by the book).
PAGE = 5_000


def payload_retention(session: Session, years: int, page: int = PAGE) -> Iterator[Retention]:
    """The retention of every application that has payloads stored, read `page` at a time."""
    after = None
    while True:
        rows = risk_repo.payload_applications(session, after, page)
        yield from (retention_of(row, years) for row in rows)
        if len(rows) < page:
            return
        after = rows[-1].application_id


def purge_payloads(p: Platform, session: Session, actor: Principal, as_of: date | None = None,
                   dry_run: bool = False, years: int | None = None) -> dict[str, Any]:
    """Delete the payloads whose retention ended before `as_of` (default: today's business
    date; a later date is refused, so nothing goes early), each with its tombstone, logged per
    application in the personal-data access log.  `dry_run`: say what would go, change nothing."""
    actor.require(Perm.OPERATE)
    years = retention_years() if years is None else retention_years(str(years))
    today = business_date(p.clock)
    as_of = today if as_of is None else as_of
    if as_of > today:
        raise InvalidBusinessDate(f"cannot purge as of {as_of}: the business date is {today}, "
                                  "and a payload is never purged before its time")
    now, kept, kept_while_needed = p.clock.now(), 0, 0
    purged: dict[tuple[str, str | None], dict[str, Any]] = {}
    count = 0
    # a page of applications at a time: read, decide, purge (memory bounded by the page)
    for rules in _pages(payload_retention(session, years), PAGE):
        expired = {r.application_id: r for r in rules if r.expired(as_of)}
        kept += len(rules) - len(expired)
        kept_while_needed += sum(1 for r in rules if r.kept_until is None)
        count += _purge(session, actor, now, dry_run, purged, [
            (row, expired[row.application_id])
            for row in risk_repo.payload_meta(session, sorted(expired))])
    count += _purge(session, actor, now, dry_run, purged, [
        (row, rule) for row in risk_repo.unattached_payloads(session)
        for rule in [_unattached(row, years)] if rule.expired(as_of)])
    return {"as_of": as_of.isoformat(), "retention_years": years, "dry_run": dry_run,
            "purged_payloads": count, "purged_applications": list(purged.values()),
            "kept_applications": kept, "kept_while_needed": kept_while_needed}


def _purge(session: Session, actor: Principal, now: datetime, dry_run: bool,
           purged: dict[tuple[str, str | None], dict[str, Any]],
           rows: list[tuple[Any, Retention]]) -> int:
    """Tombstone and delete `rows` (payload, its rule), logging each application once; adds
    what went to `purged`; the number of payloads."""
    tombstones = [{
        "id": row.id, "applicant_id": row.applicant_id, "application_id": row.application_id,
        "scope": row.scope, "consent_id": row.consent_id, "fetched_at": row.fetched_at,
        "payload_sha256": row.payload_sha256, "payload_bytes": row.payload_bytes,
        "kept_until": rule.kept_until, "purged_at": now,
        "reason": f"retention ended on {rule.kept_until}: {rule.why}"} for row, rule in rows]
    these: dict[tuple[str, str | None], dict[str, Any]] = {}
    for t in tombstones:
        entry = these.setdefault((t["applicant_id"], t["application_id"]), {
            "applicant_id": t["applicant_id"], "application_id": t["application_id"],
            "kept_until": t["kept_until"].isoformat(), "reason": t["reason"], "payloads": 0,
            "bytes": 0})
        entry["payloads"] += 1
        entry["bytes"] += t["payload_bytes"] or 0
    if not dry_run and tombstones:
        from puhui.services.privacy import log_access

        risk_repo.purge_payloads(session, tombstones)
        # the merged monitoring states held what was purged: built again from what is left
        monitoring_repo.drop_states(session, sorted({t["applicant_id"] for t in tombstones}))
        for entry in these.values():
            log_access(session, actor, entry["applicant_id"], "payload_purge", "application",
                       entry["application_id"] or "-",
                       f"{entry['payloads']} data-source payload(s) purged: {entry['reason']}",
                       now)
        session.flush()
    purged.update(these)
    return len(tombstones)


def _pages(items: Iterator[Retention], size: int) -> Iterator[list[Retention]]:
    page: list[Retention] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


__all__ = ["RETENTION_ENV", "Retention", "payload_retention", "purge_payloads",
           "retention_of", "retention_years"]
