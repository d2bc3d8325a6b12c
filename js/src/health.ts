// Chrome shared by the bench widgets (device manager, control panels): the loop-health banner
// (mirrors ionpy_widgets/widgets/health.py), the device state badge and the in-widget confirm
// dialog (never window.confirm: it would block the page and cannot be styled or tested).
import type { AnyModel } from "@anywidget/types";
import { h } from "./common";

/** English texts of the shared chrome (one place, ready for translation). */
export const STRINGS = {
  dismiss: "Dismiss",
  cancel: "Cancel",
  confirm: "Confirm",
  states: {
    connecting: "connecting",
    online: "online",
    unavailable: "unavailable",
    error: "error",
    disabled: "disabled",
    stopped: "stopped",
    removed: "removed",
  } as Record<string, string>,
};

export interface Health {
  level?: "ok" | "warning" | "stopped";
  message?: string;
  hint?: string;
  detail?: string;
  stall?: { started: number; duration: number; clock: string } | null;
}

/** The `health` traitlet as a banner; a dismissed banner comes back when something new happens. */
export function healthBanner(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  const el = h("div", { class: "ionpy-health", role: "status", "aria-live": "polite" });
  let dismissed = "";
  const key = (hl: Health) => `${hl.level}:${hl.stall?.started ?? ""}`;
  const sync = () => {
    const hl = (model.get("health") || {}) as Health;
    if (!hl.level || hl.level === "ok" || !hl.message || key(hl) === dismissed) {
      el.replaceChildren();
      el.hidden = true;
      return;
    }
    el.hidden = false;
    el.className = `ionpy-health ionpy-health-${hl.level}`;
    const close = h("button", { class: "ionpy-icon-button", type: "button", title: STRINGS.dismiss,
      "aria-label": STRINGS.dismiss }, "×");
    close.addEventListener("click", () => {
      dismissed = key(hl);
      sync();
    });
    el.replaceChildren(
      h("span", { class: "ionpy-health-icon", "aria-hidden": "true" }, hl.level === "stopped" ? "■" : "⚠"),
      h("div", { class: "ionpy-health-text" },
        h("strong", {}, hl.message),
        hl.detail ? h("div", {}, hl.detail) : null,
        hl.hint ? h("div", { class: "ionpy-hint" }, hl.hint) : null),
      close,
    );
  };
  model.on("change:health", sync);
  sync();
  return { el, dispose: () => model.off("change:health", sync) };
}

/** A coloured state badge: `● online`. */
export function stateBadge(state: string): HTMLElement {
  const text = STRINGS.states[state] ?? state;
  return h("span", { class: `ionpy-badge ionpy-state-${state}`, dataset: { state } },
    h("span", { class: "ionpy-dot", "aria-hidden": "true" }), text);
}

export interface ConfirmOptions {
  title: string;
  message: string;
  confirmLabel?: string;
  danger?: boolean;
}

/**
 * An in-widget modal: resolves true on Confirm (or Enter), false on Cancel (or Escape, or a click
 * on the backdrop, or Enter while Cancel has the focus). Focus moves to the confirm button, Tab stays inside, and focus returns to
 * what had it before. JupyterLab shortcuts are suppressed inside the dialog.
 */
export function confirmDialog(host: HTMLElement, opts: ConfirmOptions): Promise<boolean> {
  const previous = document.activeElement as HTMLElement | null;
  const titleId = `ionpy-dlg-${Math.random().toString(36).slice(2)}`;
  const cancel = h("button", { type: "button", class: "ionpy-button" }, STRINGS.cancel);
  const ok = h("button", { type: "button", class: `ionpy-button ${opts.danger ? "ionpy-danger" : "ionpy-primary"}` },
    opts.confirmLabel ?? STRINGS.confirm);
  const dialog = h("div", { class: "ionpy-modal", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId,
    "data-lm-suppress-shortcuts": "true" },
    h("div", { class: "ionpy-modal-title", id: titleId }, opts.title),
    h("div", { class: "ionpy-modal-message" }, opts.message),
    h("div", { class: "ionpy-modal-actions" }, cancel, ok));
  const backdrop = h("div", { class: "ionpy-modal-backdrop" }, dialog);
  host.append(backdrop);
  return new Promise<boolean>((resolve) => {
    const finish = (answer: boolean) => {
      backdrop.remove();
      if (previous && previous.isConnected) previous.focus();
      resolve(answer);
    };
    cancel.addEventListener("click", () => finish(false));
    ok.addEventListener("click", () => finish(true));
    backdrop.addEventListener("mousedown", (ev) => {
      if (ev.target === backdrop) finish(false);
    });
    dialog.addEventListener("keydown", (ev: KeyboardEvent) => {
      ev.stopPropagation();
      if (ev.key === "Escape") {
        ev.preventDefault();
        finish(false);
      } else if (ev.key === "Enter") {
        ev.preventDefault();
        finish(document.activeElement !== cancel); // Enter confirms, unless Cancel has the focus
      } else if (ev.key === "Tab") {
        ev.preventDefault();
        (document.activeElement === ok ? cancel : ok).focus();
      }
    });
    ok.focus();
    dialog.scrollIntoView({ block: "nearest" });
  });
}
