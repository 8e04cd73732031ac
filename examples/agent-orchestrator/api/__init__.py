"""The api (FastAPI, port 8080): jobs in, their state and results out; schedules."""
