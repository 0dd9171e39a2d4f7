"""Signals other apps receive to keep their rows about a person right."""

from django.dispatch import Signal

# Sent inside a merge's transaction, after the merged profile's ids, events and orders moved
# and before it is deleted, with `loser_id` and `survivor_id`: what other apps hold about the
# merged profile (segment memberships, campaign enrollments) moves to the survivor here.
profile_merged = Signal()
