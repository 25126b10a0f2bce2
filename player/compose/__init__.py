"""Compose: new sessions made to order from the pose library (the poses of the built-in
scripts, with the facts written beside them) and spoken transitions; the result is a plain
session script, which the rest of the pipeline reads like any other. Pure: no speech, no
audio, no command line."""
