"""The scheduler (APScheduler): hands due schedules to the api as jobs."""
