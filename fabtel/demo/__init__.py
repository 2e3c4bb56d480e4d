"""The demo, by job: running the scenarios on the local stack (`run`), the
report measured against the lab's ground truth (`report`, pure) and the plot
(`plot`). `fabtel demo` and `fabtel bench e2e` use it."""
