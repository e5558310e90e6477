package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// Service is ingest's use cases for people and other systems, with who may do what: admins and coordinators
// keep the registry (gateways, assets, sensors), read alarms and the dead letter and acknowledge alarms; bases
// and buyers see the assets that carried their lots (Fleet); gateway keys see nothing. It owns the side
// effects of a change: a gateway's configuration pushed to it, alarms published, and the running ingest and
// broker told what changed in the registry.
type Service struct {
	Store *Store
	Fleet *Fleet
	// Pub publishes gateway commands and alarm changes; nil publishes nothing.
	Pub Publisher
	// SensorChanged and GatewayChanged tell a running ingest (its sensor cache) and the broker (its gateways'
	// credentials) that the registry changed; nil when neither runs in this process.
	SensorChanged  func(id string)
	GatewayChanged func(id string)
	// CredentialsChanged, when set, gets a gateway's new password when it is registered or reset, and ""
	// when it is removed: the hook that keeps an external broker's own accounts in step (Mosquitto's dynamic
	// security). It may not block for long.
	CredentialsChanged func(ctx context.Context, id, password string)
	// Platform is the platform's own client on an external broker (BrokerAuthenticate).
	Platform PlatformClient
	Log      *slog.Logger
	Now      func() time.Time
}

// NewService returns the service; fleet nil lets staff see everything and bases and buyers nothing.
func NewService(store *Store, fleet *Fleet, pub Publisher, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if fleet == nil {
		fleet = NewFleet(store, nil, nil)
	}
	return &Service{Store: store, Fleet: fleet, Pub: pub, Log: log, Now: time.Now}
}

func staffOnly(p auth.Principal, what string) error {
	if p.Staff() {
		return nil
	}
	return errs.E(errs.Forbidden, "only admins and coordinators %s", what)
}

// NewGateway is a request to register a gateway.
type NewGateway struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	SamplingIntervalS int    `json:"sampling_interval_s"`
}

// Gateways lists the gateways. Errors: Forbidden.
func (s *Service) Gateways(ctx context.Context, p auth.Principal, page Page) ([]Gateway, int, error) {
	if err := staffOnly(p, "see gateways"); err != nil {
		return nil, 0, err
	}
	return s.Store.Gateways(ctx, page)
}

// CreateGateway registers a gateway of the caller's organisation and returns its MQTT password, shown this
// once; the gateway gets its configuration on its commands topic. Errors: Forbidden, Unprocessable, Conflict.
func (s *Service) CreateGateway(ctx context.Context, p auth.Principal, n NewGateway) (Gateway, string, error) {
	if err := staffOnly(p, "register gateways"); err != nil {
		return Gateway{}, "", err
	}
	org := p.OrgID
	g, pw, err := s.Store.CreateGateway(ctx, Gateway{ID: n.ID, Name: n.Name, SamplingIntervalS: n.SamplingIntervalS, OrgID: &org}, false)
	if err != nil {
		return Gateway{}, "", err
	}
	s.gatewayChanged(g.ID)
	s.credentialsChanged(ctx, g.ID, pw)
	s.pushConfig(ctx, g)
	return g, pw, nil
}

// Gateway returns a gateway. Errors: Forbidden, NotFound.
func (s *Service) Gateway(ctx context.Context, p auth.Principal, id string) (Gateway, error) {
	if err := staffOnly(p, "see gateways"); err != nil {
		return Gateway{}, err
	}
	return s.Store.Gateway(ctx, id)
}

// UpdateGateway changes a gateway; a new sampling interval is pushed to it. Errors: Forbidden, NotFound,
// Unprocessable.
func (s *Service) UpdateGateway(ctx context.Context, p auth.Principal, id string, u GatewayUpdate) (Gateway, error) {
	if err := staffOnly(p, "change gateways"); err != nil {
		return Gateway{}, err
	}
	g, err := s.Store.UpdateGateway(ctx, id, u)
	if err == nil && u.SamplingIntervalS != nil {
		s.pushConfig(ctx, g)
	}
	return g, err
}

// DeleteGateway removes a gateway; its live sessions end at once. Errors: Forbidden, NotFound, Conflict.
func (s *Service) DeleteGateway(ctx context.Context, p auth.Principal, id string) error {
	if err := staffOnly(p, "remove gateways"); err != nil {
		return err
	}
	if err := s.Store.DeleteGateway(ctx, id); err != nil {
		return err
	}
	s.gatewayChanged(id)
	s.credentialsChanged(ctx, id, "")
	return nil
}

