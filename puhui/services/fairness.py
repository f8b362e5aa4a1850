"""Fairness of the platform's own automated decisions across sex, age band and province.

Why these groups and where they come from: PIPL art. 24 requires automated decisions to be fair
and free of unreasonable differential treatment.  The models never see sex, age or place of
origin (they are not features), so any difference in approval rates comes through correlated
data and has to be measured from outside: the owner's resident ID number carries the sex (the
17th digit, odd for men), the birth date and the place of registration (the first two digits).
Outcomes are known only for loans that were granted, so equal opportunity (approval among
applicants who would have repaid) is not measurable on a lender's own book without reject
inference; the report gives approval rates and demographic parity, and says so.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from puhui.parties.identity import age_on
from puhui.services.applicants import applicant_data
from puhui.services.platform import Platform
from puhui.store import risk_repo

NOTE = ("Outcomes are known only for granted loans, so equal opportunity needs reject inference "
        "and is not reported for the book; see `puhui risk fairness german` for it on labelled "
        "data. Groups come from the owner's resident ID; no model reads them.")


def owner_groups(resident_id: str, on: date) -> dict[str, Any]:
    """Sex, age on `on` and province of registration from a resident ID number."""
    number = ric.compact(resident_id)
    sex = "male" if int(number[16]) % 2 else "female"
    try:
        province = ric.get_birth_place(number).get("province") or f"region {number[:2]}"
    except ValidationError:  # a county code the registry does not date back to the birth
        province = f"region {number[:2]}"
    return {"sex": sex, "age": age_on(ric.get_birth_date(number), on), "province": province}


def book_fairness(p: Platform, as_of: date, *, days: int = 365, tolerance: Any = None) -> Any:
    """The `FairnessReport` of the automated decisions of the `days` days up to `as_of`."""
    from puhui.risk.errors import RiskDataError
    from puhui.risk.fairness import FairnessTolerance, age_band, fairness_report

    since = as_of - timedelta(days=days - 1)
    with p.read() as session:
        rows = risk_repo.decided_owners(session, since, as_of)  # erased people are not profiled
        if not rows:
            raise RiskDataError(f"no automated decisions in the {days} days up to {as_of}")
        people = [owner_groups(applicant_data(session, row).owner.resident_id, row.decided_on)
                  for row in rows]
    approved = np.array([row.outcome == "approve" for row in rows])
    groups = {"sex": [g["sex"] for g in people],
              "age_band": age_band([g["age"] for g in people]),
              "province": [g["province"] for g in people]}
    return fairness_report(approved, groups, tolerance=tolerance or FairnessTolerance(),
                           notes=(NOTE,))
