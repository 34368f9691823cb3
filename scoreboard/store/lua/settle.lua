-- Direct mode, step 3 of 3: PostgreSQL committed each board's score; show them in Redis.
-- Commits of one player may arrive out of order, so a board moves only to a newer
-- state: on best boards the better score (at equal scores the earlier sequence), on
-- latest boards the later sequence, on incr boards the bigger total (totals only grow;
-- compared as totals, not as scores: on an asc board a bigger total is a worse score).
-- Not the sequence on incr boards: a total's sequence is the latest one it counts, so
-- two commits that end after the same latest one share it.
-- The metadata moves with a board's score when this update made that score (`reached`
-- is its own sequence `seq`); a score another commit made gets that one's.
-- KEYS: idem; per board: scores, member, boardseq, meta
-- ARGV: uid, use_idem, idem_ttl_s, channel, top_n, now, body, metadata, seq; per board: board, season, operator, order, score, reached
local k_idem = KEYS[1]
local uid, use_idem, idem_ttl_s, channel = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4]
local top_n, now, body, metadata = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
local seq = tonumber(ARGV[9])
local boards = per_board(KEYS, 1, {'scores', 'member', 'boardseq', 'meta'}, ARGV, 9, {'board', 'season', 'operator', 'order', 'score', 'reached'})

local out, now_s = {'OK', now, #boards}, int_str(now)
for i = 1, #boards do
  local b = boards[i]
  local score, reached = tonumber(b.score), tonumber(b.reached)
  local member = redis.call('HGET', b.member, uid)
  local current = shown_score(b, uid)
  local newer = current == nil
  if not newer then
    local cur_seq = TIE_BASE - tonumber(string.sub(member, 1, 15))
    if b.operator == 'best' then  -- the better one stands (scoreboard/operators.py)
      newer = score * b.sign > current * b.sign or (score == current and reached < cur_seq)
    elseif b.operator == 'incr' then
      newer = score > current
    else  -- latest values: the later commit's state is the newer
      newer = reached > cur_seq
    end
  end
  local prev_score, prev_rank, rank, board = current, nil, nil, 0
  if newer then
    prev_score, prev_rank, rank = apply_total(b.scores, b.member, uid, score * b.sign, reached)
    prev_score = prev_score * b.sign
    if reached == seq then keep_metadata(b, uid, metadata) end
    board = announce(b, channel, top_n, uid, prev_rank, rank, score, now_s)
  else
    rank = redis.call('ZREVRANK', b.scores, member) + 1
    prev_rank = rank  -- the committed score is still what this update made
  end
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = prev_score, score, prev_rank,
    rank, board
end
return score_reply(k_idem, use_idem, body, idem_ttl_s, out)
