// The device wizard view (mirrors ionpy_widgets/widgets/wizard.py): five steps with a step bar,
// Back/Next, Enter = next and Escape = back. The draft lives here and is written back to the
// `draft`/`step` traitlets so a re-rendered wizard resumes where it was.
import type { Cleanup, ViewContext } from "../common";
import { h } from "../common";
import { catalogueStep, replaceDraft } from "./catalogue";
import { confirmStep } from "./confirm";
import { identityStep } from "./identity";
import { probeStep } from "./probe";
import { STRINGS } from "./strings";
import { transportStep } from "./transport";
import type { Draft, DriverInfo, StepView, WizardCache, WizardCtx } from "./types";

const STEP_COUNT = 5;
const LOCAL_ENTER = new Set(["TEXTAREA", "BUTTON", "A", "SELECT", "SUMMARY"]);

export function wizardView({ model, el, client }: ViewContext): Cleanup {
  const mode = (model.get("mode") as string) === "edit" ? "edit" : "add";
  const draft: Draft = JSON.parse(JSON.stringify(model.get("draft") ?? {}));
  let step = Math.max(0, Math.min(STEP_COUNT - 1, Number(model.get("step") ?? 0)));
  const cache: WizardCache = { paramsByType: {}, idEdited: mode === "edit" || Boolean(draft.id) };
  let view: StepView | null = null;
  let busy = false;

  const title = h("div", { class: "ionpy-wizard-title", id: `ionpy-wiz-${Math.random().toString(36).slice(2, 8)}` });
  const counter = h("span", { class: "ionpy-muted" });
  const bar = h("ol", { class: "ionpy-stepbar" });
  const body = h("div", { class: "ionpy-wizard-body" });
  const back = h("button", { type: "button", class: "ionpy-button ionpy-back" }, STRINGS.back);
  const next = h("button", { type: "button", class: "ionpy-button ionpy-primary ionpy-next" }, STRINGS.next);
  const footer = h("div", { class: "ionpy-wizard-footer" }, back, h("span", { class: "ionpy-muted ionpy-keys" }, STRINGS.keys),
    h("span", { class: "ionpy-spacer" }), next);
  const root = h("section", { class: "ionpy-bench ionpy-wizard", "data-lm-suppress-shortcuts": "true",
    "aria-labelledby": title.id },
  h("div", { class: "ionpy-wizard-head" }, title, counter), bar, body, footer);
  el.append(root);

  const save = () => {
    model.set("draft", JSON.parse(JSON.stringify(draft)));
    model.set("step", step);
    model.save_changes();
  };
  const drivers = () => (model.get("catalogue") as DriverInfo[]) ?? [];
  const ctx: WizardCtx = {
    client, model, draft, mode, cache, save, drivers,
    driver: () => drivers().find((d) => d.name === draft.driver),
    setNext: (enabled, label) => {
      next.disabled = !enabled;
      if (label) next.textContent = label;
    },
    next: () => void goNext(true),
    back: () => goBack(),
    goto: (n) => show(n),
    refresh: () => renderBar(),
  };

  const restart = () => {
    replaceDraft(draft, {});
    cache.idEdited = false;
    cache.probe = undefined;
    cache.done = undefined;
    cache.paramsByType = {};
    cache.ports = undefined;
    show(0);
  };

  const renderBar = () => {
    title.textContent = mode === "edit" ? STRINGS.editTitle((model.get("edit_id") as string) || draft.id || "") : STRINGS.title;
    counter.textContent = STRINGS.stepOf(step + 1, STEP_COUNT);
    bar.replaceChildren(...STRINGS.steps.map((label, i) => {
      const item = h("li", { class: `ionpy-stepbar-item${i === step ? " ionpy-current" : ""}${i < step ? " ionpy-done-step" : ""}`,
        "aria-current": i === step ? "step" : undefined },
      h("span", { class: "ionpy-stepbar-num", "aria-hidden": "true" }, i < step ? "✓" : String(i + 1)), label);
      if (i < step && !cache.done) {
        const link = h("button", { type: "button", class: "ionpy-stepbar-link" }, item.firstChild!, label);
        link.addEventListener("click", () => show(i));
        item.replaceChildren(link);
      }
      return item;
    }));
    back.disabled = step === 0 || (mode === "edit" && step === 1) || Boolean(cache.done);
    next.hidden = step === STEP_COUNT - 1;
  };

  const show = (n: number) => {
    view?.dispose?.();
    step = Math.max(0, Math.min(STEP_COUNT - 1, n));
    if (step > 0 && !ctx.driver()) step = 0;
    next.textContent = STRINGS.next;
    next.disabled = false;
    const build = [catalogueStep, identityStep, transportStep, probeStep, (c: WizardCtx) => confirmStep(c, restart)][step];
    view = build(ctx);
    body.replaceChildren(view.el);
    renderBar();
    save();
    view.focus();
  };

  /** `forced`: a step asked for it (a picked tile, Skip); otherwise Next must be enabled. */
  const goNext = async (forced = false) => {
    if (busy || !view) return;
    if (!forced && step < STEP_COUNT - 1 && next.disabled && step !== 0) return;
    busy = true;
    try {
      const ok = view.leave ? await view.leave() : true;
      if (ok && step < STEP_COUNT - 1) show(step + 1);
    } finally {
      busy = false;
    }
  };
  const goBack = () => {
    if (back.disabled || busy) return;
    show(step - 1);
  };
  next.addEventListener("click", () => void goNext(false));
  back.addEventListener("click", goBack);

  root.addEventListener("keydown", (ev: KeyboardEvent) => {
    if (ev.defaultPrevented || ev.isComposing || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const target = ev.target as HTMLElement;
    if (ev.key === "Enter" && !ev.shiftKey) {
      if (LOCAL_ENTER.has(target.tagName) || target.getAttribute("role") === "tab" || target.closest("[data-enter-local]")) return;
      ev.preventDefault();
      ev.stopPropagation();
      void goNext();
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      goBack();
    }
  });

  const onCatalogue = () => { if (step === 0) show(0); };
  model.on("change:catalogue", onCatalogue);
  show(step);
  return () => {
    model.off("change:catalogue", onCatalogue);
    view?.dispose?.();
  };
}
