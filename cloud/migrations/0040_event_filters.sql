-- Metric event filters (`where`, shared/src/model/metric.ts eventFilterSchema): whether an event's
-- properties pass a filter { name: test }, where a test is a string, number or boolean (shorthand for
-- $eq) or an object of operators, every one of which must hold. The aggregator (src/pipeline/
-- aggregate.ts) calls it with each metric's filter as a jsonb parameter, only when there is one.
-- Strict JSON: $eq / $in match a property of the same JSON type and value (jsonb equality: numbers by
-- value); $ne / $nin are their negations (a missing property passes them); $gt … $lte compare a number
-- with JSON numbers and a string with JSON strings by code point (COLLATE "C" on UTF-8), anything else
-- fails; $exists: true is present and not null, false missing or null. An unknown operator fails.
-- One expression per (property, operator), without subqueries ($in is jsonb containment of the
-- property in the listed scalars: an object, a list or null is contained in none), so that the
-- only per-call work is the two jsonb_each.
CREATE FUNCTION event_passes_filter(properties jsonb, filter jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT NOT EXISTS (
    SELECT 1
    FROM jsonb_each(filter) f(name, test),
         LATERAL jsonb_each(CASE WHEN jsonb_typeof(f.test) = 'object' THEN f.test ELSE jsonb_build_object('$eq', f.test) END) o(op, arg)
    WHERE NOT coalesce(CASE o.op
      WHEN '$eq' THEN properties -> f.name = o.arg
      WHEN '$ne' THEN properties -> f.name IS DISTINCT FROM o.arg
      WHEN '$in' THEN o.arg @> jsonb_build_array(properties -> f.name)
      WHEN '$nin' THEN NOT coalesce(o.arg @> jsonb_build_array(properties -> f.name), false)
      WHEN '$exists' THEN (coalesce(properties -> f.name, 'null'::jsonb) <> 'null'::jsonb) = (o.arg = 'true'::jsonb)
      WHEN '$gt' THEN CASE
        WHEN jsonb_typeof(o.arg) = 'number' AND jsonb_typeof(properties -> f.name) = 'number' THEN (properties -> f.name)::numeric > o.arg::numeric
        WHEN jsonb_typeof(o.arg) = 'string' AND jsonb_typeof(properties -> f.name) = 'string' THEN (properties ->> f.name) COLLATE "C" > (o.arg #>> '{}') END
      WHEN '$gte' THEN CASE
        WHEN jsonb_typeof(o.arg) = 'number' AND jsonb_typeof(properties -> f.name) = 'number' THEN (properties -> f.name)::numeric >= o.arg::numeric
        WHEN jsonb_typeof(o.arg) = 'string' AND jsonb_typeof(properties -> f.name) = 'string' THEN (properties ->> f.name) COLLATE "C" >= (o.arg #>> '{}') END
      WHEN '$lt' THEN CASE
        WHEN jsonb_typeof(o.arg) = 'number' AND jsonb_typeof(properties -> f.name) = 'number' THEN (properties -> f.name)::numeric < o.arg::numeric
        WHEN jsonb_typeof(o.arg) = 'string' AND jsonb_typeof(properties -> f.name) = 'string' THEN (properties ->> f.name) COLLATE "C" < (o.arg #>> '{}') END
      WHEN '$lte' THEN CASE
        WHEN jsonb_typeof(o.arg) = 'number' AND jsonb_typeof(properties -> f.name) = 'number' THEN (properties -> f.name)::numeric <= o.arg::numeric
        WHEN jsonb_typeof(o.arg) = 'string' AND jsonb_typeof(properties -> f.name) = 'string' THEN (properties ->> f.name) COLLATE "C" <= (o.arg #>> '{}') END
    END, false))
$$;
