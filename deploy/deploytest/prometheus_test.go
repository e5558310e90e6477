package deploytest

import (
	"strings"
	"testing"
	"time"
)

// The alert rules are valid and each fires on the series that should raise it and not on their healthy
// neighbours (deploy/prometheus/alerts_test.yml, run by promtool). That the metrics they name are the ones
// suilong serves is checked against a real process in TestDashboardQueries.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	run(t, time.Minute, promtool, "check", "rules", path("deploy", "prometheus", "alerts.yml"))
	out := run(t, 2*time.Minute, promtool, "test", "rules", path("deploy", "prometheus", "alerts_test.yml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}
