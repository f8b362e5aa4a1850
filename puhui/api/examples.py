"""Request and response examples for the OpenAPI document: one applicant's way through the flow.

The identity numbers are valid (a GB 11643 resident ID with its check digit, a GB 32100 credit
code, a Luhn-valid UnionPay card) but belong to nobody; `tests/api/test_api_openapi.py` checks
the request examples are accepted and the response examples match their schemas.
"""

from __future__ import annotations

from typing import Any

APPLICANT_IN: dict[str, Any] = {
    "kind": "individual_business",
    "business_name": "胡记物流",
    "owner": {"name": "胡超霞", "resident_id": "110101197406026091", "mobile": "18660799941"},
    "uscc": "9231010416W7K0QEAP",
    "industry": "logistics",
    "region_code": "310104",
    "established_on": "2020-11-24",
    "monthly_revenue": 8000000,
}

APPLICANT_OUT: dict[str, Any] = {
    "applicant_id": "AP01a24ebfc1f5000560685c",
    "kind": "individual_business",
    "business_name": "胡记物流",
    "partner_id": "P-POS",
    "created_at": "2026-03-02T02:00:00+00:00",
    "uscc": "9231010416W7K0QEAP",
    "industry": "logistics",
    "region_code": "310104",
    "established_on": "2020-11-24",
    "monthly_revenue": 8000000,
    "owner": {"name": "胡超霞", "resident_id": "110101********6091", "mobile": "186****9941"},
    "guarantors": [],
}

CONSENT_IN: dict[str, Any] = {
    "purpose": "credit_assessment",
    "scopes": ["identity", "bank_account"],
    "valid_days": 365,
}

CONSENT_OUT: dict[str, Any] = {
    "consent_id": "CS01a24ebfc20b0006c272af",
    "party_id": "AP01a24ebfc1f5000560685c",
    "purpose": "credit_assessment",
    "scopes": ["identity", "bank_account"],
    "granted_at": "2026-03-02T02:00:00+00:00",
    "expires_at": "2027-03-02T02:00:00+00:00",
    "channel": "api",
    "text_version": "v1",
    "revoked_at": None,
    "status": "active",
}

BANK_ACCOUNT_IN: dict[str, Any] = {
    "card_number": "6212263834701746819",
    "holder_name": "胡超霞",
    "bank_name": "中国工商银行",
}

BANK_ACCOUNT_OUT: dict[str, Any] = {
    "account_id": "BA01a24ebfc21d0007c730cf",
    "applicant_id": "AP01a24ebfc1f5000560685c",
    "card": "621226*********6819",
    "holder_name": "胡超霞",
    "bank_name": "",
    "bound_at": "2026-03-02T02:00:00+00:00",
}

APPLICATION_IN: dict[str, Any] = {
    "applicant_id": "AP01a24ebfc1f5000560685c",
    "product_code": "SME-EI-12",
    "amount": 10000000,
    "purpose": "working capital",
    "submit": True,
}

APPLICATION_OUT: dict[str, Any] = {
    "application_id": "AN01a24ebfc23e00088accdd",
    "applicant_id": "AP01a24ebfc1f5000560685c",
    "partner_id": "P-POS",
    "product_code": "SME-EI-12",
    "requested_amount": 10000000,
    "purpose": "",
    "status": "offered",
    "decision": {
        "amount": 10000000,
        "annual_rate": "0.108",
        "grade": "B",
        "model_version": None,
        "outcome": "approve",
        "policy_version": "default-2026.11",
        "reasons": [],
    },
    "offer_id": "OF01a24ebfc23f0009e41d6c",
    "contract_id": None,
    "loan_id": None,
    "created_at": "2026-03-02T02:00:00+00:00",
    "updated_at": "2026-03-02T02:00:00+00:00",
    "offer": {
        "offer_id": "OF01a24ebfc23f0009e41d6c",
        "application_id": "AN01a24ebfc23e00088accdd",
        "product": {
            "code": "SME-EI-12",
            "name": "经营贷 equal instalment",
            "method": "equal_instalment",
            "annual_rate": "0.108",
            "term_periods": 12,
            "term_days": None,
            "frequency": "monthly",
            "currency": "CNY",
            "min_principal": 10000,
            "max_principal": 1000000000,
        },
        "principal": 10000000,
        "start": "2026-03-02",
        "apr": "0.110716",
        "apr_convention": "irr-unit-period/v2",
        "rate_cap": {
            "annual_limit": "0.24",
            "label": "24% comprehensive cost cap",
            "provenance": {"version": 1, "kind": "fixed", "effective_from": "2000-01-01",
                           "rate": "0.24", "multiple": None, "lpr_id": None, "lpr_rate": None,
                           "lpr_published_on": None, "lpr_effective_from": None},
        },
        "effective_annual_rate": "0.124178",
        "upfront_fee": 50000,
        "total_interest": 558607,
        "total_fees": 50000,
        "total_repayable": 10558607,
        "net_disbursed": 9950000,
        "created_at": "2026-03-02T02:00:00+00:00",
        "expires_at": "2026-03-09T02:00:00+00:00",
        "schedule": [
            {
                "number": 1,
                "start": "2026-03-02",
                "due_date": "2026-03-20",
                "principal": 792884,
                "interest": 54000,
                "fee": 0,
                "payment": 846884,
                "balance_after": 9207116,
            },
            {
                "number": 2,
                "start": "2026-03-20",
                "due_date": "2026-04-20",
                "principal": 800020,
                "interest": 82864,
                "fee": 0,
                "payment": 882884,
                "balance_after": 8407096,
            },
        ],
    },
}

REPAYMENT_IN: dict[str, Any] = {"amount": 846884}

REPAYMENT_OUT: dict[str, Any] = {
    "loan_id": "LN01a24ebfc27c000cf4352e",
    "product": "SME-EI-12",
    "status": "active",
    "currency": "CNY",
    "balances": {"1301": 10000000, "2241": -100000},
    "days_past_due": 0,
    "risk_class": "normal",
    "amount_due": 0,
    "as_of": "2026-03-02",
    "payoff_amount": 9900000,
    "credit_balance": 100000,
    "schedule": [
        {
            "number": 1,
            "start": "2026-03-02",
            "due_date": "2026-03-20",
            "principal": 792884,
            "interest": 54000,
            "fee": 0,
            "paid": {"principal": 0, "interest": 0, "fee": 0},
        },
        {
            "number": 2,
            "start": "2026-03-20",
            "due_date": "2026-04-20",
            "principal": 800020,
            "interest": 82864,
            "fee": 0,
            "paid": {"principal": 0, "interest": 0, "fee": 0},
        },
    ],
    "journal_entries": [3],
}

REFUND_IN: dict[str, Any] = {"amount": 50000}

SERVICING_REQUEST_IN: dict[str, Any] = {
    "operation": "waive", "reason": "penalty forgiven after a hospital stay",
    "params": {"charge": "penalty", "amount": 12000}}

RATE_CAP_VERSION_IN: dict[str, Any] = {
    "kind": "lpr_multiple",
    "effective_from": "2026-04-01",
    "multiple": "4",
    "label": "four times the one-year LPR",
    "note": "Supreme People's Court interpretation, Fa Shi [2020] No. 17",
}

RATE_CAP_VERSION_OUT: dict[str, Any] = {
    **RATE_CAP_VERSION_IN,
    "version": 2,
    "rate": None,
    "recorded_at": "2026-03-02T02:00:00+00:00",
    "recorded_by": "K01a24ebfc1f5000560685c",
}

LPR_IN: dict[str, Any] = {"rate": "0.0300", "published_on": "2026-02-20"}
