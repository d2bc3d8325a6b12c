// The connection panels of step 3, one per transport type. Each fills the draft's transport
// params through `PanelCtx.set` and registers its fields so the kernel's errors land on them.
import { h } from "../common";
import { STRINGS } from "./strings";
import { scanPanel } from "./netscan";
import { button, nodes, field, fieldMessage, identityText, input, selectableRows, setError, spinner, table, toInfo } from "./ui";
import type { PanelCtx } from "./transport";
import type { DriverHint, NetResult, PortInfo, ScanData } from "./types";

export interface Panel {
  el: HTMLElement;
  advanced?: HTMLElement;
  dispose?: () => void;
}

function likely(hints: DriverHint[]): string {
  const best = hints.find((x) => x.installed) ?? hints[0];
  return best ? STRINGS.likely(best.driver) : "";
}

function select(options: [string, string][], value: string): HTMLSelectElement {
  const s = h("select", { class: "ionpy-input" });
  for (const [v, label] of options) s.append(h("option", { value: v }, label));
  s.value = value;
  return s;
}

function textParam(p: PanelCtx, key: string, label: string, attrs: Record<string, unknown> = {}, help?: string) {
  const el = input({ value: String(p.params()[key] ?? ""), ...attrs });
  const numeric = attrs.type === "number";
  el.addEventListener("input", () => {
    const raw = el.value.trim();
    p.set(key, numeric && raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw);
  });
  const f = field(label, el, help);
  p.fields.add(`transport.params.${key}`, f.msg);
  return { el, ...f };
}

