"""A client's outgoing byte queue: bounded, written by one task, so a slow client stalls nobody else.

Live updates are offered without waiting: if the client does not keep up and the queue passes its
limit, the caller drops that client. Bulk replies (history) instead wait for room, so a large request
is paced by the client's reading speed rather than buffered whole in memory.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Outbox:
    def __init__(self, writer: asyncio.StreamWriter, limit: int) -> None:
        self._writer = writer
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._has_data = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._closed = False

    @property
    def queued(self) -> int:
        return self._queued

    def offer(self, data: bytes) -> bool:
        """Queue `data` unless that passes the limit; False means the client is too slow."""
        if self._closed:
            return True
        if self._queued + len(data) > self._limit and self._queued:
            return False
        self._append(data)
        return True

    async def send(self, data: bytes) -> None:
        """Queue `data` once the queue is below half its limit."""
        while self._queued > self._limit // 2 and not self._closed:
            self._has_room.clear()
            await self._has_room.wait()
        if not self._closed:
            self._append(data)

    async def run(self) -> None:
        """Write queued chunks in order, joined into one write per wake-up, until closed and empty."""
        while True:
            if not self._chunks:
                if self._closed:
                    return
                self._has_data.clear()
                await self._has_data.wait()
                continue
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._queued = 0
            self._has_room.set()
            self._writer.write(data)
            await self._writer.drain()

    def close(self) -> None:
        """Stop accepting data; `run` returns after writing what is queued."""
        self._closed = True
        self._has_data.set()
        self._has_room.set()

    def _append(self, data: bytes) -> None:
        self._chunks.append(data)
        self._queued += len(data)
        self._has_data.set()
