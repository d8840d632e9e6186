"""The version of kancc: one place, read by packaging, the API and the emitted headers."""

VERSION = "0.1.0"
