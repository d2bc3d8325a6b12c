// One bundle for every ionpy widget: `render` picks the view named by the `_view_kind` traitlet.
// A JavaScript error shows inside that widget with its message; other widgets keep working.
import type { AnyModel } from "@anywidget/types";
import { Client, ErrorInfo } from "./protocol";
import { Cleanup, View, errorBox, h } from "./common";
import { views } from "./views";

function render({ model, el }: { model: AnyModel; el: HTMLElement }): Cleanup {
  el.classList.add("ionpy-root");
  const errorSlot = h("div", { class: "ionpy-error-slot" });
  const body = h("div", { class: "ionpy-body" });
  el.append(errorSlot, body);
  const client = new Client(model);
  const showError = (info: ErrorInfo | null) => {
    errorSlot.replaceChildren(...(info && info.message ? [errorBox(info)] : []));
  };
  const syncError = () => {
    const e = model.get("error") as ErrorInfo | Record<string, never>;
    showError(e && "message" in e ? (e as ErrorInfo) : null);
  };
  model.on("change:error", syncError);
  syncError();
  const kind = model.get("_view_kind") as string;
  const view: View | undefined = views[kind];
  let cleanup: Cleanup | void;
  if (!view) {
    showError({ code: "unknown_view", message: `unknown widget view "${kind}"`, hint: "Rebuild the bundle (make venv)." });
  } else {
    try {
      cleanup = view({ model, el: body, client, showError });
    } catch (err) {
      showError({ code: "js_error", message: String((err as Error)?.message ?? err), hint: "See the browser console." });
      console.error(err);
    }
  }
  return () => {
    model.off("change:error", syncError);
    client.dispose();
    if (cleanup) cleanup();
  };
}

export default { render };
