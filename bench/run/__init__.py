"""Running a benchmark: profiles, the harness that plans and runs cells, and the executors that train jobs."""
