"""One thin module per command or group: parse, call the core, render through Output."""
