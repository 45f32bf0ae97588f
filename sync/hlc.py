"""Hybrid logical clocks (Kulkarni et al. 2014) encoded as strings that sort in time order.

An HLC is ``"{wall_ms:015d}-{counter:05d}-{node}"``: the wall-clock milliseconds of the
latest event this node knows of, a counter that orders events within one millisecond, and
the id of the node (device or server) that made the event.  Because both numbers are
zero-padded to a fixed width, comparing two encoded HLCs as plain strings gives the same
answer as comparing the tuples ``(wall_ms, counter, node)``: the total order every replica
uses for last-writer-wins.  The JavaScript client uses the same encoding.

Only ``now()`` without ``wall_ms`` reads the system clock; everything else is pure.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

#: How far ahead of the server clock an HLC may be before the server clamps it.
MAX_SKEW_MS = 5 * 60 * 1000

WALL_DIGITS = 15
COUNTER_DIGITS = 5
MAX_WALL = 10**WALL_DIGITS - 1
MAX_COUNTER = 10**COUNTER_DIGITS - 1
# Node ids are kept short and simple so that an encoded HLC fits a 64-character column.
MAX_NODE_LEN = 40

_NODE_RE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_NODE_LEN}}}")
_HLC_RE = re.compile(rf"(\d{{{WALL_DIGITS}}})-(\d{{{COUNTER_DIGITS}}})-(.+)")


class HLCError(ValueError):
    """A malformed HLC string, node id or wall time."""


@dataclass(frozen=True, order=True)
class HLC:
    """One hybrid-logical-clock value; orders by (wall_ms, counter, node)."""

    wall_ms: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        if not 0 <= self.wall_ms <= MAX_WALL:
            raise HLCError(f"wall_ms out of range: {self.wall_ms}")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise HLCError(f"counter out of range: {self.counter}")
        check_node(self.node)

    def encode(self) -> str:
        """The string form, which sorts like the clock."""
        return f"{self.wall_ms:0{WALL_DIGITS}d}-{self.counter:0{COUNTER_DIGITS}d}-{self.node}"


def check_node(node: str) -> str:
    """Return node unchanged if it is a valid node id, else raise HLCError."""
    if not isinstance(node, str) or not _NODE_RE.fullmatch(node):
        raise HLCError(f"bad node id: {node!r}")
    return node


def parse(value: str) -> HLC:
    """Parse an encoded HLC string; raise HLCError if it is malformed."""
    if not isinstance(value, str):
        raise HLCError(f"HLC must be a string, not {type(value).__name__}")
    return _parse(value)


# A push reads each mutation's clock about ten times (check, node, shift, clamp, merge):
# parsed once. An HLC is immutable, so handing out the same one is safe.
@functools.lru_cache(maxsize=8192)
def _parse(value: str) -> HLC:
    m = _HLC_RE.fullmatch(value)
    if m is None:
        raise HLCError(f"bad HLC: {value!r}")
    return HLC(int(m.group(1)), int(m.group(2)), m.group(3))


def encode(wall_ms: int, counter: int, node: str) -> str:
    """Encode the three parts of an HLC as its string form."""
    return HLC(wall_ms, counter, node).encode()


def is_valid(value: object) -> bool:
    """True if value is a well-formed encoded HLC."""
    try:
        parse(value)  # type: ignore[arg-type]
    except HLCError:
        return False
    return True


def node_of(value: str) -> str:
    """The node id inside an encoded HLC."""
    return parse(value).node


def wall_of(value: str) -> int:
    """The wall-clock milliseconds inside an encoded HLC."""
    return parse(value).wall_ms


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a is before, equal to or after b, by (wall_ms, counter, node)."""
    pa, pb = parse(a), parse(b)
    return (pa > pb) - (pa < pb)


