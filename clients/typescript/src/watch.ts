// watch(board): the board's top 10 as an async iterator that reconnects by itself.
// Each connection starts from the service's snapshot; a top 10 older (seq) than one
// already yielded is skipped, so what it yields never goes back in seq. WebSocket is
// the runtime's own where it has one (browsers, Node 22+), the `ws` package otherwise.

import { backoff, type Retry, sleep } from "./retry.js";
import { Unauthorized } from "./errors.js";

export interface WatchMessage {
  type: "leaderboard_update" | "bucket_update";
  data: { leaderboard: unknown[]; [key: string]: unknown };
  seq?: number;
  board: string;
  season: number;
  timestamp: number;
}

interface Socket {
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(): void;
}
type SocketClass = new (url: string, protocols?: string[]) => Socket;

const POLICY_VIOLATION = 1008;  // the session ended (logout, ban): no retry

async function socketClass(): Promise<SocketClass> {
  const own = (globalThis as { WebSocket?: SocketClass }).WebSocket;
  if (own) return own;
  const ws = await import("ws");
  return ws.WebSocket as unknown as SocketClass;
}

export async function* watch(url: string, token: string | undefined, board: string,
                             policy: Retry, signal?: AbortSignal
                             ): AsyncGenerator<WatchMessage> {
  const Ws = await socketClass();
  const wsUrl = url.replace(/^http/, "ws") + `/ws/leaderboard?board=${encodeURIComponent(board)}`;
  const protocols = token ? [`bearer.${token}`] : [];
  let last = -1;
  let failures = 0;
  while (!signal?.aborted) {
    const queue: WatchMessage[] = [];
    let closed: { code: number; reason: string } | null = null;
    let wake: (() => void) | null = null;
    const poke = () => { const w = wake; wake = null; w?.(); };
    const socket = new Ws(wsUrl, protocols);
    const onAbort = () => socket.close();
    signal?.addEventListener("abort", onAbort);
    socket.onmessage = (ev) => {
      failures = 0;
      queue.push(JSON.parse(String(ev.data)) as WatchMessage);
      poke();
    };
    socket.onclose = (ev) => { closed = { code: ev.code, reason: ev.reason }; poke(); };
    let refused = false;
    socket.onerror = (ev) => {  // a close follows; `ws` names a refused handshake's status
      const text = String((ev as { message?: string })?.message ?? "");
      if (/: 40[13]$/.test(text)) refused = true;
    };
    try {
      while (true) {
        const msg = queue.shift();
        if (msg) {
          if (msg.type === "leaderboard_update") {
            if ((msg.seq ?? 0) < last) continue;  // older than what was yielded
            last = msg.seq ?? last;
          }
          yield msg;
          continue;
        }
        if (closed) break;
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      socket.close();
    }
    const ended = closed as { code: number; reason: string } | null;
    if (refused) throw new Unauthorized("the service refused this token for watching",
                                        "UNAUTHORIZED", 401);
    if (ended?.code === POLICY_VIOLATION) {
      throw new Unauthorized(`the session ended: ${ended.reason}`, "UNAUTHORIZED", 401);
    }
    if (signal?.aborted) return;
    failures += 1;
    await sleep(backoff(policy, Math.min(failures, 8)));
  }
}
