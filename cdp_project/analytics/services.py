"""The analytics pages' one write: saving a funnel."""

from __future__ import annotations

from typing import Any

from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_write
from cdp_project.analytics.models import SavedFunnel


@action
def funnel_save(*, actor: Actor, name: str, steps: list[dict[str, Any]]) -> SavedFunnel:
    """Save checked funnel steps (`funnels.steps_parse`) under `name`; a funnel of the same
    name takes the new steps."""
    funnel = SavedFunnel.objects.select_for_update().filter(name=name).first()
    if funnel is None:
        funnel = SavedFunnel.objects.create(name=name, steps=steps, created_by=actor.user)
        verb = "Saved"
    else:
        funnel.steps = steps
        funnel.save(update_fields=["steps", "updated_at"])
        verb = "Updated"
    audit_write(
        actor=actor,
        action="funnel.save",
        obj=funnel,
        summary=f"{verb} funnel “{funnel.name}”: {len(steps)} steps",
    )
    return funnel