// ResetCredentials gives a gateway a new MQTT password, shown this once; its live sessions end at once.
// Errors: Forbidden, NotFound.
func (s *Service) ResetCredentials(ctx context.Context, p auth.Principal, id string) (string, error) {
	if err := staffOnly(p, "reset gateways' credentials"); err != nil {
		return "", err
	}
	pw, err := s.Store.ResetGatewayPassword(ctx, id)
	if err != nil {
		return "", err
	}
	s.gatewayChanged(id)
	s.credentialsChanged(ctx, id, pw)
	return pw, nil
}

func (s *Service) gatewayChanged(id string) {
	if s.GatewayChanged != nil {
		s.GatewayChanged(id)
	}
}

func (s *Service) credentialsChanged(ctx context.Context, id, password string) {
	if s.CredentialsChanged != nil {
		s.CredentialsChanged(ctx, id, password)
	}
}

// pushConfig publishes the gateway's configuration, retained, so it gets it whenever it (re)connects.
func (s *Service) pushConfig(ctx context.Context, g Gateway) {
	if s.Pub == nil {
		return
	}
	b, _ := json.Marshal(map[string]any{"sampling_interval_s": g.SamplingIntervalS, "ts": s.Now().UTC().Format(time.RFC3339)})
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.Pub.Publish(pctx, TopicCommands+g.ID, b, 1, true); err != nil {
		s.Log.Warn("ingest: could not push a gateway's configuration; it gets it when it reconnects", "gateway", g.ID, "err", err)
	}
}

// Assets lists the assets p may see (Fleet). Errors: Forbidden.
func (s *Service) Assets(ctx context.Context, p auth.Principal, f AssetFilter, page Page) ([]Asset, int, error) {
	return s.Fleet.Assets(ctx, p, f, page)
}

// Asset returns an asset p may see. Errors: Forbidden, NotFound (also for assets p may not see).
func (s *Service) Asset(ctx context.Context, p auth.Principal, id string) (Asset, error) {
	return s.Fleet.Asset(ctx, p, id)
}

// AssetReadings returns an asset's readings as p may see them (Fleet.AssetReadings).
func (s *Service) AssetReadings(ctx context.Context, p auth.Principal, id string, q ReadingsQuery) (AssetSeries, error) {
	return s.Fleet.AssetReadings(ctx, p, id, q)
}

// CreateAsset registers a truck or cold store of the caller's organisation. Errors: Forbidden, Unprocessable,
// Conflict.
func (s *Service) CreateAsset(ctx context.Context, p auth.Principal, a Asset) (Asset, error) {
	if err := staffOnly(p, "register assets"); err != nil {
		return Asset{}, err
	}
	org := p.OrgID
	a.OrgID = &org
	return s.Store.CreateAsset(ctx, a)
}

// UpdateAsset changes an asset; ingest re-reads the placement (band) of its sensors. Errors: Forbidden,
// NotFound, Unprocessable.
func (s *Service) UpdateAsset(ctx context.Context, p auth.Principal, id string, u AssetUpdate) (Asset, error) {
	if err := staffOnly(p, "change assets"); err != nil {
		return Asset{}, err
	}
	a, err := s.Store.UpdateAsset(ctx, id, u)
	if err != nil {
		return Asset{}, err
	}
	if s.SensorChanged != nil {
		xs, _, err := s.Store.Sensors(ctx, SensorFilter{AssetID: a.ID}, Page{Limit: 500})
		if err != nil {
			s.Log.Warn("ingest: could not list an asset's sensors to refresh them; the cache refreshes them in time", "asset", a.ID, "err", err)
		}
		for _, x := range xs {
			s.SensorChanged(x.ID)
		}
	}
	return a, nil
}

// DeleteAsset removes an asset. Errors: Forbidden, NotFound, Conflict (sensors still mounted).
func (s *Service) DeleteAsset(ctx context.Context, p auth.Principal, id string) error {
	if err := staffOnly(p, "remove assets"); err != nil {
		return err
	}
	return s.Store.DeleteAsset(ctx, id)
}

