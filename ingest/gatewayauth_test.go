package ingest

import "testing"

func TestOwnsClientID(t *testing.T) {
	registered := map[string]bool{"LY-GW": true, "LY-GW-2": true, "GW1": true, "a.b": true}
	reg := func(id string) bool { return registered[id] }
	tests := []struct {
		gw, client string
		want       bool
	}{
		{"GW1", "GW1", true},
		{"GW1", "GW1-a", true},
		{"GW1", "GW1_1", true},
		{"GW1", "GW1:x", true},
		{"GW1", "GW1/sub", true},
		{"GW1", "GW1.2", true},
		{"GW1", "GW1-", false},   // a separator with nothing after it is no suffix
		{"GW1", "GW10", false},   // another id, not a suffix
		{"GW1", "GW1x-1", false}, // no separator right after the id
		{"GW1", "gw1", false},    // ids are case-sensitive
		{"GW1", "", false},       // a gateway names itself
		{"GW1", "LY-GW", false},  // another gateway's id
		{"GW1", "xGW1", false},   // the id must come first
		{"LY-GW", "LY-GW-1", true},
		{"LY-GW", "LY-GW-2", false},   // a longer registered gateway's own id
		{"LY-GW", "LY-GW-2-a", false}, // and its suffixes
		{"LY-GW", "LY-GW-2a", true},   // not LY-GW-2 followed by a separator
		{"LY-GW-2", "LY-GW-2-a", true},
		{"a.b", "a.b.c", true},
		{"a", "a.b", false}, // a.b is registered
	}
	for _, tt := range tests {
		if got := OwnsClientID(tt.gw, tt.client, reg); got != tt.want {
			t.Errorf("OwnsClientID(%q, %q) = %v, want %v", tt.gw, tt.client, got, tt.want)
		}
	}
}

func TestGatewayMay(t *testing.T) {
	tests := []struct {
		topic string
		write bool
		want  bool
	}{
		{"coldchain/v1/readings/GW1", true, true},
		{"coldchain/v1/status/GW1", true, true},
		{"coldchain/v1/readings/GW2", true, false},
		{"coldchain/v1/readings/GW1/x", true, false},
		{"coldchain/v1/readings/+", true, false},
		{"coldchain/v1/alarms/LY-TRK-0001", true, false},
		{"coldchain/v1/commands/GW1", true, false},
		{"coldchain/v1/commands/GW1", false, true},
		{"coldchain/v1/commands/GW1/#", false, true},
		{"coldchain/v1/commands/GW2", false, false},
		{"coldchain/v1/commands/#", false, false},
		{"coldchain/v1/commands/+", false, false},
		{"coldchain/v1/readings/GW1", false, false},
		{"#", false, false},
		{"coldchain/v1/commands/GW10", false, false},
	}
	for _, tt := range tests {
		if got := GatewayMay("GW1", tt.topic, tt.write); got != tt.want {
			t.Errorf("GatewayMay(GW1, %q, write=%v) = %v, want %v", tt.topic, tt.write, got, tt.want)
		}
	}
}
