// Mirror of ionpy_widgets/widgets/protocol.py. Every request gets exactly one reply (errors
// included); stream items for a request arrive before its reply.
import type { AnyModel } from "@anywidget/types";

export const PROTOCOL_VERSION = 1;
export const DEFAULT_TIMEOUT_MS = 15000;

export interface ErrorInfo {
  code: string;
  message: string;
  hint?: string;
  type?: string;
  details?: Record<string, unknown>;
}

export class RequestError extends Error {
  info: ErrorInfo;
  constructor(info: ErrorInfo) {
    super(info.message);
    this.info = info;
  }
}

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: RequestError) => void;
  onItem?: (item: unknown) => void;
  timer: number;
};

type Msg =
  | { type: "reply"; id: string; ok: true; result: unknown }
  | { type: "reply"; id: string; ok: false; error: ErrorInfo }
  | { type: "stream"; id: string; item: unknown }
  | { type: "event"; kind: string; data: Record<string, unknown> };

let counter = 0;

export class Client {
  private pending = new Map<string, Pending>();
  private listeners = new Map<string, Set<(data: Record<string, unknown>) => void>>();
  private handler: (msg: unknown) => void;

  constructor(private model: AnyModel) {
    this.handler = (msg: unknown) => this.dispatch(msg as Msg);
    model.on("msg:custom", this.handler);
  }

  request<T = unknown>(
    kind: string,
    payload: Record<string, unknown> = {},
    opts: { timeout?: number; onItem?: (item: unknown) => void } = {},
  ): Promise<T> {
    const id = `r${Date.now().toString(36)}-${(counter++).toString(36)}`;
    const timeout = opts.timeout ?? DEFAULT_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      // the kernel enforces the timeout too; this one covers a dead or blocked kernel
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(
          new RequestError({
            code: "request_timeout",
            message: `no answer from the kernel within ${Math.round(timeout / 1000)} s`,
            hint: "The kernel may be busy running a cell (time.sleep blocks everything); try again when it is idle.",
          }),
        );
      }, timeout + 2000);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onItem: opts.onItem, timer });
      this.model.send({ type: "request", id, kind, payload, timeout });
    });
  }

  on(kind: string, fn: (data: Record<string, unknown>) => void): () => void {
    if (!this.listeners.has(kind)) this.listeners.set(kind, new Set());
    this.listeners.get(kind)!.add(fn);
    return () => this.listeners.get(kind)?.delete(fn);
  }

  dispose(): void {
    this.model.off("msg:custom", this.handler);
    for (const p of this.pending.values()) window.clearTimeout(p.timer);
    this.pending.clear();
  }

  private dispatch(msg: Msg): void {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "event") {
      this.listeners.get(msg.kind)?.forEach((fn) => fn(msg.data));
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === "stream") {
      p.onItem?.(msg.item);
      return;
    }
    window.clearTimeout(p.timer);
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new RequestError(msg.error));
  }
}
