"""The campaign pages: the list, a campaign's page (statistics, recent enrollments, preview
for a real person and a test send), the editor with Activate / Pause, and the Outbox where
every message the app sent can be read.

Also the unsubscribe page every marketing email links to (no login: the signed token is the
person's key). GET shows a confirmation button, so a mail scanner following links
unsubscribes nobody; POST withdraws the person's email consent. Mail clients send the
RFC 8058 one-click POST (`List-Unsubscribe=One-Click`) to the same address, without a CSRF
token.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import channels, dryrun, selectors, services, stats
from campaigns import progress as journey_selectors
from campaigns.engine import UNSUBSCRIBE_SALT, campaign_preview, campaign_preview_blockers
from campaigns.forms import CampaignForm, TestSendForm
from campaigns.journey_forms import NewJourneyForm
from campaigns.journeys.definition import JourneyError
from campaigns.models import Campaign, Enrollment, Message
from cdp_project.access.actors import Actor
from cdp_project.access.roles import change_required, reads_only
from cdp_project.core.db import jit_off_set
from cdp_project.core.forms import query_text
from cdp_project.core.http import MarketerRequest
from profiles.forms import ProfilePickForm
from profiles.models import Consent, Profile
from profiles.services import profile_consent_set

logger = logging.getLogger(__name__)

STATUS_WORDS: dict[str, str] = {
    Campaign.Status.ACTIVE: "active: people who trigger it from now on enter it.",
    Campaign.Status.PAUSED: "paused: nobody new enters, and those waiting wait for its return.",
    Campaign.Status.DRAFT: "back to a draft.",
}
NAV = "campaigns"


# --- the list and a campaign's page -----------------------------------------------------------


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    context = {
        "campaigns": selectors.campaign_list(days=selectors.LIST_DAYS),
        "new_journey": NewJourneyForm(),
        "days": selectors.LIST_DAYS,
        "nav": NAV,
    }
    return render(request, "campaigns/campaign_list.html", context)


def _facts(campaign: Campaign) -> dict[str, Any]:
    return {
        "wait_text": selectors.duration_words(campaign.wait_seconds),
        "exit_labels": selectors.role_labels(campaign.exit_roles or []),
        "problems": services.campaign_problems(campaign),
    }


def _preview_context(request: MarketerRequest, campaign: Campaign) -> dict[str, Any]:
    """The preview panel: the message the chosen person would get now."""
    pick = ProfilePickForm(request.GET).pick()
    context: dict[str, Any] = {
        "campaign": campaign,
        "search": pick.search,
        "test_form": TestSendForm(initial={"address": request.user.email}),
    }
    if pick.problem:
        context["problem"] = pick.problem
    if pick.profile is None:
        return context
    # The search reads a light copy; the message needs the person's traits too.
    profile = Profile.objects.get(pk=pick.profile.pk)
    context.update(profile=profile, more=pick.more)
    try:
        with transaction.atomic():
            context["preview"] = campaign_preview(campaign, profile)
            context["blockers"] = campaign_preview_blockers(campaign, profile)
    except Exception:  # the panel says so; the page stays usable
        logger.exception("campaign_preview_failed campaign_id=%s", campaign.pk)
        context["problem"] = "The message could not be put together for this person."
    return context


def _days(value: str | None) -> int:
    try:
        days = int(value or selectors.LIST_DAYS)
    except ValueError:
        return selectors.LIST_DAYS
    return days if days in selectors.STATS_PERIODS else selectors.LIST_DAYS


def _version_number(request: HttpRequest) -> int | None:
    raw = request.GET.get("version", "")
    return int(raw) if raw.isdigit() and len(raw) < 9 else None


def _journey_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    """The journey drawn with its counts, for the live version or the one asked for, and
    its goal against the control group."""
    try:
        progress = journey_selectors.journey_progress(
            campaign=campaign, version_number=_version_number(request)
        )
    except JourneyError as error:
        return {"journey_problem": str(error)}
    goal = None
    if campaign.is_journey:
        goal = stats.journey_goal_outcomes(campaign=campaign, version=progress.version)
    return {"progress": progress, "goal": goal}


def _detail_context(request: MarketerRequest, campaign: Campaign, days: int) -> dict[str, Any]:
    with transaction.atomic():
        # Grouped counts with an EXISTS per row: quicker run than compiled (core/db.py).
        jit_off_set()
        return _detail_reads(request, campaign, days)


def _detail_reads(request: MarketerRequest, campaign: Campaign, days: int) -> dict[str, Any]:
    return {
        **_preview_context(request, campaign),
        **_facts(campaign),
        **_journey_context(request, campaign),
        "stats": selectors.campaign_stats(campaign=campaign, days=days),
        # A journey's goal against its control group replaces the built-ins' lift.
        "outcomes": None
        if campaign.is_journey
        else stats.campaign_outcomes(campaign=campaign, days=days),
        "periods": selectors.STATS_PERIODS,
        "enrollments": selectors.recent_enrollments(campaign=campaign),
        "dry_run_days": dryrun.DEFAULT_DAYS,
        "dry_run_max_days": dryrun.MAX_DAYS,
        "nav": NAV,
    }


@login_required
@require_GET
def campaign_detail(request: MarketerRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("audience"), pk=pk)
    if request.htmx and request.htmx.target == "preview":
        return render(
            request,
            "campaigns/campaign_detail.html#preview",
            _preview_context(request, campaign),
        )
    context = _detail_context(request, campaign, _days(request.GET.get("days")))
    return render(request, "campaigns/campaign_detail.html", context)


@login_required
@require_GET
def campaign_enrollments(request: MarketerRequest, pk: int) -> HttpResponse:
    """Every enrollment of a campaign, sortable and filtered by state, step and person,
    50 a page (keyset paging)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    state = request.GET.get("state", "")
    sort = request.GET.get("sort", "")
    filters: dict[str, Any] = {
        "version": _version_number(request),
        "state": state if state in Enrollment.State.values else "",
        "node": request.GET.get("step", "")[:40],
        "person": query_text(request.GET, "person", max_length=320),
        "sort": sort if sort in journey_selectors.SORTS else "entered",
    }
    after = request.GET.get("after", "")[:60]
    page = journey_selectors.enrollment_page(
        campaign=campaign,
        version=filters["version"],
        state=filters["state"],
        node=filters["node"],
        person=filters["person"],
        sort=filters["sort"],
        after=after,
    )
    kept = {
        key: value
        for key, value in {
            "version": filters["version"] or "",
            "state": filters["state"],
            "step": filters["node"],
            "person": filters["person"],
            "sort": filters["sort"] if filters["sort"] != "entered" else "",
        }.items()
        if value
    }
    context = {
        "campaign": campaign,
        "list_url": reverse("campaign-enrollments", args=[campaign.pk]),
        "page": page,
        "filters": filters,
        "query": urlencode(kept),
        "sort_links": [
            (key, label, urlencode({**kept, "sort": key}))
            for key, (label, _, _) in journey_selectors.SORTS.items()
        ],
        "sort_label": journey_selectors.SORTS[page.sort][0],
        "next_query": urlencode({**kept, "after": page.next_cursor}) if page.next_cursor else "",
        "after": after,
        "states": Enrollment.State.choices,
        "steps": journey_selectors.step_choices(campaign=campaign),
        "versions": journey_selectors.journey_versions(campaign=campaign)
        if campaign.is_journey
        else [],
        "nav": NAV,
    }
    if request.htmx and request.htmx.target == "enrollment-rows":
        return render(request, "campaigns/enrollment_list.html#rows", context)
    return render(request, "campaigns/enrollment_list.html", context)


