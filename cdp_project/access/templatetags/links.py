from __future__ import annotations

from django import template

from cdp_project.access.links import web_url as _web_url

register = template.Library()


@register.filter
def web_url(value: object) -> str:
    """`{{ product.url|web_url }}`: the URL if it is safe to link to, else ""."""
    return _web_url(value)
