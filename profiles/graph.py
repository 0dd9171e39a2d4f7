"""The identity graph of one profile: its ids, and the events and merges that linked them,
laid out for a server-drawn SVG (templates/profiles/_graph.html).

The known ids (user ids and emails) sit in the centre and the others on a ring around them,
at most `RING_SLOTS` of them; the rest are folded into one "+N more" node, so a profile
with a hundred anonymous ids still reads as one picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations

from django.utils import timezone

from ingestion import selectors as ingestion_selectors
from ingestion.people import identity_claim
from profiles.models import Identity, ProfileMerge

Key = tuple[str, str]

WIDTH, HEIGHT = 880, 500
RING_RX, RING_RY = 340, 195
# A few ids fit a smaller picture: no tall empty frame around three boxes.
SMALL_RING, SMALL_HEIGHT, SMALL_RX, SMALL_RY = 6, 300, 270, 105
RING_SLOTS = 16
CENTRE_SLOTS = 4
CENTRE_NODE = (170, 40)
RING_NODE = (112, 34)
# A merge's message is looked for among the events of this stretch before the merge (live
# events arrive within it); a merge found no event for is drawn from its record alone.
MERGE_EVENT_WINDOW = timedelta(days=2)

NAMESPACE_LABELS = {"user_id": "user id", "email": "email", "anonymous_id": "anonymous id"}
CENTRE_NAMESPACES = ("user_id", "email")


def format_time(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


def short(value: str, length: int) -> str:
    return value if len(value) <= length else value[: length - 1] + "…"


@dataclass
class Node:
    key: Key
    label: str
    text: str
    title: str
    x: int
    y: int
    width: int
    height: int
    kind: str

    @property
    def left(self) -> int:
        return self.x - self.width // 2

    @property
    def top(self) -> int:
        return self.y - self.height // 2


@dataclass
class Edge:
    a: Node
    b: Node
    title: str
    kind: str  # "event", "merge" or "unknown"
    count: int = 1


@dataclass
class IdentityGraph:
    nodes: list[Node]
    edges: list[Edge]
    hidden: int
    width: int = WIDTH
    height: int = HEIGHT
    links: list[str] = field(default_factory=list)


def _ring_positions(count: int, height: int) -> list[tuple[float, float]]:
    # From the top, clockwise; equal angles keep neighbours apart on the wide ellipse.
    rx, ry = (SMALL_RX, SMALL_RY) if height == SMALL_HEIGHT else (RING_RX, RING_RY)
    return [
        (
            WIDTH / 2 + rx * math.cos(-math.pi / 2 + 2 * math.pi * n / count),
            height / 2 + ry * math.sin(-math.pi / 2 + 2 * math.pi * n / count),
        )
        for n in range(count)
    ]


def _centre_positions(count: int, height: int) -> list[tuple[float, float]]:
    dx, dy = CENTRE_NODE[0] / 2 + 12, CENTRE_NODE[1] / 2 + 12
    layouts: dict[int, list[tuple[float, float]]] = {
        0: [],
        1: [(0, 0)],
        2: [(-dx, 0), (dx, 0)],
        3: [(-dx, -dy), (dx, -dy), (0, dy)],
        4: [(-dx, -dy), (dx, -dy), (-dx, dy), (dx, dy)],
    }
    return [(WIDTH / 2 + x, height / 2 + y) for x, y in layouts[count]]


def _node(identity: Identity, x: float, y: float, size: tuple[int, int], length: int) -> Node:
    label = NAMESPACE_LABELS.get(identity.namespace, identity.namespace)
    first_seen = format_time(identity.first_seen)
    return Node(
        key=(identity.namespace, identity.value),
        label=short(label, 20),
        text=short(identity.value, length),
        title=f"{label}: {identity.value} (first seen {first_seen})",
        # Whole pixels: the SVG's numbers must not depend on the locale the page renders in.
        x=round(x),
        y=round(y),
        width=size[0],
        height=size[1],
        kind=identity.namespace if identity.namespace in NAMESPACE_LABELS else "other",
    )


def _event_title(event) -> str:
    what = event.name if event.type == "track" else f"{event.type} call"
    if event.type in ("page", "screen") and event.name:
        what = f"{event.type} {event.name}"
    at = format_time(event.timestamp)
    return f"{what} on {at} from {event.source.name} (message {event.message_id})"


def identity_graph(
    *, profile_id: int, identities: list[Identity], merges: list[ProfileMerge]
) -> IdentityGraph:
    """Lay out the ids of a profile and what linked them. Two queries at most: the events
    that linked ids (found by message id within index-served time bounds), and those of
    recent merges."""
    centre = [i for i in identities if i.namespace in CENTRE_NAMESPACES][:CENTRE_SLOTS]
    centre_keys = {(i.namespace, i.value) for i in centre}
    ring = [i for i in identities if (i.namespace, i.value) not in centre_keys]
    if not centre and ring:
        centre, ring = ring[:1], ring[1:]
    # Past the slots, the last one holds "+N more" for the ids left out.
    hidden = len(ring) - (RING_SLOTS - 1) if len(ring) > RING_SLOTS else 0
    shown_ring = ring[: RING_SLOTS - 1] if hidden else ring

    ring_count = len(shown_ring) + (1 if hidden else 0)
    height = SMALL_HEIGHT if ring_count <= SMALL_RING else HEIGHT
    nodes: dict[Key, Node] = {}
    for identity, (x, y) in zip(centre, _centre_positions(len(centre), height), strict=True):
        nodes[(identity.namespace, identity.value)] = _node(identity, x, y, CENTRE_NODE, 21)
    positions = _ring_positions(ring_count, height)
    for identity, (x, y) in zip(shown_ring, positions, strict=False):
        nodes[(identity.namespace, identity.value)] = _node(identity, x, y, RING_NODE, 14)
    more = None
    if hidden:
        x, y = positions[-1]
        more = Node(
            key=("", "more"),
            label=f"+{hidden} more",
            text="ids",
            title=f"{hidden} more ids: see the list of identities",
            x=round(x),
            y=round(y),
            width=RING_NODE[0],
            height=RING_NODE[1],
            kind="more",
        )
    all_keys = {(i.namespace, i.value) for i in identities}

    def drawn(key: Key) -> Node | None:
        return nodes.get(key) or (more if key in all_keys else None)

    edges: dict[tuple[Key, Key], Edge] = {}
    links: list[str] = []

    def link(a: Key, b: Key, title: str, kind: str) -> None:
        node_a, node_b = drawn(a), drawn(b)
        if node_a is None or node_b is None or node_a is node_b:
            return
        low, high = sorted((node_a.key, node_b.key))
        pair = (low, high)
        if pair in edges:
            edges[pair].count += 1
            return
        edges[pair] = Edge(node_a, node_b, title, kind)
        links.append(f"{a[0]} {a[1]} ↔ {b[0]} {b[1]}: {title}")

    # The events that linked ids: an identity's first-seen time is its event's time.
    events = ingestion_selectors.profile_linking_events(
        profile_id=profile_id,
        message_ids=[i.message_id for i in identities],
        timestamps=[i.first_seen for i in identities if i.message_id],
    )
    merge_messages = {m.message_id for m in merges if m.message_id}
    found = {e.message_id for e in events}
    if merge_messages - found:
        times = [m.merged_at for m in merges if m.message_id in merge_messages - found]
        events += ingestion_selectors.profile_linking_events(
            profile_id=profile_id,
            message_ids=merge_messages - found,
            since=min(times) - MERGE_EVENT_WINDOW,
            until=max(times) + timedelta(hours=1),
        )
    merges_by_message = {m.message_id: m for m in merges if m.message_id}
    for event in sorted(events, key=lambda e: (e.timestamp, e.pk)):
        claim = identity_claim(event)
        keys = [k for k in claim.keys() + claim.previous_keys() if k in all_keys]
        title = _event_title(event)
        merge = merges_by_message.get(event.message_id)
        kind = "merge" if merge else "event"
        if merge:
            title += f"; merged profile #{merge.merged_profile_id} ({merge.reason})"
        for a, b in combinations(dict.fromkeys(keys), 2):
            link(a, b, title, kind)

    anchor = next(iter(nodes.values()), None)
    linked_messages = {e.message_id for e in events}
    by_message = {e.message_id: e for e in events}
    for merge in merges:
        if merge.message_id in linked_messages or anchor is None:
            continue
        title = (
            f"merged profile #{merge.merged_profile_id} on {format_time(merge.merged_at)} "
            f"({merge.reason}), message {merge.message_id or 'unknown'}"
        )
        merged_ids = [tuple(pair) for pair in merge.identities or [] if len(pair) == 2]
        for pair in merge.linked_by or []:
            linked = tuple(pair)
            # The linking id came with the merged profile (two devices, one login): it
            # joined this profile. Or it was this profile's (an alias): the merged ids
            # joined it.
            others = [anchor.key] if linked in merged_ids else merged_ids
            for other in others:
                link(linked, other, title, "merge")

    # Ids no stored event or merge explains still belong to the person: a dashed line.
    touched = {node.key for edge in edges.values() for node in (edge.a, edge.b)}
    for node in [*nodes.values(), *([more] if more else [])]:
        if anchor is not None and node is not anchor and node.key not in touched:
            shown = next((i for i in identities if (i.namespace, i.value) == node.key), None)
            first = by_message.get(shown.message_id) if shown else None
            if first is not None:
                # Its first event carried it alone; a later event of the same batch tied it
                # to the person.
                why = f"first seen in {_event_title(first)}; joined by a later event"
            elif shown and shown.message_id:
                why = f"linked by message {shown.message_id} (event not stored any more)"
            else:
                why = "linked without a stored event (import or merge)"
            edges[(node.key, anchor.key)] = Edge(node, anchor, why, "unknown")

    drawn_nodes = [*nodes.values(), *([more] if more else [])]
    return IdentityGraph(
        nodes=drawn_nodes, edges=list(edges.values()), hidden=hidden, height=height, links=links
    )
