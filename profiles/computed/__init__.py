"""Traits, consent and computed attributes, folded from events into profiles.

The ingest processor `profiles_update` (processor.py) runs on every stored batch (after
catalog discovery, so a new activity already has its commerce role) and folds it into its
profiles (fold.py), orders set-based (orders.py). `profile_recompute` (recompute.py) folds a
profile's whole history through the same code, for repairs and for the tests that hold the
two equal; a merge combines two profiles' values (merge.py). docs/profiles.md gives the rules
in the marketer's words.

What needs time or other customers to change is refreshed on a schedule: the engagement
score decays (`profiles_engagement_decay`, engagement.py) and RFM quintiles are recomputed
over all customers with orders (`profiles_rfm_refresh`, rfm.py).

The names below are what changes the computed attributes, which the project, the tasks and
the other apps call; readers of values (an order's amount, the score now, what an activity
means) are imported from their module.
"""

from profiles.computed.engagement import profiles_engagement_decay
from profiles.computed.merge import profile_computed_merge
from profiles.computed.processor import profiles_update
from profiles.computed.recompute import (
    engagement_points_changed,
    profile_recompute,
    profiles_recompute_stale,
)
from profiles.computed.rfm import profiles_rfm_refresh

__all__ = [
    "engagement_points_changed",
    "profile_computed_merge",
    "profile_recompute",
    "profiles_engagement_decay",
    "profiles_recompute_stale",
    "profiles_rfm_refresh",
    "profiles_update",
]
