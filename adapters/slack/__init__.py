"""The Slack platform: payloads in, Block Kit out (translate), SDK wiring (listeners), the outbound port (messenger)."""
