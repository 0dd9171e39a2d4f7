"""The three campaigns every site starts with, as drafts a marketer reviews and activates.

Created by a data migration (`campaigns_setup`), and again by anyone who wants them back:
a campaign of a kind that already exists is left alone.
"""

from __future__ import annotations

from typing import Any

from campaigns.models import Campaign
from ingestion.models import CommerceRole

_FOOTER_HTML = """
<p style="color:#6b7280;font-size:12px">You receive this email because you shop with us.
<a href="{{ unsubscribe_url }}">Unsubscribe</a>.</p>"""

_FOOTER_TEXT = """
--
Unsubscribe: {{ unsubscribe_url }}"""

# The parts of an order's total that the site sent, each on its line.
_ORDER_PARTS = [("subtotal", "Subtotal"), ("discount", "Discount"), ("shipping", "Shipping"),
                ("tax", "Tax")]  # fmt: skip
_ORDER_SUMS_HTML = "".join(
    f"\n{{% if order.{name} is not none %}}<p>{label}: {{{{ order.{name}_display }}}}</p>"
    "{% endif %}"
    for name, label in _ORDER_PARTS
)
_ORDER_SUMS_TEXT = "".join(
    f"{{% if order.{name} is not none %}}\n{label}: {{{{ order.{name}_display }}}}{{% endif %}}"
    for name, label in _ORDER_PARTS
)
_ITEM_ROWS = """
<table role="presentation" cellpadding="8" style="border-collapse:collapse">
{% for item in items %}
  <tr>
    <td>{% if item.image_url %}<img src="{{ item.image_url }}" alt="" width="80">{% endif %}</td>
    <td>{% if item.url %}<a href="{{ item.url }}">{{ item.name }}</a>
      {%- else %}{{ item.name }}{% endif %}
      {% if item.quantity and item.quantity != 1 %}x {{ item.quantity }}{% endif %}</td>
    <td>{{ item.price_display }}</td>
  </tr>
{% endfor %}
</table>"""

DEFAULTS: list[dict[str, Any]] = [
    {
        "kind": "abandoned_browse",
        "name": "Abandoned browse",
        "trigger_role": CommerceRole.PRODUCT_VIEWED,
        "wait_seconds": 3600,
        "exit_roles": [CommerceRole.PRODUCT_ADDED, CommerceRole.ORDER_COMPLETED],
        "reentry": "while_pending",
        "transactional": False,
        "cap_count": 1,
        "cap_hours": 24,
        "subject_template": "Still thinking about {{ items[0].name if items else 'it' }}?",
        "html_template": (
            "<p>Hi {{ profile.first_name or 'there' }},</p>\n"
            "<p>You had a look at these. They are still here:</p>" + _ITEM_ROWS + _FOOTER_HTML
        ),
        "text_template": (
            "Hi {{ profile.first_name or 'there' }},\n\nYou had a look at these. "
            "They are still here:\n{% for item in items %}\n- {{ item.name }} "
            "{{ item.price_display }}{% if item.url %} {{ item.url }}{% endif %}{% endfor %}\n"
            + _FOOTER_TEXT
        ),
    },
    {
        "kind": "abandoned_cart",
        "name": "Abandoned cart",
        "trigger_role": CommerceRole.PRODUCT_ADDED,
        "wait_seconds": 3600,
        "exit_roles": [CommerceRole.ORDER_COMPLETED],
        "reentry": "while_pending",
        "transactional": False,
        "cap_count": 1,
        "cap_hours": 24,
        "subject_template": "You left {{ cart.count }} item{{ 's' if cart.count != 1 }} "
        "in your cart",
        "html_template": (
            "<p>Hi {{ profile.first_name or 'there' }},</p>\n"
            "<p>Your cart is waiting for you:</p>"
            + _ITEM_ROWS.replace("in items", "in cart.lines")
            + "\n<p><strong>Total: {{ cart.total_display }}</strong></p>"
            + _FOOTER_HTML
        ),
        "text_template": (
            "Hi {{ profile.first_name or 'there' }},\n\nYour cart is waiting for you:\n"
            "{% for item in cart.lines %}\n- {{ item.name }} x {{ item.quantity }} "
            "{{ item.price_display }}{% endfor %}\n\nTotal: {{ cart.total_display }}\n"
            + _FOOTER_TEXT
        ),
    },
    {
        "kind": "order_confirmation",
        "name": "Order confirmation",
        "trigger_role": CommerceRole.ORDER_COMPLETED,
        "wait_seconds": 0,
        "exit_roles": [],
        "reentry": "always",
        "transactional": True,
        "cap_count": 0,
        "cap_hours": 24,
        "subject_template": "Your order {{ order.id }} is confirmed",
        "html_template": (
            "<p>Hi {{ profile.first_name or 'there' }},</p>\n"
            "<p>Thank you for your order <strong>{{ order.id }}</strong>.</p>"
            + _ITEM_ROWS.replace("in items", "in order.lines")
            + _ORDER_SUMS_HTML
            + "\n<p><strong>Total: {{ order.total_display }}</strong></p>"
        ),
        "text_template": (
            "Hi {{ profile.first_name or 'there' }},\n\nThank you for your order {{ order.id }}."
            "\n{% for item in order.lines %}\n- {{ item.name }} x {{ item.quantity }} "
            "{{ item.price_display }}{% endfor %}\n" + _ORDER_SUMS_TEXT + "\nTotal: "
            "{{ order.total_display }}\n"
        ),
    },
]


def campaigns_setup(campaign_model: Any = None) -> list[Any]:
    """Create the default campaigns that do not exist yet, as drafts; returns those created.

    `campaign_model` is the historical model when called from a migration."""
    if campaign_model is None:
        campaign_model = Campaign
    existing = set(campaign_model.objects.values_list("kind", flat=True))
    created = []
    for values in DEFAULTS:
        if values["kind"] in existing:
            continue
        created.append(campaign_model.objects.create(status="draft", **values))
    return created
