// The TypeScript client against a real running service (tests/clients/test_typescript_client.py
// starts it, makes the players and keys, and passes them in the environment).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Conflict, NotFound, ScoreboardClient, Unauthorized, ValidationError } from "../index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("SB_URL");
const fast = { tries: 6, baseMs: 50, capMs: 500 };
const admin = new ScoreboardClient(url, { token: env("SB_ADMIN"), retry: fast });
const player = new ScoreboardClient(url, { token: env("SB_PLAYER"), retry: fast });
const server = new ScoreboardClient(url, { token: env("SB_KEY"), retry: fast });
const me = env("SB_PLAYER_ID");
const other = env("SB_OTHER_ID");

test("every endpoint family", async () => {
  await admin.createBoard({ id: "weekly", title: "Weekly", actions: ["kill"], reset: "0 0 * * 1" });
  await admin.createBoard({ id: "ladder", title: "Ladder", actions: ["kill"], reset: "0 0 * * 1",
                            league: { tiers: ["bronze", "silver"], bucket_size: 3, promote: 1,
                                      relegate: 1 } });
  assert.equal((await admin.changeBoard("weekly", { title: "Weekly kills" })).title, "Weekly kills");
  const first = await player.update("kill", 20, { metadata: { map: "dust" } });
  assert.equal(first.new_score, 20);
  assert.deepEqual(Object.keys(first.boards).sort(), ["global", "ladder", "weekly"]);
  assert.equal((await player.boardScore("weekly", "kill", 5)).new_score, 25);
  assert.deepEqual((await player.top10()).leaderboard.map((e) => e.user_id), [me]);
  assert.equal((await player.leaderboard("weekly", { limit: 5 })).total, 1);
  const mine = await player.me("ladder");
  assert.deepEqual([mine.tier, mine.bucket, mine.bucket_rank], ["bronze", 1, 1]);
  assert.equal((await player.rank(me)).score, 20);
  assert.equal((await player.ranks("weekly", [me])).leaderboard[0]?.score, 25);
  assert.deepEqual((await player.boards()).map((b) => b.id).sort(), ["global", "ladder", "weekly"]);
  assert.equal((await player.board("weekly")).status, "open");
  assert.equal((await player.bucket("ladder", 1)).tier, "bronze");
  assert.equal((await player.join("weekly")).joined, true);
  await admin.resetBoard("weekly");
  assert.deepEqual((await player.seasons("weekly")).seasons.map((s) => s.season), [2, 1]);
  assert.equal((await player.top10("weekly", 1)).leaderboard[0]?.score, 25);
  // a batch of 150 goes as requests of at most 100, each item keyed
  const results = await server.batch(Array.from({ length: 150 }, () => (
    { user_id: other, action_type: "kill", score_increment: 1 })));
  assert.equal(results.length, 150);
  assert.ok(results.every((r) => r.ok));
  assert.equal(results[149]?.data?.new_score, 150);
  const made = await admin.createUser("tsuser", "tsuser@example.com");
  await admin.ban(made.id);
  await admin.unban(made.id);
  const key = await admin.createKey("ts", ["kill"]);
  assert.ok((await admin.keys()).some((k) => k.id === key.id));
  assert.notEqual((await admin.revokeKey(key.id)).revoked_at, null);
  assert.ok(Array.isArray((await admin.flags({ status: "open" })).flags));
  await admin.deleteBoard("weekly");
  await assert.rejects(player.board("weekly"), NotFound);
});

test("errors are typed and a 400 is not sent again", async () => {
  let sent = 0;
  const counting = new ScoreboardClient(url, { token: env("SB_PLAYER"), retry: fast,
    fetch: (input, init) => { sent += 1; return fetch(input, init); } });
  const err = await counting.update("nope", 1).catch((e: unknown) => e);
  assert.ok(err instanceof ValidationError);
  assert.equal(err.code, "VALIDATION_ERROR");
  assert.ok("action_type" in err.fields);
  assert.equal(sent, 1);
  await assert.rejects(new ScoreboardClient(url, { token: "nope" }).me(), Unauthorized);
  await admin.createBoard({ id: "dup", title: "Dup", actions: ["kill"] });
  await assert.rejects(admin.createBoard({ id: "dup", title: "Dup", actions: ["kill"] }), Conflict);
});

test("an update whose answer was cut is sent again with the same key and counts once", async () => {
  const keys: (string | null)[] = [];
  const cut = new ScoreboardClient(env("SB_CUT_URL"), { token: env("SB_CUTTER"), retry: fast,
    fetch: (input, init) => {
      keys.push(new Headers(init?.headers).get("Idempotency-Key"));
      return fetch(input, init);
    } });
  const got = await cut.update("kill", 7);
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1]);
  assert.equal(got.new_score, 7);
  assert.equal((await player.rank(env("SB_CUTTER_ID"))).score, 7);  // once, not 14
});

test("a 429 waits for Retry-After and is sent again with the same key", async () => {
  const seen: [number, string | null][] = [];
  const slow = new ScoreboardClient(url, { token: env("SB_SLOW"), retry: { tries: 3, baseMs: 50 },
    fetch: async (input, init) => {
      const resp = await fetch(input, init);
      seen.push([resp.status, new Headers(init?.headers).get("Idempotency-Key")]);
      return resp;
    } });
  for (let i = 0; i < 60; i++) await slow.update("slow", 1);
  const started = Date.now();
  const last = await slow.update("slow", 1);
  assert.equal(last.new_score, 61);
  const refused = seen.filter(([status]) => status === 429);
  assert.equal(refused.length, 1);
  assert.deepEqual(seen[seen.length - 1], [200, refused[0]?.[1]]);
  assert.ok(Date.now() - started >= 500);  // it waited for Retry-After (about a second)
});
