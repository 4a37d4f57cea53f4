"""Serve the demo contracts on a fixed port: `python -m tests.fakes.ib_gateway --port 4001`."""

from __future__ import annotations

import argparse
import logging
import time

from tests.fakes.ib_gateway import FakeContract, FakeIBGateway

log = logging.getLogger(__name__)

DEMO_CONTRACTS = (
    FakeContract(265598, "AAPL", long_name="APPLE INC"),
    FakeContract(272093, "MSFT", long_name="MICROSOFT CORP"),
    FakeContract(12087792, "EUR", "CASH", "IDEALPRO", "USD", ("IDEALPRO",), local_symbol="EUR.USD"),
)


def main() -> None:
    """Serve the demo contracts, with one AAPL trade per second for any subscriber."""
    parser = argparse.ArgumentParser(description="Fake IB Gateway (TWS API, server version 178)")
    parser.add_argument("--port", type=int, default=4001)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    gateway = FakeIBGateway(DEMO_CONTRACTS)
    gateway.port = args.port
    with gateway:
        log.info("fake IB Gateway listening on 127.0.0.1:%d", gateway.port)
        try:
            while True:
                time.sleep(1)
                gateway.push_trade("AAPL", int(time.time()), "189.12", "100")
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
