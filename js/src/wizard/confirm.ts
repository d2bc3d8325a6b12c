// Step 5: summary, the equivalent Python call, the lab.yaml change as a unified diff, and
// "Add device" with its progress, errors and "add another".
import { h } from "../common";
import { STRINGS } from "./strings";
import { button, nodes, rich, setError, spinner, toInfo } from "./ui";
import type { Draft, FieldCheck, IdCheck, StepView, WizardCtx } from "./types";

interface Preview {
  config: Record<string, unknown>;
  python: string;
  yaml: { file: string; path: string | null; diff: string; after: string; note: string };
  notes: string[];
  check: FieldCheck;
  id_check: IdCheck;
}

interface Added {
  id: string;
  mode: string;
  state: string;
  saved: boolean | null;
  file: string | null;
  last_error: { code: string; message: string; hint?: string } | null;
}

/** `serial /dev/ttyUSB0 · 9600 baud · modbus_rtu slave_id 1` */
export function connectionText(d: Draft): string {
  const t = d.transport;
  if (!t || t.type === "none") return STRINGS.noConnection;
  const p = t.params;
  const where = t.type === "serial" ? `${p.port ?? "?"} · ${p.baudrate ?? 9600} baud`
    : t.type === "tcp" ? `${p.host ?? "?"}:${p.port ?? "?"}`
      : t.type === "visa" ? String(p.resource ?? "?")
        : Object.entries(p).map(([k, v]) => `${k} ${v}`).join(", ");
  const f = d.framing;
  const framing = f ? ` · ${f.type}${Object.entries(f.params).map(([k, v]) => ` ${k} ${v}`).join("")}` : "";
  return `${STRINGS.transportNames[t.type] ?? t.type} ${where}${framing}`;
}

function codeBlock(title: string, text: string, cls: string, lines?: (line: string) => string): HTMLElement {
  const pre = h("pre", { class: `ionpy-code-block ${cls}`, tabindex: "0" });
  if (lines) {
    for (const line of text.replace(/\n$/, "").split("\n")) pre.append(h("span", { class: lines(line) }, `${line}\n`));
  } else {
    pre.textContent = text;
  }
  const copy = button(STRINGS.copy, () => {
    const done = () => { copy.textContent = STRINGS.copied; };
    if (navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(text).then(done, () => selectText(pre));
    } else {
      selectText(pre);
    }
  }, "ionpy-small", { "aria-label": `${STRINGS.copy}: ${title}` });
  return h("div", { class: "ionpy-code-section" },
    h("div", { class: "ionpy-code-head" }, h("span", { class: "ionpy-subtitle" }, title), copy), pre);
}

function selectText(el: HTMLElement): void {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel?.removeAllRanges();
  sel?.addRange(range);
}

function diffClass(line: string): string {
  if (line.startsWith("+++") || line.startsWith("---")) return "ionpy-diff-file";
  if (line.startsWith("@@")) return "ionpy-diff-hunk";
  if (line.startsWith("+")) return "ionpy-diff-add";
  if (line.startsWith("-")) return "ionpy-diff-del";
  return "ionpy-diff-ctx";
}

