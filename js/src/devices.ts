// The device manager view (mirrors ionpy_widgets/widgets/devices.py): one row per device with
// live status, driver, identity, connection and poll rate; enable/disable, edit and delete.
// Rows are built once per device and only their changed cells are touched, so keyboard focus
// stays on a button while the poll rate ticks.
import { ErrorInfo, RequestError } from "./protocol";
import { Cleanup, ViewContext, errorBox, h } from "./common";
import { confirmDialog, healthBanner, stateBadge } from "./health";

/** English texts of the device manager (one place, ready for translation). */
export const STRINGS = {
  title: "Devices",
  summary: (n: number, online: number) => `${n} device${n === 1 ? "" : "s"} · ${online} online`,
  empty: "No devices yet. Add one with `await lab.add_device({...})` (or the wizard): it appears here by itself.",
  columns: ["Status", "Device", "Driver", "Identity", "Connection", "Poll rate", "Actions"],
  enable: "Enable",
  disable: "Disable",
  edit: "Edit",
  editUnavailable: "The device wizard is not available here",
  delete: "Delete",
  deleteTitle: (id: string) => `Delete ${id}?`,
  deleteMessage: (id: string) =>
    `${id} stops polling and is removed from this lab. Its outputs are left as they are.`,
  deleteConfirm: "Delete",
  actionLabel: (action: string, id: string) => `${action} ${id}`,
  firmware: "fw",
  serial: "SN",
  everyS: (s: number) => `every ${fmtSeconds(s)}`,
  rate: (hz: number) => `${hz.toFixed(1)} Hz`,
  hint: "Hint: ",
  dismiss: "Dismiss",
};

interface DeviceRow {
  id: string;
  driver: string;
  icon: string;
  state: string;
  enabled: boolean;
  identity: { manufacturer: string; model: string; serial: string; firmware: string } | null;
  transport: string;
  poll_interval: number;
  rate: number;
  last_error: ErrorInfo | null;
}

interface Capabilities {
  enable?: boolean;
  edit?: boolean;
  delete?: boolean;
}

function fmtSeconds(s: number): string {
  return s >= 1 ? `${+s.toPrecision(3)} s` : `${Math.round(s * 1000)} ms`;
}

function identityLines(row: DeviceRow): [string, string] {
  const id = row.identity;
  if (!id) return ["—", ""];
  const details = [id.serial ? `${STRINGS.serial} ${id.serial}` : "", id.firmware ? `${STRINGS.firmware} ${id.firmware}` : ""];
  return [[id.manufacturer, id.model].filter(Boolean).join(" ") || "—", details.filter(Boolean).join(" · ")];
}

function pollLines(row: DeviceRow): [string, string] {
  const every = STRINGS.everyS(row.poll_interval);
  return row.state === "online" && row.rate > 0 ? [STRINGS.rate(row.rate), every] : [every, ""];
}

/** A main line and an optional muted second line. */
function twoLines([main, sub]: [string, string], mono = false): Node[] {
  const first = mono ? h("code", { class: "ionpy-mono" }, main) : h("div", {}, main);
  return [first, ...(sub ? [h("div", { class: `ionpy-sub${mono ? " ionpy-mono" : ""}` }, sub)] : [])];
}

/** Replace a cell's content only when its signature changed. */
function setCell(cell: HTMLElement, sig: string, build: () => (Node | string)[]): void {
  if (cell.dataset.sig === sig) return;
  cell.dataset.sig = sig;
  cell.replaceChildren(...build());
}

interface RowRefs {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
  detail: HTMLTableRowElement;
  detailCell: HTMLTableCellElement;
  buttons: HTMLButtonElement[];
}

