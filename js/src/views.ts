// Registry of views by `_view_kind`. Each widget adds its view here.
import type { View } from "./common";
import { alarmsView } from "./alarms";
import { controlsView } from "./controls";
import { devicesView } from "./devices";
import { discoveryView } from "./discovery";
import { wizardView } from "./wizard/index";

export const views: Record<string, View> = {
  devices: devicesView,
  controls: controlsView,
  wizard: wizardView,
  discovery: discoveryView,
  alarms: alarmsView,
};
