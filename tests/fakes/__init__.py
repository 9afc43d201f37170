"""Local stand-ins for external services, so tests run the real client libraries over real HTTP
without reaching the internet."""
