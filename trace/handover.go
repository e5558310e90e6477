package trace

import (
	"fmt"
	"strings"
	"time"
)

// Handover is the product temperature measured when a lot changed hands: at a load, an unload or the receipt.
type Handover struct {
	EventID    int64     `json:"event_id"`
	Kind       EventKind `json:"kind"`
	At         time.Time `json:"at"`
	AssetName  string    `json:"asset_name,omitempty"`
	Location   string    `json:"location,omitempty"`
	TempC      float64   `json:"temp_c"`
	MeasuredBy string    `json:"measured_by"`
	// InBand is false when the measured temperature is outside the lot's band.
	InBand bool `json:"in_band"`
}

// HandoverOutOfBand is the verdict when the sensors kept the band but a temperature measured at a handover did
// not: the product itself was measured too warm (or too cold), which the air in the truck does not undo.
const HandoverOutOfBand VerdictCode = "handover_out_of_band"

// handovers lists the handover temperatures of the events, judged against the band.
func handovers(band Band, events []Event) []Handover {
	out := []Handover{}
	for _, e := range events {
		if e.HandoverTempC == nil {
			continue
		}
		out = append(out, Handover{EventID: e.ID, Kind: e.Kind, At: e.At, AssetName: e.AssetName, Location: e.Location,
			TempC: *e.HandoverTempC, MeasuredBy: e.MeasuredBy, InBand: band.Contains(*e.HandoverTempC)})
	}
	return out
}

// flagHandovers adds the handovers to the compliance record and says in the verdict which were outside the
// band: a lot is not compliant when one was.
func flagHandovers(c *Compliance, events []Event) {
	c.Handovers = handovers(c.Band, events)
	var zh, en []string
	for _, h := range c.Handovers {
		if h.InBand {
			continue
		}
		c.Verdict.HandoversOutside++
		zh = append(zh, fmt.Sprintf("%s %s %.1f °C", handoverZH(h.Kind), h.At.In(CST).Format("1月2日 15:04"), h.TempC))
		en = append(en, fmt.Sprintf("%s %s %.1f °C", handoverEN(h.Kind), h.At.In(CST).Format("2 Jan 15:04"), h.TempC))
	}
	if len(zh) == 0 || c.Band.IsZero() {
		return
	}
	v := &c.Verdict
	v.Compliant = false
	if v.Code == Compliant || v.Code == Incomplete {
		v.Code = HandoverOutOfBand
		v.ZH, v.EN = "", ""
	} else {
		v.ZH += "；"
		v.EN += "; "
	}
	n := len(zh)
	v.ZH += fmt.Sprintf("交接时实测产品温度 %d 次超出 %s（%s）", n, c.Band, strings.Join(zh, "，"))
	v.EN += fmt.Sprintf("the product temperature measured at %d %s was outside %s (%s)", n, plural(n, "handover", "handovers"),
		c.Band, strings.Join(en, ", "))
	if v.Code == HandoverOutOfBand {
		v.EN = strings.ToUpper(v.EN[:1]) + v.EN[1:]
	}
}

func handoverZH(k EventKind) string {
	switch k {
	case Load:
		return "装载"
	case Unload:
		return "卸载"
	case Receive:
		return "验收"
	}
	return string(k)
}

func handoverEN(k EventKind) string {
	switch k {
	case Load:
		return "load"
	case Unload:
		return "unload"
	case Receive:
		return "receipt"
	}
	return string(k)
}
