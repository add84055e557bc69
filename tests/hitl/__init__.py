"""Human-in-the-loop: feedback backends, manager, handlers, REST API and web UI."""
