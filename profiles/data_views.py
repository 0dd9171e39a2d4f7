"""Imports and data rights: CSV imports, one profile's export, deletion."""

from __future__ import annotations

import io

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from cdp_project.access.actors import Actor
from cdp_project.access.audit import audit_write
from cdp_project.access.roles import change_required
from profiles import rights
from profiles.imports import (
    ORDER_SAMPLE_HEADER,
    PROFILE_SAMPLE_HEADER,
    ImportRefused,
    check_size,
    csv_import,
)
from profiles.models import Profile

IMPORT_KINDS = {
    "profiles": {
        "title": "Customers",
        "sample": PROFILE_SAMPLE_HEADER,
        "help": "One customer per row. Needs user_id, email or anonymous_id; every other "
        "column becomes a trait. email_consent and sms_consent take yes/no, true/false, "
        "granted/withdrawn, opted_in/opted_out or subscribed/unsubscribed.",
    },
    "orders": {
        "title": "Past orders",
        "sample": ORDER_SAMPLE_HEADER,
        "help": "One row per order, or one per line item with an order's rows together. "
        "Needs order_id, placed_at and user_id or email; status is completed, refunded "
        "or cancelled.",
    },
}


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file")


class DeleteForm(forms.Form):
    suppress = forms.BooleanField(
        required=False,
        initial=True,
        label="Suppress its ids",
        help_text="Refuse new events for this person's ids, so they are not made again.",
    )


class _MemoryUpload(FileUploadHandler):
    """Keeps an upload in memory and never in a temporary file, up to the import limit;
    past it, the rest is read and dropped, and the view refuses the file by its size."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.received = 0
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received <= self.limit:
            self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self.received,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


# Upload handlers must be set before anything reads the body, and the CSRF check reads it:
# so the check is exempted on the outside and applied inside, after the handlers are set.
@csrf_exempt
@login_required
@change_required
@require_http_methods(["GET", "POST"])
def profile_import(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        request.upload_handlers = [_MemoryUpload(request, settings.PROFILE_IMPORT_MAX_BYTES)]
    return _profile_import(request)


@csrf_protect
def _profile_import(request: HttpRequest) -> HttpResponse:
    forms_by_kind = {kind: ImportForm(prefix=kind) for kind in IMPORT_KINDS}
    report = None
    kind = ""
    status = 200
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        if kind not in IMPORT_KINDS:
            return HttpResponse("Unknown import kind.", status=400)
        form = ImportForm(request.POST, request.FILES, prefix=kind)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                check_size(upload.size, settings.PROFILE_IMPORT_MAX_BYTES)
                report = csv_import(
                    actor=Actor.from_request(request),
                    kind=kind,
                    data=upload.file,
                    max_bytes=settings.PROFILE_IMPORT_MAX_BYTES,
                    file_name=upload.name,
                )
            except ImportRefused as refused:
                form.add_error("file", str(refused))
            finally:
                upload.close()
        if not form.is_valid():
            forms_by_kind[kind] = form
            status = 400
    context = {
        "kinds": [
            {
                "kind": name,
                "form": forms_by_kind[name],
                "columns": about["sample"].split(","),
                **about,
            }
            for name, about in IMPORT_KINDS.items()
        ],
        "kind": kind,
        "report": report,
        "refusals_shown": report.refused[:200] if report else [],
        "max_mb": settings.PROFILE_IMPORT_MAX_BYTES / 1024 / 1024,
        "nav": "profiles",
    }
    return render(request, "profiles/import.html", context, status=status)


@login_required
@change_required
@require_GET
def profile_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    # Recorded when asked for: a download that breaks off has still shown personal data.
    # A read, not a change: the entry is the whole of what is written, in its own transaction.
    audit_write(
        actor=Actor.from_request(request),
        action="profile.export",
        obj=profile,
        summary=f"Exported profile #{profile.pk}",
    )
    response = StreamingHttpResponse(
        rights.profile_export(profile=profile), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="profile-{profile.pk}.json"'
    # Personal data: no copy in a shared cache or the browser's.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@change_required
@require_http_methods(["GET", "POST"])
def profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    form = DeleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        suppress = form.cleaned_data["suppress"]
        try:
            record = rights.profile_delete(
                actor=Actor.from_request(request), profile_id=profile.pk, suppress=suppress
            )
        except Profile.DoesNotExist:
            raise Http404 from None  # deleted meanwhile
        events = f"{record.events_deleted:,} event{'' if record.events_deleted == 1 else 's'}"
        messages.success(
            request,
            f"Profile #{record.profile_id} deleted with its {events} and everything else "
            "about the person."
            + (" Their ids are suppressed: new events for them are refused." if suppress else ""),
        )
        return redirect("profiles")
    context = {
        "profile": profile,
        "preview": rights.profile_deletion_preview(profile=profile),
        "form": form,
        "nav": "profiles",
    }
    return render(request, "profiles/delete_confirm.html", context)
