// The control panel view of one device (mirrors ionpy_widgets/widgets/controls.py): readings with
// units and alarm colours, setpoints with a Set button and inline errors, switches (confirmed
// before switching on when the entity asks for it), enum selects, and the emergency stop in a
// sticky header. The layout is built from the entity table; value pushes only touch the cells
// whose value changed, so an input being edited is never overwritten.
import { ErrorInfo, RequestError } from "./protocol";
import { Cleanup, ViewContext, errorBox, fmtValue, h } from "./common";
import { confirmDialog, healthBanner, stateBadge } from "./health";

/** English texts of the control panel (one place, ready for translation). */
export const STRINGS = {
  estop: "Emergency stop",
  estopSub: "all outputs off",
  estopTitle: "Switch every output of every device off now",
  estopDone: (list: string) => `Outputs switched off: ${list}`,
  estopNone: "No output needed switching off.",
  estopFailed: (id: string) => `${id}: could not switch off`,
  groups: { outputs: "Outputs", setpoints: "Setpoints", readings: "Readings", status: "Status",
    settings: "Settings" } as Record<string, string>,
  channel: (n: number) => `Channel ${n}`,
  device: "Device",
  set: "Set",
  setLabel: (label: string) => `Set ${label}`,
  now: "now",
  range: (lo: string, hi: string, unit: string) => `${lo} … ${hi} ${unit}`.trim(),
  on: "ON",
  off: "OFF",
  switchOnTitle: (label: string) => `Switch ${label} on?`,
  switchOnMessage: (device: string, label: string) =>
    `${device}: ${label} will be switched on and the connected load powered.`,
  switchOnConfirm: "Switch on",
  unavailable: (id: string, state: string) => `${id} is ${state}: controls are disabled until it is online.`,
  removed: (id: string) => `${id} was removed from the lab.`,
  hint: "Hint: ",
  alarms: { hihi: "HIHI alarm", hi: "HI alarm", lo: "LO alarm", lolo: "LOLO alarm" } as Record<string, string>,
  noEntities: "The entity table is not known yet (the device has not connected).",
};

interface Entity {
  key: string;
  label: string;
  unit: string;
  kind: "numeric" | "bool" | "enum" | "text";
  access: "RO" | "RW" | "WO";
  role: string;
  min: number | null;
  max: number | null;
  step: number | null;
  precision: number | null;
  options: Record<string, string>;
  alarm: Record<string, number> | null;
  channel: number | null;
  confirm: boolean;
}

interface Info {
  id?: string;
  driver?: string;
  state?: string;
  icon?: string;
  identity?: { manufacturer: string; model: string; serial: string; firmware: string } | null;
  last_error?: ErrorInfo | null;
}

type Group = "outputs" | "setpoints" | "readings" | "status" | "settings" | "info";

function groupOf(e: Entity): Group {
  const writable = e.access !== "RO";
  if (e.role === "info") return "info";
  if (writable && e.kind === "bool") return e.role === "switch" ? "outputs" : "settings";
  if (writable) return e.role === "setpoint" ? "setpoints" : "settings";
  return e.role === "status" ? "status" : "readings";
}

function fmt(e: Entity | undefined, value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (e?.kind === "enum") return e.options[String(value)] ?? String(value);
  if (e?.kind === "bool") return value ? STRINGS.on : STRINGS.off;
  return fmtValue(value, e?.precision);
}

function fmtLimit(v: number | null, e: Entity): string {
  return v === null ? "∞" : fmtValue(v, e.precision);
}

/** "CH2 output voltage" → "Output voltage" inside the Channel 2 column. */
function withoutChannel(label: string, ch: number): string {
  const rest = label.replace(new RegExp(`^CH${ch}\\s+`), "");
  return rest === label ? label : rest.charAt(0).toUpperCase() + rest.slice(1);
}

