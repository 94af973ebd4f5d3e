"""A websocket to a path that names no socket of ours closes with 4404, like an unknown code.

Without it channels' URLRouter raises "No route found" and daphne logs a traceback.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer

from workshop.websocket import CLOSE_NOT_FOUND


class NoSuchSocket(AsyncWebsocketConsumer):
    # It only says no: no channel-layer subscription (on Redis, one blocking read per refused socket).
    channel_layer_alias = "no channel layer"

    async def connect(self) -> None:
        # Accept first: a refused handshake reaches the page as 1006 with no code at all.
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
