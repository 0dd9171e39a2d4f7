"""Campaign templates, rendered in a sandbox: marketers are not trusted with the server.

Templates are Jinja2 in a `SandboxedEnvironment` over plain data only (dicts, lists, strings,
numbers: never model objects), with no loader, so `include`, `import` and `extends` find
nothing. HTML bodies are autoescaped. A render is limited in time and size:

- a trace function runs on the template's own compiled code and stops it once
  `CAMPAIGNS_RENDER_SECONDS` have passed (each loop iteration runs a line, so an endless or
  huge loop is stopped);
- `*` and `**` refuse results that would be huge (`"x" * 10**9`), and `range` is the
  sandbox's bounded one;
- the output stops at `MAX_OUTPUT_CHARS`.

Anything a template tries that the sandbox refuses (attributes starting with `_`, a model's
methods, settings, files) raises `TemplateError` with the reason, which the engine records
on the message instead of sending.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import jinja2
from django.conf import settings
from jinja2.sandbox import SandboxedEnvironment, SecurityError

MAX_OUTPUT_CHARS = 500_000
MAX_SEQUENCE = 10_000


class TemplateError(Exception):
    """A template that could not be rendered, and why, in words a marketer reads."""


class _TimeLimit(Exception):
    pass


class CampaignSandbox(SandboxedEnvironment):
    """The sandbox, with the arithmetic that can exhaust memory bounded."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * max(times, 0) > MAX_SEQUENCE
                ):
                    raise SecurityError("the result would be too long")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise SecurityError("the exponent is too large")
        return super().call_binop(context, operator, left, right)


class _Undefined(jinja2.Undefined):
    """A missing value prints as nothing; one the sandbox refused fails the render, so the
    attempt is recorded instead of silently printing nothing."""

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return super().__str__()

    def __iter__(self) -> Any:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return super().__iter__()


def _environment(autoescape: bool) -> CampaignSandbox:
    # No loader: include, import and extends cannot reach another template or a file.
    return _plain(
        CampaignSandbox(
            loader=None,
            autoescape=autoescape,
            undefined=_Undefined,
            keep_trailing_newline=True,
        )
    )


def _plain(environment: CampaignSandbox) -> CampaignSandbox:
    # Only the globals plain templates need: no function objects to poke at.
    for name in ("lipsum", "cycler", "joiner"):
        environment.globals.pop(name, None)
    return environment


_HTML = _environment(autoescape=True)
_TEXT = _environment(autoescape=False)


def render(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    """Render one template over `context` (plain data only); raises TemplateError."""
    limit = float(getattr(settings, "CAMPAIGNS_RENDER_SECONDS", 2))
    try:
        template = _compiled(source, html)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}") from None
    # Only the template's own compiled code is traced (its file name is the template's).
    template_code_filename = _filename_of(template)
    deadline = time.monotonic() + limit
    previous = sys.gettrace()
    local = _local_for(deadline)

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == template_code_filename:
            return local(frame, event, arg)
        return None

    parts: list[str] = []
    size = 0
    sys.settrace(tracer)
    try:
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError("the message is too long")
            parts.append(chunk)
    except _TimeLimit:
        raise TemplateError(f"rendering took longer than {limit:g} seconds") from None
    except SecurityError as exc:
        raise TemplateError(f"not allowed: {exc}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"unknown value: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(str(exc) or exc.__class__.__name__) from None
    except TemplateError:
        raise
    except Exception as exc:  # a filter given the wrong kind of value, a division by zero
        raise TemplateError(f"{exc.__class__.__name__}: {exc}") from None
    finally:
        sys.settrace(previous)
    return "".join(parts)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> jinja2.Template:
    """A template compiled once per process: a broadcast renders one step's three
    templates for every person, and compiling them costs more than rendering."""
    return (_HTML if html else _TEXT).from_string(source)


def _local_for(deadline: float) -> Callable[..., Any]:
    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _TimeLimit
        return local

    return local


def _filename_of(template: jinja2.Template) -> str:
    root = template.root_render_func
    return root.__code__.co_filename


def check(source: str, *, html: bool = False) -> str | None:
    """What is wrong with a template's syntax, or None: for the editor."""
    environment = _HTML if html else _TEXT
    try:
        environment.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None