// --- serial ---------------------------------------------------------------------------------------
function serialPanel(p: PanelCtx): Panel {
  const ctx = p.wiz;
  const port = textParam(p, "port", STRINGS.port, { placeholder: STRINGS.portPlaceholder, class: "ionpy-input ionpy-input-port" },
    STRINGS.portHelp);
  const refresh = button(STRINGS.refresh, () => void load(true), "", { "aria-label": `${STRINGS.refresh} ${STRINGS.ports}` });
  const status = h("div", { class: "ionpy-muted", "aria-live": "polite" });
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const { table: tbl, body } = table(STRINGS.columns, "ionpy-ports");
  tbl.setAttribute("aria-label", STRINGS.ports);

  const portOf = (info: PortInfo) => info.by_id || info.device;
  const isCurrent = (info: PortInfo) => {
    const v = String(p.params().port ?? "");
    return v !== "" && (v === info.device || v === info.by_id);
  };
  const describePick = () => {
    const info = ctx.cache.ports?.items.find(isCurrent);
    if (!info) return fieldMessage(port.msg, "");
    if (info.in_use_by || info.in_use) fieldMessage(port.msg, "error", STRINGS.inUseBy(info.in_use_by || "?"));
    else if (!info.accessible) fieldMessage(port.msg, "error", info.permission_hint);
    else fieldMessage(port.msg, "");
  };
  const statusCell = (info: PortInfo) => {
    if (info.in_use_by || info.in_use) return h("span", { class: "ionpy-tag ionpy-tag-warn" }, info.in_use_by ? STRINGS.inUseBy(info.in_use_by) : STRINGS.inUse);
    if (!info.exists) return h("span", { class: "ionpy-tag ionpy-tag-bad", title: info.permission_hint }, STRINGS.missing);
    if (!info.accessible) return h("span", { class: "ionpy-tag ionpy-tag-bad", title: info.permission_hint }, STRINGS.noAccess);
    return h("span", { class: "ionpy-tag ionpy-tag-ok" }, STRINGS.free);
  };
  const render = () => {
    const data = ctx.cache.ports;
    const items = data?.items ?? [];
    body.replaceChildren(...items.map((info, i) => {
      const on = isCurrent(info);
      return h("tr", { tabindex: "0", "aria-selected": on ? "true" : "false", class: on ? "ionpy-picked" : "",
        dataset: { pick: String(i) } },
      h("td", {}, h("div", { class: "ionpy-mono" }, info.device),
        info.by_id ? h("div", { class: "ionpy-sub ionpy-mono" }, info.by_id) : null,
        info.source === "extra" ? h("div", { class: "ionpy-sub" }, STRINGS.typed) : null),
      h("td", {}, info.description || info.product || "—"),
      h("td", {}, info.manufacturer || "—"),
      h("td", {}, [info.known?.chip, likely(info.hints)].filter(Boolean).join(" · ") || "—"),
      h("td", {}, statusCell(info)));
    }));
    tbl.hidden = items.length === 0;
    status.textContent = data ? (items.length ? "" : STRINGS.noPorts) : STRINGS.refreshing;
    setError(errors, data?.error ?? null);
    describePick();
  };
  let loading = false;
  const load = async (force: boolean) => {
    if (ctx.cache.ports && !force) return render();
    if (loading) return;
    const typed = String(p.params().port ?? "").trim();
    status.replaceChildren(spinner(), STRINGS.refreshing);
    loading = true;  // the button stays enabled: disabling it would drop the keyboard focus
    refresh.setAttribute("aria-busy", "true");
    try {
      ctx.cache.ports = await ctx.client.request<ScanData<PortInfo>>("list_ports", { extra: typed ? [typed] : [] });
    } catch (err) {
      setError(errors, toInfo(err));
    } finally {
      loading = false;
      refresh.removeAttribute("aria-busy");
      render();
    }
  };
  selectableRows(body, (row) => {
    const info = ctx.cache.ports?.items[Number(row.dataset.pick)];
    if (!info) return;
    port.el.value = portOf(info);
    p.set("port", port.el.value);
    render();
    (body.querySelector(`tr[data-pick="${row.dataset.pick}"]`) as HTMLElement | null)?.focus();
  }, () => ctx.next());
  port.el.addEventListener("input", () => render());
  port.el.addEventListener("change", () => {
    const typed = port.el.value.trim();
    if (typed && !ctx.cache.ports?.items.some(isCurrent)) void load(true);
  });

  // baud rate: common values + custom
  const rates = (ctx.model.get("baudrates") as number[]) ?? [9600];
  const baud = Number(p.params().baudrate ?? 9600);
  const custom = !rates.includes(baud);
  const baudSel = select([...rates.map((r) => [String(r), String(r)] as [string, string]), ["custom", STRINGS.custom]],
    custom ? "custom" : String(baud));
  baudSel.classList.add("ionpy-baud");
  const customIn = input({ type: "number", min: "1", value: String(baud), class: "ionpy-input ionpy-input-short",
    "aria-label": STRINGS.customBaud, hidden: !custom });
  baudSel.addEventListener("change", () => {
    const isCustom = baudSel.value === "custom";
    customIn.hidden = !isCustom;
    p.set("baudrate", isCustom ? Number(customIn.value) : Number(baudSel.value));
    if (isCustom) customIn.focus();
  });
  customIn.addEventListener("input", () => p.set("baudrate", Number(customIn.value)));
  const baudField = field(STRINGS.baudrate, baudSel);
  baudField.row.insertBefore(customIn, baudField.msg);
  p.fields.add("transport.params.baudrate", baudField.msg);

  // advanced: line format
  const lineSelect = (key: string, label: string, options: [string, string][], fallback: string, asNumber: boolean) => {
    const s = select(options, String(p.params()[key] ?? fallback));
    s.addEventListener("change", () => p.set(key, asNumber ? Number(s.value) : s.value));
    const f = field(label, s);
    p.fields.add(`transport.params.${key}`, f.msg);
    return f.row;
  };
  const advanced = h("div", { class: "ionpy-form-row" },
    lineSelect("bytesize", STRINGS.bytesize, ["8", "7", "6", "5"].map((v) => [v, v]), "8", true),
    lineSelect("parity", STRINGS.parity, Object.entries(STRINGS.parities), "N", false),
    lineSelect("stopbits", STRINGS.stopbits, ["1", "1.5", "2"].map((v) => [v, v]), "1", true));

  void load(false);
  const el = h("div", { class: "ionpy-serial" },
    h("div", { class: "ionpy-form-row" }, port.row, h("div", { class: "ionpy-form-actions" }, refresh), baudField.row),
    status, errors, tbl);
  return { el, advanced };
}

