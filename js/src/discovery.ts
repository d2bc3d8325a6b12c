// The discovery panel (mirrors ionpy_widgets/widgets/discovery_panel.py): tabs Serial / USB /
// HID / Network / VISA, refresh, a network scan over typed targets, and a row click that opens
// the device wizard prefilled. VISA network resources are listed only after an explicit action.
import { Cleanup, ViewContext, h } from "./common";
import { scanPanel } from "./wizard/netscan";
import { button, identityText, nodes, selectableRows, setError, spinner, tabList, table, toInfo } from "./wizard/ui";
import type { DriverHint, NetResult, ScanData } from "./wizard/types";

/** English texts of the discovery panel (one place, ready for translation). */
export const STRINGS = {
  title: "Discovery",
  tabs: { serial: "Serial", usb: "USB", hid: "HID", network: "Network", visa: "VISA" } as Record<string, string>,
  columns: ["Port", "Description", "Manufacturer", "Known device", "Status"],
  netExtra: "Likely driver",
  refresh: "Refresh",
  loading: "Looking…",
  found: (n: number, ms: number) => `${n} found in ${Math.round(ms)} ms`,
  empty: "Nothing found.",
  free: "free",
  inUseBy: (id: string) => `in use by ${id}`,
  noAccess: "no access",
  missing: "missing",
  likely: (d: string) => `likely ${d}`,
  opened: (what: string) => `Opened the device wizard for ${what}.`,
  openHint: "Click a row (or press Enter on it) to add that device with the wizard.",
  listLocal: "List local resources",
  includeNetwork: "Include network (broadcast)…",
  networkWarning:
    "Listing network resources broadcasts VXI-11 and mDNS queries on every network interface. Only do this on a network where that is welcome.",
  networkConfirm: "Broadcast and list",
  cancel: "Cancel",
  visaIntro: "Local buses only (serial ports, USBTMC) until you ask for the network.",
  noAnswer: "no answer",
  notAsked: "not asked (serial)",
  answered: "answered",
};

type Row = Record<string, unknown> & { hints?: DriverHint[] };

function likely(hints: DriverHint[] | undefined): string {
  const best = (hints ?? []).find((x) => x.installed) ?? (hints ?? [])[0];
  return best ? STRINGS.likely(best.driver) : "";
}

function known(row: Row): string {
  const k = row.known as { chip?: string; vendor?: string } | null | undefined;
  return [k?.chip, likely(row.hints)].filter(Boolean).join(" · ") || "—";
}

function tag(text: string, kind: "ok" | "warn" | "bad", title?: string): HTMLElement {
  return h("span", { class: `ionpy-tag ionpy-tag-${kind}`, title }, text);
}

/** Cells per bus: port, description, manufacturer, known device, status. */
const CELLS: Record<string, (r: Row) => (Node | string)[]> = {
  serial: (r) => [h("span", { class: "ionpy-mono" }, String(r.device)), String(r.description || r.product || "—"),
    String(r.manufacturer || "—"), known(r),
    r.in_use_by || r.in_use ? tag(r.in_use_by ? STRINGS.inUseBy(String(r.in_use_by)) : STRINGS.inUseBy("?"), "warn")
      : !r.exists ? tag(STRINGS.missing, "bad", String(r.permission_hint)) : !r.accessible
        ? tag(STRINGS.noAccess, "bad", String(r.permission_hint)) : tag(STRINGS.free, "ok")],
  usb: (r) => [h("span", { class: "ionpy-mono" }, ((r.nodes as string[]) ?? []).join(", ") || String(r.sysfs_name)),
    [r.product, ((r.interface_classes as string[]) ?? []).join("/")].filter(Boolean).join(" · ") || "—",
    String(r.manufacturer || "—"), known(r), h("span", { class: "ionpy-mono" }, String(r.usb_id))],
  hid: (r) => [h("span", { class: "ionpy-mono" }, String(r.path)), String(r.product || "—"), String(r.manufacturer || "—"),
    known(r), r.accessible === false ? tag(STRINGS.noAccess, "bad", String(r.permission_hint)) : tag(STRINGS.free, "ok")],
  visa: (r) => [h("span", { class: "ionpy-mono" }, String(r.resource)),
    identityText(r.idn as never) || String(r.interface), "—", known(r),
    r.error ? tag(STRINGS.noAnswer, "bad", String((r.error as { message: string }).message))
      : r.note ? h("span", { class: "ionpy-muted", title: String(r.note) }, STRINGS.notAsked) : tag(STRINGS.answered, "ok")],
};