def wall_clock_ms() -> int:
    """The system clock in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def _tick(wall_ms: int, counter: int, node: str) -> str:
    # A counter that would overflow its five digits moves the clock one millisecond ahead
    # instead: the order stays strict and the encoding keeps its fixed width.
    if counter > MAX_COUNTER:
        return encode(wall_ms + 1, 0, node)
    return encode(wall_ms, counter, node)


def now(node_id: str, last: str | None = None, wall_ms: int | None = None) -> str:
    """The HLC for a local or send event on node_id, strictly after last.

    ``last`` is the latest HLC this node issued or received (None on a fresh node);
    ``wall_ms`` is the physical clock (read from the system when None).  If the physical
    clock has moved past ``last`` the counter restarts at 0, otherwise the logical part
    of ``last`` is kept and the counter goes up, so a clock that jumps backwards never
    makes a later edit lose to an earlier one.
    """
    check_node(node_id)
    wall = wall_clock_ms() if wall_ms is None else wall_ms
    if last is None:
        return encode(wall, 0, node_id)
    prev = parse(last)
    if wall > prev.wall_ms:
        return encode(wall, 0, node_id)
    return _tick(prev.wall_ms, prev.counter + 1, node_id)


def receive(local: str, remote: str, wall_ms: int | None = None) -> str:
    """The local HLC after receiving remote: after both, keeping local's node id.

    Call it with every HLC that arrives from elsewhere, so that anything this node does
    afterwards sorts after what it has seen.  A remote HLC from a phone whose date is
    far ahead would drag the clock with it: the server runs ``clamp()`` first.
    """
    loc, rem = parse(local), parse(remote)
    wall = wall_clock_ms() if wall_ms is None else wall_ms
    top = max(loc.wall_ms, rem.wall_ms, wall)
    if top == loc.wall_ms and top == rem.wall_ms:
        counter = max(loc.counter, rem.counter) + 1
    elif top == loc.wall_ms:
        counter = loc.counter + 1
    elif top == rem.wall_ms:
        counter = rem.counter + 1
    else:
        counter = 0
    return _tick(top, counter, loc.node)


def clamp(
    remote: str,
    server_wall_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
    last: str | None = None,
) -> tuple[str, bool]:
    """Bound remote against the server clock: returns (hlc, was_clamped).

    An HLC at most ``max_skew_ms`` ahead of ``server_wall_ms`` is returned unchanged.
    One further ahead comes from a device whose date is wrong; left alone it would win
    every conflict until the real date caught up.  It is replaced by an HLC at the
    server's wall time that keeps the original node id, and ``was_clamped`` is True so
    the app can tell the user "tanggal di HP ini salah" (the phone's date is wrong).

    When several writes of one batch are clamped, pass the previous clamped HLC as
    ``last``: the result then sorts after it, so the node's own edits keep their order.
    """
    if max_skew_ms < 0:
        raise HLCError("max_skew_ms must not be negative")
    rem = parse(remote)
    if rem.wall_ms <= server_wall_ms + max_skew_ms:
        return remote, False
    return now(rem.node, last=last, wall_ms=server_wall_ms), True


def shift(remote: str, by_ms: int) -> str:
    """remote moved by ``by_ms`` milliseconds of wall time, same counter and node.

    The wall time stays within 0 and MAX_WALL; a shift keeps the order of the HLCs of one
    device that are shifted by the same amount.
    """
    rem = parse(remote)
    return encode(min(max(rem.wall_ms + by_ms, 0), MAX_WALL), rem.counter, rem.node)


def correction_ms(
    server_wall_ms: int,
    offset_ms: int | None = None,
    device_time_ms: int | None = None,
    max_skew_ms: int = MAX_SKEW_MS,
) -> int:
    """How far the server moves an edit's HLC to put it in server time (0: not at all).

    ``offset_ms`` is what the device subtracted from its clock when it stamped the edit
    (device minus server time, as the device estimated it from an earlier answer): given,
    the HLC is already in server time, whatever the device's date says now.  Without it,
    ``device_time_ms`` (the device's clock when it sent the request) tells how far the
    device's date is off now; an offset within ``max_skew_ms`` counts as a right date, a
    larger one is taken as the one the edit was made under and undone.  Without either
    (an older client) nothing is moved; ``clamp`` still bounds the HLC.
    """
    if offset_ms is not None or device_time_ms is None:
        return 0
    off = device_time_ms - server_wall_ms
    return 0 if abs(off) <= max_skew_ms else -off


def bound_base(
    base: dict | None,
    node: str,
    moved_ms: int,
    server_wall_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
) -> dict | None:
    """A mutation's ``base`` in server time, for a mutation of ``node`` moved by ``moved_ms``.

    The clocks of the device's own edits move with its HLC (they were stamped under the
    same date).  A clock more than ``max_skew_ms`` ahead of ``server_wall_ms`` cannot be
    any stored value's (the server bounds every HLC it stores) and becomes null: a base
    orders the write after it (``merge.write_order``) and must not carry a wrong date in.
    """
    if base is None:
        return None
    out = {}
    for name, stamp in base.items():
        if stamp is not None and moved_ms and node_of(stamp) == node:
            stamp = shift(stamp, moved_ms)
        if stamp is not None and wall_of(stamp) > server_wall_ms + max_skew_ms:
            stamp = None
        out[name] = stamp
    return out

