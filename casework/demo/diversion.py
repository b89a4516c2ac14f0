"""Demo Checkpoint and Outcome 22 work, made through the real services:
assessments, the lead's decisions, and diversion cases at each stage."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from casework.accounts import services as accounts
from casework.accounts.models import Site
from casework.dates import local_date
from casework.diversion import services as diversion
from casework.extensions import db
from casework.intake.models import Person


def seed_diversion(count: int, seed: int, *, now: datetime) -> int:
    """Assess up to ``count`` Coventry children for Checkpoint (bladed
    article) and take the eligible ones along. Returns the assessments made."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed)
    worker = accounts.find_user_by_email("caseworker@casework.example")
    lead = accounts.find_user_by_email("lead@casework.example")
    settings = diversion.Settings.from_config(current_app.config)
    today = local_date(now)
    children = db.session.scalars(
        select(Person).join(Site, Site.id == Person.site_id)
        .where(Site.key == "coventry", Person.date_of_birth > today - timedelta(days=365 * 17),
               Person.date_of_birth < today - timedelta(days=365 * 11))
        .order_by(Person.id).limit(count)).all()
    for person in children:
        facts = {
            "date_of_birth": person.date_of_birth.isoformat(),
            "offence_date": (today - timedelta(days=rng.randint(0, 20))).isoformat(),
            "offence": rng.choice(["bladed_article_s139", "bladed_article_s139",
                                   "offensive_weapon_s1", "bladed_article_school_s139a"]),
            "aggravating_factors": ["group_context"] if rng.random() < 0.2 else [],
            "previous_outcomes": [], "admits_offence": rng.random() < 0.85,
            "sufficient_evidence": True,
        }
        assessment = diversion.assess_data(person, "checkpoint", facts, actor=worker, now=now,
                                           settings=settings)
        if assessment.result == "needs_review" or rng.random() < 0.2:
            continue  # left for the lead to decide
        diversion.decide(assessment, assessment.result, None, actor=lead, now=now)
        if assessment.result == "eligible":
            case = diversion.offer(assessment, actor=worker, now=now)
            if rng.random() < 0.7:
                diversion.advance(case, diversion.Step("active", today), actor=worker, now=now,
                                  settings=settings)
    return len(children)
