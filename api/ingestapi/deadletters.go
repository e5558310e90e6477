package ingestapi

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
)

// listDeadLetters is the staff's list of what ingest refused, one record each (ingest.Service allows it to staff
// only; a gateway's owner sees its own in the console's summary). An unknown reason is refused with the list of
// known ones, so a client learns the vocabulary from the error.
func (m *Module) listDeadLetters(c *gin.Context) {
	f := ingest.DeadLetterFilter{GatewayID: c.Query("gateway_id"), Reason: ingest.Reason(c.Query("reason"))}
	if f.Reason != "" {
		valid := false
		for _, r := range ingest.Reasons {
			valid = valid || r == f.Reason
		}
		if !valid {
			names := make([]string, len(ingest.Reasons))
			for i, r := range ingest.Reasons {
				names[i] = string(r)
			}
			rest.Problem(c, rest.BadQuery("reason", "must be one of "+strings.Join(names, ", ")))
			return
		}
	}
	var err error
	if f.From, f.To, err = rest.QueryRange(c); err != nil {
		rest.Problem(c, err)
		return
	}
	list(c, func(p ingest.Page) ([]ingest.DeadLetter, int, error) {
		return m.s.DeadLetters(c, rest.Principal(c), f, p)
	})
}
