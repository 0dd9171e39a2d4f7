from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Profiles"

    def ready(self) -> None:
        # Imported here, not at the top: an AppConfig module is imported before the models.
        from ingestion.catalog.signals import activity_points_changed
        from ingestion.people import people_register
        from profiles.identity import profiles_lock, profiles_resolve
        from profiles.rights import identities_suppressed
        from profiles.signals import engagement_rescore

        # Ingestion, below profiles, asks these of the people behind its events.
        people_register(
            resolve=lambda claims: profiles_resolve(claims=claims),
            suppressed=identities_suppressed,
            lock=lambda profile_ids: profiles_lock(profile_ids=profile_ids),
        )
        activity_points_changed.connect(engagement_rescore, dispatch_uid="profiles-rescore")
