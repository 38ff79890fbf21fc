-- Retention: the purge job finds old processed-message records and finished tasks by age.
CREATE INDEX processed_messages_processed_at_idx ON processed_messages (processed_at);
CREATE INDEX tasks_finished_at_idx ON tasks (finished_at) WHERE finished_at IS NOT NULL;
