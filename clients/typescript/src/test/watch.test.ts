// watch() across a service restart: the harness (tests/clients/test_typescript_client.py)
// kills the service behind the proxy, starts another and moves the proxy to it, then
// writes the truth (the top 10 as {user_id: score}) on stdin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { ScoreboardClient, type WatchMessage } from "../index.js";

test("watch ends on the truth across a restart, never going back in seq", async () => {
  const client = new ScoreboardClient(process.env.SB_URL ?? "", {
    token: process.env.SB_PLAYER, retry: { tries: 6, baseMs: 50, capMs: 500 } });
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const stop = new AbortController();
  const seen: WatchMessage[] = [];
  let truth: Record<string, number> | null = null;
  const top = (m: WatchMessage) => Object.fromEntries(
    (m.data.leaderboard as { user_id: string; score: number }[]).map((e) => [e.user_id, e.score]));
  const reading = (async () => {
    const line = await lines.next();
    truth = JSON.parse(String(line.value)) as Record<string, number>;
  })();
  for await (const msg of client.watch("global", stop.signal)) {
    seen.push(msg);
    if (seen.length === 1) console.log("WATCHING");  // the harness goes on
    if (truth !== null && JSON.stringify(top(msg)) === JSON.stringify(truth)) break;
    if (truth === null && seen.length > 1) continue;
  }
  stop.abort();
  await reading;
  const seqs = seen.filter((m) => m.type === "leaderboard_update").map((m) => m.seq ?? 0);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.deepEqual(top(seen[seen.length - 1]!), truth);
  process.stdin.destroy();
});
