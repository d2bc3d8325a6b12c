// Shapes of what the wizard's Python side sends (ionpy_widgets/widgets/wizard.py, wizard_steps.py).
import type { AnyModel } from "@anywidget/types";
import type { Client, ErrorInfo } from "../protocol";

export interface BlueprintInfo {
  transport: string;
  framing: string;
  transport_params: Record<string, unknown>;
  framing_params: Record<string, unknown>;
  label: string;
}

export interface DriverInfo {
  name: string;
  category: string;
  icon: string;
  description: string;
  blueprints: BlueprintInfo[];
  needs_link: boolean;
  usb_ids: string[];
}

export interface Section {
  type: string;
  params: Record<string, unknown>;
}

export interface Draft {
  driver?: string;
  id?: string;
  alias?: string;
  icon?: string;
  description?: string;
  location?: string;
  auto_start?: boolean;
  transport?: Section | null;
  framing?: Section | null;
}

export interface DriverHint {
  driver: string;
  confidence: number;
  reason: string;
  model: string;
  installed: boolean;
}

export interface KnownInfo {
  usb_id: string;
  chip: string;
  vendor: string;
  kind: string;
  note: string;
}

export interface PortInfo {
  device: string;
  by_id: string;
  usb_id: string;
  manufacturer: string;
  product: string;
  description: string;
  known: KnownInfo | null;
  hints: DriverHint[];
  in_use: boolean;
  in_use_by: string;
  exists: boolean;
  accessible: boolean;
  permission_hint: string;
  source: string;
}

export interface ScanData<T> {
  bus: string;
  items: T[];
  error: ErrorInfo | null;
  duration_ms: number;
  note: string;
}

export interface Identity {
  manufacturer: string;
  model: string;
  serial: string;
  firmware: string;
}

export interface NetResult {
  host: string;
  port: number;
  service: string;
  latency_ms: number | null;
  idn: Identity | null;
  state?: string;
  error?: string;
  idn_raw?: string;
  hints?: DriverHint[];
}

export interface ScanJob {
  id: string;
  targets: string;
  hosts: number;
  ports: number[];
  state: string;
  done: number;
  total: number;
  cached: number;
  found: number;
  duration_ms: number;
  error: string;
}

export interface ProbeStep {
  message: string;
  ok: boolean;
  detail: string;
  hint: string;
  duration_ms: number;
}

export interface ProbeResult {
  success: boolean;
  steps: ProbeStep[];
  first_values: Record<string, { value: unknown; unit: string; text?: string }>;
  error: ErrorInfo | null;
  duration_ms: number;
  identity: Identity | null;
  unchanged?: boolean;
}

export interface IdCheck {
  ok: boolean;
  id: string;
  message: string;
  hint: string;
  suggestion: string;
}

export interface FieldCheck {
  ok: boolean;
  path?: string;
  message?: string;
  hint?: string;
}

/** What every step gets: the shared draft and the wizard's navigation. */
export interface WizardCtx {
  client: Client;
  model: AnyModel;
  draft: Draft;
  mode: "add" | "edit";
  drivers(): DriverInfo[];
  driver(): DriverInfo | undefined;
  setNext(enabled: boolean, label?: string): void;
  next(): void;
  back(): void;
  goto(step: number): void;
  save(): void;
  /** Redraw the step bar and the Back/Next buttons (after the device was added). */
  refresh(): void;
  cache: WizardCache;
}

export interface WizardCache {
  ports?: ScanData<PortInfo>;
  /** Params typed per transport type, so switching tabs does not lose them. */
  paramsByType: Record<string, Record<string, unknown>>;
  /** True once the user typed an id (a driver change then keeps it). */
  idEdited: boolean;
  probe?: { key: string; result: ProbeResult | null; skipped: boolean };
  done?: { id: string; state: string };
}

export interface StepView {
  el: HTMLElement;
  /** Focus the step's first control. */
  focus(): void;
  /** Called on Next: false keeps the wizard on this step (errors are shown in it). */
  leave?(): Promise<boolean> | boolean;
  dispose?(): void;
}
