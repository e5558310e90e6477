-- +goose Up
-- A lot's revision changes whenever something its page shows changes: the lot itself (not its verdict, which
-- the page derives), its events, its organisation's name, and readings that arrived late in one of its legs. A
-- server keeps the reports of delivered lots in memory and checks them with one indexed read of the revision.
ALTER TABLE lots ADD COLUMN revision bigint NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE FUNCTION lots_revise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(NEW) - '{revision,verdict,compliant,assessed_at}'::text[]
       IS DISTINCT FROM to_jsonb(OLD) - '{revision,verdict,compliant,assessed_at}'::text[] THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER lots_revise BEFORE UPDATE ON lots FOR EACH ROW EXECUTE FUNCTION lots_revise();

-- +goose StatementBegin
CREATE FUNCTION lot_events_revise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lots SET revision = revision + 1 WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.lot_id ELSE NEW.lot_id END;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER lot_events_revise AFTER INSERT OR UPDATE OR DELETE ON lot_events FOR EACH ROW EXECUTE FUNCTION lot_events_revise();

-- +goose StatementBegin
CREATE FUNCTION orgs_revise_lots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lots SET revision = revision + 1 WHERE org_id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER orgs_revise_lots AFTER UPDATE OF name ON orgs FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION orgs_revise_lots();

-- Summaries are checked against InfluxDB only every so often (ingest tells of late readings); verified_at says
-- when this one last was. Late readings find the summaries of their asset by this index.
ALTER TABLE leg_readings_cache ADD COLUMN verified_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX leg_readings_cache_asset_idx ON leg_readings_cache (asset_id, from_at);

-- Stretches of readings that arrived late, kept a day: a summary whose InfluxDB read began before one was noted
-- may have missed it, and is stored as unverified.
CREATE TABLE leg_readings_late (
    asset_id text NOT NULL,
    from_at  timestamptz NOT NULL,
    to_at    timestamptz NOT NULL,
    noted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leg_readings_late_asset_idx ON leg_readings_late (asset_id, noted_at);
CREATE INDEX leg_readings_late_noted_idx ON leg_readings_late (noted_at);

-- +goose Down
DROP TABLE leg_readings_late;
DROP INDEX leg_readings_cache_asset_idx;
ALTER TABLE leg_readings_cache DROP COLUMN verified_at;
DROP TRIGGER orgs_revise_lots ON orgs;
DROP FUNCTION orgs_revise_lots();
DROP TRIGGER lot_events_revise ON lot_events;
DROP FUNCTION lot_events_revise();
DROP TRIGGER lots_revise ON lots;
DROP FUNCTION lots_revise();
ALTER TABLE lots DROP COLUMN revision;
