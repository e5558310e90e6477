// Package deploytest checks what deploy/ ships against real tools and services: the container image (built
// with podman and run), the compose file, the Helm chart (helm lint and template), the Prometheus alert rules
// (promtool test rules), the Grafana dashboards (every query run against a real InfluxDB, PostgreSQL and a
// Prometheus scraping a real suilong serve), and the backup and restore of docs/operations.md. It holds no code
// of its own; the tests are the package.
package deploytest
