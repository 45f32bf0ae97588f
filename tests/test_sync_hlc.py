"""sync.hlc: encoding, ordering, local and receive events, clamping."""

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sync import hlc

T = 1_767_225_600_000  # 2026-01-01T00:00:00Z

walls = st.integers(min_value=0, max_value=T * 2)
counters = st.integers(min_value=0, max_value=hlc.MAX_COUNTER)
# Includes "-" and prefixes of one another ("a", "a-b") to test the string order.
nodes = st.text(alphabet="ab-.:Z9", min_size=1, max_size=6)
clocks = st.builds(hlc.encode, walls, counters, nodes)


def test_encode_is_fixed_width_and_round_trips():
    s = hlc.encode(T, 7, "hp-a")
    assert s == "001767225600000-00007-hp-a"
    assert hlc.parse(s) == hlc.HLC(T, 7, "hp-a")
    assert hlc.node_of(s) == "hp-a"
    assert hlc.wall_of(s) == T


def test_node_ids_may_contain_dashes():
    s = hlc.encode(T, 0, "b6f0c1e2-7a52-4d3e-9c1a-2f6a8e5d1001")
    assert hlc.node_of(s) == "b6f0c1e2-7a52-4d3e-9c1a-2f6a8e5d1001"
    assert len(s) <= 64  # fits the String(64) HLC columns


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1767225600000-00000-hp-a",  # wall not padded
        "001767225600000-0000-hp-a",  # counter not padded
        "001767225600000-00000-",  # no node
        "001767225600000-00000-hp a",  # space in node
        "001767225600000-00000-" + "x" * 41,  # node too long
        None,
        12,
    ],
)
def test_parse_rejects_malformed(bad):
    with pytest.raises(hlc.HLCError):
        hlc.parse(bad)
    assert not hlc.is_valid(bad)


def test_out_of_range_parts_are_rejected():
    with pytest.raises(hlc.HLCError):
        hlc.encode(-1, 0, "a")
    with pytest.raises(hlc.HLCError):
        hlc.encode(0, hlc.MAX_COUNTER + 1, "a")
    with pytest.raises(hlc.HLCError):
        hlc.now("bad node")


@settings(max_examples=200, deadline=None)
@given(clocks, clocks)
def test_string_order_is_clock_order(a, b):
    assert (a < b) == (hlc.parse(a) < hlc.parse(b))
    assert (a == b) == (hlc.parse(a) == hlc.parse(b))
    assert hlc.compare(a, b) == (a > b) - (a < b)


def test_now_without_wall_reads_the_system_clock():
    before = hlc.wall_clock_ms()
    stamp = hlc.now("hp-a")
    assert before <= hlc.wall_of(stamp) <= hlc.wall_clock_ms()


def test_now_survives_a_clock_that_goes_back():
    first = hlc.now("hp-a", None, T + 10_000)
    second = hlc.now("hp-a", first, T)  # the phone's clock was set back 10 s
    assert second > first
    assert hlc.parse(second) == hlc.HLC(T + 10_000, 1, "hp-a")


def test_counter_overflow_moves_a_millisecond_on():
    last = hlc.encode(T, hlc.MAX_COUNTER, "hp-a")
    nxt = hlc.now("hp-a", last, T)
    assert nxt > last
    assert hlc.parse(nxt) == hlc.HLC(T + 1, 0, "hp-a")


@settings(max_examples=200, deadline=None)
@given(st.lists(walls, min_size=1, max_size=30), nodes)
def test_now_is_strictly_increasing_whatever_the_wall_clock_does(wall_readings, node):
    last = None
    for wall in wall_readings:
        stamp = hlc.now(node, last, wall)
        assert last is None or stamp > last
        assert hlc.wall_of(stamp) >= wall
        last = stamp


@settings(max_examples=200, deadline=None)
@given(clocks, clocks, walls)
def test_receive_is_after_both_and_keeps_the_local_node(local, remote, wall):
    out = hlc.receive(local, remote, wall)
    assert hlc.parse(out) > hlc.parse(local)
    # After the remote's (wall, counter): the local node id cannot be used to win a tie.
    r = hlc.parse(remote)
    o = hlc.parse(out)
    assert (o.wall_ms, o.counter) > (r.wall_ms, r.counter)
    assert o.node == hlc.node_of(local)
    assert o.wall_ms >= wall


