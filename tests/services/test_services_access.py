"""What a refused caller is told."""

from __future__ import annotations

import pytest

from puhui.services.access import Perm, Principal, Role
from puhui.services.errors import AccessDenied


@pytest.mark.parametrize("role, said", [(Role.ADMIN, "an admin key"),
                                        (Role.PARTNER, "a partner key"),
                                        (Role.CREDIT_OFFICER, "a credit_officer key")])
def test_a_refusal_names_the_key_in_plain_words(role: Role, said: str) -> None:
    caller = Principal("K1", role, frozenset({Perm.READ}), None)
    with pytest.raises(AccessDenied, match=f"^{said} with scopes \\['read'\\] may not operate$"):
        caller.require(Perm.OPERATE)
