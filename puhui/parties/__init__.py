"""Who applies, pure domain: identity numbers and their checks, the applicant (its owner,
guarantors and bank accounts), consent to data use, and synthetic applicants for demos.

    identity     resident ID, USCC, bank card and mobile numbers; `IdentityCheck` records
    applicant    `Applicant`, `Person`, `BankAccount`; `verify_applicant`, account binding
    consent      `Consent` and the `DataScope`s an applicant grants
    synthetic    seeded synthetic small businesses (and the regions they trade in)
    records      the field checks every record shares (also the decision and offer records)

Why a package of its own: a decision request carries the applicant and its identity checks,
the risk data is gathered under the applicant's consent, and the origination workflow records
both; kept inside origination, decision and risk would import origination while origination
imports decision (a cycle).  Nothing here touches a database or the network.
"""
