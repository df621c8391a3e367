"""What operators and the MASH run: triage, show, export, probe, health, demo, accept."""
