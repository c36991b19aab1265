-- The change feed (GET /api/v1/projects/{project}/changes/stream) reads a project's audit entries
-- after an id every second per open stream.
CREATE INDEX audit_log_project ON audit_log (project_id, id);
