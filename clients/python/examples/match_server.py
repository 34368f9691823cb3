"""A tiny match server: reports one match's results for its players with a server key,
in one batch (each update keyed, so a retry after a lost answer counts nothing twice).

    python match_server.py http://127.0.0.1:8080 sbk_... <user id> <user id> ...
"""

from __future__ import annotations

import random
import sys
import uuid

from scoreboard_client import Client


def main() -> None:
    url, key, players = sys.argv[1], sys.argv[2], sys.argv[3:]
    match = uuid.uuid4().hex[:8]
    with Client(url, key) as server:
        results = server.batch({"user_id": uid, "action_type": "kill",
                                "score_increment": random.randint(1, 50),
                                "idempotency_key": f"match-{match}-{uid}",
                                "metadata": {"match": match}} for uid in players)
    for uid, result in zip(players, results, strict=True):
        if result["ok"]:
            print(f"{uid}: {result['data']['new_score']} (rank {result['data']['current_rank']})")
        else:
            print(f"{uid}: refused: {result['error']['code']} {result['error']['message']}")


if __name__ == "__main__":
    main()
