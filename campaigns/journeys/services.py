"""Writes of the journey editor: a new journey from a template, its draft, publishing a
version, and moving the people in flight to the latest one.

A journey's draft is JSON the editor changes freely; publishing checks it (`journey_problems`)
and writes it as the next `JourneyVersion`, which new entries take. A live journey's steps
are never edited in place.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from typing import Any

from django.db.models import Max
from django.utils import timezone

from campaigns import channels, content, rendering
from campaigns.journeys.builtin import JOURNEY_TEMPLATES, builtin_journey
from campaigns.journeys.definition import (
    ActivityTrigger,
    Journey,
    JourneyError,
    Send,
    Split,
    WaitFor,
    journey_parse,
    journey_segments,
    journey_to_json,
)
from campaigns.models import Campaign, Enrollment, JourneyVersion
from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_write
from segments.definition import DefinitionError, definition_parse
from segments.models import Segment
from segments.tree import (
    ActivitySelector,
    PropertyFilter,
    activity_to_json,
    comparison_to_json,
    tree_to_json,
)

logger = logging.getLogger(__name__)

MAX_DEFINITION_BYTES = 512 * 1024


class JourneyNotReady(Exception):
    """A journey that cannot be published or activated, with every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def template_definition(template: str) -> dict[str, Any]:
    """A template's definition (a fresh copy), or a built-in campaign's journey by its
    kind (`builtin:abandoned_cart`)."""
    if template.startswith("builtin:"):
        kind = template.removeprefix("builtin:")
        campaign = Campaign.objects.filter(kind=kind).exclude(kind=Campaign.Kind.JOURNEY).first()
        if campaign is None:
            raise ValueError(f"unknown built-in {kind!r}")
        return journey_to_json(builtin_journey(campaign))
    if template not in JOURNEY_TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    return copy.deepcopy(JOURNEY_TEMPLATES[template]["definition"])


def journey_problems(definition: Any) -> list[str]:
    """Everything that keeps a definition from running, in the marketer's words: its shape
    (`journey_parse`), segments that do not exist, templates that do not compile and
    webhook addresses the channel would refuse."""
    try:
        journey = journey_parse(definition)
    except JourneyError as error:
        return error.problems
    return _database_problems(journey)


def _database_problems(journey: Journey) -> list[str]:
    problems: list[str] = []
    named = journey_segments(journey)
    existing = set(Segment.objects.filter(pk__in=named).values_list("pk", flat=True))
    for missing in sorted(named - existing):
        problems.append(f"Segment #{missing} does not exist (any more).")
    for send in journey.sends():
        problems.extend(_send_problems(send))
    problems.extend(_condition_problems(journey))
    return problems


def _unnumbered(text: str) -> str:
    """A segment checker's message without the number of the one condition it was given:
    "Condition 1, filter 1: …" reads "filter 1: …"."""
    return re.sub(r"^Condition \d+(, |: )", "", text)


def _condition_problems(journey: Journey) -> list[str]:
    """Property filters and conditions checked against the catalog, as the segment builder
    checks them: an operator the property's type has, a value of that type."""
    problems: list[str] = []
    filtered: list[tuple[str, ActivitySelector, tuple[PropertyFilter, ...], tuple[int, ...]]] = []
    if isinstance(journey.trigger, ActivityTrigger) and journey.trigger.where:
        trigger = journey.trigger
        filtered.append(("Trigger", trigger.activity, trigger.where, trigger.sources))
    for step in journey.steps:
        name = f"Step “{step.id}”"
        if isinstance(step, WaitFor) and step.where:
            filtered.append((name, step.activity, step.where, ()))
        if isinstance(step, Split):
            if step.did is not None and step.did.where:
                filtered.append((name, step.did.activity, step.did.where, ()))
            if step.condition.conditions:
                try:
                    definition_parse(tree_to_json(step.condition))
                except DefinitionError as error:
                    problems.extend(f"{name}: {text}" for text in error.errors)
    for label, activity, where, sources in filtered:
        behaviour = {
            "kind": "behaviour",
            "negate": False,
            "activity": activity_to_json(activity),
            "where": [{"path": f.path, **comparison_to_json(f.comparison)} for f in where],
            "sources": list(sources),
            "count": {"operator": "at_least", "value": 1},
            "window": {"type": "ever"},
        }
        try:
            definition_parse({"kind": "group", "match": "all", "conditions": [behaviour]})
        except DefinitionError as error:
            problems.extend(f"{label}: {_unnumbered(text)}" for text in error.errors)
    return problems


