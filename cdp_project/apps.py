from django.apps import AppConfig


class CdpProjectConfig(AppConfig):
    name = "cdp_project"
    verbose_name = "CDP"
