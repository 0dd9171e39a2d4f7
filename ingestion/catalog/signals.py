"""Signals the catalog sends for the apps above it, which connect to them in their
AppConfig.ready (the catalog imports none of them)."""

from django.dispatch import Signal

# Sent inside the transaction that changed an activity's engagement points (or its role,
# whose default points differ), with `activity_id`: profiles rescores the people who did the
# activity, after commit.
activity_points_changed = Signal()