// --- tcp --------------------------------------------------------------------------------------------
function tcpPanel(p: PanelCtx): Panel {
  const ctx = p.wiz;
  const host = textParam(p, "host", STRINGS.host, { placeholder: STRINGS.hostPlaceholder, class: "ionpy-input ionpy-input-host" });
  const port = textParam(p, "port", STRINGS.tcpPort, { type: "number", min: "1", max: "65535", class: "ionpy-input ionpy-input-short" });
  const result = h("div", { class: "ionpy-latency", "aria-live": "polite" });
  const test = button(STRINGS.testLatency, () => void latency());
  const latency = async () => {
    result.replaceChildren(spinner(), STRINGS.testing);
    const refocus = document.activeElement === test;
    test.disabled = true;
    try {
      const r = await ctx.client.request<NetResult>("latency", { host: p.params().host ?? "", port: Number(p.params().port) });
      const line = r.state === "open" ? STRINGS.latencyOpen(r.latency_ms) : r.state === "closed" ? STRINGS.latencyClosed
        : r.state === "timeout" ? STRINGS.latencyTimeout : STRINGS.latencyError(r.error || r.state || "");
      result.replaceChildren(...nodes(h("div", { class: r.state === "open" ? "ionpy-msg-ok" : "ionpy-msg-error" }, line),
        r.idn ? h("div", { class: "ionpy-muted" }, STRINGS.idn(identityText(r.idn))) : null,
        r.error && r.state === "open" ? h("div", { class: "ionpy-hint" }, r.error) : null));
    } catch (err) {
      result.replaceChildren();
      setError(result, toInfo(err));
      result.hidden = false;
    } finally {
      test.disabled = false;
      if (refocus) test.focus();
    }
  };
  for (const f of [host.el, port.el]) f.addEventListener("input", () => { result.replaceChildren(); p.checkLive(); });
  const defaultPort = Number(p.blueprint.transport_params.port ?? p.params().port ?? 5025);
  const scan = scanPanel(ctx.client, {
    ports: Array.from(new Set([defaultPort, 5025, 5555, 502].filter((n) => Number.isFinite(n) && n > 0))),
    onPick: (r) => {
      host.el.value = r.host;
      port.el.value = String(r.port);
      p.set("host", r.host);
      p.set("port", r.port);
      p.checkLive();
      host.el.focus();
    },
  });
  const details = h("details", { class: "ionpy-scan-details" }, h("summary", {}, STRINGS.scanTitle), scan.el);
  const el = h("div", { class: "ionpy-tcp" },
    h("div", { class: "ionpy-form-row" }, host.row, port.row, h("div", { class: "ionpy-form-actions" }, test)),
    result, details);
  const timeout = textParam(p, "connect_timeout", STRINGS.paramLabels.connect_timeout,
    { type: "number", min: "0.1", step: "0.1", class: "ionpy-input ionpy-input-short", placeholder: "3" });
  return { el, advanced: h("div", { class: "ionpy-form-row" }, timeout.row), dispose: scan.dispose };
}

// --- visa ---------------------------------------------------------------------------------------------
interface VisaItem {
  resource: string;
  interface: string;
  idn: { manufacturer: string; model: string; serial: string; firmware: string } | null;
  hints: DriverHint[];
  note: string;
  error: { message: string } | null;
}

