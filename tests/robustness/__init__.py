"""Bad-input corpus (issue 10): one file per area, each case asserting the exact outcome."""
