"""The three built-in campaigns as journeys, and the templates a new journey starts from.

A built-in (abandoned browse, abandoned cart, order confirmation) keeps its settings on its
`Campaign` row, tuned on its edit page; `builtin_journey` reads them as the journey the
engine runs: its trigger role, a wait, one send, and its exit roles.
"""

from __future__ import annotations

from typing import Any

from campaigns.journeys.definition import (
    ActivityTrigger,
    Items,
    Journey,
    Send,
    Step,
    Wait,
)
from campaigns.models import Campaign
from segments.tree import ActivityRole

BUILTIN_ITEMS: dict[str, Items] = {
    Campaign.Kind.ABANDONED_BROWSE: "viewed",
    Campaign.Kind.ABANDONED_CART: "cart",
    Campaign.Kind.ORDER_CONFIRMATION: "order",
}


def builtin_journey(campaign: Campaign) -> Journey:
    """A built-in campaign's settings as the journey the engine runs."""
    send = Send(
        "send",
        channel="webhook" if campaign.channel == Campaign.Channel.WEBHOOK else "email",
        transactional=campaign.transactional,
        subject=campaign.subject_template,
        html=campaign.html_template,
        text=campaign.text_template,
        sender_name=campaign.sender_name,
        sender_email=campaign.sender_email,
        webhook_url=campaign.webhook_url,
        items=BUILTIN_ITEMS.get(campaign.kind, ""),
    )
    steps: tuple[Step, ...] = (send,)
    if campaign.wait_seconds:
        steps = (Wait("wait", seconds=campaign.wait_seconds, next="send"), send)
    return Journey(
        trigger=ActivityTrigger(
            ActivityRole(campaign.trigger_role),
            entry_key="order_id" if campaign.kind == Campaign.Kind.ORDER_CONFIRMATION else "",
        ),
        steps=steps,
        start=steps[0].id,
        exit_on=tuple(ActivityRole(role) for role in campaign.exit_roles),
    )


# --- Templates a new journey starts from -------------------------------------------------------

_FOOTER_HTML = (
    '<p style="font-size:12px;color:#555">You get this email because you opted in. '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)
_FOOTER_TEXT = "Unsubscribe: {{ unsubscribe_url }}"


def _email(
    step_id: str, subject: str, body: str, *, items: str = "", nxt: str = ""
) -> dict[str, Any]:
    listing_html = ""
    listing_text = ""
    if items:
        listing_html = (
            "<ul>{% for item in items %}<li>{{ item.name }} {{ item.price_display }}</li>"
            "{% endfor %}</ul>"
        )
        listing_text = (
            "{% for item in items %}- {{ item.name }} {{ item.price_display }}\n{% endfor %}"
        )
    return {
        "id": step_id,
        "type": "send",
        "channel": "email",
        "transactional": False,
        "subject": subject,
        "html": f"<p>Hi {{{{ profile.first_name or 'there' }}}},</p><p>{body}</p>"
        f"{listing_html}{_FOOTER_HTML}",
        "text": f"Hi {{{{ profile.first_name or 'there' }}}},\n\n{body}\n\n{listing_text}"
        f"{_FOOTER_TEXT}",
        "items": items,
        "next": nxt,
    }


def _role(role: str) -> dict[str, str]:
    return {"role": role}


def _signed_up() -> dict[str, str]:
    return {"kind": "track", "name": "Signed Up"}


DAY = 86400
HOUR = 3600

JOURNEY_TEMPLATES: dict[str, dict[str, Any]] = {
    "blank": {
        "label": "From scratch",
        "description": "A trigger and one email, ready to change.",
        "definition": {
            "trigger": {"kind": "activity", "activity": _signed_up(), "where": []},
            "start": "email",
            "steps": [_email("email", "Hello", "Thanks for being with us.")],
            "exit_on": [],
            "goal": None,
        },
    },
    "welcome": {
        "label": "Welcome series",
        "description": "Signed up → welcome email → wait 2 days → if no order yet, a nudge.",
        "definition": {
            "trigger": {"kind": "activity", "activity": _signed_up(), "where": []},
            "start": "welcome",
            "steps": [
                _email("welcome", "Welcome!", "Thanks for signing up.", nxt="wait"),
                {"id": "wait", "type": "wait", "seconds": 2 * DAY, "next": "ordered"},
                {
                    "id": "ordered",
                    "type": "split",
                    "condition": {"kind": "group", "match": "all", "conditions": []},
                    "did": {"activity": _role("order_completed"), "where": []},
                    "yes": "",
                    "no": "nudge",
                },
                _email("nudge", "Still looking?", "Here is what others love this week."),
            ],
            "exit_on": [],
            "goal": {"activity": _role("order_completed"), "days": 7},
        },
    },
    "win_back": {
        "label": "Win-back",
        "description": "Leaving “Lapsed customers” → a we-miss-you email → wait 7 days → a "
        "second one if they did not come back.",
        "definition": {
            "trigger": {"kind": "segment", "segment": None, "on": "entry"},
            "start": "miss",
            "steps": [
                _email("miss", "We miss you", "It has been a while.", nxt="wait"),
                {"id": "wait", "type": "wait", "seconds": 7 * DAY, "next": "back"},
                {
                    "id": "back",
                    "type": "split",
                    "condition": {"kind": "group", "match": "all", "conditions": []},
                    "did": {"activity": _role("order_completed"), "where": []},
                    "yes": "",
                    "no": "offer",
                },
                _email("offer", "A little something for you", "Come back and see what's new."),
            ],
            "exit_on": [_role("order_completed")],
            "goal": {"activity": _role("order_completed"), "days": 14},
        },
    },
    "review": {
        "label": "Post-purchase review request",
        "description": "Order completed → wait 7 days → ask for a review.",
        "definition": {
            "trigger": {
                "kind": "activity",
                "activity": _role("order_completed"),
                "where": [],
                "entry_key": "order_id",
            },
            "start": "wait",
            "steps": [
                {"id": "wait", "type": "wait", "seconds": 7 * DAY, "next": "ask"},
                _email("ask", "How was your order?", "Tell us what you think.", items="order"),
            ],
            "exit_on": [],
            "goal": None,
        },
    },
    "browse_cart_order": {
        "label": "Browse → cart → order",
        "description": "Product added → wait up to 1 hour for an order with the same cart → "
        "if none and opted in, the cart email.",
        "definition": {
            "trigger": {"kind": "activity", "activity": _role("product_added"), "where": []},
            "start": "wait_order",
            "steps": [
                {
                    "id": "wait_order",
                    "type": "wait_for",
                    "activity": _role("order_completed"),
                    "where": [],
                    "match_keys": ["cart_id"],
                    "timeout_seconds": HOUR,
                    "yes": "",
                    "timed_out": "opted_in",
                },
                {
                    "id": "opted_in",
                    "type": "split",
                    "condition": {
                        "kind": "group",
                        "match": "all",
                        "conditions": [
                            {
                                "kind": "consent",
                                "negate": False,
                                "channel": "email",
                                "state": "granted",
                            }
                        ],
                    },
                    "yes": "cart",
                    "no": "done",
                },
                _email("cart", "You left something behind", "Your cart is waiting.", items="cart"),
                {"id": "done", "type": "exit"},
            ],
            "exit_on": [],
            "goal": {"activity": _role("order_completed"), "days": 3},
        },
    },
}