function visaPanel(p: PanelCtx): Panel {
  const ctx = p.wiz;
  const res = textParam(p, "resource", STRINGS.resource, { placeholder: STRINGS.resourcePlaceholder, class: "ionpy-input ionpy-input-wide" });
  const status = h("div", { class: "ionpy-muted", "aria-live": "polite" });
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const { table: tbl, body } = table(STRINGS.visaColumns);
  tbl.hidden = true;
  let items: VisaItem[] = [];
  const list = async (network: boolean) => {
    status.replaceChildren(spinner(), STRINGS.refreshing);
    confirmBox.hidden = true;
    try {
      const data = await ctx.client.request<ScanData<VisaItem>>("list_visa", { network }, { timeout: 60000 });
      items = data.items;
      setError(errors, data.error);
      const scope = network ? "" : STRINGS.visaLocal;  // the kernel's note speaks Python (network=True)
      status.textContent = items.length ? scope : `${STRINGS.noVisa} ${scope}`;
    } catch (err) {
      setError(errors, toInfo(err));
      status.textContent = "";
    }
    tbl.hidden = items.length === 0;
    body.replaceChildren(...items.map((it, i) => h("tr", { tabindex: "0", dataset: { pick: String(i) },
      class: it.resource === p.params().resource ? "ionpy-picked" : "" },
    h("td", { class: "ionpy-mono" }, it.resource), h("td", {}, it.interface),
    h("td", { title: it.error?.message || it.note || undefined },
      identityText(it.idn) || (it.error ? STRINGS.noAnswer : it.note ? STRINGS.notAsked : "—")),
    h("td", {}, likely(it.hints) || "—"))));
  };
  selectableRows(body, (row) => {
    const it = items[Number(row.dataset.pick)];
    res.el.value = it.resource;
    p.set("resource", it.resource);
    body.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("ionpy-picked", tr === row));
  }, () => ctx.next());
  const confirmBox = h("div", { class: "ionpy-banner ionpy-banner-warn", hidden: true, role: "alert" },
    h("div", {}, STRINGS.networkWarning),
    h("div", { class: "ionpy-form-actions" }, button(STRINGS.networkConfirm, () => void list(true), "ionpy-primary"),
      button(STRINGS.cancel, () => { confirmBox.hidden = true; })));
  const el = h("div", { class: "ionpy-visa" },
    h("div", { class: "ionpy-form-row" }, res.row),
    h("div", { class: "ionpy-form-actions" }, button(STRINGS.listLocal, () => void list(false)),
      button(STRINGS.includeNetwork, () => { confirmBox.hidden = false; })),
    confirmBox, status, errors, tbl);
  const backend = textParam(p, "backend", STRINGS.backend, { placeholder: "@py" });
  const timeout = textParam(p, "timeout_ms", STRINGS.paramLabels.timeout_ms,
    { type: "number", min: "1", class: "ionpy-input ionpy-input-short", placeholder: "2000" });
  return { el, advanced: h("div", { class: "ionpy-form-row" }, backend.row, timeout.row) };
}

// --- hid -----------------------------------------------------------------------------------------------
interface HidItem {
  path: string;
  vid: number;
  pid: number;
  usb_id: string;
  serial_number: string;
  manufacturer: string;
  product: string;
  known: { chip: string } | null;
  hints: DriverHint[];
  permission_hint: string;
}

const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, "0")}`;

function hidPanel(p: PanelCtx): Panel {
  const ctx = p.wiz;
  const vid = textParam(p, "vendor_id", STRINGS.vendorId, { placeholder: "0x10C4", class: "ionpy-input ionpy-input-short" });
  const pid = textParam(p, "product_id", STRINGS.productId, { placeholder: "0xEA80", class: "ionpy-input ionpy-input-short" });
  const serial = textParam(p, "serial", STRINGS.hidSerial);
  const status = h("div", { class: "ionpy-muted", "aria-live": "polite" });
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const { table: tbl, body } = table(STRINGS.hidColumns);
  tbl.hidden = true;
  let items: HidItem[] = [];
  const list = async () => {
    status.replaceChildren(spinner(), STRINGS.refreshing);
    try {
      const data = await ctx.client.request<ScanData<HidItem>>("list_hid", {});
      items = data.items;
      setError(errors, data.error);
      status.textContent = items.length ? "" : STRINGS.noHid;
    } catch (err) {
      setError(errors, toInfo(err));
      status.textContent = "";
    }
    tbl.hidden = items.length === 0;
    body.replaceChildren(...items.map((it, i) => h("tr", { tabindex: "0", dataset: { pick: String(i) }, title: it.permission_hint },
      h("td", {}, it.product || it.path), h("td", {}, it.manufacturer || "—"), h("td", { class: "ionpy-mono" }, it.usb_id),
      h("td", {}, [it.known?.chip, likely(it.hints)].filter(Boolean).join(" · ") || "—"))));
  };
  selectableRows(body, (row) => {
    const it = items[Number(row.dataset.pick)];
    vid.el.value = hex(it.vid);
    pid.el.value = hex(it.pid);
    serial.el.value = it.serial_number;
    p.set("vendor_id", vid.el.value);
    p.set("product_id", pid.el.value);
    p.set("serial", it.serial_number);
    body.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("ionpy-picked", tr === row));
  }, () => ctx.next());
  const el = h("div", { class: "ionpy-hid" },
    h("div", { class: "ionpy-form-row" }, vid.row, pid.row, serial.row),
    h("div", { class: "ionpy-form-actions" }, button(STRINGS.listHid, () => void list())), status, errors, tbl);
  return { el };
}

export const connectionPanels: Record<string, (p: PanelCtx) => Panel> = {
  serial: serialPanel,
  tcp: tcpPanel,
  visa: visaPanel,
  hid: hidPanel,
};