// Sensors lists sensors. Errors: Forbidden.
func (s *Service) Sensors(ctx context.Context, p auth.Principal, f SensorFilter, page Page) ([]Sensor, int, error) {
	if err := staffOnly(p, "see sensors"); err != nil {
		return nil, 0, err
	}
	return s.Store.Sensors(ctx, f, page)
}

// Sensor returns a sensor. Errors: Forbidden, NotFound.
func (s *Service) Sensor(ctx context.Context, p auth.Principal, id string) (Sensor, error) {
	if err := staffOnly(p, "see sensors"); err != nil {
		return Sensor{}, err
	}
	return s.Store.Sensor(ctx, id)
}

// CreateSensor mounts a sensor in an asset and attaches it to a gateway. Errors: Forbidden, Unprocessable,
// Conflict.
func (s *Service) CreateSensor(ctx context.Context, p auth.Principal, x Sensor) (Sensor, error) {
	if err := staffOnly(p, "register sensors"); err != nil {
		return Sensor{}, err
	}
	x, err := s.Store.CreateSensor(ctx, x)
	if err == nil {
		s.sensorChanged(x.ID)
	}
	return x, err
}

// UpdateSensor moves a sensor. Errors: Forbidden, NotFound, Unprocessable.
func (s *Service) UpdateSensor(ctx context.Context, p auth.Principal, id string, u SensorUpdate) (Sensor, error) {
	if err := staffOnly(p, "change sensors"); err != nil {
		return Sensor{}, err
	}
	x, err := s.Store.UpdateSensor(ctx, id, u)
	if err == nil {
		s.sensorChanged(x.ID)
	}
	return x, err
}

// DeleteSensor removes a sensor. Errors: Forbidden, NotFound.
func (s *Service) DeleteSensor(ctx context.Context, p auth.Principal, id string) error {
	if err := staffOnly(p, "remove sensors"); err != nil {
		return err
	}
	if err := s.Store.DeleteSensor(ctx, id); err != nil {
		return err
	}
	s.sensorChanged(id)
	return nil
}

func (s *Service) sensorChanged(id string) {
	if s.SensorChanged != nil {
		s.SensorChanged(id)
	}
}

// Alarms lists alarms. Errors: Forbidden.
func (s *Service) Alarms(ctx context.Context, p auth.Principal, f AlarmFilter, page Page) ([]Alarm, int, error) {
	if err := staffOnly(p, "see alarms"); err != nil {
		return nil, 0, err
	}
	return s.Store.Alarms(ctx, f, page)
}

// Alarm returns an alarm. Errors: Forbidden, NotFound.
func (s *Service) Alarm(ctx context.Context, p auth.Principal, id int64) (Alarm, error) {
	if err := staffOnly(p, "see alarms"); err != nil {
		return Alarm{}, err
	}
	return s.Store.Alarm(ctx, id)
}

// AckAlarm records that p has seen an alarm, with a comment, and publishes the change. Errors: Forbidden,
// NotFound, Unprocessable.
func (s *Service) AckAlarm(ctx context.Context, p auth.Principal, id int64, comment string) (Alarm, error) {
	if err := staffOnly(p, "acknowledge alarms"); err != nil {
		return Alarm{}, err
	}
	a, err := s.Store.AckAlarm(ctx, id, p.Actor(), comment)
	if err != nil {
		return Alarm{}, err
	}
	PublishAlarm(ctx, s.Pub, a, s.Log)
	return a, nil
}

// DeadLetters lists the dead letter. Errors: Forbidden.
func (s *Service) DeadLetters(ctx context.Context, p auth.Principal, f DeadLetterFilter, page Page) ([]DeadLetter, int, error) {
	if err := staffOnly(p, "see the dead letter"); err != nil {
		return nil, 0, err
	}
	return s.Store.DeadLetters(ctx, f, page)
}

// PublishAlarm sends an alarm, as the API shows it, on coldchain/v1/alarms/{asset_id} with QoS 1: the one
// publisher of alarm changes, whether the rules or a person made them. A failure is logged; the alarm is
// stored either way.
func PublishAlarm(ctx context.Context, pub Publisher, a Alarm, log *slog.Logger) {
	if pub == nil {
		return
	}
	b, _ := json.Marshal(a)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pub.Publish(pctx, TopicAlarms+a.AssetID, b, 1, false); err != nil {
		log.Warn("ingest: could not publish an alarm", "id", a.ID, "err", err)
	}
}
