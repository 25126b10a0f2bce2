"""The audio layer: PCM in the session's one format, bells, the mix, mastering and encoding.

`pcm` holds the sample format and the cache's WAV format; `sounds` makes the bells and breath
tones in code; `mix` turns timeline events into PCM; `loudness` and `mastering` bring speech to
-19 LUFS once per clip; `encode` streams PCM into ffmpeg and checks what it wrote; `id3` writes
the chapters; `watchdog` stops an external program that hangs. Only this layer and the speech
worker start ffmpeg.
"""
