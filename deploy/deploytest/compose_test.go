package deploytest

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The compose file is valid for Compose (docker-compose config, Debian's, resolves anchors, variables and the
// schema), refuses to start without its secrets, and wires the platform as production runs it: the migration
// first, 2 API replicas, 3 ingest workers each with its own client id and spool volume, 2 rules processes; only
// SUILONG_* variables suilong reads; EMQX authenticating and authorising through the API's endpoints;
// Prometheus scraping every Suilong process with the platform's alerts; Grafana provisioned from deploy/grafana.
func TestCompose(t *testing.T) {
	dc := tool(t, "docker-compose", "docker-compose")
	file := path("deploy", "compose", "compose.yaml")

	// Without .env the secrets are missing and Compose says which.
	noEnv := t.TempDir() + "/empty.env"
	if err := os.WriteFile(noEnv, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runErr(time.Minute, dc, "--env-file", noEnv, "-f", file, "config", "-q")
	if err == nil || !strings.Contains(out, "set POSTGRES_PASSWORD in .env") {
		t.Errorf("docker-compose config without .env should fail naming POSTGRES_PASSWORD; err=%v\n%s", err, out)
	}

	resolved := run(t, time.Minute, dc, "--env-file", path("deploy", "compose", ".env.example"), "-f", file, "config")
	var cf struct {
		Services map[string]struct {
			Image       string
			Command     []string
			Environment map[string]string
			Volumes     []string
			DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
			Deploy      struct{ Replicas int }
		}
	}
	if err := yaml.Unmarshal([]byte(resolved), &cf); err != nil {
		t.Fatalf("docker-compose config output: %v", err)
	}
	roles := map[string]int{} // serve role → processes
	clientIDs, spools := map[string]string{}, map[string]string{}
	for name, s := range cf.Services {
		if !strings.Contains(s.Image, "suilong") {
			continue
		}
		if len(s.Command) == 0 {
			t.Errorf("service %s has no command", name)
			continue
		}
		var envNames []string
		for k := range s.Environment {
			envNames = append(envNames, k)
		}
		checkEnvNames(t, "compose service "+name, envNames...)
		for _, k := range []string{"SUILONG_DATABASE_URL", "SUILONG_INFLUX_URL", "SUILONG_INFLUX_ORG", "SUILONG_INFLUX_TOKEN", "SUILONG_MQTT_URL", "SUILONG_MQTT_PASSWORD"} {
			if s.Environment[k] == "" {
				t.Errorf("service %s lacks %s", name, k)
			}
		}
		if b := s.Environment["SUILONG_INFLUX_BUCKET"]; b != "coldchain" {
			t.Errorf("service %s: SUILONG_INFLUX_BUCKET=%q; want coldchain (InfluxDB 2.x)", name, b)
		}
		if s.Command[0] == "migrate" {
			roles["migrate"]++
			continue
		}
		if len(s.Command) != 3 || s.Command[0] != "serve" || s.Command[1] != "--only" {
			t.Errorf("service %s runs %v; want serve --only ROLE", name, s.Command)
			continue
		}
		role := s.Command[2]
		roles[role] += max(s.Deploy.Replicas, 1)
		if s.Environment["SUILONG_NO_MIGRATE"] != "true" {
			t.Errorf("service %s would migrate at start; only the migrate service should", name)
		}
		if c := s.DependsOn["migrate"].Condition; c != "service_completed_successfully" {
			t.Errorf("service %s does not wait for the migration (depends_on migrate: %q)", name, c)
		}
		if role == "ingest" {
			id := s.Environment["SUILONG_INGEST_CLIENT_ID"]
			if id == "" || clientIDs[id] != "" {
				t.Errorf("ingest service %s: client id %q empty or shared with %s", name, id, clientIDs[id])
			}
			clientIDs[id] = name
			var data string
			for _, v := range s.Volumes {
				if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/data") {
					data = src
				}
			}
			if data == "" || spools[data] != "" {
				t.Errorf("ingest service %s: spool volume %q missing or shared with %s", name, data, spools[data])
			}
			spools[data] = name
			if s.Deploy.Replicas > 1 {
				t.Errorf("ingest service %s has %d replicas sharing one client id and spool", name, s.Deploy.Replicas)
			}
		}
	}
	want := map[string]int{"migrate": 1, "api": 2, "ingest": 3, "rules": 2}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Errorf("processes by role %v; want %v", roles, want)
	}
	for _, svc := range []string{"emqx", "influxdb", "postgres", "prometheus", "grafana"} {
		if _, ok := cf.Services[svc]; !ok {
			t.Errorf("no %s service", svc)
		}
	}
	influxEnv := cf.Services["influxdb"].Environment
	if influxEnv["DOCKER_INFLUXDB_INIT_BUCKET"] != "coldchain" || influxEnv["DOCKER_INFLUXDB_INIT_ORG"] != cf.Services["api"].Environment["SUILONG_INFLUX_ORG"] ||
		influxEnv["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] != cf.Services["api"].Environment["SUILONG_INFLUX_TOKEN"] {
		t.Errorf("InfluxDB's first-start org, bucket and token do not match what Suilong uses: %v", influxEnv)
	}

	checkEMQX(t)
	checkComposePrometheus(t, cf.Services)
}

