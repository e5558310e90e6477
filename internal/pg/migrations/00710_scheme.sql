-- +goose Up
-- The 菜篮子 scheme's own rules: bases' scheme certificates (matching's), lots' pesticide-residue inspections
-- (trace's, 农残检测), the lot an offer sells and a demand's need of a passed inspection. Both earlier areas
-- exist by now, so these tables reference them directly.

CREATE TABLE base_certifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The base the certificate was issued to.
    org_id       bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    number       text NOT NULL CHECK (length(number) BETWEEN 1 AND 64),
    -- matching's products.name; the products the certificate covers.
    products     text[] NOT NULL CHECK (cardinality(products) BETWEEN 1 AND 50),
    valid_from   date,
    valid_until  date NOT NULL CHECK (valid_until BETWEEN '2000-01-01' AND '2199-12-31'),
    issuer       text NOT NULL DEFAULT '' CHECK (length(issuer) <= 200),
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    recorded_by  bigint REFERENCES orgs(id) ON DELETE SET NULL,
    recorder     text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_from IS NULL OR valid_from <= valid_until),
    UNIQUE (org_id, number)
);
CREATE INDEX base_certifications_org_idx ON base_certifications (org_id, id DESC);
-- Coordinators' list of certificates by expiry.
CREATE INDEX base_certifications_until_idx ON base_certifications (valid_until, id);

CREATE TABLE lot_inspections (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lot_id        bigint NOT NULL REFERENCES lots(id) ON DELETE CASCADE,
    result        text NOT NULL CHECK (result IN ('pass', 'fail')),
    lab           text NOT NULL CHECK (length(lab) BETWEEN 1 AND 200),
    tested_on     date NOT NULL,
    report_number text NOT NULL CHECK (length(report_number) BETWEEN 1 AND 64),
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    recorded_by   bigint REFERENCES orgs(id) ON DELETE SET NULL,
    recorder      text NOT NULL DEFAULT '',
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (lot_id, report_number)
);
-- The latest inspection of a lot: the last tested, then the last recorded.
CREATE INDEX lot_inspections_lot_idx ON lot_inspections (lot_id, tested_on DESC, id DESC);

-- The lot's public page shows its latest inspection: a new one is a new revision of the lot (00310).
-- +goose StatementBegin
CREATE FUNCTION lot_inspections_revise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lots SET revision = revision + 1 WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.lot_id ELSE NEW.lot_id END;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER lot_inspections_revise AFTER INSERT OR UPDATE OR DELETE ON lot_inspections FOR EACH ROW
    EXECUTE FUNCTION lot_inspections_revise();

ALTER TABLE offers ADD COLUMN lot_id bigint REFERENCES lots(id) ON DELETE SET NULL;
CREATE INDEX offers_lot_idx ON offers (lot_id) WHERE lot_id IS NOT NULL;
ALTER TABLE demands ADD COLUMN require_inspection boolean NOT NULL DEFAULT false;
-- A standing demand passes it on to every demand it makes in a round.
ALTER TABLE standing_demands ADD COLUMN require_inspection boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE standing_demands DROP COLUMN require_inspection;
ALTER TABLE demands DROP COLUMN require_inspection;
DROP INDEX offers_lot_idx;
ALTER TABLE offers DROP COLUMN lot_id;
DROP TABLE lot_inspections;
DROP FUNCTION lot_inspections_revise();
DROP TABLE base_certifications;
