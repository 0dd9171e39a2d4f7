from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # Imported here, not at the top: an AppConfig module is imported before the models.
        from django.db.models.signals import pre_delete

        from campaigns.signals import enrollments_merge, segment_delete_guard
        from campaigns.timeline import personal_data_connect, profile_section_connect
        from profiles.signals import profile_merged
        from segments.models import Segment

        profile_merged.connect(enrollments_merge, dispatch_uid="campaigns-enrollments-merge")
        # A segment a journey runs on cannot be deleted from under it.
        pre_delete.connect(segment_delete_guard, sender=Segment, dispatch_uid="journey-segments")
        # Bounces and complaints from the email provider's tracking webhook.
        from anymail.signals import tracking

        from campaigns.bounces import esp_event_record

        tracking.connect(esp_event_record, dispatch_uid="campaigns-esp-events")
        # A person's messages and enrollments in their export, and gone with their deletion.
        personal_data_connect()
        # The person's journeys on their page.
        profile_section_connect()