// checkEMQX: EMQX's HTTP authenticator and authorizer call the API service's endpoints with POST and JSON bodies
// carrying the placeholders EMQX documents, and deny what the endpoint does not allow.
func checkEMQX(t *testing.T) {
	conf, err := os.ReadFile(path("deploy", "compose", "emqx", "emqx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := string(conf)
	for _, want := range []string{
		`mechanism = password_based`, `backend = http`, `url = "http://api:8080/api/v1/mqtt/auth"`,
		`type = http`, `url = "http://api:8080/api/v1/mqtt/acl"`, `no_match = deny`,
		`username = "${username}"`, `password = "${password}"`, `clientid = "${clientid}"`,
		`topic = "${topic}"`, `action = "${action}"`, `shared_subscription_strategy = round_robin`,
	} {
		if !strings.Contains(c, want) {
			t.Errorf("emqx.conf lacks %s", want)
		}
	}
	// Both calls carry the hook secret that the API demands (SUILONG_MQTT_HOOK_SECRET, in the compose file for
	// the API and EMQX alike).
	if n := strings.Count(c, `"authorization" = "Bearer "${SUILONG_MQTT_HOOK_SECRET}`); n != 2 {
		t.Errorf("emqx.conf: %d of its 2 HTTP calls send the hook secret", n)
	}
	if n := len(regexp.MustCompile(`(?m)^\s*method = post$`).FindAllString(c, -1)); n != 2 {
		t.Errorf("emqx.conf: %d HTTP sources use POST; want both (GET would put passwords in URLs)", n)
	}
}

// checkComposePrometheus: the Prometheus of the compose file is valid (promtool check config, with its alert
// rules) and scrapes every Suilong service under job suilong.
func checkComposePrometheus(t *testing.T, services map[string]struct {
	Image       string
	Command     []string
	Environment map[string]string
	Volumes     []string
	DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
	Deploy      struct{ Replicas int }
}) {
	promtool := tool(t, "promtool", "prometheus")
	cfgPath := path("deploy", "prometheus", "prometheus.yml")
	run(t, time.Minute, promtool, "check", "config", cfgPath)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string                       `yaml:"job_name"`
			DNSSDConfigs  []struct{ Names []string }   `yaml:"dns_sd_configs"`
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &pc); err != nil {
		t.Fatal(err)
	}
	var scraped []string
	for _, sc := range pc.ScrapeConfigs {
		if sc.JobName != "suilong" {
			continue
		}
		for _, d := range sc.DNSSDConfigs {
			scraped = append(scraped, d.Names...)
		}
		for _, s := range sc.StaticConfigs {
			for _, tg := range s.Targets {
				host, _, _ := strings.Cut(tg, ":")
				scraped = append(scraped, host)
			}
		}
	}
	for name, s := range services {
		if strings.Contains(s.Image, "suilong") && len(s.Command) > 0 && s.Command[0] == "serve" && !slices.Contains(scraped, name) {
			t.Errorf("Prometheus does not scrape compose service %s (scraped: %v)", name, scraped)
		}
	}
}
