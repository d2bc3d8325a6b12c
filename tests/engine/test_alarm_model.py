"""The sans-IO alarm state machine with a fake clock: levels, deadband, on/off delays, the ISA-18.2
states with acknowledge, shelving and its expiry, disable/enable, restore and deadlines."""

from __future__ import annotations

import pytest

from ionpy_widgets.engine.alarm_model import AlarmError, AlarmPoint, AlarmSpec, AlarmState, Transition, level_name
from ionpy_widgets.engine.events import AlarmLevel

HI, HIHI, LO, LOLO, OK = AlarmLevel.HI, AlarmLevel.HIHI, AlarmLevel.LO, AlarmLevel.LOLO, AlarmLevel.OK


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self, dt: float = 0.0) -> float:
        self.now += dt
        return self.now


def point(**spec: float) -> AlarmPoint:
    return AlarmPoint("PSU", "u_out", AlarmSpec(**spec), unit="V", label="Output voltage")


def feed(p: AlarmPoint, clock: Clock, *values: float, dt: float = 0.1) -> list[tuple[str, str, str]]:
    """Feed values ``dt`` apart; return (transition, level, state) of every change."""
    out = []
    for v in values:
        out += [(c.transition.value, c.level.value, c.state.value) for c in p.update(v, clock(dt))]
    return out


def test_levels_and_the_isa_states_through_raise_escalate_clear_and_acknowledge() -> None:
    clock, p = Clock(), point(hihi=13.0, hi=12.5, lo=1.0, lolo=0.5)
    assert feed(p, clock, 12.0) == []
    assert feed(p, clock, 12.6) == [("raise", "hi", "active_unack")]
    assert feed(p, clock, 13.1) == [("raise", "hihi", "active_unack")]
    assert [c.transition for c in p.acknowledge(clock(), "widget")] == [Transition.ACKNOWLEDGE]
    assert p.state is AlarmState.ACTIVE_ACK and p.level is HIHI
    # back below HIHI but still above HI: a level change that keeps the acknowledgement
    assert feed(p, clock, 12.8) == [("level", "hi", "active_ack")]
    # acknowledged and back to normal: straight to normal
    assert feed(p, clock, 12.0) == [("clear", "ok", "normal")]
    # unacknowledged and back to normal: cleared_unack until acknowledged
    assert feed(p, clock, 0.4, 2.0) == [("raise", "lolo", "active_unack"), ("clear", "ok", "cleared_unack")]
    assert p.unacknowledged and not p.active and p.raised is LOLO  # what the cleared alarm was about
    changes = p.acknowledge(clock(), "code")
    assert [(c.transition, c.state, c.who) for c in changes] == [(Transition.ACKNOWLEDGE, AlarmState.NORMAL, "code")]
    assert p.acknowledge(clock(), "code") == []  # nothing to acknowledge


def test_a_new_raise_needs_a_new_acknowledgement() -> None:
    clock, p = Clock(), point(hihi=13.0, hi=12.5)
    feed(p, clock, 12.6)
    p.acknowledge(clock(), "code")
    assert feed(p, clock, 13.5) == [("raise", "hihi", "active_unack")]


def test_deadband_keeps_the_alarm_until_the_value_is_back_by_the_band() -> None:
    clock, p = Clock(), point(hi=12.5, lo=1.0, deadband=0.2)
    assert feed(p, clock, 12.5) == [("raise", "hi", "active_unack")]  # at the limit counts
    assert feed(p, clock, 12.4, 12.31, 12.6, 12.35) == []  # chatter inside the band: no new alarms
    assert feed(p, clock, 12.3) == [("clear", "ok", "cleared_unack")]  # 12.5 - 0.2 reached
    assert feed(p, clock, 1.0) == [("raise", "lo", "active_unack")]
    assert feed(p, clock, 1.1, 1.19) == []
    assert feed(p, clock, 1.21) == [("clear", "ok", "cleared_unack")]


def test_on_delay_raises_only_when_the_limit_is_crossed_long_enough() -> None:
    clock, p = Clock(), point(hihi=13.0, hi=12.5, on_delay=0.5)
    assert feed(p, clock, 12.6, 12.6, 12.6, 12.6) == []  # 0.3 s over the limit so far
    assert feed(p, clock, 12.0) == []  # back before the delay: nothing, and the timer restarts
    assert feed(p, clock, 12.6, 12.6, 12.6, 12.6, 12.6) == []
    assert feed(p, clock, 12.6) == [("raise", "hi", "active_unack")]  # 0.5 s since 12.6 began
    # HIHI has its own on-delay, counted from when 13 V was first reached
    assert feed(p, clock, 13.2, 13.2, 13.2, 13.2, 13.2) == []
    assert feed(p, clock, 13.2) == [("raise", "hihi", "active_unack")]


def test_on_delay_matures_on_a_tick_without_a_new_value() -> None:
    clock, p = Clock(), point(hi=12.5, on_delay=0.5)
    p.update(12.7, clock())
    assert p.next_deadline() == pytest.approx(clock.now + 0.5)
    assert p.tick(clock(0.3)) == []
    changes = p.tick(clock(0.2))
    assert [c.transition for c in changes] == [Transition.RAISE]
    assert changes[0].value == 12.7 and changes[0].limit == 12.5
    assert p.next_deadline() is None


