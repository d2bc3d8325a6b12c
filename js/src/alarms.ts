// The alarm panel view (mirrors ionpy_widgets/widgets/alarms.py): a badge with the number of active
// alarms, the alarm list with acknowledge / shelve / unshelve, and the history, in severity colours.
// Compact (the dashboard's): only the header until it is clicked open (or a new alarm arrives).
// Browser notifications are sent only after the user opted in with a click, and only while the
// notebook's tab is in the background (document.hidden).
import { ErrorInfo, RequestError } from "./protocol";
import { Cleanup, ViewContext, errorBox, fmtValue, h } from "./common";
import { healthBanner } from "./health";

/** English texts of the alarm panel (one place, ready for translation). */
export const STRINGS = {
  title: "Alarms",
  badge: (n: number) => `${n} active`,
  badgeLabel: (n: number, unacked: number) => `${n} active alarm${n === 1 ? "" : "s"}, ${unacked} unacknowledged`,
  unacked: (n: number) => `${n} unacknowledged`,
  shelvedCount: (n: number) => `${n} shelved`,
  none: "No alarms.",
  columns: ["Severity", "Alarm", "Value", "Limit", "State", "Since", "Actions"],
  historyTitle: (n: number) => `History (${n})`,
  historyColumns: ["Time", "Alarm", "Event", "Level", "Value", "By", "Message"],
  historyEmpty: "Nothing has happened yet.",
  ack: "Acknowledge",
  ackLabel: (name: string) => `Acknowledge ${name}`,
  ackAll: "Acknowledge all",
  shelve: "Shelve…",
  shelveLabel: (name: string) => `Shelve ${name} for`,
  unshelve: "Unshelve",
  unshelveLabel: (name: string) => `Unshelve ${name}`,
  shelvedUntil: (t: string) => `shelved until ${t}`,
  duration: (s: number) => (s >= 3600 ? `${+(s / 3600).toFixed(1)} h` : `${Math.round(s / 60)} min`),
  notify: "Notify me",
  notifyTitle: "Show a browser notification for new alarms while this tab is in the background",
  notifyOn: "Notifications on",
  notifyDenied: "Notifications blocked by the browser",
  expand: "Show alarms",
  collapse: "Hide alarms",
  levels: { hihi: "HIHI", hi: "HI", lo: "LO", lolo: "LOLO", ok: "OK" } as Record<string, string>,
  states: { active_unack: "Active · unacknowledged", active_ack: "Active · acknowledged",
    cleared_unack: "Cleared · unacknowledged", normal: "Normal" } as Record<string, string>,
  transitions: { raise: "raised", level: "level changed", clear: "cleared", acknowledge: "acknowledged",
    shelve: "shelved", unshelve: "unshelved", disable: "disabled", enable: "enabled",
    action: "safe-state action" } as Record<string, string>,
};

interface Status {
  device: string;
  entity: string;
  label: string;
  unit: string;
  level: string;
  raised: string;
  state: string;
  value: number | null;
  since: number | null;
  limit: number | null;
  shelved: boolean;
  shelved_until: number | null;
  enabled: boolean;
}

interface Row {
  time: number;
  device: string;
  entity: string;
  label: string;
  unit: string;
  transition: string;
  level: string;
  previous: string;
  state: string;
  value: number | null;
  who: string;
  shelved: boolean;
  message: string;
  ok?: boolean;
}

interface Counts {
  active?: number;
  unacked?: number;
  shelved?: number;
  highest?: string | null;
}

function clock(t: number | null | undefined): string {
  if (t === null || t === undefined) return "—";
  return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false });
}

function withUnit(v: number | null, unit: string): string {
  return v === null || v === undefined ? "—" : `${fmtValue(v)}${unit ? ` ${unit}` : ""}`;
}

function severityTag(level: string): HTMLElement {
  return h("span", { class: `ionpy-sev-tag ionpy-sev-${level}` }, STRINGS.levels[level] ?? level);
}

