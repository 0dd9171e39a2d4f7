"""Sections other apps add to a person's page, below the orders and segments.

Profiles sits below the apps that know more about a person (campaigns knows their journeys),
so it cannot ask them; each registers a section at start-up (its AppConfig.ready) with a
function that reads what to show for one person, and the page draws every section through
the template it names. A section that has nothing to say for the person returns None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from profiles.models import Profile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileSection:
    """One section of the person's page: its anchor id, heading, count shown beside it,
    the template that draws it, and that template's context."""

    key: str
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    count: int | None = None
    # Drawn unfolded: the section has something happening now.
    open: bool = False


SectionReader = Callable[[Profile], ProfileSection | None]
_readers: dict[str, SectionReader] = {}


def profile_section_register(*, key: str, read: SectionReader) -> None:
    """Called by an app at start-up for each section it adds to a person's page."""
    _readers[key] = read


def profile_sections(*, profile: Profile) -> list[ProfileSection]:
    """Every registered section with something to show for this person, in the order
    they were registered."""
    found = []
    for key, read in _readers.items():
        try:
            section = read(profile)
        except Exception:  # one section failing leaves the page readable
            logger.exception("profile_section_failed key=%s profile_id=%s", key, profile.pk)
            continue
        if section is not None:
            found.append(section)
    return found