export function discoveryView({ model, el, client }: ViewContext): Cleanup {
  const buses = (model.get("buses") as string[]) ?? ["serial", "usb", "hid", "network", "visa"];
  const opened = h("div", { class: "ionpy-banner", role: "status", hidden: true });
  const panels = new Map<string, HTMLElement>();
  const disposers: (() => void)[] = [];
  const box = h("div", { class: "ionpy-discovery-panel", role: "tabpanel" });

  const open = async (bus: string, item: unknown, what: string, errors: HTMLElement) => {
    try {
      await client.request("open", { bus, item });
      opened.textContent = STRINGS.opened(what);
      opened.hidden = false;
    } catch (err) {
      setError(errors, toInfo(err));
    }
  };

  const listPanel = (bus: string): HTMLElement => {
    const status = h("span", { class: "ionpy-muted", "aria-live": "polite" });
    const note = h("div", { class: "ionpy-field-help" });
    const errors = h("div", { class: "ionpy-error-slot", hidden: true });
    const { table: tbl, body } = table(STRINGS.columns, `ionpy-discovery-${bus}`);
    tbl.hidden = true;
    let items: Row[] = [];
    const load = async (network = false) => {
      status.replaceChildren(spinner(), STRINGS.loading);
      confirmBox.hidden = true;
      setError(errors, null);
      try {
        const data = await client.request<ScanData<Row>>("list", { bus, network }, { timeout: 60000 });
        items = data.items;
        setError(errors, data.error);
        note.textContent = bus === "visa" ? "" : data.note;  // the VISA intro says it in UI terms
        status.textContent = items.length ? STRINGS.found(items.length, data.duration_ms) : STRINGS.empty;
      } catch (err) {
        setError(errors, toInfo(err));
        status.textContent = "";
      }
      tbl.hidden = items.length === 0;
      body.replaceChildren(...items.map((r, i) => h("tr", { tabindex: "0", dataset: { pick: String(i) }, title: STRINGS.openHint },
        ...CELLS[bus](r).map((c) => h("td", {}, c)))));
    };
    selectableRows(body, (row) => {
      const r = items[Number(row.dataset.pick)];
      body.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("ionpy-picked", tr === row));
      const what = String(r.device ?? r.resource ?? r.path ?? r.sysfs_name ?? "");
      void open(bus, r, what, errors);
    });
    const confirmBox = h("div", { class: "ionpy-banner ionpy-banner-warn", hidden: true, role: "alert" },
      h("div", {}, STRINGS.networkWarning),
      h("div", { class: "ionpy-form-actions" }, button(STRINGS.networkConfirm, () => void load(true), "ionpy-primary"),
        button(STRINGS.cancel, () => { confirmBox.hidden = true; })));
    const tools = bus === "visa"
      ? [button(STRINGS.listLocal, () => void load(false)), button(STRINGS.includeNetwork, () => { confirmBox.hidden = false; })]
      : [button(STRINGS.refresh, () => void load(false))];
    void load(false);
    return h("div", { class: "ionpy-discovery-list" },
      h("div", { class: "ionpy-toolbar" }, ...tools, status), ...nodes(bus === "visa" ? h("div", { class: "ionpy-field-help" }, STRINGS.visaIntro) : null),
      confirmBox, note, errors, tbl);
  };

  const networkPanel = (): HTMLElement => {
    const errors = h("div", { class: "ionpy-error-slot", hidden: true });
    const scan = scanPanel(client, {
      ports: [5025, 5555, 502, 4880, 111],
      onPick: (r: NetResult) => void open("network", r, `${r.host}:${r.port}`, errors),
      extraColumn: { title: STRINGS.netExtra, cell: (r) => likely(r.hints) || "—" },
    });
    disposers.push(scan.dispose);
    return h("div", {}, scan.el, errors);
  };

  const showTab = (bus: string) => {
    if (!panels.has(bus)) panels.set(bus, bus === "network" ? networkPanel() : listPanel(bus));
    box.replaceChildren(panels.get(bus)!);
  };
  const tabs = tabList(buses.map((b) => ({ key: b, label: STRINGS.tabs[b] ?? b })), buses[0], showTab, STRINGS.title);
  showTab(buses[0]);
  el.append(h("section", { class: "ionpy-bench ionpy-discovery", "data-lm-suppress-shortcuts": "true" },
    h("div", { class: "ionpy-title-row" }, h("h3", { class: "ionpy-title" }, STRINGS.title),
      h("span", { class: "ionpy-muted" }, STRINGS.openHint)), tabs.el, opened, box));
  return () => disposers.forEach((d) => d());
}
