"""NUL characters in any text field are dropped, never a 500 on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from casework.extensions import db
from casework.intake.models import Referral
from tests.web.test_intake import form_data


def test_nul_characters_are_dropped_from_form_text(client, login_as, post):
    from casework.accounts.services import sites_by_keys

    login_as("caseworker", ("coventry",))
    data = form_data(site=str(sites_by_keys(["coventry"])[0].id), first_name="Jor\x00dan",
                     reason="Stab\x00 wound")
    response = post("/referrals/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    referral = db.session.scalars(select(Referral)).one()
    assert referral.reason == "Stab wound" and referral.person.first_name == "Jordan"
