// Small building blocks shared by the wizard steps and the discovery panel.
import { ErrorInfo, RequestError } from "../protocol";
import { errorBox, h } from "../common";

let seq = 0;
/** A unique element id (labels and aria references). */
export function uid(prefix: string): string {
  seq += 1;
  return `ionpy-${prefix}-${seq.toString(36)}`;
}

/** ErrorInfo of anything a request or a handler threw. */
export function toInfo(err: unknown): ErrorInfo {
  if (err instanceof RequestError) return err.info;
  return { code: "js_error", message: String((err as Error)?.message ?? err), hint: "See the browser console." };
}

/** Replace the content of an error slot (null clears it). */
export function setError(slot: HTMLElement, err: unknown | null): void {
  slot.replaceChildren(...(err ? [errorBox(toInfo(err))] : []));
  slot.hidden = !err;
}

/** A labelled form row: label above the control, optional help and an inline message line. */
export function field(label: string, control: HTMLElement, help?: string): { row: HTMLElement; msg: HTMLElement } {
  const id = control.id || uid("f");
  control.id = id;
  const msg = h("div", { class: "ionpy-field-msg", id: `${id}-msg`, "aria-live": "polite" });
  const helpEl = help ? h("div", { class: "ionpy-field-help", id: `${id}-help` }, ...rich(help)) : null;
  control.setAttribute("aria-describedby", [helpEl ? `${id}-help` : "", `${id}-msg`].filter(Boolean).join(" "));
  const row = h("div", { class: "ionpy-field" }, h("label", { for: id, class: "ionpy-field-label" }, label), control,
    helpEl, msg);
  return { row, msg };
}

/** Show a message under a field: ok (green) or an error with a hint. */
export function fieldMessage(msg: HTMLElement, kind: "ok" | "error" | "busy" | "", text = "", hint = ""): void {
  msg.className = `ionpy-field-msg${kind ? ` ionpy-msg-${kind}` : ""}`;
  msg.replaceChildren(...(text ? [h("span", {}, ...rich(text))] : []), ...(hint ? [h("div", { class: "ionpy-hint" }, ...rich(hint))] : []));
  const control = msg.parentElement?.querySelector("input, select, textarea");
  if (control) control.setAttribute("aria-invalid", kind === "error" ? "true" : "false");
}

export function button(label: string, onClick: () => void, cls = "", attrs: Record<string, unknown> = {}): HTMLButtonElement {
  const b = h("button", { type: "button", class: `ionpy-button ${cls}`.trim(), ...attrs }, label);
  b.addEventListener("click", onClick);
  return b;
}

export function input(attrs: Record<string, unknown> = {}): HTMLInputElement {
  return h("input", { class: "ionpy-input", type: "text", autocomplete: "off", spellcheck: "false", ...attrs });
}

export interface TabItem {
  key: string;
  label: string;
  disabled?: boolean;
  title?: string;
}

/** A tab list (role=tablist): click or arrow keys switch; returns the element and a setter. */
export function tabList(items: TabItem[], active: string, onSelect: (key: string) => void, label: string):
  { el: HTMLElement; set: (key: string) => void; tabs: Map<string, HTMLButtonElement> } {
  const el = h("div", { class: "ionpy-tabs", role: "tablist", "aria-label": label });
  const tabs = new Map<string, HTMLButtonElement>();
  const set = (key: string) => {
    for (const [k, t] of tabs) {
      const on = k === key;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      t.classList.toggle("ionpy-tab-active", on);
    }
  };
  const keys = items.filter((i) => !i.disabled).map((i) => i.key);
  for (const item of items) {
    const t = h("button", { type: "button", role: "tab", class: "ionpy-tab", title: item.title,
      "aria-disabled": item.disabled ? "true" : undefined, dataset: { key: item.key } }, item.label);
    t.addEventListener("click", () => {
      if (item.disabled) return;
      set(item.key);
      onSelect(item.key);
    });
    t.addEventListener("keydown", (ev: KeyboardEvent) => {
      const i = keys.indexOf(item.key);
      let to = -1;
      if (ev.key === "ArrowRight") to = (i + 1) % keys.length;
      else if (ev.key === "ArrowLeft") to = (i - 1 + keys.length) % keys.length;
      else if (ev.key === "Home") to = 0;
      else if (ev.key === "End") to = keys.length - 1;
      if (to < 0 || i < 0) return;
      ev.preventDefault();
      const next = tabs.get(keys[to])!;
      next.focus();
      next.click();
    });
    tabs.set(item.key, t);
    el.append(t);
  }
  set(active);
  return { el, set, tabs };
}

