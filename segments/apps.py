from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Segments"

    def ready(self) -> None:
        # Imported here, not at the top: an AppConfig module is imported before the models.
        from profiles.signals import profile_merged
        from segments.signals import memberships_merge

        profile_merged.connect(memberships_merge, dispatch_uid="segments-memberships-merge")
