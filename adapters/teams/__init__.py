"""The Teams platform: activities in, Adaptive Cards out (translate), SDK wiring (listeners), the outbound port."""