/** The IEC power symbol as inline SVG (no icon font or emoji needed). */
function powerIcon(): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "ionpy-estop-icon");
  svg.setAttribute("aria-hidden", "true");
  const arc = document.createElementNS(ns, "path");
  arc.setAttribute("d", "M7.05 6.35a8 8 0 1 0 9.9 0");
  const bar = document.createElementNS(ns, "path");
  bar.setAttribute("d", "M12 2.5v9");
  svg.append(arc, bar);
  return svg;
}

/** Per-entity update function: called with each new value. */
type Updater = (value: unknown) => void;

export function controlsView({ model, el, client }: ViewContext): Cleanup {
  const root = h("div", { class: "ionpy-bench ionpy-controls", "data-lm-suppress-shortcuts": "true",
    dataset: { device: (model.get("device") as string) || "" } });
  const title = h("div", { class: "ionpy-panel-title" });
  const badge = h("span");
  const estop = h("button", { type: "button", class: "ionpy-estop", title: STRINGS.estopTitle,
    "aria-label": `${STRINGS.estop}: ${STRINGS.estopSub}` },
    powerIcon(),
    h("span", {}, h("strong", {}, STRINGS.estop), h("small", {}, STRINGS.estopSub)));
  const estopNotice = h("div", { class: "ionpy-estop-notice", role: "status", hidden: true });
  const header = h("div", { class: "ionpy-sticky-header" },
    h("div", { class: "ionpy-header-row" }, title, badge, h("span", { class: "ionpy-spacer" }), estop), estopNotice);
  const banner = healthBanner(model);
  const stateNote = h("div", { class: "ionpy-state-note", role: "status", hidden: true });
  const body = h("div", { class: "ionpy-controls-body" });
  const infoLine = h("div", { class: "ionpy-info-line" });
  root.append(header, banner.el, stateNote, body, infoLine);
  el.append(root);

  let entities: Entity[] = [];
  let updaters = new Map<string, Updater[]>();
  let controls: (HTMLInputElement | HTMLButtonElement | HTMLSelectElement)[] = [];
  let lastValues: Record<string, unknown> = {};
  let tableSig = "";
  const device = () => (model.get("device") as string) || "";
  const online = () => ((model.get("info") || {}) as Info).state === "online";
  const value = (key: string) => ((model.get("values") || {}) as Record<string, unknown>)[key];

  const write = async (key: string, v: unknown, confirmed = false) => {
    return client.request("write", { key, value: v, confirmed });
  };

  const on = (key: string, fn: Updater) => {
    if (!updaters.has(key)) updaters.set(key, []);
    updaters.get(key)!.push(fn);
  };

  const rowError = (slot: HTMLElement, info: ErrorInfo | null) => {
    slot.replaceChildren(...(info ? [errorBox(info)] : []));
    slot.hidden = !info;
  };

  // --- cells ---------------------------------------------------------------------------------
  const readingRow = (e: Entity): HTMLElement => {
    const val = h("span", { class: "ionpy-value" });
    const row = h("div", { class: "ionpy-row ionpy-reading", dataset: { key: e.key } },
      h("span", { class: "ionpy-label" }, e.label),
      h("span", { class: "ionpy-alarm-tag", hidden: true }),
      h("span", { class: "ionpy-reading-value" }, val, e.unit ? h("span", { class: "ionpy-unit" }, e.unit) : null));
    on(e.key, (v) => (val.textContent = fmt(e, v)));
    return row;
  };

  const setpointRow = (e: Entity): HTMLElement => {
    const id = `ionpy-${device()}-${e.key}-${Math.random().toString(36).slice(2, 7)}`;
    const numeric = e.kind === "numeric";
    const input = h("input", { id, class: "ionpy-input", type: numeric ? "number" : "text",
      min: e.min ?? undefined, max: e.max ?? undefined, step: e.step ?? (numeric ? "any" : undefined),
      "aria-describedby": `${id}-range` });
    const setBtn = h("button", { type: "button", class: "ionpy-button ionpy-primary",
      "aria-label": STRINGS.setLabel(e.label) }, STRINGS.set);
    const now = h("span", { class: "ionpy-value" });
    const err = h("div", { class: "ionpy-row-error", hidden: true });
    let dirty = false;
    const showCurrent = () => {
      const v = value(e.key);
      if (!dirty && document.activeElement !== input) {
        input.value = v === null || v === undefined ? "" : numeric && e.precision !== null
          ? Number(v).toFixed(e.precision) : String(v);
      }
    };
    const submit = async () => {
      const raw = input.value.trim();
      const v = numeric ? (raw === "" ? null : Number(raw)) : raw;
      setBtn.disabled = true;
      try {
        await write(e.key, v);
        dirty = false;
        rowError(err, null);
      } catch (ex) {
        rowError(err, ex instanceof RequestError ? ex.info : { code: "js_error", message: String(ex) });
      } finally {
        setBtn.disabled = !online();
      }
    };
    input.addEventListener("input", () => (dirty = true));
    input.addEventListener("keydown", (ev: KeyboardEvent) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        void submit();
      } else if (ev.key === "Escape") {
        dirty = false;
        rowError(err, null);
        input.blur();
        showCurrent();
      }
    });
    input.addEventListener("blur", () => { if (!dirty) showCurrent(); });
    setBtn.addEventListener("click", () => void submit());
    controls.push(input, setBtn);
    on(e.key, (v) => {
      now.textContent = fmt(e, v);
      showCurrent();
    });
    const range = e.min !== null || e.max !== null ? STRINGS.range(fmtLimit(e.min, e), fmtLimit(e.max, e), e.unit) : "";
    return h("div", { class: "ionpy-row ionpy-setpoint", dataset: { key: e.key } },
      h("label", { class: "ionpy-label", for: id }, e.label),
      h("span", { class: "ionpy-set" }, input, e.unit ? h("span", { class: "ionpy-unit" }, e.unit) : null, setBtn),
      h("span", { class: "ionpy-now" }, `${STRINGS.now} `, now, e.unit ? ` ${e.unit}` : ""),
      range ? h("span", { class: "ionpy-range", id: `${id}-range` }, range) : null,
      err);
  };

  const switchRow = (e: Entity): HTMLElement => {
    const btn = h("button", { type: "button", role: "switch", class: "ionpy-switch", "aria-checked": "false",
      "aria-label": e.label }, h("span", { class: "ionpy-switch-track", "aria-hidden": "true" },
      h("span", { class: "ionpy-switch-thumb" })), h("span", { class: "ionpy-switch-text" }, STRINGS.off));
    const err = h("div", { class: "ionpy-row-error", hidden: true });
    btn.addEventListener("click", async () => {
      const target = !value(e.key);
      let confirmed = false;
      if (target && e.confirm) {
        confirmed = await confirmDialog(root, { title: STRINGS.switchOnTitle(e.label),
          message: STRINGS.switchOnMessage(device(), e.label), confirmLabel: STRINGS.switchOnConfirm });
        if (!confirmed) return;
      }
      btn.disabled = true;
      try {
        await write(e.key, target, confirmed);
        rowError(err, null);
      } catch (ex) {
        rowError(err, ex instanceof RequestError ? ex.info : { code: "js_error", message: String(ex) });
      } finally {
        btn.disabled = !online();
      }
    });
    controls.push(btn);
    on(e.key, (v) => {
      btn.setAttribute("aria-checked", v ? "true" : "false");
      btn.classList.toggle("ionpy-on", !!v);
      (btn.lastChild as HTMLElement).textContent = v ? STRINGS.on : STRINGS.off;
    });
    return h("div", { class: "ionpy-row ionpy-switch-row", dataset: { key: e.key } },
      h("span", { class: "ionpy-label" }, e.label), btn, err);
  };

  const selectRow = (e: Entity): HTMLElement => {
    const id = `ionpy-${device()}-${e.key}-${Math.random().toString(36).slice(2, 7)}`;
    const select = h("select", { id, class: "ionpy-input" },
      ...Object.entries(e.options).map(([raw, label]) => h("option", { value: raw }, label)));
    const err = h("div", { class: "ionpy-row-error", hidden: true });
    select.addEventListener("change", async () => {
      try {
        await write(e.key, Number(select.value));
        rowError(err, null);
      } catch (ex) {
        rowError(err, ex instanceof RequestError ? ex.info : { code: "js_error", message: String(ex) });
      }
    });
    controls.push(select);
    on(e.key, (v) => { if (document.activeElement !== select && v !== null && v !== undefined) select.value = String(v); });
    return h("div", { class: "ionpy-row ionpy-select-row", dataset: { key: e.key } },
      h("label", { class: "ionpy-label", for: id }, e.label), select, err);
  };

  const cellFor = (e: Entity): HTMLElement => {
    const writable = e.access !== "RO";
    if (!writable) return readingRow(e);
    if (e.kind === "bool") return switchRow(e);
    if (e.kind === "enum") return selectRow(e);
    return setpointRow(e);
  };

  // --- layout (rebuilt only when the entity table changes) -----------------------------------
  const build = () => {
    updaters = new Map();
    controls = [];
    lastValues = {};
    const channels = [...new Set(entities.map((e) => e.channel))];
    const order: Group[] = ["readings", "setpoints", "outputs", "status", "settings"];
    const sections: HTMLElement[] = [];
    if (channels.length > 1) {
      // a multi-output supply: one column per channel, like its front panel
      const columns = channels.flatMap((ch) => {
        const mine = entities.filter((e) => e.channel === ch && groupOf(e) !== "info");
        if (!mine.length) return [];
        const title = ch === null ? STRINGS.device : STRINGS.channel(ch);
        return [h("section", { class: "ionpy-card ionpy-channel-card", "aria-label": title,
          dataset: { channel: String(ch ?? "") } },
          h("h4", { class: "ionpy-channel-title" }, title),
          ...order.flatMap((g) => {
            const members = mine.filter((e) => groupOf(e) === g);
            return members.length ? [h("div", { class: "ionpy-card-title" }, STRINGS.groups[g]),
              ...members.map((e) => cellFor(ch === null ? e : { ...e, label: withoutChannel(e.label, ch) }))] : [];
          }))];
      });
      sections.push(h("div", { class: "ionpy-channels" }, ...columns));
    } else {
      const mine = entities.filter((e) => groupOf(e) !== "info");
      const cards = order.flatMap((g) => {
        const members = mine.filter((e) => groupOf(e) === g);
        if (!members.length) return [];
        return [h("section", { class: `ionpy-card ionpy-card-${g}`, "aria-label": STRINGS.groups[g] },
          h("h4", { class: "ionpy-card-title" }, STRINGS.groups[g]), ...members.map(cellFor))];
      });
      if (cards.length) sections.push(h("div", { class: "ionpy-cards" }, ...cards));
    }
    body.replaceChildren(...(sections.length ? sections : [h("div", { class: "ionpy-empty" }, STRINGS.noEntities)]));
    const info = entities.filter((e) => groupOf(e) === "info");
    infoLine.replaceChildren(...info.flatMap((e) => {
      const val = h("span", { class: "ionpy-value" });
      on(e.key, (v) => (val.textContent = `${fmt(e, v)}${e.unit ? ` ${e.unit}` : ""}`));
      return [h("span", { class: "ionpy-info-item", dataset: { key: e.key } }, `${e.label}: `, val)];
    }));
  };

  // --- syncing from the model ----------------------------------------------------------------
  const syncValues = () => {
    const values = (model.get("values") || {}) as Record<string, unknown>;
    for (const [key, fns] of updaters) {
      const v = values[key];
      if (key in lastValues && lastValues[key] === v) continue;
      lastValues[key] = v;
      fns.forEach((fn) => fn(v));
    }
    syncAlarms();
  };

  const syncAlarms = () => {
    const alarms = (model.get("alarms") || {}) as Record<string, string>;
    const states = (model.get("alarm_states") || {}) as Record<string, string>;
    body.querySelectorAll<HTMLElement>(".ionpy-reading").forEach((row) => {
      const level = alarms[row.dataset.key ?? ""] ?? "";
      const state = states[row.dataset.key ?? ""] ?? "";
      if ((row.dataset.alarmState ?? "") !== state) { // the engine's live state: unacknowledged blinks
        row.dataset.alarmState = state;
        row.classList.toggle("ionpy-alarm-unack", state === "active_unack");
      }
      if ((row.dataset.alarm ?? "") === level) return;
      row.dataset.alarm = level;
      row.classList.remove("ionpy-alarm-hi", "ionpy-alarm-hihi", "ionpy-alarm-lo", "ionpy-alarm-lolo");
      if (level) row.classList.add(`ionpy-alarm-${level}`);
      const tag = row.querySelector<HTMLElement>(".ionpy-alarm-tag");
      if (tag) { // the level in words too: colour alone is not enough
        tag.textContent = level ? STRINGS.alarms[level] ?? level : "";
        tag.hidden = !level;
      }
    });
  };

  const syncEntities = () => {
    entities = (model.get("entities") || []) as Entity[];
    const sig = JSON.stringify(entities);
    if (sig === tableSig) return;
    tableSig = sig;
    build();
    syncValues();
    syncInfo();
  };

  const syncInfo = () => {
    const info = (model.get("info") || {}) as Info;
    const id = info.id ?? device();
    const ident = info.identity;
    const model_ = ident ? [ident.manufacturer, ident.model].filter(Boolean).join(" ") : info.driver ?? "";
    title.replaceChildren(h("strong", {}, id), model_ ? h("span", { class: "ionpy-muted" }, ` · ${model_}`) : "");
    const state = info.state ?? "connecting";
    badge.replaceChildren(stateBadge(state));
    const live = state === "online";
    controls.forEach((c) => (c.disabled = !live));
    if (live) {
      stateNote.hidden = true;
      stateNote.replaceChildren();
    } else {
      stateNote.hidden = false;
      const err = info.last_error;
      const gone = state === "removed";
      stateNote.replaceChildren(h("strong", {}, gone ? STRINGS.removed(id) : STRINGS.unavailable(id, state)),
        ...(err && !gone ? [h("div", {}, err.message)] : []),
        ...(err?.hint && !gone ? [h("div", { class: "ionpy-hint" }, STRINGS.hint, err.hint)] : []));
    }
    estop.disabled = state === "removed";
  };

  estop.addEventListener("click", async () => {
    estop.disabled = true;
    estopNotice.hidden = false;
    try {
      const res = await client.request<{ switched: Record<string, string[]>; errors: Record<string, ErrorInfo> }>(
        "emergency_stop", {});
      const done = Object.entries(res.switched).filter(([, keys]) => keys.length)
        .map(([id, keys]) => `${id} (${keys.join(", ")})`);
      const failed = Object.entries(res.errors);
      estopNotice.className = `ionpy-estop-notice ${failed.length ? "ionpy-estop-partial" : "ionpy-estop-ok"}`;
      estopNotice.replaceChildren(h("div", {}, done.length ? STRINGS.estopDone(done.join("; ")) : STRINGS.estopNone),
        ...failed.map(([id, info]) => errorBox({ ...info, message: `${STRINGS.estopFailed(id)}: ${info.message}` })));
    } catch (ex) {
      estopNotice.className = "ionpy-estop-notice ionpy-estop-partial";
      estopNotice.replaceChildren(errorBox(ex instanceof RequestError ? ex.info : { code: "js_error",
        message: String(ex) }));
    } finally {
      estop.disabled = false;
    }
  });

  model.on("change:entities", syncEntities);
  model.on("change:values", syncValues);
  model.on("change:alarms", syncAlarms);
  model.on("change:alarm_states", syncAlarms);
  model.on("change:info", syncInfo);
  syncEntities();
  syncInfo();
  return () => {
    model.off("change:entities", syncEntities);
    model.off("change:values", syncValues);
    model.off("change:alarms", syncAlarms);
    model.off("change:alarm_states", syncAlarms);
    model.off("change:info", syncInfo);
    banner.dispose();
  };
}
