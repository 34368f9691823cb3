// Prints a board's top 10 whenever it changes (reconnecting by itself).
//   node examples/watcher.mjs http://127.0.0.1:8080 <player token> [board]
import { ScoreboardClient } from "../dist/index.js";

const [url, token, board = "global"] = process.argv.slice(2);
const client = new ScoreboardClient(url, { token });
for await (const msg of client.watch(board)) {
  if (msg.type !== "leaderboard_update") continue;
  console.log(`-- ${msg.board} season ${msg.season} (seq ${msg.seq})`);
  for (const e of msg.data.leaderboard) {
    console.log(`${String(e.rank).padStart(3)}  ${(e.username ?? e.user_id.slice(0, 8)).padEnd(20)} ${String(e.score).padStart(10)}`);
  }
}