export function alarmsView({ model, el, client }: ViewContext): Cleanup {
  const compact = () => !!model.get("compact");
  const root = h("div", { class: `ionpy-bench ionpy-alarms${compact() ? " ionpy-alarms-compact" : ""}`,
    "data-lm-suppress-shortcuts": "true" });
  const banner = healthBanner(model);
  const badge = h("span", { class: "ionpy-alarm-badge", role: "status", "aria-live": "polite" });
  const summary = h("span", { class: "ionpy-summary" });
  const toggle = h("button", { type: "button", class: "ionpy-alarm-toggle", "aria-expanded": "false" },
    h("span", { class: "ionpy-title" }, STRINGS.title), badge);
  const title = h("h3", { class: "ionpy-title" }, STRINGS.title);
  const ackAll = h("button", { type: "button", class: "ionpy-button", dataset: { action: "ack-all" } }, STRINGS.ackAll);
  const notify = h("button", { type: "button", class: "ionpy-button", title: STRINGS.notifyTitle,
    dataset: { action: "notify" } }, STRINGS.notify);
  const notice = h("div", { class: "ionpy-row-error", hidden: true });
  const header = h("div", { class: "ionpy-title-row ionpy-alarm-header" },
    ...(compact() ? [toggle] : [title, badge]), summary, h("span", { class: "ionpy-spacer" }), notify, ackAll);
  const tbody = h("tbody");
  const table = h("table", { class: "ionpy-table ionpy-alarm-table" },
    h("thead", {}, h("tr", {}, ...STRINGS.columns.map((c) => h("th", { scope: "col" }, c)))), tbody);
  const empty = h("div", { class: "ionpy-empty" }, STRINGS.none);
  const histBody = h("tbody");
  const histSummary = h("summary", {}, STRINGS.historyTitle(0));
  const histEmpty = h("div", { class: "ionpy-muted" }, STRINGS.historyEmpty);
  const history = h("details", { class: "ionpy-alarm-history", open: !compact() }, histSummary,
    h("table", { class: "ionpy-table ionpy-history-table" },
      h("thead", {}, h("tr", {}, ...STRINGS.historyColumns.map((c) => h("th", { scope: "col" }, c)))), histBody),
    histEmpty);
  const body = h("div", { class: "ionpy-alarm-body" }, table, empty, history);
  root.append(header, banner.el, notice, body);
  el.append(root);

  // --- requests ------------------------------------------------------------------------------
  const showNotice = (info: ErrorInfo | null) => {
    notice.replaceChildren(...(info ? [errorBox(info)] : []));
    notice.hidden = !info;
  };
  const ask = async (kind: string, payload: Record<string, unknown>, button?: HTMLElement) => {
    if (button) (button as HTMLButtonElement).disabled = true;
    try {
      await client.request(kind, payload);
      showNotice(null);
    } catch (ex) {
      showNotice(ex instanceof RequestError ? ex.info : { code: "js_error", message: String(ex) });
    } finally {
      if (button && button.isConnected) (button as HTMLButtonElement).disabled = false;
    }
  };
  ackAll.addEventListener("click", () => void ask("acknowledge", {}, ackAll));
  toggle.addEventListener("click", () => {
    model.set("expanded", !model.get("expanded"));
    model.save_changes();
  });

  // --- notifications (opt-in) ----------------------------------------------------------------
  let optedIn = false;
  const canNotify = typeof window !== "undefined" && "Notification" in window;
  const syncNotify = () => {
    notify.hidden = !canNotify;
    if (!canNotify) return;
    const denied = Notification.permission === "denied";
    notify.textContent = denied ? STRINGS.notifyDenied : optedIn ? STRINGS.notifyOn : STRINGS.notify;
    notify.disabled = denied || optedIn;
    notify.classList.toggle("ionpy-on", optedIn);
  };
  notify.addEventListener("click", async () => {
    if (!canNotify) return;
    const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    optedIn = permission === "granted";
    syncNotify();
  });
  let lastSeen = Math.max(0, ...((model.get("history") || []) as Row[]).map((r) => r.time));
  const announce = (rows: Row[]) => {
    const fresh = rows.filter((r) => r.time > lastSeen);
    if (fresh.length) lastSeen = Math.max(lastSeen, ...fresh.map((r) => r.time));
    if (!optedIn || !document.hidden || !canNotify || Notification.permission !== "granted") return;
    for (const r of fresh.filter((x) => x.transition === "raise" && !x.shelved).slice(0, 3)) {
      new Notification(`${STRINGS.levels[r.level] ?? r.level} · ${r.device}.${r.entity}`,
        { body: r.message, tag: `ionpy-${r.device}-${r.entity}` });
    }
  };

  // --- rendering -----------------------------------------------------------------------------
  const name = (s: { device: string; entity: string }) => `${s.device}.${s.entity}`;
  const actionsFor = (s: Status): HTMLElement => {
    const cell = h("span", { class: "ionpy-alarm-actions" });
    const key = { device: s.device, entity: s.entity };
    if (s.state === "active_unack" || s.state === "cleared_unack") {
      const ack = h("button", { type: "button", class: "ionpy-button ionpy-primary", dataset: { action: "ack" },
        "aria-label": STRINGS.ackLabel(name(s)) }, STRINGS.ack);
      ack.addEventListener("click", () => void ask("acknowledge", key, ack));
      cell.append(ack);
    }
    if (s.shelved) {
      const un = h("button", { type: "button", class: "ionpy-button", dataset: { action: "unshelve" },
        "aria-label": STRINGS.unshelveLabel(name(s)) }, STRINGS.unshelve);
      un.addEventListener("click", () => void ask("unshelve", key, un));
      cell.append(un);
    } else {
      const choices = (model.get("shelve_choices") || []) as number[];
      const select = h("select", { class: "ionpy-input", dataset: { action: "shelve" },
        "aria-label": STRINGS.shelveLabel(name(s)) },
        h("option", { value: "" }, STRINGS.shelve),
        ...choices.map((c) => h("option", { value: String(c) }, STRINGS.duration(c))));
      select.addEventListener("change", () => {
        const seconds = Number(select.value);
        if (seconds > 0) void ask("shelve", { ...key, seconds }, select);
      });
      cell.append(select);
    }
    return cell;
  };

  let lastActive = "";
  let lastUnacked = -1;
  const syncActive = () => {
    const active = (model.get("active") || []) as Status[];
    const sig = JSON.stringify(active);
    if (sig === lastActive) return;
    lastActive = sig;
    tbody.replaceChildren(...active.map((s) => {
      const severity = s.level !== "ok" ? s.level : s.raised; // a cleared alarm keeps its severity, muted
      const flags = [s.state.endsWith("unack") ? "ionpy-unack" : "", s.shelved ? "ionpy-shelved" : "",
        s.level === "ok" ? "ionpy-cleared" : ""].filter(Boolean).join(" ");
      return h("tr", { class: `ionpy-sev-row ionpy-sev-${severity} ${flags}`.trim(),
        dataset: { device: s.device, entity: s.entity, state: s.state, level: s.level } },
    h("td", {}, severityTag(severity)),
    h("td", {}, h("div", {}, h("strong", {}, name(s))), h("div", { class: "ionpy-sub" }, s.label)),
    h("td", { class: "ionpy-num" }, withUnit(s.value, s.unit)),
    h("td", { class: "ionpy-num" }, withUnit(s.limit, s.unit)),
    h("td", {}, h("div", {}, STRINGS.states[s.state] ?? s.state),
      s.shelved ? h("div", { class: "ionpy-sub" }, STRINGS.shelvedUntil(clock(s.shelved_until))) : null),
    h("td", {}, clock(s.since)),
    h("td", {}, actionsFor(s)));
    }));
    table.hidden = !active.length;
    empty.hidden = !!active.length;
  };

  const syncHistory = () => {
    const rows = (model.get("history") || []) as Row[];
    histSummary.textContent = STRINGS.historyTitle(rows.length);
    histBody.replaceChildren(...rows.map((r) => h("tr", {
      class: `ionpy-sev-${r.transition === "raise" || r.transition === "action" ? r.level : "none"}`,
      dataset: { transition: r.transition, device: r.device, entity: r.entity } },
    h("td", {}, clock(r.time)),
    h("td", {}, name(r)),
    h("td", {}, STRINGS.transitions[r.transition] ?? r.transition, r.ok === false ? " ✗" : ""),
    h("td", {}, severityTag(r.level)),
    h("td", { class: "ionpy-num" }, withUnit(r.value, r.unit)),
    h("td", {}, r.who),
    h("td", { class: "ionpy-alarm-message" }, r.message))));
    histEmpty.hidden = !!rows.length;
    announce(rows);
  };

  const syncCounts = () => {
    const c = (model.get("counts") || {}) as Counts;
    const n = c.active ?? 0;
    const unacked = c.unacked ?? 0;
    badge.textContent = String(n);
    badge.dataset.count = String(n);
    badge.dataset.severity = c.highest ?? (unacked ? "unack" : "none");
    badge.setAttribute("aria-label", STRINGS.badgeLabel(n, unacked));
    badge.title = STRINGS.badgeLabel(n, unacked);
    summary.textContent = [unacked ? STRINGS.unacked(unacked) : "", c.shelved ? STRINGS.shelvedCount(c.shelved) : ""]
      .filter(Boolean).join(" · ");
    ackAll.hidden = !unacked;
    if (compact() && lastUnacked >= 0 && unacked > lastUnacked && !model.get("expanded")) {
      model.set("expanded", true); // a new alarm opens the compact panel
      model.save_changes();
    }
    lastUnacked = unacked;
  };

  const syncExpanded = () => {
    const open = !compact() || !!model.get("expanded");
    body.hidden = !open;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.title = open ? STRINGS.collapse : STRINGS.expand;
  };

  const all = () => {
    syncActive();
    syncHistory();
    syncCounts();
    syncExpanded();
    syncNotify();
  };
  model.on("change:active", syncActive);
  model.on("change:history", syncHistory);
  model.on("change:counts", syncCounts);
  model.on("change:expanded", syncExpanded);
  const syncChoices = () => {
    lastActive = "";
    syncActive();
  };
  model.on("change:shelve_choices", syncChoices);
  all();
  return () => {
    banner.dispose();
    model.off("change:active", syncActive);
    model.off("change:history", syncHistory);
    model.off("change:counts", syncCounts);
    model.off("change:expanded", syncExpanded);
    model.off("change:shelve_choices", syncChoices);
  };
}
