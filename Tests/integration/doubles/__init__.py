"""Test doubles, each named as one: stand-ins only where nothing real runs offline (the
Kubernetes API, OSS, STS), and a fault-injection proxy in front of the real stores."""
