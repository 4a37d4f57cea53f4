"""TradingView webhook service: authenticated, validated alerts stored as ticks.

The pure parts (`signature`, `alerts`, `receipts`) are separate from the Starlette app (`app`) so they
are tested without sockets; `serve` runs the app under uvicorn.
"""
