// A tiny match server: reports one match's results for its players with a server key,
// in one batch (each update keyed, so a retry after a lost answer counts nothing twice).
//   node examples/match-server.mjs http://127.0.0.1:8080 sbk_... <user id> <user id> ...
import { ScoreboardClient } from "../dist/index.js";

const [url, key, ...players] = process.argv.slice(2);
const match = Math.random().toString(36).slice(2, 10);
const server = new ScoreboardClient(url, { token: key });
const results = await server.batch(players.map((user_id) => ({
  user_id, action_type: "kill", score_increment: 1 + Math.floor(Math.random() * 50),
  idempotency_key: `match-${match}-${user_id}`, metadata: { match } })));
results.forEach((r, i) => console.log(r.ok
  ? `${players[i]}: ${r.data.new_score} (rank ${r.data.current_rank})`
  : `${players[i]}: refused: ${r.error.code} ${r.error.message}`));