/** A progress bar with a text line. */
export function progressBar(label: string): { el: HTMLElement; set: (done: number, total: number, text: string) => void } {
  const bar = h("div", { class: "ionpy-progress-fill" });
  const track = h("div", { class: "ionpy-progress", role: "progressbar", "aria-label": label, "aria-valuemin": "0",
    "aria-valuemax": "100", "aria-valuenow": "0" }, bar);
  const text = h("div", { class: "ionpy-progress-text", "aria-live": "polite" });
  const el = h("div", { class: "ionpy-progress-box" }, track, text);
  const set = (done: number, total: number, line: string) => {
    const pct = total > 0 ? Math.round((100 * done) / total) : 100;
    bar.style.width = `${pct}%`;
    track.setAttribute("aria-valuenow", String(pct));
    text.textContent = line;
  };
  return { el, set };
}

export function spinner(): HTMLElement {
  return h("span", { class: "ionpy-spinner", "aria-hidden": "true" });
}

/** Make the rows of a table body keyboard-selectable: arrows move, Space picks, Enter picks and `onEnter`. */
export function selectableRows(tbody: HTMLElement, onPick: (row: HTMLElement) => void, onEnter?: () => void): void {
  tbody.addEventListener("click", (ev) => {
    const row = (ev.target as HTMLElement).closest("tr[data-pick]") as HTMLElement | null;
    if (row) onPick(row);
  });
  tbody.addEventListener("keydown", (ev: KeyboardEvent) => {
    const row = (ev.target as HTMLElement).closest("tr[data-pick]") as HTMLElement | null;
    if (!row) return;
    const rows = Array.from(tbody.querySelectorAll<HTMLElement>("tr[data-pick]"));
    const i = rows.indexOf(row);
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      rows[Math.max(0, Math.min(rows.length - 1, i + (ev.key === "ArrowDown" ? 1 : -1)))]?.focus();
    } else if (ev.key === " " || ev.key === "Enter") {
      ev.preventDefault();
      onPick(row);
      if (ev.key === "Enter" && onEnter) onEnter();
    }
  });
}

/** A table with a header row; returns the table and its body. */
export function table(columns: string[], cls = ""): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = h("tbody");
  const t = h("table", { class: `ionpy-table ionpy-pick-table ${cls}`.trim() },
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))), body);
  return { table: t, body };
}

/** Debounce: the last call within `ms` wins. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): (...args: A) => void {
  let timer = 0;
  return (...args: A) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), ms);
  };
}

/** `RD Tech DPS5005 · SN 123 · fw 1.6` */
export function identityText(idn: { manufacturer: string; model: string; serial: string; firmware: string } | null): string {
  if (!idn) return "";
  return [[idn.manufacturer, idn.model].filter(Boolean).join(" "), idn.serial ? `SN ${idn.serial}` : "",
    idn.firmware ? `fw ${idn.firmware}` : ""].filter(Boolean).join(" · ");
}

/** Children without the empty slots (`cond ? el : null`), for append/replaceChildren. */
export function nodes(...items: (Node | string | null | undefined | false)[]): (Node | string)[] {
  return items.filter((i): i is Node | string => i !== null && i !== undefined && i !== false);
}

/** Text with `code` spans (the kernel's hints quote code and paths in backticks). */
export function rich(text: string): (Node | string)[] {
  return text.split(/(`[^`]+`)/).filter(Boolean).map((part) =>
    part.length > 2 && part.startsWith("`") && part.endsWith("`") ? h("code", { class: "ionpy-inline-code" }, part.slice(1, -1)) : part);
}
