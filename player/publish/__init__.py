"""Publishing: practices as a private podcast (feed, sidecars) and the server that hands it to
the phone."""