@reads_only
@login_required
@require_POST
def campaign_dry_run(request: MarketerRequest, pk: int) -> HttpResponse:
    """Replay the campaign over the last N days of events: the results panel (htmx), or the
    campaign's page with it. Nothing is recorded or sent (campaigns/dryrun.py)."""
    campaign = get_object_or_404(Campaign.objects.select_related("audience"), pk=pk)
    raw = request.POST.get("days", "")
    context: dict[str, Any] = {
        "campaign": campaign,
        "dry_run_days": raw[:10],
        "dry_run_max_days": dryrun.MAX_DAYS,
    }
    status = 200
    try:
        days = dryrun.days_clean(raw)
    except ValueError as error:
        context["dry_run_problem"] = str(error)
        status = 400
    else:
        context["dry_run_days"] = days
        context["dry_run"] = dryrun.campaign_dry_run(campaign=campaign, days=days)
    if request.htmx:
        return render(request, "campaigns/_dry_run.html", context, status=status)
    page = _detail_context(request, campaign, selectors.LIST_DAYS)
    page.update(context)
    return render(request, "campaigns/campaign_detail.html", page, status=status)


def _warn_if_webhook_refused(request: HttpRequest, campaign: Campaign) -> None:
    """Saved all the same (the address may resolve differently where the worker runs), but
    the marketer learns now what every send would fail with."""
    if campaign.channel != Campaign.Channel.WEBHOOK or not campaign.webhook_url:
        return
    refusal = channels.url_refusal(campaign.webhook_url)
    if refusal:
        messages.warning(
            request,
            f"Webhooks to {campaign.webhook_url} would be refused when sent: {refusal}. "
            "Use an address on the public internet.",
        )


