-- What a change request was based on, stored when it is proposed: the flag's state in the request's
-- environment then (absent when it had none) and the values of the flag's variations that the
-- proposed state names, as {"state": {...}, "variations": {"key": value}}. Applying (and approving)
-- conflicts only when these changed since, so a change to the flag elsewhere (another environment,
-- its tags, a new variation) no longer voids the request. Rows proposed before this column existed
-- keep NULL and the whole-flag version check they were made with.
ALTER TABLE change_requests ADD COLUMN base jsonb;
