"""The alarm part of the :class:`~.lab.Lab` API::

    lab.alarm_state                      # {"DPS5005_1.u_out": {"level": "hihi", "state": "active_unack", ...}}
    lab.active_alarms                    # points not normal, most severe first
    lab.acknowledge("DPS5005_1", "u_out")            # or lab.acknowledge() for all
    lab.shelve("DPS5005_1", "u_out", 600)            # hidden for ten minutes, then back
    lab.unshelve("DPS5005_1", "u_out")
    lab.disable_alarm("BAT", "soc"); lab.enable_alarm("BAT", "soc")
    lab.alarm_history(limit=50)          # raise / level / clear / acknowledge / shelve / action rows
    await lab.emergency_stop()           # every output of every device off

``who`` (default ``"code"``) is recorded with every operator action (the widgets pass ``"widget"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .alarm_model import AlarmError

if TYPE_CHECKING:
    from .alarms import AlarmEngine


class AlarmNotFoundError(AlarmError, KeyError):
    code = "alarm_not_found"

    def __str__(self) -> str:  # KeyError would add quotes
        return AlarmError.__str__(self)


class AlarmsMixin:
    """Alarm methods of :class:`~.lab.Lab` (its ``alarm_engine`` does the work)."""

    alarm_engine: AlarmEngine

    @property
    def alarm_state(self) -> dict[str, dict[str, Any]]:
        """``"device.entity" -> status`` of every alarmed entity: ``level`` (ok/hi/hihi/lo/lolo),
        ``alarm`` (NORMAL/HI/...), ``state`` (normal/active_unack/active_ack/cleared_unack),
        ``value``, ``since``, ``shelved``, ``shelved_until``, ``enabled``, ``limits``..."""
        return self.alarm_engine.state()

    @property
    def active_alarms(self) -> list[dict[str, Any]]:
        """The alarm list: every point not in state ``normal``, most severe first (shelved last)."""
        return self.alarm_engine.alarm_list()

    def alarm_counts(self) -> dict[str, Any]:
        """``{"active", "unacked", "shelved", "disabled", "highest"}`` (what the dashboard badge shows)."""
        return self.alarm_engine.counts()

    def acknowledge(self, device: str | None = None, entity: str | None = None, *, who: str = "code") -> int:
        """Acknowledge the alarm of ``device.entity`` (or every alarm of ``device``, or every alarm);
        returns how many were acknowledged."""
        return self.alarm_engine.acknowledge(device, entity, who=who)

    def shelve(self, device: str, entity: str, seconds: float, *, who: str = "code") -> None:
        """Hide the alarm of ``device.entity`` for ``seconds`` (it comes back by itself). Its
        safe-state actions still run; only :meth:`disable_alarm` stops those."""
        self.alarm_engine.shelve(device, entity, seconds, who=who)

    def unshelve(self, device: str, entity: str, *, who: str = "code") -> None:
        self.alarm_engine.unshelve(device, entity, who=who)

    def disable_alarm(self, device: str, entity: str, *, who: str = "code") -> None:
        """Take the alarm of ``device.entity`` out of service (no alarms, no actions) until enabled."""
        self.alarm_engine.set_enabled(device, entity, False, who=who)

    def enable_alarm(self, device: str, entity: str, *, who: str = "code") -> None:
        self.alarm_engine.set_enabled(device, entity, True, who=who)

    def alarm_history(self, limit: int | None = 200, *, device: str | None = None) -> list[dict[str, Any]]:
        """History rows, oldest first (this session and, with a journal, earlier ones)."""
        self.alarm_engine.catch_up()
        rows = [r for r in self.alarm_engine.history if device is None or r["device"] == device]
        return rows[-limit:] if limit else rows


__all__ = ["AlarmNotFoundError", "AlarmsMixin"]
