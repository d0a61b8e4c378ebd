#!/usr/bin/env python3
"""burst.py: opens N connections to a port, CONCURRENT at a time; each sends a bad startup packet and reads until closed.

Usage: burst.py PORT [N=50000] [CONCURRENT=500]
Used by docs/benchmarks.md ("Memory") to measure conmgr's resident memory after a burst.
"""
import asyncio
import sys

BAD = b"GET / HTTP/1.1\r\n\r\n"


async def one(port):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(BAD)
        await writer.drain()
        while await reader.read(4096):
            pass
        writer.close()
    except OSError:
        pass


async def main(port, total, concurrent):
    gate = asyncio.Semaphore(concurrent)

    async def guarded():
        async with gate:
            await one(port)

    await asyncio.gather(*(guarded() for _ in range(total)))


if __name__ == "__main__":
    port = int(sys.argv[1])
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    concurrent = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    asyncio.run(main(port, total, concurrent))
