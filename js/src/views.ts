// Registry of views by `_view_kind`. Each widget adds its view here.
import type { View } from "./common";

export const views: Record<string, View> = {};