@login_required
@change_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    if campaign.is_journey:  # a journey's settings are in its editor
        return redirect("journey-editor", pk=campaign.pk)
    # The form works on its own copy: a refused edit leaves the page's heading as saved.
    form = CampaignForm(
        request.POST if request.method == "POST" else None,
        instance=Campaign.objects.get(pk=pk),
    )
    if request.method == "POST":
        if form.is_valid():
            services.campaign_update(
                actor=Actor.from_request(request),
                campaign=campaign,
                values=form.values(),
                summary=", ".join(sorted(form.changed_data)),
            )
            _warn_if_webhook_refused(request, campaign)
            then = request.POST.get("then", "")
            if then not in (Campaign.Status.ACTIVE, Campaign.Status.PAUSED):
                messages.success(request, f"“{campaign.name}” is saved.")
                return redirect("campaign-detail", pk=campaign.pk)
            try:
                _status_set(request, campaign, then)
            except services.CampaignNotReady as error:
                messages.error(
                    request,
                    f"“{campaign.name}” is saved, but it cannot be activated yet: "
                    + " ".join(error.problems),
                )
                return redirect("campaign-edit", pk=campaign.pk)
            messages.success(request, f"“{campaign.name}” is saved and {STATUS_WORDS[then]}")
            return redirect("campaign-detail", pk=campaign.pk)
        status = 400
    else:
        status = 200
    context = {"campaign": campaign, "form": form, **_facts(campaign), "nav": NAV}
    return render(request, "campaigns/campaign_form.html", context, status=status)


def _status_set(request: HttpRequest, campaign: Campaign, status: str) -> None:
    """Raises CampaignNotReady."""
    services.campaign_status_set(
        actor=Actor.from_request(request), campaign=campaign, status=status
    )


@login_required
@require_POST
def campaign_status(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    # A journey's buttons are in its editor too: back there.
    back = "journey-editor" if campaign.is_journey else "campaign-detail"
    status = request.POST.get("status", "")
    if status not in Campaign.Status.values:
        messages.error(request, "Choose Activate or Pause.")
        return redirect(back, pk=campaign.pk)
    try:
        _status_set(request, campaign, status)
    except services.CampaignNotReady as error:
        messages.error(request, "It cannot be activated yet: " + " ".join(error.problems))
        return redirect(back, pk=campaign.pk)
    messages.success(request, f"“{campaign.name}” is {STATUS_WORDS[status]}")
    return redirect(back, pk=pk)


@login_required
@require_POST
def campaign_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    pick = ProfilePickForm(request.POST).pick()
    back = reverse("campaign-detail", args=[pk])
    if pick.search:
        back += "?" + urlencode({"profile": pick.search})
    back += "#preview"
    form = TestSendForm(request.POST)
    if pick.profile is None:
        messages.error(request, "Choose the person to render the test for first.")
        return redirect(back)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors["address"]))
        return redirect(back)
    profile = Profile.objects.get(pk=pick.profile.pk)
    message = services.campaign_test_send(
        actor=Actor.from_request(request),
        campaign=campaign,
        profile=profile,
        address=form.cleaned_data["address"],
    )
    if message.status == Message.Status.SENT:
        messages.success(
            request, f"A test was sent to {message.recipient}; it is in the Outbox (#{message.pk})."
        )
    else:
        messages.error(request, f"The test was not sent: {message.error}")
    return redirect(back)


