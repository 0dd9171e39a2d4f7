from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "cdp_project.access"
    label = "access"
    verbose_name = "Access and audit"

    def ready(self) -> None:
        from cdp_project.access import checks  # noqa: F401 - registers the deploy checks
