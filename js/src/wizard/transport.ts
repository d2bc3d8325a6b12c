// Step 3: how to reach the instrument. One tab per blueprint of the driver (serial, TCP, VISA,
// HID, or none), and an advanced section with the line settings and the framing parameters
// taken from the blueprint. Next asks the kernel to validate the whole draft (field paths).
import { h } from "../common";
import { STRINGS } from "./strings";
import { debounce, field, fieldMessage, input, setError, tabList, toInfo } from "./ui";
import { connectionPanels } from "./transport_panels";
import type { BlueprintInfo, FieldCheck, StepView, WizardCtx } from "./types";

/** Registers form fields by config path (`transport.params.port`) so kernel errors land on them. */
export class FieldRegistry {
  private msgs = new Map<string, HTMLElement>();
  add(path: string, msg: HTMLElement): void {
    this.msgs.set(path, msg);
  }
  clear(): void {
    for (const msg of this.msgs.values()) fieldMessage(msg, "");
  }
  show(check: FieldCheck): HTMLElement | null {
    const msg = check.path ? this.msgs.get(check.path) : undefined;
    if (!msg) return null;
    fieldMessage(msg, "error", check.message ?? "", check.hint ?? "");
    return msg;
  }
  reset(): void {
    this.msgs.clear();
  }
}

export interface PanelCtx {
  wiz: WizardCtx;
  params: () => Record<string, unknown>;
  set: (key: string, value: unknown) => void;
  fields: FieldRegistry;
  blueprint: BlueprintInfo;
  /** Validate the draft now and show errors on the registered fields. */
  checkLive: () => void;
}

function numberOrText(v: string, like: unknown): unknown {
  if (v.trim() === "") return undefined;
  if (typeof like === "number") {
    const n = Number(v);
    return Number.isFinite(n) ? n : v;
  }
  return v;
}

/** Framing parameters from the blueprint, as inputs (inside the advanced section). */
function framingFields(ctx: WizardCtx, fields: FieldRegistry): HTMLElement {
  const framing = ctx.draft.framing;
  if (!framing) return h("div");
  const bp = ctx.driver()?.blueprints.find((b) => b.transport === ctx.draft.transport?.type);
  const keys = Array.from(new Set([...Object.keys(bp?.framing_params ?? {}), ...Object.keys(framing.params)]));
  const rows = keys.map((key) => {
    const like = bp?.framing_params[key] ?? framing.params[key];
    const el = input({ type: typeof like === "number" ? "number" : "text", value: String(framing.params[key] ?? ""),
      class: "ionpy-input ionpy-input-short", dataset: { param: key } });
    el.addEventListener("input", () => {
      const v = numberOrText(el.value, like);
      if (v === undefined) delete framing.params[key];
      else framing.params[key] = v;
      ctx.save();
    });
    const f = field(STRINGS.paramLabels[key] ?? key, el);
    fields.add(`framing.params.${key}`, f.msg);
    return f.row;
  });
  return h("div", { class: "ionpy-framing" }, h("div", { class: "ionpy-subtitle" }, STRINGS.framing(framing.type)),
    rows.length ? h("div", { class: "ionpy-form-row" }, ...rows) : h("div", { class: "ionpy-field-help" }, STRINGS.framingDefaults));
}

