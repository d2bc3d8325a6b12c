// Network scan over targets the user types (never anything else): progress bar, cancel and a
// result table; picking a row calls `onPick`. Used by the wizard's TCP tab and the discovery panel.
import type { Client } from "../protocol";
import { h } from "../common";
import { STRINGS } from "./strings";
import { button, field, identityText, input, progressBar, selectableRows, setError, table } from "./ui";
import type { NetResult, ScanJob } from "./types";

type ScanItem = { kind: "started" | "progress"; scan: ScanJob } | { kind: "found"; result: NetResult };

export interface ScanPanelOptions {
  ports: number[];
  onPick: (result: NetResult) => void;
  /** Extra cell content per result (e.g. the likely driver). */
  extraColumn?: { title: string; cell: (r: NetResult) => Node | string };
}

export function scanPanel(client: Client, opts: ScanPanelOptions): { el: HTMLElement; dispose: () => void } {
  const targets = input({ placeholder: STRINGS.scanTargetsPlaceholder, "data-enter-local": "true" });
  const ports = input({ value: opts.ports.join(", "), class: "ionpy-input ionpy-input-ports", "data-enter-local": "true" });
  const start = button(STRINGS.scanStart, () => void run(), "ionpy-primary");
  const cancel = button(STRINGS.scanCancel, () => void stop(), "", { hidden: true });
  const progress = progressBar(STRINGS.scanTitle);
  progress.el.hidden = true;
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const columns = [...STRINGS.scanColumns, ...(opts.extraColumn ? [opts.extraColumn.title] : [])];
  const { table: tbl, body } = table(columns, "ionpy-scan-table");
  tbl.hidden = true;
  const found: NetResult[] = [];
  let scanId = "";
  let running = false;

  const render = () => {
    tbl.hidden = found.length === 0;
    body.replaceChildren(...found.map((r, i) => h("tr", { tabindex: "0", dataset: { pick: String(i) },
      title: STRINGS.scanUse(`${r.host}:${r.port}`) },
      h("td", { class: "ionpy-mono" }, `${r.host}:${r.port}`),
      h("td", {}, r.service),
      h("td", {}, identityText(r.idn) || "—"),
      h("td", { class: "ionpy-num" }, r.latency_ms !== null ? `${r.latency_ms.toFixed(1)} ms` : "—"),
      opts.extraColumn ? h("td", {}, opts.extraColumn.cell(r)) : null)));
  };
  selectableRows(body, (row) => {
    const r = found[Number(row.dataset.pick)];
    body.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("ionpy-picked", tr === row));
    if (r) opts.onPick(r);
  });

  const run = async () => {
    if (running) return;
    const portList = ports.value.split(/[,\s]+/).filter(Boolean).map(Number);
    running = true;
    found.length = 0;
    render();
    setError(errors, null);
    const refocus = document.activeElement === start;
    start.disabled = true;
    cancel.hidden = false;
    if (refocus) cancel.focus();
    progress.el.hidden = false;
    progress.set(0, 1, "…");
    try {
      const res = await client.request<{ scan: ScanJob; results: NetResult[] }>("scan",
        { targets: targets.value, ports: portList.length ? portList : null }, {
          timeout: 120000,
          onItem: (raw) => {
            const item = raw as ScanItem;
            if (item.kind === "found") {
              found.push(item.result);
              render();
            } else {
              scanId = item.scan.id;
              progress.set(item.scan.done, item.scan.total, STRINGS.scanProgress(item.scan.done, item.scan.total, item.scan.found));
            }
          },
        });
      found.splice(0, found.length, ...res.results);
      render();
      progress.set(res.scan.done, res.scan.total, STRINGS.scanDone(res.scan.state, res.scan.found, res.scan.duration_ms));
      if (!found.length) progress.set(res.scan.done, res.scan.total, `${STRINGS.scanDone(res.scan.state, 0, res.scan.duration_ms)} · ${STRINGS.scanEmpty}`);
    } catch (err) {
      setError(errors, err);
      progress.el.hidden = true;
    } finally {
      running = false;
      start.disabled = false;
      const lost = document.activeElement === cancel || document.activeElement === document.body;
      cancel.hidden = true;
      if (refocus && lost) start.focus();
    }
  };
  const stop = async () => {
    if (!scanId) return;
    try {
      await client.request("cancel_scan", { scan_id: scanId });
    } catch (err) {
      setError(errors, err);
    }
  };
  const onKey = (ev: KeyboardEvent) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      void run();
    }
  };
  targets.addEventListener("keydown", onKey);
  ports.addEventListener("keydown", onKey);

  const el = h("div", { class: "ionpy-scan" },
    h("div", { class: "ionpy-form-row" }, field(STRINGS.scanTargets, targets).row, field(STRINGS.scanPorts, ports).row,
      h("div", { class: "ionpy-form-actions" }, start, cancel)),
    h("div", { class: "ionpy-field-help" }, STRINGS.scanNote),
    progress.el, errors, tbl);
  return { el, dispose: () => { if (running) void stop(); } };
}
