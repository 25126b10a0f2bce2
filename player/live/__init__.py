"""Live play: the session's own PCM sent to the sound device on the breath.

`play` puts it together; `ahead` synthesizes speech in spoken order while the session plays;
`scheduler` starts pieces of PCM on the monotonic clock and works the keys on the timeline's
steps; `device` is the only module that touches simpleaudio; `console` is the terminal
screen and keys, always given back; `resume` remembers where a practice stopped.
"""