export function transportStep(ctx: WizardCtx): StepView {
  const drv = ctx.driver()!;
  const status = (ctx.model.get("transports") ?? {}) as Record<string, { available: boolean; reason: string }>;
  const types = drv.blueprints.map((b) => b.transport);
  const fields = new FieldRegistry();
  const errors = h("div", { class: "ionpy-error-slot", hidden: true });
  const panelBox = h("div", { class: "ionpy-transport-panel", role: "tabpanel" });
  const advanced = h("details", { class: "ionpy-advanced" }) as HTMLDetailsElement;
  let dispose: (() => void) | undefined;

  const blueprint = (type: string): BlueprintInfo =>
    drv.blueprints.find((b) => b.transport === type) ??
    { transport: type, framing: "none", transport_params: {}, framing_params: {}, label: "" };

  const switchTo = (type: string) => {
    const old = ctx.draft.transport;
    if (old) ctx.cache.paramsByType[old.type] = { ...old.params };
    const bp = blueprint(type);
    const oldFraming = ctx.draft.framing;
    ctx.draft.transport = { type, params: { ...bp.transport_params, ...(ctx.cache.paramsByType[type] ?? {}) } };
    ctx.draft.framing = bp.framing === "none" ? null : {
      type: bp.framing,
      params: { ...bp.framing_params, ...(oldFraming && oldFraming.type === bp.framing ? oldFraming.params : {}) },
    };
    ctx.save();
    renderPanel();
  };

  const check = async (): Promise<FieldCheck> => {
    try {
      return await ctx.client.request<FieldCheck>("check", { draft: ctx.draft });
    } catch (err) {
      const info = toInfo(err);
      return { ok: false, message: info.message, hint: info.hint };
    }
  };
  const showCheck = (c: FieldCheck, live: boolean) => {
    fields.clear();
    setError(errors, null);
    if (c.ok) return;
    const msg = fields.show(c);
    if (msg && msg.closest("details")) (msg.closest("details") as HTMLDetailsElement).open = true;
    if (!msg && !live) setError(errors, { code: "config_invalid", message: c.message ?? "", hint: c.hint });
  };
  const checkLive = debounce(async () => showCheck(await check(), true), 300);

  const renderPanel = () => {
    dispose?.();
    fields.reset();
    setError(errors, null);
    const type = ctx.draft.transport?.type ?? "none";
    const pctx: PanelCtx = {
      wiz: ctx, fields, blueprint: blueprint(type), checkLive,
      params: () => ctx.draft.transport!.params,
      set: (key, value) => {
        const p = ctx.draft.transport!.params;
        if (value === undefined || value === "") delete p[key];
        else p[key] = value;
        ctx.save();
      },
    };
    const panel = connectionPanels[type];
    if (type === "none" || !panel) {
      panelBox.replaceChildren(h("div", { class: "ionpy-empty" }, STRINGS.softwareOnly));
      advanced.hidden = true;
      dispose = undefined;
      return;
    }
    const built = panel(pctx);
    panelBox.replaceChildren(built.el);
    advanced.replaceChildren(h("summary", {}, STRINGS.advanced),
      h("div", { class: "ionpy-advanced-body" }, built.advanced ?? null, framingFields(ctx, fields)));
    advanced.hidden = false;
    dispose = built.dispose;
  };

  const current = ctx.draft.transport?.type;
  if (!current || (types.length && !types.includes(current))) switchTo(types[0] ?? "none");
  const tabs = types.length > 1 || (types.length === 1 && types[0] !== "none")
    ? tabList(types.map((t) => ({
      key: t, label: `${STRINGS.transportNames[t] ?? t}${blueprint(t).label ? ` · ${blueprint(t).label}` : ""}`,
      disabled: status[t] ? !status[t].available : false,
      title: status[t] && !status[t].available ? STRINGS.unavailable(status[t].reason) : blueprint(t).label,
    })), ctx.draft.transport?.type ?? types[0], switchTo, STRINGS.steps[2])
    : null;
  renderPanel();
  ctx.setNext(true);

  const el = h("div", { class: "ionpy-step ionpy-step-connection" }, tabs?.el ?? null, errors, panelBox, advanced);
  return {
    el,
    focus: () => {
      const first = panelBox.querySelector<HTMLElement>("input, select, button, [tabindex='0']");
      (first ?? tabs?.tabs.get(ctx.draft.transport?.type ?? "") ?? el).focus();
    },
    leave: async () => {
      const c = await check();
      showCheck(c, false);
      return c.ok;
    },
    dispose: () => dispose?.(),
  };
}

