// Step 4: the live probe. It starts by itself, shows each step as it streams in (✅/❌, detail,
// and the hint of a failed step), the first values with their units; retry, or skip to add the
// device offline. A result is kept while the connection settings stay the same.
import { fmtValue, h } from "../common";
import { STRINGS } from "./strings";
import { button, identityText, nodes, rich, setError, spinner, toInfo } from "./ui";
import type { ProbeResult, ProbeStep, StepView, WizardCtx } from "./types";

export function probeKey(ctx: WizardCtx): string {
  const d = ctx.draft;
  return JSON.stringify([d.driver, d.transport, d.framing]);
}

function stepItem(step: ProbeStep): HTMLElement {
  return h("li", { class: `ionpy-probe-step ${step.ok ? "ionpy-ok" : "ionpy-bad"}` },
    h("span", { class: "ionpy-probe-mark", role: "img", "aria-label": step.ok ? STRINGS.stepOk : STRINGS.stepFailed },
      step.ok ? "✓" : "✗"),
    h("div", { class: "ionpy-probe-text" },
      h("div", {}, h("strong", {}, step.message), h("span", { class: "ionpy-sub" }, ` ${Math.round(step.duration_ms)} ms`)),
      step.detail ? h("div", { class: "ionpy-probe-detail" }, step.detail) : null,
      !step.ok && step.hint ? h("div", { class: "ionpy-probe-hint" }, h("strong", {}, STRINGS.hint), ...rich(step.hint)) : null));
}

export function probeStep(ctx: WizardCtx): StepView {
  const list = h("ol", { class: "ionpy-probe-steps", "aria-live": "polite" });
  const status = h("div", { class: "ionpy-probe-status", role: "status", tabindex: "-1" });
  const values = h("div", { class: "ionpy-probe-values" });
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const suggestions = h("div", { class: "ionpy-form-actions" });
  const retry = button(STRINGS.retry, () => void run());
  const skip = button(STRINGS.skip, () => {
    ctx.cache.probe = { key: probeKey(ctx), result: ctx.cache.probe?.result ?? null, skipped: true };
    ctx.next();
  }, "", { title: STRINGS.skipHelp });
  let generation = 0;

  const showResult = (r: ProbeResult | null, skipped: boolean) => {
    values.replaceChildren();
    suggestions.replaceChildren();
    if (skipped && !r?.success) {
      status.className = "ionpy-probe-status";
      status.textContent = STRINGS.skipped;
    }
    if (!r) return;
    if (r.unchanged) status.textContent = STRINGS.probeUnchanged;
    else if (!skipped || r.success) status.textContent = r.success ? STRINGS.probeOk : STRINGS.probeFailed;
    status.className = `ionpy-probe-status ${r.success ? "ionpy-msg-ok" : "ionpy-msg-error"}`;
    const entries = Object.entries(r.first_values);
    if (entries.length) {
      values.append(...nodes(h("div", { class: "ionpy-subtitle" }, STRINGS.firstValues),
        r.identity ? h("div", { class: "ionpy-muted" }, STRINGS.identity(identityText(r.identity))) : null,
        h("div", { class: "ionpy-values-grid" }, ...entries.map(([key, v]) =>
          h("div", { class: "ionpy-value-cell", dataset: { key } }, h("span", { class: "ionpy-value-key" }, key),
            h("span", { class: "ionpy-value" }, v.text ?? `${fmtValue(v.value)}${v.unit ? ` ${v.unit}` : ""}`))))));
    }
    const failed = r.steps.find((s) => !s.ok);
    const t = ctx.draft.transport;
    // "… set slave_id: 1": the probe found settings that work; offer them as a button
    for (const m of failed ? failed.hint.matchAll(/\bset (\w+): ([\w.]+?)(?=[.;,]?(\s|$))/g) : []) {
      const [key, raw] = [m[1], m[2]];
      const section = ctx.draft.framing && key in ctx.draft.framing.params ? ctx.draft.framing.params
        : t && key in t.params ? t.params : null;
      if (!section) continue;
      const value = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
      suggestions.append(button(STRINGS.useSetting(key, raw), () => {
        section[key] = value;
        ctx.save();
        void run();
      }, "ionpy-primary"));
    }
    if (failed && t?.type === "serial" && /baud/i.test(failed.hint)) {
      const rates = (ctx.model.get("baudrates") as number[]) ?? [];
      const mentioned = Array.from(failed.hint.matchAll(/\b(\d{3,6})\b/g)).map((m) => Number(m[1]))
        .filter((n, i, all) => rates.includes(n) && n !== Number(t.params.baudrate) && all.indexOf(n) === i);
      for (const baud of mentioned.slice(0, 5)) {
        suggestions.append(button(STRINGS.tryBaud(baud), () => {
          t.params.baudrate = baud;
          ctx.save();
          void run();
        }));
      }
    }
  };

  const run = async () => {
    const gen = ++generation;
    const key = probeKey(ctx);
    ctx.cache.probe = { key, result: null, skipped: false };
    ctx.setNext(false);
    list.replaceChildren();
    values.replaceChildren();
    suggestions.replaceChildren();
    setError(errors, null);
    const running = h("li", { class: "ionpy-probe-step ionpy-running" }, spinner(), STRINGS.probing);
    list.append(running);
    status.className = "ionpy-probe-status";
    status.textContent = STRINGS.probing;
    const refocus = document.activeElement === retry;
    if (refocus) status.focus();
    retry.disabled = true;
    try {
      const r = await ctx.client.request<ProbeResult>("probe", { draft: ctx.draft }, {
        timeout: 25000,
        onItem: (raw) => {
          if (gen !== generation) return;
          const item = raw as { kind: string; step: ProbeStep };
          if (item.kind === "step") list.insertBefore(stepItem(item.step), running);
        },
      });
      if (gen !== generation) return;
      list.replaceChildren(...r.steps.map(stepItem));
      ctx.cache.probe = { key, result: r, skipped: false };
      showResult(r, false);
      ctx.setNext(r.success);
    } catch (err) {
      if (gen !== generation) return;
      running.remove();
      status.textContent = STRINGS.probeFailed;
      status.className = "ionpy-probe-status ionpy-msg-error";
      setError(errors, toInfo(err));
    } finally {
      if (gen === generation) {
        retry.disabled = false;
        if (refocus && document.activeElement === status) retry.focus();
      }
    }
  };

  const cached = ctx.cache.probe;
  if (cached && cached.key === probeKey(ctx) && cached.result) {
    list.replaceChildren(...cached.result.steps.map(stepItem));
    showResult(cached.result, cached.skipped);
    ctx.setNext(cached.result.success || cached.skipped);
  } else {
    void run();
  }

  const el = h("div", { class: "ionpy-step ionpy-step-test" }, status, list, errors, suggestions, values,
    h("div", { class: "ionpy-form-actions ionpy-probe-actions" }, retry, skip),
    h("div", { class: "ionpy-field-help" }, STRINGS.skipHelp));
  return {
    el,
    focus: () => status.focus(),
    leave: () => {
      const p = ctx.cache.probe;
      return Boolean(p && (p.skipped || p.result?.success));
    },
    dispose: () => {
      generation += 1;  // a probe still running is ignored when it answers
    },
  };
}
