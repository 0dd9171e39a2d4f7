"""What campaigns do when other apps change people."""

from campaigns.engine import enrollments_merge

__all__ = ["enrollments_merge"]
