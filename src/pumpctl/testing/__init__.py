"""HIL test harness: a pytest plugin that runs the same tests on the simulator or a real pump."""
