from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    name = "cdp_project.devtools"
    label = "devtools"
    verbose_name = "Development tools"
