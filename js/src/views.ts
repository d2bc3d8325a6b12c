// Registry of views by `_view_kind`. Each widget adds its view here.
import type { View } from "./common";
import { controlsView } from "./controls";
import { devicesView } from "./devices";

export const views: Record<string, View> = {
  devices: devicesView,
  controls: controlsView,
};
