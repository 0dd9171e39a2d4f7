"""The template sandbox: plain data only, autoescaped, bounded in time and size."""

from __future__ import annotations

import time

import pytest

from campaigns.rendering import TemplateError, check, render


def test_html_is_autoescaped_and_text_is_not():
    context = {"profile": {"name": "<b>Ann</b>"}}
    assert render("Hi {{ profile.name }}", context, html=True) == "Hi &lt;b&gt;Ann&lt;/b&gt;"
    assert render("Hi {{ profile.name }}", context) == "Hi <b>Ann</b>"


@pytest.mark.parametrize(
    "template",
    [
        "{{ profile.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ settings.SECRET_KEY }}",
        "{% include 'base.html' %}",
        "{% import 'x.html' as x %}",
        "{% extends 'base.html' %}",
        "{{ 'x' * 100000000 }}",
        "{{ 10 ** 100000 }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
    ],
)
def test_templates_cannot_reach_the_server(template):
    with pytest.raises(TemplateError):
        render(template, {"profile": {"name": "Ann"}})


def test_a_runaway_loop_is_stopped_by_the_time_limit(settings):
    settings.CAMPAIGNS_RENDER_SECONDS = 0.3
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"longer than 0\.3 seconds"):
        render("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", {})
    assert time.monotonic() - started < 2


def test_output_is_bounded():
    with pytest.raises(TemplateError, match="too long"):
        render("{% for i in range(99999) %}{{ 'x' * 9999 }}{% endfor %}", {})


def test_syntax_errors_are_reported_for_the_editor():
    assert check("{% for %}") is not None
    assert check("{{ profile.name }}") is None