export function confirmStep(ctx: WizardCtx, restart: () => void): StepView {
  const d = ctx.draft;
  const edit = ctx.mode === "edit";
  const summary = h("dl", { class: "ionpy-summary-list" });
  const notes = h("ul", { class: "ionpy-notes" });
  const blocks = h("div", { class: "ionpy-code-blocks" }, h("div", { class: "ionpy-muted" }, spinner(), STRINGS.loadingPreview));
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const progress = h("div", { class: "ionpy-add-progress", role: "status", "aria-live": "polite" });
  const done = h("div", { class: "ionpy-done", hidden: true, tabindex: "-1" });
  const add = button(edit ? STRINGS.save : STRINGS.add, () => void submit(), "ionpy-primary ionpy-add-button");
  add.disabled = true;

  const probe = ctx.cache.probe;
  const test = probe?.result?.unchanged ? STRINGS.probeUnchanged : probe?.result?.success ? STRINGS.testPassed
    : probe?.skipped ? STRINGS.testSkipped : STRINGS.testFailed;
  const rows: [string, string][] = [
    ["driver", `${d.icon ?? ""} ${d.driver ?? ""}`.trim()], ["id", d.id ?? ""], ["alias", d.alias ?? ""],
    ["location", d.location ?? ""], ["description", d.description ?? ""],
    ["auto_start", d.auto_start === false ? STRINGS.no : STRINGS.yes], ["connection", connectionText(d)], ["test", test],
  ];
  for (const [key, value] of rows) {
    if (!value) continue;
    summary.append(h("dt", {}, STRINGS.summaryKeys[key]), h("dd", { dataset: { key } }, value));
  }

  const load = async () => {
    try {
      const p = await ctx.client.request<Preview>("preview", { draft: d });
      notes.replaceChildren(...p.notes.map((n) => h("li", {}, ...rich(n))));
      blocks.replaceChildren(codeBlock(STRINGS.pythonTitle, p.python, "ionpy-python"),
        codeBlock(STRINGS.yamlTitle(p.yaml.file), p.yaml.diff, "ionpy-diff", diffClass));
      const problem = !p.id_check.ok ? { code: "config_invalid", message: p.id_check.message, hint: p.id_check.hint }
        : !p.check.ok ? { code: "config_invalid", message: p.check.message ?? "", hint: p.check.hint } : null;
      setError(errors, problem);
      add.disabled = Boolean(problem) || Boolean(ctx.cache.done);
      const active = document.activeElement;
      if (!add.disabled && (!active || active === document.body || el.contains(active))) add.focus();
    } catch (err) {
      blocks.replaceChildren();
      setError(errors, toInfo(err));
    }
  };

  const submit = async () => {
    add.disabled = true;
    setError(errors, null);
    progress.replaceChildren(spinner(), STRINGS.stages.validate);
    try {
      const r = await ctx.client.request<Added>("confirm", { draft: d }, {
        timeout: 30000,
        onItem: (raw) => {
          const stage = (raw as { stage: string }).stage;
          progress.replaceChildren(spinner(), STRINGS.stages[stage] ?? stage);
        },
      });
      progress.replaceChildren();
      ctx.cache.done = { id: r.id, state: r.state };
      const line = edit ? STRINGS.updated(r.id, r.state)
        : r.state === "online" ? STRINGS.addedOnline(r.id) : STRINGS.addedState(r.id, r.state);
      done.replaceChildren(...nodes(h("div", { class: "ionpy-done-line" }, line),
        r.last_error ? h("div", { class: "ionpy-hint" }, r.last_error.message, r.last_error.hint ? ` — ${r.last_error.hint}` : "") : null,
        r.saved === true && r.file ? h("div", { class: "ionpy-muted" }, STRINGS.saved(r.file)) : null,
        r.saved === false && r.file ? h("div", { class: "ionpy-muted" }, STRINGS.notSaved(r.file)) : null,
        edit ? null : h("div", { class: "ionpy-form-actions" }, button(STRINGS.addAnother, restart, "ionpy-add-another"))));
      done.hidden = false;
      add.hidden = true;
      ctx.refresh();
      done.focus();
    } catch (err) {
      progress.replaceChildren();
      setError(errors, toInfo(err));
      add.disabled = false;
      add.focus();
    }
  };

  ctx.setNext(false);
  void load();
  const el: HTMLElement = h("div", { class: "ionpy-step ionpy-step-confirm", tabindex: "-1" },
    h("div", { class: "ionpy-subtitle" }, STRINGS.summary), summary, notes, blocks, errors,
    h("div", { class: "ionpy-form-actions" }, add, progress), done);
  return {
    el,
    focus: () => (add.disabled ? el.querySelector<HTMLElement>("pre") ?? el : add).focus(),
    leave: () => {
      if (!add.disabled) void submit();  // Enter on the last step adds the device
      return false;
    },
  };
}
