-- Records that expire from the stream before the aggregator reads them (an outage longer than the
-- stream's retention) are detected and reported instead of being lost silently (pipeline/poller.ts).

-- Every record of the shard that arrived (Kinesis ApproximateArrivalTimestamp) before this instant has
-- been read, or reported lost in stream_gaps: the arrival of the last record checkpointed, advanced
-- to the time of a read that found the shard caught up, and to the end of a reported gap. NULL for
-- checkpoints written before this column (the poller then goes by updated_at).
ALTER TABLE stream_checkpoints ADD COLUMN arrival_through timestamptz;

-- Windows of arrival time in which records of a shard may have expired from the stream unread. Their
-- events are still in the raw event archive: `xp replay --from <from_arrival> --to <to_arrival>`
-- applies them and marks the window resolved. The platform's health is degraded while one is open.
CREATE TABLE stream_gaps (
  stream       text NOT NULL,
  shard_id     text NOT NULL,
  from_arrival timestamptz NOT NULL,
  to_arrival   timestamptz NOT NULL,
  detected_at  timestamptz NOT NULL DEFAULT now(),
  resolved_at  timestamptz,
  PRIMARY KEY (stream, shard_id, from_arrival)
);

CREATE INDEX stream_gaps_open ON stream_gaps (detected_at) WHERE resolved_at IS NULL;
