"""The speech layer: the voices, the engines that speak them, and the cache of clips.

`engine` is the interface every engine implements, and `registry` finds the engine of a
voice; `espeak` (pyttsx3 and espeak-ng) and `piper` (a neural voice) are the engines, one
module each. `pool` runs worker processes (`python -m player.speech.worker`, the generic
loop) with a deadline per cue, so text that crashes or hangs an engine costs one worker;
`protocol` holds the messages between them. `cache` is the one module that knows the cache's
layout and checks every entry; `clips` makes sure each text of a timeline has its clip;
`voices` lists every voice and speaks samples.
"""
