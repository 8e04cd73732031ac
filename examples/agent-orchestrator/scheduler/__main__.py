"""`python3 -m scheduler`: the scheduler, with GET /health on $PORT (8081)."""

from scheduler.tick import main

if __name__ == "__main__":
    raise SystemExit(main())
