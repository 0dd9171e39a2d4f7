from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns.signals import enrollments_merge
        from campaigns.timeline import personal_data_connect
        from profiles.signals import profile_merged

        profile_merged.connect(enrollments_merge, dispatch_uid="campaigns-enrollments-merge")
        # A person's messages and enrollments in their export, and gone with their deletion.
        personal_data_connect()
