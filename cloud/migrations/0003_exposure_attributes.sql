-- Unit attributes for result filters (GET …/experiments/{key}/results?attr.country=US&segment=…).
--
-- The exposure event may carry the unit's targeting attributes (a flat object of strings, numbers and
-- booleans); the aggregator stores those of the unit's FIRST exposure (the one that sets variation and
-- exposed_at; when it carried none, those of a later exposure), so a unit's segment never changes
-- with later traffic. NULL = no attributes were sent: such units match no attribute filter.
ALTER TABLE exposures ADD COLUMN attributes jsonb;
