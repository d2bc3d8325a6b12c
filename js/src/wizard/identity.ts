// Step 2: the device id (generated from the driver, checked live by the kernel: characters and
// uniqueness), alias, icon, description, location and auto-start.
import { h } from "../common";
import { STRINGS } from "./strings";
import { button, debounce, field, fieldMessage, input } from "./ui";
import type { IdCheck, StepView, WizardCtx } from "./types";

const DESCRIPTIVE = ["alias", "icon", "description", "location"];

export function identityStep(ctx: WizardCtx): StepView {
  const d = ctx.draft;
  const idInput = input({ value: d.id ?? "", class: "ionpy-input ionpy-input-id", maxlength: "64", required: true });
  const idField = field(STRINGS.deviceId, idInput, STRINGS.idHelp);
  let lastCheck: IdCheck | null = null;

  const showCheck = (c: IdCheck) => {
    if (c.ok) {
      fieldMessage(idField.msg, "ok", STRINGS.idOk);
      return;
    }
    fieldMessage(idField.msg, "error", c.message, c.hint);
    if (c.suggestion && c.suggestion !== idInput.value.trim()) {
      idField.msg.append(button(STRINGS.useSuggestion(c.suggestion), () => {
        idInput.value = c.suggestion;
        ctx.cache.idEdited = true;
        onIdChange();
        idInput.focus();
      }, "ionpy-link-button"));
    }
  };
  const check = (): Promise<IdCheck | null> => {
    const value = idInput.value;
    fieldMessage(idField.msg, "busy", STRINGS.idChecking);
    return ctx.client.request<IdCheck>("validate_id", { id: value, driver: d.driver ?? "" }).then((c) => {
      if (idInput.value === value) {
        lastCheck = c;
        showCheck(c);
      }
      return c;
    }, (err) => {
      fieldMessage(idField.msg, "error", String(err?.message ?? err));
      return null;
    });
  };
  const checkSoon = debounce(() => void check(), 150);
  const onIdChange = () => {
    d.id = idInput.value.trim();
    lastCheck = null;
    ctx.save();
    checkSoon();
  };
  idInput.addEventListener("input", () => {
    ctx.cache.idEdited = true;
    onIdChange();
  });

  const text = (key: "alias" | "description" | "location", placeholder: string, area = false) => {
    const el = area
      ? h("textarea", { class: "ionpy-input ionpy-textarea", rows: "2", placeholder })
      : input({ placeholder });
    el.value = (d[key] as string | undefined) ?? "";
    el.addEventListener("input", () => {
      d[key] = el.value;
      ctx.save();
    });
    return el;
  };
  const alias = text("alias", STRINGS.aliasPlaceholder);
  const description = text("description", STRINGS.descriptionPlaceholder, true);
  const location = text("location", STRINGS.locationPlaceholder);

  const iconInput = input({ value: d.icon ?? "", class: "ionpy-input ionpy-input-icon", maxlength: "8" });
  const palette = h("div", { class: "ionpy-icon-palette", role: "group", "aria-label": STRINGS.icon });
  const syncPalette = () => palette.querySelectorAll("button").forEach((b) =>
    b.setAttribute("aria-pressed", b.textContent === iconInput.value ? "true" : "false"));
  for (const icon of STRINGS.iconChoices) {
    palette.append(button(icon, () => {
      iconInput.value = icon;
      d.icon = icon;
      ctx.save();
      syncPalette();
    }, "ionpy-icon-choice", { "aria-label": STRINGS.iconLabel(icon) }));
  }
  iconInput.addEventListener("input", () => {
    d.icon = iconInput.value;
    ctx.save();
    syncPalette();
  });
  syncPalette();

  const auto = h("input", { type: "checkbox", class: "ionpy-checkbox" });
  auto.checked = d.auto_start !== false;
  auto.addEventListener("change", () => {
    d.auto_start = auto.checked;
    ctx.save();
  });
  const autoId = `${idInput.id}-auto`;
  auto.id = autoId;

  const stored = (ctx.model.get("stored_fields") as string[]) ?? [];
  const missing = DESCRIPTIVE.filter((k) => !stored.includes(k));
  const iconRow = field(STRINGS.icon, iconInput);
  iconRow.row.insertBefore(palette, iconRow.msg);

  const el = h("div", { class: "ionpy-step ionpy-step-identity" },
    h("div", { class: "ionpy-form-grid" },
      idField.row,
      field(STRINGS.alias, alias).row,
      iconRow.row,
      field(STRINGS.location, location).row,
      h("div", { class: "ionpy-span-2" }, field(STRINGS.description, description).row),
      h("div", { class: "ionpy-span-2 ionpy-check-row" }, auto, h("label", { for: autoId }, STRINGS.autoStart))),
    missing.length ? h("div", { class: "ionpy-field-help" }, STRINGS.notStored(missing.join(", "))) : null);

  ctx.setNext(true);
  void check();
  return {
    el,
    focus: () => {
      idInput.focus();
      idInput.select();
    },
    leave: async () => {
      const c = lastCheck && lastCheck.id === idInput.value.trim() ? lastCheck : await check();
      if (!c || !c.ok) {
        idInput.focus();
        return false;
      }
      d.id = c.id;
      ctx.save();
      return true;
    },
  };
}