def test_receive_branches():
    a = hlc.encode(T, 2, "hp-a")
    assert hlc.receive(a, hlc.encode(T, 5, "hp-b"), T) == hlc.encode(T, 6, "hp-a")
    assert hlc.receive(a, hlc.encode(T - 1, 9, "hp-b"), T) == hlc.encode(T, 3, "hp-a")
    assert hlc.receive(a, hlc.encode(T + 5, 1, "hp-b"), T) == hlc.encode(T + 5, 2, "hp-a")
    assert hlc.receive(a, hlc.encode(T + 5, 1, "hp-b"), T + 9) == hlc.encode(T + 9, 0, "hp-a")


def test_clamp_keeps_a_clock_within_the_bound():
    ok = hlc.encode(T + hlc.MAX_SKEW_MS, 3, "hp-a")
    assert hlc.clamp(ok, T) == (ok, False)
    behind = hlc.encode(T - 86_400_000, 0, "hp-a")
    assert hlc.clamp(behind, T) == (behind, False)


def test_clamp_replaces_a_clock_too_far_ahead():
    year_ahead = hlc.encode(T + 365 * 86_400_000, 4, "hp-a")
    clamped, flagged = hlc.clamp(year_ahead, T)
    assert flagged is True
    assert clamped == hlc.encode(T, 0, "hp-a")
    # A write from another phone a minute ahead of the server now wins.
    assert hlc.encode(T + 60_000, 0, "hp-b") > clamped


def test_clamp_with_last_keeps_a_batch_in_order():
    first, _ = hlc.clamp(hlc.encode(T + 10**9, 0, "hp-a"), T)
    second, flagged = hlc.clamp(hlc.encode(T + 10**9 + 5, 0, "hp-a"), T, last=first)
    assert flagged and second > first
    assert hlc.node_of(second) == "hp-a"


def test_clamp_rejects_a_negative_bound():
    with pytest.raises(hlc.HLCError):
        hlc.clamp(hlc.encode(T, 0, "a"), T, max_skew_ms=-1)


@settings(max_examples=200, deadline=None)
@given(clocks, walls, st.integers(min_value=0, max_value=10**9))
def test_clamp_bounds_every_clock(remote, server_wall, skew):
    out, flagged = hlc.clamp(remote, server_wall, skew)
    assert hlc.wall_of(out) <= server_wall + skew
    assert hlc.node_of(out) == hlc.node_of(remote)
    assert flagged == (hlc.wall_of(remote) > server_wall + skew)
    assert flagged or out == remote


SERVER = 1_767_226_600_000


@pytest.mark.parametrize(("offset_ms", "device_time_ms", "moved"), [
    (None, None, 0),                              # an older client: nothing to go by
    (None, SERVER + hlc.MAX_SKEW_MS, 0),          # at the bound: a right date
    (None, SERVER + hlc.MAX_SKEW_MS + 1, -hlc.MAX_SKEW_MS - 1),
    (None, SERVER - 86_400_000, 86_400_000),      # a day behind: moved a day on
    (0, SERVER + 3_600_000, 0),                   # stamped in server time, date wrong since
    (-86_400_000, SERVER, 0),                     # stamped in server time, date fixed since
])
def test_correction_undoes_a_wrong_date_only_when_the_edit_was_stamped_by_it(
        offset_ms, device_time_ms, moved):
    assert hlc.correction_ms(SERVER, offset_ms, device_time_ms) == moved


@given(st.integers(0, hlc.MAX_WALL), st.integers(0, hlc.MAX_WALL), st.integers(-10**15, 10**15))
def test_shift_keeps_the_order_of_one_device(a, b, by):
    x, y = hlc.encode(a, 0, "hp-a"), hlc.encode(b, 1, "hp-a")
    sx, sy = hlc.shift(x, by), hlc.shift(y, by)
    assert hlc.node_of(sx) == "hp-a" and hlc.parse(sy).counter == 1
    assert 0 <= hlc.wall_of(sx) <= hlc.MAX_WALL
    if 0 <= a + by <= hlc.MAX_WALL and 0 <= b + by <= hlc.MAX_WALL:
        assert (x < y) == (sx < sy)


def test_bound_base_moves_own_clocks_and_drops_impossible_ones():
    own = hlc.encode(SERVER + 3_600_000, 0, "hp-a")
    other = hlc.encode(SERVER - 1000, 0, "hp-b")
    future = hlc.encode(SERVER + hlc.MAX_SKEW_MS + 1, 0, "hp-b")
    got = hlc.bound_base({"a": own, "b": other, "c": future, "d": None}, "hp-a",
                         -3_600_000, SERVER)
    assert got == {"a": hlc.encode(SERVER, 0, "hp-a"), "b": other, "c": None, "d": None}
    assert hlc.bound_base(None, "hp-a", 0, SERVER) is None
