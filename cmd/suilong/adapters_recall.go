package main

import (
	"context"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

// The adapters recalls need (see adapters.go for the pattern): ingest's alarms, matching's orders and the
// people of an organisation. The notification channels' adapter (trace.RecallNotifier) is the notify area's.

type alarmsAdapter struct{ s *ingest.Store }

func (a alarmsAdapter) Alarm(ctx context.Context, id int64) (trace.AlarmInfo, error) {
	x, err := a.s.Alarm(ctx, id)
	if err != nil {
		return trace.AlarmInfo{}, err
	}
	return trace.AlarmInfo{ID: x.ID, AssetID: x.AssetID, Kind: string(x.Kind), Start: x.StartedAt, End: x.EndedAt}, nil
}

type orderBook struct{ s *matching.Store }

// staffReader reads orders on the recall's behalf: the recall has already checked who asks.
var staffReader = auth.Principal{Role: auth.RoleAdmin, OrgName: "suilong"}

func (o orderBook) OrderInfo(ctx context.Context, id int64) (trace.OrderInfo, error) {
	x, err := o.s.Order(ctx, staffReader, id)
	if err != nil {
		return trace.OrderInfo{}, err
	}
	return trace.OrderInfo{ID: x.ID, BuyerOrgID: x.BuyerOrgID, BuyerName: x.BuyerName, Market: x.Destination, QuantityKg: x.QuantityKg,
		DeliveredAt: x.DeliveredAt}, nil
}

type contactsAdapter struct{ s *auth.Store }

func (c contactsAdapter) People(ctx context.Context, orgID int64) ([]trace.Person, error) {
	us, err := c.s.Users(ctx, orgID)
	if errs.Is(err, errs.NotFound) || orgID == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []trace.Person
	for _, u := range us {
		if !u.Disabled {
			out = append(out, trace.Person{Name: u.Name(), Username: u.Username})
		}
	}
	return out, nil
}
