"""What operations watch: Prometheus metrics, OpenTelemetry traces and the access log."""