# --- the Outbox --------------------------------------------------------------------------------


@login_required
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    try:
        campaign_id = int(request.GET.get("campaign", "")) or None
    except ValueError:
        campaign_id = None
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    to = request.GET.get("to", "")[:320]
    before = selectors.MessageCursor.parse(request.GET.get("before"))
    page = selectors.outbox_page(
        campaign_id=campaign_id, status=status, kind=kind, to=to, before=before
    )
    filters = {"campaign": campaign_id or "", "status": status, "kind": kind, "to": to}
    query = urlencode({k: v for k, v in filters.items() if v})
    context = {
        "messages_page": page.messages,
        "next_cursor": page.next_cursor.token() if page.next_cursor else "",
        "before": before,
        "filters": filters,
        "query": query,
        "campaigns": Campaign.objects.only("id", "name").order_by("name", "id"),
        "statuses": Message.Status.choices,
        "kinds": selectors.OUTBOX_KINDS,
        "nav": NAV,
    }
    return render(request, "campaigns/outbox.html", context)


@login_required
@require_GET
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    row = selectors.message_get(pk=pk)
    if row is None:
        raise Http404("No such message.")
    message = row.message
    context = {
        "message": message,
        "is_test": row.is_test,
        "headers": sorted(message.headers.items()),
        "nav": NAV,
    }
    return render(request, "campaigns/message_detail.html", context)


# --- unsubscribing (public) ---------------------------------------------------------------------


def _unsubscribing(token: str) -> tuple[Profile | None, Message | None]:
    """The person a token unsubscribes, and the message its link was in.

    Tokens name a message by its random key. Links sent before that named the profile id and
    address ({"p", "e"}); they keep working when signed with this install's key."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None, None
    if not isinstance(data, dict):
        return None, None
    if "m" in data:
        message = (
            Message.objects.select_related("profile", "campaign")
            .filter(idempotency_key=str(data["m"]), profile__isnull=False)
            .first()
        )
        return (message.profile, message) if message else (None, None)
    profile_id = data.get("p")
    profile = Profile.objects.filter(pk=profile_id).first() if profile_id else None
    if profile is None and data.get("e"):
        # Merged since the email was sent: the address leads to the person now.
        profile = Profile.objects.filter(email=data["e"]).order_by("pk").first()
    return profile, None


def _consent_source(message: Message | None) -> tuple[str, str]:
    if message is None:
        return "Unsubscribe link in a campaign email", "from the unsubscribe link"
    campaign = f" of “{message.campaign.name}”" if message.campaign else ""
    return (
        f"Unsubscribe link in a campaign email{campaign}",
        f"from the unsubscribe link of Outbox message #{message.pk}",
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    profile, message = _unsubscribing(token)
    if profile is None:
        return render(request, "campaigns/unsubscribe.html", {"state": "invalid"}, status=404)
    if request.method == "POST":
        if profile.email_consent != Consent.WITHDRAWN:
            how, recorded = _consent_source(message)
            profile_consent_set(
                actor=Actor.from_request(request, system="unsubscribe_link"),
                profile=profile,
                channel="email",
                state=Consent.WITHDRAWN,
                how=how,
                recorded=recorded,
            )
        return render(request, "campaigns/unsubscribe.html", {"state": "done"})
    return render(request, "campaigns/unsubscribe.html", {"state": "confirm", "token": token})
