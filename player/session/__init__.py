"""The session layer: a script read into frozen dataclasses, and the timeline built from it.

Pure: nothing here touches audio, speech, a device or the command line (a test reads the
imports). `script` reads YAML node by node, every value typed by our own rules, each problem
with its line; `durations` reads the lengths people write; `timeline` is a pure function of
(script, options, clip lengths) to integer-millisecond events; `fit` searches the options
for a target length; `library` finds the built-in sessions; `sidecars` writes chapters and
cue files from a timeline.
"""