def _send_problems(send: Send) -> list[str]:
    problems: list[str] = []
    name = f"Step “{send.id}”"
    if send.channel == "email":
        sample = content.sample_context(campaign_name="Sample", now=timezone.now())
        for label, source, html in (
            ("subject", send.subject, False),
            ("HTML body", send.html, True),
            ("text body", send.text, False),
        ):
            if error := rendering.check(source, html=html):
                problems.append(f"{name}: the {label} does not compile: {error}")
                continue
            # Compiles; tried on a made-up person with one product, so that a template
            # that cannot render (a list read the wrong way) is refused now, not at send.
            try:
                rendering.render(source, sample, html=html)
            except rendering.TemplateError as exc:
                problems.append(f"{name}: the {label} fails for a sample person: {exc}")
    elif refusal := channels.url_refusal(send.webhook_url):
        problems.append(f"{name}: {refusal}")
    return problems


@action
def journey_create(*, actor: Actor, name: str, template: str = "blank") -> Campaign:
    """A new journey in draft, its draft taken from a template or a built-in."""
    name = name.replace("\x00", "").strip()[:200] or "New journey"
    definition = template_definition(template)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=name,
        kind=Campaign.Kind.JOURNEY,
        status=Campaign.Status.DRAFT,
        draft=definition,
        # A journey's sends are capped across marketing messages (the site's daily cap);
        # a cap of its own is the marketer's choice.
        cap_count=0,
        reentry=Campaign.Reentry.WHILE_PENDING,
        created_at=now,
        updated_at=now,
    )
    audit_write(
        actor=actor,
        action="journey.create",
        obj=campaign,
        summary=f"Created journey “{name}” from {template}",
    )
    logger.info("journey_created campaign_id=%s template=%s", campaign.pk, template)
    return campaign


@action
def journey_draft_save(
    *, actor: Actor, campaign: Campaign, definition: dict[str, Any]
) -> list[str]:
    """Keep the editor's draft, whatever its state; return what keeps it from publishing."""
    if not campaign.is_journey:
        raise ValueError("only a journey has a draft")
    if len(json.dumps(definition)) > MAX_DEFINITION_BYTES:
        raise JourneyNotReady([f"A journey is at most {MAX_DEFINITION_BYTES // 1024} KB."])
    campaign.draft = definition
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["draft", "updated_at"])
    audit_write(
        actor=actor,
        action="journey.draft",
        obj=campaign,
        summary=f"Saved the draft of “{campaign.name}”",
    )
    return journey_problems(definition)


@action
def journey_publish(*, actor: Actor, campaign: Campaign) -> JourneyVersion:
    """Publish the draft as the journey's next version: new entries take it, people in
    flight stay on theirs. Raises JourneyNotReady with every problem."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not locked.is_journey:
        raise ValueError("only a journey is published")
    problems = journey_problems(locked.draft)
    if problems:
        raise JourneyNotReady(problems)
    # Stored as checked and written back, in one shape.
    definition = journey_to_json(journey_parse(locked.draft))
    latest = locked.versions.aggregate(latest=Max("number"))["latest"] or 0
    version = JourneyVersion.objects.create(
        campaign=locked,
        number=latest + 1,
        definition=definition,
        created_by=actor.name,
    )
    locked.version = version
    locked.draft = definition
    locked.updated_at = timezone.now()
    locked.save(update_fields=["version", "draft", "updated_at"])
    campaign.version, campaign.draft = version, definition
    audit_write(
        actor=actor,
        action="journey.publish",
        obj=campaign,
        summary=f"Published version {version.number} of “{campaign.name}”",
    )
    logger.info("journey_published campaign_id=%s version=%s", campaign.pk, version.number)
    return version


@action
def journey_move_to_latest(*, actor: Actor, campaign: Campaign) -> int:
    """Move the people waiting on earlier versions to the live one, where the step they
    wait at exists in it under the same id (the others stay); return how many moved."""
    live = campaign.version
    if live is None:
        return 0
    live_steps = {step["id"] for step in live.definition.get("steps", [])}
    moved = (
        Enrollment.objects.filter(
            campaign=campaign, state=Enrollment.State.PENDING, node__in=live_steps
        )
        .exclude(version=live)
        .update(version=live, updated_at=timezone.now())
    )
    audit_write(
        actor=actor,
        action="journey.move",
        obj=campaign,
        summary=f"Moved {moved} people in flight to version {live.number} of “{campaign.name}”",
    )
    return moved
