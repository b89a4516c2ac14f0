"""``flask eligibility assess --scheme {cirv,checkpoint,outcome22} FILE|-``."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from marshmallow import ValidationError
from sqlalchemy import select

from casework.accounts.models import Site
from casework.diversion import services as diversion
from casework.eligibility import checkpoint, cirv, outcome22, schemas
from casework.extensions import db
from casework.triage import exclusions
from casework.trial import services as trials

eligibility_cli = AppGroup("eligibility", help="Apply eligibility rules to facts.")

SCHEMES = {"cirv": schemas.CirvFactsSchema, "checkpoint": schemas.CheckpointFactsSchema,
           "outcome22": schemas.Outcome22FactsSchema}


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


class _RepeatedKey(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(f"{key!r} is given more than once")


def _without_repeats(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object's members, refusing a name given twice: the last was
    taken silently (found by review), so facts that said two things were
    assessed on one of them."""
    facts: dict = {}
    for key, value in pairs:
        if key in facts:
            raise _RepeatedKey(key)
        facts[key] = value
    return facts


def _cirv_rules(site: Site, home: Site | None) -> cirv.CirvRules:
    """The trial sites the triage page checks a referral at ``site`` against
    (``trials.rule_sites``): the trial open there, else the one open where
    the person lives (``home``), so the command and the page agree; the
    design's defaults only while no trial exists at all. It took the
    defaults while none was open, so with the only trial closed C2 passed
    here and failed on the page. C5 names exclusions by the titles admins
    keep, as the page does."""
    titles = exclusions.titles()
    if not trials.any_trial():
        return cirv.CirvRules(exclusions=titles)
    trial = trials.open_trial_for_site(site.id) or (
        trials.open_trial_for_site(home.id) if home is not None else None)
    return cirv.CirvRules(trial_sites=trials.rule_sites(trial), exclusions=titles)


@eligibility_cli.command("assess")
@click.option("--scheme", required=True, type=click.Choice(sorted(SCHEMES)),
              help="Which rules to apply.")
# utf-8-sig: a file saved by Windows Notepad, say, begins with a byte order
# mark, which was refused as bad JSON (found by review)
@click.argument("source", type=click.File("r", encoding="utf-8-sig"))
def assess_command(scheme: str, source) -> None:
    """Read facts as JSON from SOURCE (a file, or - for standard input) and
    print the decision as JSON. Exit 2 naming the field if the facts are bad."""
    try:
        raw = json.load(source, object_pairs_hook=_without_repeats)
    except _RepeatedKey as error:
        _fail(f"{error.key}: The facts give this field more than once; give it once.")
    except RecursionError:
        _fail("The facts are not valid JSON: they are nested too deeply")
    except ValueError as error:  # bad JSON or encoding; a number of thousands of digits
        _fail(f"The facts are not valid JSON: {error}")
    except OSError as error:  # opened but unreadable (a device, a file gone bad)
        _fail(f"The facts could not be read: {error.strerror or error}")
    if not isinstance(raw, dict):
        _fail("The facts must be a JSON object")
    try:
        facts = SCHEMES[scheme]().load(raw)
        if scheme == "checkpoint":
            assessment = checkpoint.assess(schemas.checkpoint_facts(facts, diversion.catalogue()))
        elif scheme == "outcome22":
            assessment = outcome22.assess(
                schemas.outcome22_facts(facts, diversion.catalogue()),
                outcome22.Outcome22Rules(current_app.config["OUTCOME22_INTENSITY"]))
        else:
            known_sites = {site.key: site for site in db.session.scalars(select(Site))}
            if facts.site not in known_sites:
                raise ValidationError({"site": [f"Unknown site {facts.site!r}; use one of "
                                                f"{', '.join(sorted(known_sites))}."]})
            assessment = cirv.assess(facts, _cirv_rules(known_sites[facts.site],
                                                        known_sites.get(facts.home or "")))
    except ValidationError as error:
        _fail("\n".join(schemas.messages(error)))
    click.echo(json.dumps(assessment.to_dict(), indent=2))
