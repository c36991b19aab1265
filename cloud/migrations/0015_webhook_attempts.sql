-- Every attempt of a delivery, not just the last: why the first tries of a delivery that later
-- succeeded failed (a 503 during the receiver's deploy, a timeout) is what its owner asks. Written
-- by the statement that records the attempt on the delivery, deleted with the delivery (30 days).
CREATE TABLE webhook_delivery_attempts (
  delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  attempted_at timestamptz NOT NULL,
  status_code  integer,
  error        text,
  response     text,
  duration_ms  integer,
  PRIMARY KEY (delivery_id, attempt)
);

-- Deliveries made before this migration keep their last attempt as their history.
INSERT INTO webhook_delivery_attempts (delivery_id, attempt, attempted_at, status_code, error, response, duration_ms)
SELECT id, attempts, COALESCE(delivered_at, created_at), status_code, error, response, duration_ms
FROM webhook_deliveries
WHERE attempts > 0 AND (status_code IS NOT NULL OR error IS NOT NULL);

-- The delivery log filtered by status (failed ones, most often) reads the newest first.
CREATE INDEX webhook_deliveries_webhook_status ON webhook_deliveries (webhook_id, status, id DESC);
