// Step 1: the driver catalogue as tiles, filter tabs by category, search, arrow-key navigation.
import { h } from "../common";
import { connectionText } from "./confirm";
import { STRINGS } from "./strings";
import { input, setError, tabList, toInfo } from "./ui";
import type { Draft, DriverInfo, PortInfo, ScanData, StepView, WizardCtx } from "./types";

export function replaceDraft(target: Draft, source: Draft): void {
  for (const key of Object.keys(target)) delete (target as Record<string, unknown>)[key];
  Object.assign(target, source);
}

/** Driver name -> the first port whose USB id hints at it. */
function detectedPorts(ports: ScanData<PortInfo> | undefined): Map<string, PortInfo> {
  const found = new Map<string, PortInfo>();
  for (const port of ports?.items ?? []) {
    for (const hint of port.hints) {
      if (hint.installed && !found.has(hint.driver) && !port.in_use) found.set(hint.driver, port);
    }
  }
  return found;
}

function transportLabel(t: string): string {
  return STRINGS.transportNames[t] ?? t;
}

export function catalogueStep(ctx: WizardCtx): StepView {
  const drivers = ctx.drivers();
  const present = Array.from(new Set(drivers.map((d) => d.category)));
  let category = "all";
  let query = "";
  let pending: Promise<boolean> | null = null;
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const tabs = tabList([{ key: "all", label: STRINGS.all },
    ...present.map((c) => ({ key: c, label: STRINGS.categories[c] ?? c }))], category, (key) => {
    category = key;
    render();
  }, STRINGS.search);
  const search = input({ type: "search", placeholder: STRINGS.searchPlaceholder, "aria-label": STRINGS.search,
    class: "ionpy-input ionpy-search" });
  search.addEventListener("input", () => {
    query = search.value.trim().toLowerCase();
    render();
  });
  const grid = h("div", { class: "ionpy-tiles", role: "listbox", "aria-label": STRINGS.steps[0] });
  const empty = h("div", { class: "ionpy-empty", hidden: true }, STRINGS.noMatch);
  const given = ctx.draft.transport && !ctx.draft.driver ? ctx.draft.transport : null;
  const banner = given
    ? h("div", { class: "ionpy-banner", role: "status" }, STRINGS.fromDiscovery(connectionText({ transport: given })))
    : null;

  const tiles = (): HTMLElement[] => Array.from(grid.querySelectorAll<HTMLElement>(".ionpy-tile"));

  const select = (name: string, thenNext = false) => {
    const prev = ctx.draft.driver;
    const base: Draft = { ...ctx.draft, driver: name };
    if (!ctx.cache.idEdited) base.id = "";
    if (prev && prev !== name) {
      base.icon = "";
      base.framing = null;
    }
    for (const t of tiles()) {
      const on = t.dataset.name === name;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.classList.toggle("ionpy-tile-selected", on);
    }
    const detected = detectedPorts(ctx.cache.ports).get(name);
    pending = ctx.client.request<Draft>("complete", { draft: base }).then((d) => {
      const t = d.transport;
      if (detected && t && t.type === "serial" && !t.params.port) t.params.port = detected.by_id || detected.device;
      replaceDraft(ctx.draft, d);
      ctx.save();
      setError(errors, null);
      ctx.setNext(true);
      return true;
    }, (err) => {
      setError(errors, toInfo(err));
      return false;
    });
    if (thenNext) ctx.next();
  };

  const tile = (d: DriverInfo, detected: PortInfo | undefined): HTMLElement => {
    const selected = d.name === ctx.draft.driver;
    const supports = !given || d.blueprints.some((b) => b.transport === given.type);
    const el = h("div", {
      class: `ionpy-tile${selected ? " ionpy-tile-selected" : ""}${supports ? "" : " ionpy-tile-dim"}`,
      role: "option", tabindex: "-1", "aria-selected": selected ? "true" : "false", dataset: { name: d.name },
      title: supports ? d.description : STRINGS.notForTransport(transportLabel(given!.type)),
    },
    h("div", { class: "ionpy-tile-head" }, h("span", { class: "ionpy-tile-icon", "aria-hidden": "true" }, d.icon),
      h("span", { class: "ionpy-tile-name" }, d.name)),
    h("div", { class: "ionpy-tile-desc" }, d.description),
    h("div", { class: "ionpy-tile-foot" },
      ...d.blueprints.map((b) => h("span", { class: "ionpy-chip", title: b.label }, transportLabel(b.transport))),
      detected ? h("span", { class: "ionpy-chip ionpy-chip-found" }, STRINGS.detected(detected.by_id || detected.device)) : null));
    el.addEventListener("click", () => { el.focus(); select(d.name); });
    el.addEventListener("dblclick", () => select(d.name, true));
    return el;
  };

  const render = () => {
    const detected = detectedPorts(ctx.cache.ports);
    const shown = drivers.filter((d) => (category === "all" || d.category === category) &&
      (!query || `${d.name} ${d.description}`.toLowerCase().includes(query)));
    grid.replaceChildren(...shown.map((d) => tile(d, detected.get(d.name))));
    empty.hidden = shown.length > 0;
    const all = tiles();
    const current = all.find((t) => t.dataset.name === ctx.draft.driver) ?? all[0];
    if (current) current.tabIndex = 0;
  };

  grid.addEventListener("keydown", (ev: KeyboardEvent) => {
    const all = tiles();
    const i = all.indexOf(ev.target as HTMLElement);
    if (i < 0) return;
    const top = all[0].offsetTop;
    const cols = Math.max(1, all.filter((t) => t.offsetTop === top).length);
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols };
    if (ev.key in moves) {
      ev.preventDefault();
      const to = all[Math.max(0, Math.min(all.length - 1, i + moves[ev.key]))];
      all.forEach((t) => (t.tabIndex = t === to ? 0 : -1));
      to.focus();
    } else if (ev.key === "Home" || ev.key === "End") {
      ev.preventDefault();
      all[ev.key === "Home" ? 0 : all.length - 1].focus();
    } else if (ev.key === " " || ev.key === "Enter") {
      ev.preventDefault();
      select(all[i].dataset.name!, ev.key === "Enter");
    }
  });

  render();
  ctx.setNext(Boolean(ctx.draft.driver));
  if (!ctx.cache.ports) {
    ctx.client.request<ScanData<PortInfo>>("list_ports", { extra: [] }).then((ports) => {
      ctx.cache.ports = ports;
      const focused = document.activeElement;
      const name = focused instanceof HTMLElement && grid.contains(focused) ? focused.dataset.name : undefined;
      render();
      if (name) tiles().find((t) => t.dataset.name === name)?.focus();
    }, () => undefined);  // detection is only a hint: the serial tab shows the error if listing fails
  }

  const el = h("div", { class: "ionpy-step ionpy-step-driver" },
    banner, h("div", { class: "ionpy-toolbar" }, tabs.el, search), errors, grid, empty);
  return {
    el,
    focus: () => (tiles().find((t) => t.tabIndex === 0) ?? search).focus(),
    leave: async () => {
      if (!ctx.draft.driver && !pending) {
        setError(errors, { code: "no_driver", message: STRINGS.chooseDriver, hint: "" });
        return false;
      }
      const ok = pending ? await pending : true;
      return ok && Boolean(ctx.draft.driver);
    },
  };
}
