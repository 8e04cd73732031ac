"""`python3 -m workers`: one worker (run several: Compose's deploy.replicas, devenv's replicas)."""

from workers.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
