// Shared helpers for every view: element builder, error box, formatting.
import type { AnyModel } from "@anywidget/types";
import { Client, ErrorInfo } from "./protocol";

export interface ViewContext {
  model: AnyModel;
  el: HTMLElement;
  client: Client;
  showError: (info: ErrorInfo | null) => void;
}

export type Cleanup = () => void;
export type View = (ctx: ViewContext) => Cleanup | void;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, unknown> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = String(v);
    else if (k.startsWith("on") && typeof v === "function") {
      node.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
    } else if (k === "dataset") Object.assign(node.dataset, v as Record<string, string>);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

export function errorBox(info: ErrorInfo): HTMLElement {
  return h(
    "div",
    { class: "ionpy-error", role: "alert", dataset: { code: info.code } },
    h("strong", {}, "⚠ ", info.message),
    info.hint ? h("div", { class: "ionpy-hint" }, "Hint: ", info.hint) : null,
    h("div", { class: "ionpy-code" }, info.code),
  );
}

export function fmtValue(value: unknown, precision?: number | null): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    return precision !== null && precision !== undefined ? value.toFixed(precision) : String(+value.toPrecision(6));
  }
  if (typeof value === "boolean") return value ? "ON" : "OFF";
  return String(value);
}
