-- +goose Up
-- Lists read a page through an index on their order, whoever asks (docs/performance.md). An allocation names its
-- base and its buyer itself, so that a base's or a buyer's allocations come from an index in id order rather
-- than from a join over every allocation of every offer; they never change (an offer's or demand's
-- organisation does not).
ALTER TABLE allocations ADD COLUMN base_org_id bigint REFERENCES orgs(id) ON DELETE RESTRICT,
    ADD COLUMN buyer_org_id bigint REFERENCES orgs(id) ON DELETE RESTRICT;
UPDATE allocations a SET base_org_id = o.org_id, buyer_org_id = d.org_id
    FROM offers o, demands d WHERE o.id = a.offer_id AND d.id = a.demand_id;
ALTER TABLE allocations ALTER COLUMN base_org_id SET NOT NULL, ALTER COLUMN buyer_org_id SET NOT NULL;
CREATE INDEX allocations_base_idx ON allocations (base_org_id, id);
CREATE INDEX allocations_buyer_idx ON allocations (buyer_org_id, id);

-- A base's offers and a buyer's demands of one product, newest first.
CREATE INDEX offers_org_product_idx ON offers (org_id, product, id DESC);
CREATE INDEX demands_org_product_idx ON demands (org_id, product, id DESC);

-- +goose Down
DROP INDEX demands_org_product_idx;
DROP INDEX offers_org_product_idx;
ALTER TABLE allocations DROP COLUMN buyer_org_id, DROP COLUMN base_org_id;
