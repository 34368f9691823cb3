"""Prints a board's top 10 whenever it changes (reconnecting by itself).

    python watcher.py http://127.0.0.1:8080 <player token> [board]
"""

from __future__ import annotations

import asyncio
import sys

from scoreboard_client import AsyncClient


async def main() -> None:
    url, token = sys.argv[1], sys.argv[2]
    board = sys.argv[3] if len(sys.argv) > 3 else "global"
    async with AsyncClient(url, token) as client:
        async for msg in client.watch(board):
            if msg["type"] != "leaderboard_update":
                continue
            print(f"-- {msg['board']} season {msg['season']} (seq {msg.get('seq')})")
            for e in msg["data"]["leaderboard"]:
                print(f"{e['rank']:>3}  {e['username'] or e['user_id'][:8]:<20} {e['score']:>10}")


if __name__ == "__main__":
    asyncio.run(main())