def test_off_delay_clears_only_when_the_value_stays_back() -> None:
    clock, p = Clock(), point(hi=12.5, off_delay=1.0)
    feed(p, clock, 13.0)
    assert feed(p, clock, 12.0, 12.0, 12.0) == []
    assert feed(p, clock, 12.9) == []  # back over the limit: off-delay restarts
    assert p.leaving is False
    assert feed(p, clock, 12.0) == [] and p.leaving
    assert p.tick(clock(0.9)) == []
    assert [c.transition for c in p.tick(clock(0.1))] == [Transition.CLEAR]


def test_a_jump_from_high_to_low_raises_the_other_side() -> None:
    clock, p = Clock(), point(hi=12.5, lo=1.0)
    feed(p, clock, 13.0)
    assert feed(p, clock, 0.5) == [("raise", "lo", "active_unack")]


def test_shelving_hides_changes_and_expires_by_itself() -> None:
    clock, p = Clock(), point(hi=12.5)
    [shelve] = p.shelve(60, clock(), "widget")
    assert shelve.transition is Transition.SHELVE and shelve.shelved and shelve.who == "widget"
    [raised] = p.update(13.0, clock(1))
    assert raised.transition is Transition.RAISE and raised.shelved  # tracked, not annunciated
    assert p.shelved(clock.now) and p.next_deadline() == pytest.approx(shelve.timestamp + 60)
    [expired] = p.tick(clock(59))
    assert expired.transition is Transition.UNSHELVE and expired.who == "expiry" and not expired.shelved
    assert p.state is AlarmState.ACTIVE_UNACK and not p.shelved(clock.now)  # still there, now visible
    p.shelve(10, clock(), "code")
    assert [c.who for c in p.unshelve(clock(), "code")] == ["code"]
    assert p.unshelve(clock(), "code") == []


@pytest.mark.parametrize("seconds", [0, -5, 8 * 86400, "10", True, float("nan")])
def test_a_bad_shelve_time_is_an_error_with_a_hint(seconds: object) -> None:
    with pytest.raises(AlarmError) as info:
        point(hi=1.0).shelve(seconds, 0.0)  # type: ignore[arg-type]
    assert "lab.shelve" in info.value.hint


def test_disable_takes_the_point_out_of_service_and_enable_starts_afresh() -> None:
    clock, p = Clock(), point(hi=12.5, on_delay=0.5)
    feed(p, clock, 13.0, *[13.0] * 5)
    assert p.level is HI
    [off] = p.disable(clock(), "code")
    assert off.transition is Transition.DISABLE and off.previous is HI and off.level is OK
    assert p.state is AlarmState.NORMAL and not p.unacknowledged
    assert feed(p, clock, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0) == []  # ignored while disabled
    assert p.next_deadline() is None
    assert [c.transition for c in p.enable(clock(), "code")] == [Transition.ENABLE]
    assert feed(p, clock, 14.0, 14.0, 14.0, 14.0) == []  # on-delay counted from enable
    assert feed(p, clock, 14.0) == [("raise", "hi", "active_unack")]
    assert p.enable(clock(), "code") == [] and p.disable(clock(), "x") != [] and p.disable(clock(), "x") == []


def test_values_that_are_not_numbers_are_ignored() -> None:
    clock, p = Clock(), point(hi=1.0)
    for value in (None, True, "high", float("nan"), float("inf")):
        assert p.update(value, clock(0.1)) == []
    assert p.value is None


def test_snapshot_and_restore_keep_an_unacknowledged_alarm_across_a_restart() -> None:
    clock, p = Clock(), point(hihi=13.0, hi=12.5)
    feed(p, clock, 13.5)
    p.shelve(100, clock(), "code")
    snap = p.snapshot()
    again = point(hihi=13.0, hi=12.5)
    again.restore(snap, clock(10))
    assert (again.level, again.state, again.since, again.raised) == (HIHI, AlarmState.ACTIVE_UNACK, p.since, HIHI)
    assert again.shelved(clock.now)
    assert feed(again, clock, 13.4) == []  # still HIHI: confirmed, no second raise
    assert feed(again, clock, 12.0) == [("clear", "ok", "cleared_unack")]
    expired = point(hi=12.5)
    expired.restore({**snap, "shelved_until": clock.now - 1}, clock())
    assert not expired.shelved(clock.now)
    assert expired.level is OK and expired.state is AlarmState.CLEARED_UNACK  # its HIHI limit is gone now


def test_reconfigure_keeps_the_state_and_uses_the_new_limits() -> None:
    clock, p = Clock(), point(hi=12.5)
    feed(p, clock, 12.6)
    p.reconfigure(AlarmSpec(hi=12.0, deadband=0.5))
    assert p.level is HI and feed(p, clock, 11.6) == []
    assert feed(p, clock, 11.4) == [("clear", "ok", "cleared_unack")]


def test_level_names_are_the_cli_words() -> None:
    assert [level_name(lv) for lv in (OK, HI, HIHI, LO, LOLO)] == ["NORMAL", "HI", "HIHI", "LO", "LOLO"]
    assert AlarmSpec(hihi=2.0, lo=1.0).levels == (HIHI, LO)