export function devicesView({ model, el, client }: ViewContext): Cleanup {
  const root = h("div", { class: "ionpy-bench ionpy-devices", "data-lm-suppress-shortcuts": "true" });
  const banner = healthBanner(model);
  const summary = h("span", { class: "ionpy-summary" });
  const tbody = h("tbody");
  const table = h("table", { class: "ionpy-table" },
    h("thead", {}, h("tr", {}, ...STRINGS.columns.map((c) => h("th", { scope: "col" }, c)))), tbody);
  const empty = h("div", { class: "ionpy-empty" }, STRINGS.empty);
  root.append(h("div", { class: "ionpy-title-row" }, h("h3", { class: "ionpy-title" }, STRINGS.title), summary),
    banner.el, table, empty);
  el.append(root);

  const rows = new Map<string, RowRefs>();
  const notices = new Map<string, ErrorInfo>();
  const busy = new Set<string>();
  let order = "";

  const act = async (id: string, kind: string, payload: Record<string, unknown>) => {
    busy.add(id);
    render();
    try {
      await client.request(kind, { device: id, ...payload });
      notices.delete(id);
    } catch (err) {
      const info = err instanceof RequestError ? err.info : { code: "js_error", message: String(err) };
      notices.set(id, info);
    } finally {
      busy.delete(id);
      render();
    }
  };

  const onDelete = async (id: string) => {
    const ok = await confirmDialog(root, { title: STRINGS.deleteTitle(id), message: STRINGS.deleteMessage(id),
      confirmLabel: STRINGS.deleteConfirm, danger: true });
    if (ok) await act(id, "delete", {});
  };

  const build = (id: string): RowRefs => {
    const cells = STRINGS.columns.map(() => h("td"));
    const tr = h("tr", { dataset: { device: id } }, ...cells);
    const detailCell = h("td", { colspan: String(STRINGS.columns.length) });
    const detail = h("tr", { class: "ionpy-detail-row", dataset: { device: id } }, detailCell);
    const toggle = h("button", { type: "button", class: "ionpy-button", dataset: { action: "enable" } });
    const edit = h("button", { type: "button", class: "ionpy-button", dataset: { action: "edit" },
      "aria-label": STRINGS.actionLabel(STRINGS.edit, id) }, STRINGS.edit);
    const del = h("button", { type: "button", class: "ionpy-button ionpy-danger-outline", dataset: { action: "delete" },
      "aria-label": STRINGS.actionLabel(STRINGS.delete, id) }, STRINGS.delete);
    toggle.addEventListener("click", () => {
      const row = current().find((r) => r.id === id);
      if (row) void act(id, "enable", { enabled: !row.enabled });
    });
    edit.addEventListener("click", () => void act(id, "edit", {}));
    del.addEventListener("click", () => void onDelete(id));
    cells[6].append(h("div", { class: "ionpy-actions" }, toggle, edit, del));
    return { tr, cells, detail, detailCell, buttons: [toggle, edit, del] };
  };

  const current = () => (model.get("devices") || []) as DeviceRow[];

  const update = (refs: RowRefs, row: DeviceRow, caps: Capabilities) => {
    const [status, name, driver, identity, conn, poll] = refs.cells;
    setCell(status, row.state, () => [stateBadge(row.state)]);
    setCell(name, row.id, () => [h("strong", {}, row.id)]);
    setCell(driver, row.driver, () => [row.driver]);
    const ident = identityLines(row);
    setCell(identity, ident.join("|"), () => twoLines(ident));
    const [link, framing] = row.transport.split(" · ");
    setCell(conn, row.transport, () => twoLines([link, framing ?? ""], true));
    const rate = pollLines(row);
    setCell(poll, rate.join("|"), () => twoLines(rate));
    const [toggle, edit, del] = refs.buttons;
    const label = row.enabled ? STRINGS.disable : STRINGS.enable;
    if (toggle.textContent !== label) {
      toggle.textContent = label;
      toggle.setAttribute("aria-label", STRINGS.actionLabel(label, row.id));
    }
    toggle.hidden = !caps.enable;
    edit.title = caps.edit ? "" : STRINGS.editUnavailable;
    del.hidden = caps.delete === false;
    const isBusy = busy.has(row.id);
    refs.buttons.forEach((b) => (b.disabled = isBusy));
    refs.tr.classList.toggle("ionpy-busy", isBusy);
    // the last error (while not online) and the answer to a failed action, under the row
    const err = row.state !== "online" && row.state !== "disabled" ? row.last_error : null;
    const notice = notices.get(row.id) ?? null;
    const sig = JSON.stringify([err, notice]);
    setCell(refs.detailCell, sig, () => {
      const out: Node[] = [];
      if (err) out.push(h("div", { class: "ionpy-device-error", role: "alert" },
        h("strong", {}, err.message), err.hint ? h("div", { class: "ionpy-hint" }, STRINGS.hint, err.hint) : null));
      if (notice) {
        const close = h("button", { type: "button", class: "ionpy-icon-button", "aria-label": STRINGS.dismiss,
          title: STRINGS.dismiss }, "×");
        close.addEventListener("click", () => {
          notices.delete(row.id);
          render();
        });
        out.push(h("div", { class: "ionpy-notice-row" }, errorBox(notice), close));
      }
      return out;
    });
    refs.detail.hidden = !err && !notice;
  };

  const render = () => {
    const list = current();
    const caps = (model.get("capabilities") || {}) as Capabilities;
    const ids = list.map((r) => r.id);
    for (const id of [...rows.keys()]) {
      if (!ids.includes(id)) {
        rows.delete(id);
        notices.delete(id);
      }
    }
    for (const row of list) {
      if (!rows.has(row.id)) rows.set(row.id, build(row.id));
      update(rows.get(row.id)!, row, caps);
    }
    const sig = ids.join("\u0000");
    if (sig !== order) { // only when devices come, go or move: re-inserting a row would drop focus
      order = sig;
      tbody.replaceChildren(...ids.flatMap((id) => [rows.get(id)!.tr, rows.get(id)!.detail]));
    }
    const online = list.filter((r) => r.state === "online").length;
    summary.textContent = STRINGS.summary(list.length, online);
    table.hidden = list.length === 0;
    empty.hidden = list.length !== 0;
  };

  model.on("change:devices", render);
  model.on("change:capabilities", render);
  render();
  return () => {
    model.off("change:devices", render);
    model.off("change:capabilities", render);
    banner.dispose();
  };
}
